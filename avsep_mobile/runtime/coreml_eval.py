"""A reference evaluator of an exported CoreML ML program, in NumPy: what a
Mac's `MLModel.predict` would compute, on any machine.

The program is read back from the package's protobuf (coremltools' MIL
loader resolves the weight file), each function of a multifunction package
separately, and evaluated op by op with each op's documented MIL semantics
(coremltools/converters/mil/mil/ops/defs/iOS15..iOS18 are the spec). Inputs
and outputs are bound by the names of the model description.

Precision (`compute`):
- "fp16" (default, as Core ML runs an fp16 program): every op output whose
  type in the program is fp16 is rounded to float16; arithmetic inside an op
  is float32. Weights are their stored values.
- "fp32": the same ops with no rounding of fp16-typed intermediates (float32
  compute of the same weights): the other end of the band a device falls in.
State tensors (ct.StateType) are stored as their declared fp16 in both modes.

The band (`Device`, DESIGN.md §6): how a device may compute the fp16 ops of
the program, beyond the rounding of their outputs. Each corner is one choice
of two, applied to the ops whose output type is fp16 (fp32-typed ops, the
signal path of export/coreml.py, are computed in float32 on every device):
- subnormals "keep" or "flush": IEEE fp16 keeps values below 2**-14 (6.1e-5)
  as subnormals; flush-to-zero hardware reads and writes them as zero. Arm's
  half-precision arithmetic does either (FPCR.FZ16; Apple's CPU cores run
  with it clear, so they keep them); the Neural Engine's and Apple GPUs'
  handling is not documented, so both are in the band. "flush" zeroes them on
  every op input (fp16 constants, epsilons included) and output.
- accumulation "fp32" or "fp16": "fp32" sums the products of linear, matmul
  and conv and the terms of reduce_sum/mean in float32 and rounds only the
  result, and keeps layer_norm and softmax float32 inside (an Apple CPU,
  BNNS); "fp16" rounds every product and every partial sum to fp16, in a
  pairwise tree (the order of a SIMD or dot-product unit), and computes
  layer_norm (mean, centred values, squares, variance, epsilon, reciprocal
  root, scaling) and softmax (shift, exponentials, sum, division) with each
  intermediate rounded to fp16: what a GPU or the Neural Engine may do (Metal
  `half` arithmetic; Apple documents only that the Neural Engine computes in
  fp16). The partial sums are rounded to 11 significant bits by Veltkamp
  splitting (three float32 operations; a tie may go either way, where IEEE
  goes to even); beyond the fp16 maximum the terms and the result of a sum
  overflow to infinity.
`BAND` lists the four corners; `Device()` (keep, fp32) is the default and
what `compute="fp16"` alone has always meant.

Every op's outputs are checked against the shapes and dtypes the program
declares for them: a mismatch stops the call with one line naming the op.

Lanes: several independent streams of one program at once (the band's
levels, the task gate's mixtures). Every value then carries a leading lane
axis and each op is one NumPy call for all lanes (`_LANE_ARGS` moves its
axis parameters past the lane axis); an op without a lane rule runs lane by
lane. Each lane's numbers equal a run of that lane alone, bit for bit: the
arithmetic is elementwise or per row, never across lanes.

An op it does not know stops loading with one line naming the op and the
package (UnsupportedOp), never a skip or a pass-through.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import erf

from .signature import STATE_OUT_SUFFIX

COMPUTE = ("fp16", "fp32")
KIND = "coreml-evaluator"
FP16_MIN_NORMAL = 2.0**-14  # below it, fp16 values are subnormal
FP16_MAX = 65504.0


@dataclass(frozen=True)
class Device:
    """One corner of the band: how a device computes the fp16 ops (module docstring)."""

    subnormals: str = "keep"  # "keep" | "flush"
    accumulate: str = "fp32"  # "fp32" | "fp16"

    def __post_init__(self):
        if self.subnormals not in ("keep", "flush") or self.accumulate not in ("fp32", "fp16"):
            raise ValueError(f"device band corner: subnormals keep|flush, accumulate fp32|fp16 (got {self.subnormals}, {self.accumulate})")

    @property
    def name(self) -> str:
        return f"subnormals {self.subnormals}, {self.accumulate} accumulation"


BAND = tuple(Device(s, a) for a in ("fp32", "fp16") for s in ("keep", "flush"))
_BY = {"coreml": "CoreML runtime", KIND: "reference evaluator", "tflite": "LiteRT runtime", "onnx": "onnxruntime", "torch": "PyTorch"}


def numerics_by(kind: str) -> str:
    """Who produced a runner's numbers, for reports: "CoreML runtime" on a
    Mac, "reference evaluator" (this module) elsewhere, or the runtime."""
    return _BY.get(kind, kind)


class UnsupportedOp(ValueError):
    pass


# ---------------------------------------------------------------- ops
# Each op takes the MIL argument names as keywords (constants already as
# numpy values / Python scalars) and returns an array (or a tuple of them).


def _axis(a, rank: int) -> int:
    a = int(a)
    return a + rank if a < 0 else a


def _axes(axes, rank: int) -> tuple[int, ...]:
    return tuple(sorted(_axis(a, rank) for a in np.atleast_1d(axes)))


def _f(x) -> np.ndarray:
    return np.asarray(x, np.float32)


def op_add(x, y):
    return np.add(x, y)


def op_sub(x, y):
    return np.subtract(x, y)


def op_mul(x, y):
    return np.multiply(x, y)


def op_real_div(x, y):
    return np.true_divide(x, y)


def op_relu(x):
    return np.maximum(x, 0)


def op_softplus(x):
    return np.logaddexp(np.float32(0), x)


def op_log(x, epsilon=1e-45):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(_f(x) + np.float32(epsilon))


def op_gelu(x, mode="EXACT"):
    x = _f(x)
    if mode == "EXACT":
        return 0.5 * x * (1 + erf(x / np.sqrt(np.float32(2))))
    if mode == "TANH_APPROXIMATION":
        return 0.5 * x * (1 + np.tanh(np.float32(np.sqrt(2 / np.pi)) * (x + np.float32(0.044715) * x**3)))
    if mode == "SIGMOID_APPROXIMATION":
        return x / (1 + np.exp(np.float32(-1.702) * x))
    raise ValueError(f"gelu mode {mode!r} is not a MIL gelu mode")


def op_softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def op_scaled_dot_product_attention(query, key, value, attn_mask=None):
    """iOS 18: softmax(q k^T / sqrt(dh) + mask) v, with a float mask (what the
    exports write; a bool mask is refused rather than guessed)."""
    q, k, v = _f(query), _f(key), _f(value)
    scores = np.matmul(q, np.swapaxes(k, -1, -2)) / np.sqrt(np.float32(q.shape[-1]))
    if attn_mask is not None:
        if np.asarray(attn_mask).dtype == np.bool_:
            raise NotImplementedError("scaled_dot_product_attention with a bool mask")
        scores = scores + _f(attn_mask)
    return np.matmul(op_softmax(scores, -1), v)


def op_cast(x, dtype):
    return _cast(x, dtype)


_DTYPES = {"fp16": np.float32, "fp32": np.float32, "int32": np.int32, "int16": np.int16, "int8": np.int8,
           "uint8": np.uint8, "uint16": np.uint16, "bool": np.bool_}


def _cast(x, dtype: str):
    if dtype not in _DTYPES:
        raise ValueError(f"cast to {dtype!r} is not supported")
    x = np.asarray(x)
    if np.issubdtype(_DTYPES[dtype], np.integer) and np.issubdtype(x.dtype, np.floating):
        x = np.trunc(x)  # MIL cast float -> int drops the fraction
    return x.astype(_DTYPES[dtype])  # fp16 rounding is the output type's (see Function)


def _reshape_to(in_shape: tuple, shape) -> list[int]:
    """MIL reshape's target for an input of in_shape. iOS 17: a 0 copies the
    input dim aligned from the right (1 when out of range)."""
    shape = [int(s) for s in np.atleast_1d(shape)]
    for i, s in enumerate(shape):
        if s == 0:
            j = len(in_shape) - (len(shape) - i)
            shape[i] = in_shape[j] if 0 <= j < len(in_shape) else 1
    return shape


def op_reshape(x, shape):
    return np.reshape(x, _reshape_to(x.shape, shape))


def op_transpose(x, perm):
    return np.transpose(x, [int(p) for p in perm])


def op_expand_dims(x, axes):
    return np.expand_dims(x, tuple(int(a) for a in np.atleast_1d(axes)))  # negative: of the output rank


def _slices(shape, begin, end, stride, begin_mask, end_mask, squeeze_mask):
    n = len(shape)
    stride = np.ones(n, int) if stride is None else np.atleast_1d(stride)
    begin_mask = np.zeros(n, bool) if begin_mask is None else np.atleast_1d(begin_mask)
    end_mask = np.zeros(n, bool) if end_mask is None else np.atleast_1d(end_mask)
    squeeze_mask = np.zeros(n, bool) if squeeze_mask is None else np.atleast_1d(squeeze_mask)
    idx = []
    for i in range(n):
        if squeeze_mask[i]:
            idx.append(int(begin[i]))
            continue
        # Python slices have MIL's meaning: negative indices count from the end,
        # a masked begin/end is the start/end of the axis in the stride's direction
        idx.append(slice(None if begin_mask[i] else int(begin[i]), None if end_mask[i] else int(end[i]), int(stride[i])))
    return tuple(idx)


def op_slice_by_index(x, begin, end, stride=None, begin_mask=None, end_mask=None, squeeze_mask=None):
    return x[_slices(x.shape, begin, end, stride, begin_mask, end_mask, squeeze_mask)]


def op_slice_update(x, update, begin, end, stride=None, begin_mask=None, end_mask=None, squeeze_mask=None):
    out = np.array(x, copy=True)
    idx = _slices(x.shape, begin, end, stride, begin_mask, end_mask, squeeze_mask)
    if out[idx].shape != np.shape(update):
        raise ValueError(f"slice_update: update shape {np.shape(update)} != slice shape {out[idx].shape}")
    out[idx] = update
    return out


def op_concat(values, axis, interleave=False):
    axis = _axis(axis, np.ndim(values[0]))
    if not interleave:
        return np.concatenate(values, axis=axis)
    # [a0, b0, a1, b1, ...] along the axis: equal shapes, one slice of each in turn
    s = np.stack(values, axis=axis + 1)
    shape = list(values[0].shape)
    shape[axis] *= len(values)
    return s.reshape(shape)


def op_stack(values, axis):
    return np.stack(values, axis=int(axis))


def op_tile(x, reps):
    return np.tile(x, [int(r) for r in reps])


def op_fill_like(ref_tensor, value=0.0):
    return np.full(np.shape(ref_tensor), value, np.float32)


def op_pad(x, pad, mode="constant", constant_val=0.0):
    pad = [int(p) for p in np.atleast_1d(pad)]
    n = len(pad) // 2  # the last n axes are padded, pad[2i], pad[2i+1] before/after
    widths = [(0, 0)] * (x.ndim - n) + [(pad[2 * i], pad[2 * i + 1]) for i in range(n)]
    if mode == "constant":
        return np.pad(x, widths, mode="constant", constant_values=constant_val)
    if mode == "reflect":
        return np.pad(x, widths, mode="reflect")
    if mode == "replicate":
        return np.pad(x, widths, mode="edge")
    raise ValueError(f"pad mode {mode!r} is not a MIL pad mode")


def _reduce(fn, x, axes, keep_dims):
    ax = None if axes is None else _axes(axes, x.ndim)
    return fn(_f(x), axis=ax, keepdims=bool(keep_dims))


def op_reduce_sum(x, axes=None, keep_dims=False):
    return _reduce(np.sum, x, axes, keep_dims)


def op_reduce_mean(x, axes=None, keep_dims=False):
    return _reduce(np.mean, x, axes, keep_dims)


def op_layer_norm(x, axes=None, gamma=None, beta=None, epsilon=1e-5):
    x = _f(x)
    ax = tuple(range(x.ndim)) if axes is None else _axes(axes, x.ndim)
    mean = x.mean(axis=ax, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=ax, keepdims=True)
    y = (x - mean) / np.sqrt(var + np.float32(epsilon))
    shape = [x.shape[i] if i in ax else 1 for i in range(x.ndim)]  # gamma/beta: x.shape[axes]
    if gamma is not None:
        y = y * np.reshape(gamma, shape)
    if beta is not None:
        y = y + np.reshape(beta, shape)
    return y


def op_linear(x, weight, bias=None):
    y = np.matmul(_f(x), _f(weight).T)  # weight (D_out, D_in)
    return y if bias is None else y + bias


def op_matmul(x, y, transpose_x=False, transpose_y=False):
    x, y = _f(x), _f(y)
    if transpose_x and x.ndim >= 2:
        x = np.swapaxes(x, -1, -2)
    if transpose_y and y.ndim >= 2:
        y = np.swapaxes(y, -1, -2)
    return np.matmul(x, y)


def _spatial_pads(pad_type, pad, sizes, kernel, strides, dilations) -> list[tuple[int, int]]:
    nd = len(sizes)
    if pad_type == "valid":
        return [(0, 0)] * nd
    if pad_type == "custom":
        p = [int(v) for v in np.atleast_1d(pad)] if pad is not None else [0] * 2 * nd
        return [(p[2 * i], p[2 * i + 1]) for i in range(nd)]
    if pad_type in ("same", "same_lower"):
        out = []
        for n, k, s, d in zip(sizes, kernel, strides, dilations):
            total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)  # output = ceil(n / s)
            small, big = total // 2, total - total // 2
            out.append((small, big) if pad_type == "same" else (big, small))  # odd: the extra one after (same) / before
        return out
    raise ValueError(f"pad_type {pad_type!r} is not a MIL pad type")


def _windows(x, kernel, strides, dilations, out):
    """(N, C, K, *out): every kernel tap's strided view of a padded (N, C, *spatial)."""
    taps = []
    for offs in itertools.product(*[range(k) for k in kernel]):
        idx = tuple(slice(o * d, o * d + (n - 1) * s + 1, s) for o, d, s, n in zip(offs, dilations, strides, out))
        taps.append(x[(slice(None), slice(None)) + idx])
    return np.stack(taps, axis=2)


def op_conv(x, weight, bias=None, strides=None, pad_type="valid", pad=None, dilations=None, groups=1):
    x, w = _f(x), _f(weight)
    nd = x.ndim - 2
    kernel = w.shape[2:]
    strides = [1] * nd if strides is None else [int(s) for s in strides]
    dilations = [1] * nd if dilations is None else [int(d) for d in dilations]
    pads = _spatial_pads(pad_type, pad, x.shape[2:], kernel, strides, dilations)
    x = np.pad(x, [(0, 0), (0, 0)] + pads)
    out = [(n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(x.shape[2:], kernel, strides, dilations)]
    g, (n_b, c_in), c_out = int(groups), x.shape[:2], w.shape[0]
    if c_in != w.shape[1] * g or c_out % g:
        raise ValueError(f"conv: {c_in} input channels, weight {w.shape}, groups {g} do not fit")
    if g == c_in and c_out == c_in:  # depthwise: one multiply-add per tap, no im2col
        taps = itertools.product(*[range(k) for k in kernel])
        wk = w.reshape(c_out, -1)
        y = np.zeros([n_b, c_out] + out, np.float32)
        for i, offs in enumerate(taps):
            idx = tuple(slice(o * d, o * d + (n - 1) * s + 1, s) for o, d, s, n in zip(offs, dilations, strides, out))
            y += x[(slice(None), slice(None)) + idx] * wk[:, i].reshape([1, c_out] + [1] * nd)
        return y if bias is None else y + np.reshape(bias, [1, c_out] + [1] * nd)
    cols = _windows(x, kernel, strides, dilations, out)  # (N, C, K, *out)
    k = cols.shape[2]
    cols = cols.reshape(n_b, g, (c_in // g) * k, -1)  # channel-major, tap-minor: as the weight's layout
    y = np.matmul(w.reshape(g, c_out // g, (c_in // g) * k), cols)  # (N, G, C_out/G, P)
    y = y.reshape([n_b, c_out] + out)
    if bias is not None:
        y = y + np.reshape(bias, [1, c_out] + [1] * nd)
    return y


def op_avg_pool(x, kernel_sizes, strides=None, pad_type="valid", pad=None, exclude_padding_from_average=False, ceil_mode=False):
    x = _f(x)
    nd = x.ndim - 2
    kernel = [int(k) for k in kernel_sizes]
    strides = [1] * nd if strides is None else [int(s) for s in strides]
    ones = [1] * nd
    pads = _spatial_pads(pad_type, pad, x.shape[2:], kernel, strides, ones)
    sizes = [n + b + a for n, (b, a) in zip(x.shape[2:], pads)]
    out = [(n - k) // s + 1 for n, k, s in zip(sizes, kernel, strides)]
    extra = [0] * nd
    if ceil_mode:  # one more window where a partial one is left, if it starts inside input + left pad
        for i, (n, k, s, (b, _)) in enumerate(zip(sizes, kernel, strides, pads)):
            o = -(-(n - k) // s) + 1
            if (o - 1) * s >= x.shape[2 + i] + b:
                o -= 1
            extra[i] = max(0, (o - 1) * s + k - n)
            out[i] = o
    ext = [(0, 0), (0, 0)] + [(b, a + e) for (b, a), e in zip(pads, extra)]
    data = np.pad(x, ext)
    # the divisor: input elements only, or input + explicit padding (never the ceil extension)
    if exclude_padding_from_average:
        mask = np.pad(np.ones((1, 1) + x.shape[2:], np.float32), ext)
    else:
        mask = np.pad(np.ones((1, 1) + tuple(sizes), np.float32), [(0, 0), (0, 0)] + [(0, e) for e in extra])
    total = _windows(data, kernel, strides, ones, out).sum(axis=2)
    count = _windows(mask, kernel, strides, ones, out).sum(axis=2)
    return total / count


def _per_axis(param, rank: int, axis):
    """A scalar or a vector along `axis`, shaped to broadcast against rank dims."""
    p = np.asarray(param)
    if p.ndim == 0:
        return p
    shape = [1] * rank
    shape[_axis(0 if axis is None else axis, rank)] = p.size
    return p.reshape(shape)


_INT_RANGE = {"int8": (-128, 127, np.int8), "uint8": (0, 255, np.uint8)}


def op_quantize(input, scale, output_dtype, zero_point=None, axis=None):
    lo, hi, dt = _INT_RANGE[str(output_dtype)]
    q = np.round(_f(input) / _f(_per_axis(scale, np.ndim(input), axis)))  # half to even, as np.around
    if zero_point is not None:
        q = q + _per_axis(zero_point, np.ndim(input), axis).astype(np.float32)
    return np.clip(q, lo, hi).astype(dt)


def op_dequantize(input, scale, zero_point=None, axis=None):
    q = np.asarray(input, np.float32)
    if zero_point is not None:
        q = q - _per_axis(zero_point, q.ndim, axis).astype(np.float32)
    return q * _f(_per_axis(scale, q.ndim, axis))


def op_constexpr_affine_dequantize(quantized_data, zero_point, scale, axis):
    return op_dequantize(quantized_data, scale, zero_point, axis)


def op_constexpr_blockwise_shift_scale(data, scale, offset=None):
    d = np.asarray(data, np.float32)
    if np.ndim(scale) != d.ndim:
        raise ValueError("constexpr_blockwise_shift_scale: scale must have the rank of data")

    def blocks(p):  # each entry repeated over its block: block size = data dim / scale dim
        p = np.asarray(p, np.float32)
        for i in range(d.ndim):
            p = np.repeat(p, d.shape[i] // p.shape[i], axis=i)
        return p

    return blocks(scale) * (d - (blocks(offset) if offset is not None else 0))


def op_constexpr_sparse_to_dense(nonzero_data, mask, shape=None):
    if shape is None:  # iOS 18: mask is uint1 of the output shape
        m = np.asarray(mask) != 0
        out_shape = m.shape
        m = m.reshape(-1)
    else:  # iOS 16: mask is bytes of bits, least significant first, row-major
        out_shape = tuple(int(s) for s in shape)
        m = np.unpackbits(np.asarray(mask, np.uint8), bitorder="little")[: int(np.prod(out_shape))] != 0
    data = np.asarray(nonzero_data)
    if int(m.sum()) != data.size:
        raise ValueError(f"constexpr_sparse_to_dense: {int(m.sum())} set mask bits for {data.size} values")
    out = np.zeros(m.size, data.dtype)
    out[m] = data
    return out.reshape(out_shape)


def op_constexpr_lut_to_dense(indices, lut, shape=None, vector_axis=None):
    """A palettized weight (the iOS 17 int4 export: one 16-entry palette per
    tensor). iOS 16/17 form: `indices` packed in bytes, each index's bits from
    the least significant bit on (coremltools' restore_elements_from_packed_bits)."""
    if shape is None:
        raise ValueError("constexpr_lut_to_dense: the iOS 18 form (per-block palettes) is not evaluated: no avsep export writes it")
    lut = np.asarray(lut)
    out_shape = tuple(int(s) for s in shape)
    n, nbits = int(np.prod(out_shape)), int(np.log2(lut.size))
    bits = np.unpackbits(np.asarray(indices, np.uint8), bitorder="little")[: n * nbits].reshape(n, nbits)
    return lut[(bits.astype(np.int64) << np.arange(nbits)).sum(axis=1)].reshape(out_shape)


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}
STATE_OPS = ("read_state", "coreml_update_state")
# ops whose fp16 output holds only values of their fp16 inputs or constants:
# nothing to round (the program's types make inputs and output one dtype)
EXACT_OPS = frozenset({"reshape", "transpose", "slice_by_index", "slice_update", "concat", "stack", "expand_dims",
                       "squeeze", "tile", "pad", "fill_like", "relu", "read_state"})


# ---------------------------------------------------------------- lanes
# How an op's arguments change when its tensor inputs carry a leading lane
# axis (module docstring). An op in neither table below runs lane by lane.


def _past_lane(a):
    """A non-negative axis (or axes) moved past the lane axis; negative ones count from the end, unchanged."""
    if a is None or np.ndim(a) == 0:
        return None if a is None else (int(a) + 1 if int(a) >= 0 else int(a))
    return [int(x) + 1 if int(x) >= 0 else int(x) for x in np.atleast_1d(a)]


def _all_but_lane(a, rank: int):
    """axes=None (every axis) of a lane value: every axis but the lane's."""
    return list(range(1, rank)) if a is None else _past_lane(a)


def _lane_slice(args, lanes):
    begin_end = {"begin": 0, "end": lanes, "stride": 1, "begin_mask": False, "end_mask": False, "squeeze_mask": False}
    for k, first in begin_end.items():
        if args.get(k) is not None:
            args[k] = np.concatenate([[first], np.atleast_1d(args[k])])
    return args


def _lane_fold(fn):
    """conv / avg_pool: the lanes folded into the batch axis and back."""
    def run(x, **kw):
        y = fn(x.reshape((-1,) + x.shape[2:]), **kw)
        return y.reshape(x.shape[:2] + y.shape[1:])
    return run


# op -> rule(args, lanes): the arguments for all lanes at once
_LANE_ARGS = {
    "reshape": lambda a, n: {**a, "shape": [n] + _reshape_to(a["x"].shape[1:], a["shape"])},
    "transpose": lambda a, n: {**a, "perm": [0] + [int(p) % (len(a["perm"])) + 1 for p in a["perm"]]},
    "tile": lambda a, n: {**a, "reps": [1] + [int(r) for r in a["reps"]]},
    "slice_by_index": lambda a, n: _lane_slice(dict(a), n),
    "softmax": lambda a, n: {**a, "axis": _past_lane(a.get("axis", -1))},
    "concat": lambda a, n: {**a, "axis": _past_lane(a["axis"])},
    "stack": lambda a, n: {**a, "axis": _past_lane(a["axis"])},
    "expand_dims": lambda a, n: {**a, "axes": _past_lane(a["axes"])},
    "reduce_sum": lambda a, n: {**a, "axes": _all_but_lane(a.get("axes"), np.ndim(a["x"]))},
    "reduce_mean": lambda a, n: {**a, "axes": _all_but_lane(a.get("axes"), np.ndim(a["x"]))},
    "layer_norm": lambda a, n: {**a, "axes": _all_but_lane(a.get("axes"), np.ndim(a["x"]))},
    "quantize": lambda a, n: {**a, "axis": _past_lane(a.get("axis") or 0)},
    "dequantize": lambda a, n: {**a, "axis": _past_lane(a.get("axis") or 0)},
}
# ops whose lane inputs broadcast against constants: each lane input gets the output's rank first
_LANE_BROADCAST = frozenset({"add", "sub", "mul", "real_div", "maximum", "minimum", "pow", "matmul", "select",
                             "equal", "not_equal", "less", "less_equal", "greater", "greater_equal"})
# ops that treat each lane alone as they come: elementwise, or along the last axes only
_LANE_AS_IS = frozenset({"relu", "softplus", "log", "gelu", "cast", "linear", "pad", "fill_like", "exp", "sqrt", "rsqrt",
                         "sigmoid", "tanh", "abs", "square", "clip"})
_LANE_FOLD = frozenset({"conv", "avg_pool"})
_LANE_TENSORS = frozenset({"x", "input", "ref_tensor", "values"})  # the arguments a lane rule expects to carry lanes


def _run_lanes(t: str, fn, args: dict, lane_keys: list, out_shape, lanes: int):
    """fn over all lanes at once where the op has a lane rule, else lane by lane."""
    if set(lane_keys) <= _LANE_TENSORS:
        if t in _LANE_AS_IS:
            return fn(**args)
        if t in _LANE_FOLD:
            return _lane_fold(fn)(**args)
        if t in _LANE_ARGS:
            return fn(**_LANE_ARGS[t](args, lanes))
    if t in _LANE_BROADCAST and out_shape is not None:
        rank = len(out_shape) + 1
        for k in lane_keys:
            x = args[k]
            if x.ndim < rank:
                args[k] = x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:])
        return fn(**args)
    each = [fn(**{**args, **{k: [v[i] for v in args[k]] if isinstance(args[k], list) else args[k][i] for k in lane_keys}})
            for i in range(lanes)]
    if isinstance(each[0], tuple):
        return tuple(np.stack(outs) for outs in zip(*each))
    return np.stack(each)


# ---------------------------------------------------------------- fp16 accumulation (the band)
# The ops a device may compute with fp16 intermediates, for Device(accumulate="fp16").


class Fp16Arithmetic:
    """fp16 intermediates: each product and partial sum rounded to fp16
    (11 significant bits). Subnormals are the business of the op's inputs
    and outputs (Function._store, the constants), as the band defines them."""

    _SPLIT = np.float32(2.0**13 + 1)  # Veltkamp: 24 - 13 = 11 bits kept

    def r(self, a) -> np.ndarray:
        """a rounded to 11 significant bits; the range is checked where sums end (`sum`)."""
        a = np.asarray(a, np.float32)
        t = a * self._SPLIT
        if not a.ndim:
            return t - (t - a)
        d = t - a
        return np.subtract(t, d, out=d)

    def _r_(self, a: np.ndarray) -> np.ndarray:
        """r(a) written over a fresh float32 temporary `a`: one allocation, not two."""
        t = a * self._SPLIT
        np.subtract(t, a, out=a)
        return np.subtract(t, a, out=a)

    def overflow(self, a: np.ndarray) -> np.ndarray:
        """Beyond the fp16 maximum: infinity."""
        if a.size and np.abs(a).max() > FP16_MAX:
            return np.where(np.abs(a) > FP16_MAX, np.copysign(np.float32(np.inf), a), a)
        return a

    def sum(self, terms: np.ndarray, axis: int = -1) -> np.ndarray:
        """Pairwise sum along `axis` (neighbours added in a tree, an odd last
        term carried up a level, as a zero-padded power-of-two tree adds it),
        each partial sum rounded; the terms and the result checked for overflow."""
        p = self.overflow(self.r(terms))
        axis = axis % p.ndim
        head = (slice(None),) * axis
        if p.shape[axis] == 0:
            return np.zeros(p.shape[:axis] + p.shape[axis + 1:], np.float32)
        while (n := p.shape[axis]) > 1:
            pairs = self._r_(np.add(p[head + (slice(0, n - 1, 2),)], p[head + (slice(1, n, 2),)]))
            p = np.concatenate([pairs, p[head + (slice(n - 1, n),)]], axis=axis) if n % 2 else pairs
        return self.overflow(p[head + (0,)])

    def dot(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """x (..., M, K) @ y (..., K, N) with fp16 products and partial sums."""
        return self.sum(np.expand_dims(x, -1) * np.expand_dims(y, -3), axis=-2)

    def linear(self, x, weight, bias=None):
        y = self.dot(_f(x), _f(weight).T)
        return y if bias is None else self.r(y + bias)

    def matmul(self, x, y, transpose_x=False, transpose_y=False):
        x, y = _f(x), _f(y)
        if transpose_x and x.ndim >= 2:
            x = np.swapaxes(x, -1, -2)
        if transpose_y and y.ndim >= 2:
            y = np.swapaxes(y, -1, -2)
        return self.dot(x, y)

    def conv(self, x, weight, bias=None, strides=None, pad_type="valid", pad=None, dilations=None, groups=1):
        x, w = _f(x), _f(weight)
        nd = x.ndim - 2
        kernel = w.shape[2:]
        strides = [1] * nd if strides is None else [int(s) for s in strides]
        dilations = [1] * nd if dilations is None else [int(d) for d in dilations]
        x = np.pad(x, [(0, 0), (0, 0)] + _spatial_pads(pad_type, pad, x.shape[2:], kernel, strides, dilations))
        out = [(n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(x.shape[2:], kernel, strides, dilations)]
        g, (n_b, c_in), c_out = int(groups), x.shape[:2], w.shape[0]
        cols = _windows(x, kernel, strides, dilations, out)  # (N, C, K, *out)
        cols = cols.reshape(n_b, g, (c_in // g) * cols.shape[2], -1)  # (N, G, C/G K, P)
        wg = w.reshape(g, c_out // g, -1)  # (G, C_out/G, C/G K)
        y = self.dot(wg, cols).reshape([n_b, c_out] + out)
        return y if bias is None else self.r(y + np.reshape(bias, [1, c_out] + [1] * nd))

    def reduce_sum(self, x, axes=None, keep_dims=False):
        return self._reduce(x, axes, keep_dims, mean=False)

    def reduce_mean(self, x, axes=None, keep_dims=False):
        return self._reduce(x, axes, keep_dims, mean=True)

    def _reduce(self, x, axes, keep_dims, mean):
        x = _f(x)
        ax = tuple(range(x.ndim)) if axes is None else _axes(axes, x.ndim)
        rest = [i for i in range(x.ndim) if i not in ax]
        flat = np.transpose(x, rest + list(ax)).reshape([x.shape[i] for i in rest] + [-1])
        total = self.sum(flat)
        if mean:
            total = self.r(total / np.float32(flat.shape[-1]))
        if keep_dims:
            total = total.reshape([1 if i in ax else x.shape[i] for i in range(x.ndim)])
        return total

    def layer_norm(self, x, axes=None, gamma=None, beta=None, epsilon=1e-5):
        x, r = _f(x), self.r
        ax = tuple(range(x.ndim)) if axes is None else _axes(axes, x.ndim)
        mean = self._reduce(x, ax, True, mean=True)
        xc = r(x - mean)
        var = self._reduce(r(xc * xc), ax, True, mean=True)
        y = r(xc * r(1.0 / r(np.sqrt(r(var + r(np.float32(epsilon)))))))
        shape = [x.shape[i] if i in ax else 1 for i in range(x.ndim)]
        if gamma is not None:
            y = r(y * np.reshape(gamma, shape))
        if beta is not None:
            y = r(y + np.reshape(beta, shape))
        return y

    def softmax(self, x, axis=-1):
        r = self.r
        x = _f(x)
        e = r(np.exp(r(x - np.max(x, axis=axis, keepdims=True))))
        total = np.expand_dims(self.sum(e, axis=axis), axis)
        return r(e / total)

    def ops(self) -> dict:
        return {t: getattr(self, t) for t in ("linear", "matmul", "conv", "reduce_sum", "reduce_mean", "layer_norm", "softmax")}


# ---------------------------------------------------------------- programs


def _dtype_name(t) -> str:
    from coremltools.converters.mil.mil import types

    return types.builtin_to_string(t)


def _const_value(var) -> object:
    v = var.val
    if isinstance(v, (str, bool)) or v is None:
        return v
    a = np.asarray(v)
    if a.dtype.kind == "f":
        a = a.astype(np.float32)  # fp16 weights: exact in float32
    return a


class Function:
    """One function of an ML program, compiled into a list of NumPy calls.

    Constant subgraphs (const, constexpr_* and anything fed by constants only)
    are evaluated once at load."""

    def __init__(self, mil_fn, description, package: str, name: str, compute: str = "fp16", device: Device = Device()):
        if compute not in COMPUTE:
            raise ValueError(f"compute {compute!r}: choose {' or '.join(COMPUTE)}")
        self.package, self.name, self.compute, self.device = package, name, compute, device
        self.flush = compute == "fp16" and device.subnormals == "flush"
        self.fp16_ops = Fp16Arithmetic().ops() if compute == "fp16" and device.accumulate == "fp16" else {}
        # observe(function, op_type, var_name, value) after every fp16 op output (export/census.py)
        self.observe = None
        self.input_names = [t.name for t in description.input]
        self.output_names = [t.name for t in description.output]
        self.state_shapes = {s.name: [int(d) for d in s.type.stateType.arrayType.shape] for s in description.state}
        self.input_types = {}
        for n, v in mil_fn.inputs.items():
            if n not in self.state_shapes:
                self.input_types[n] = _dtype_name(v.dtype)
        missing = [n for n in self.input_names if n not in self.input_types]
        if missing:
            raise ValueError(f"{package} ({name}): inputs {missing} of the description are not in the program")
        self.outputs = {v.name: v.name for v in mil_fn.outputs}
        if sorted(self.outputs) != sorted(self.output_names):
            raise ValueError(f"{package} ({name}): program outputs {sorted(self.outputs)} != description {sorted(self.output_names)}")
        self.consts: dict[str, object] = {}
        self.plan: list[tuple] = []
        self.op_types: dict[str, int] = {}
        self._compile(mil_fn.operations)

    def _round(self, var) -> str | None:
        """How an op output of this var's type is stored."""
        t = _dtype_name(var.dtype)
        if t == "fp16":
            return "fp16" if self.compute == "fp16" else "fp32"
        if t == "fp32":
            return "fp32"
        return t

    def _store(self, val, kind):
        if kind == "fp16":
            r = _round_fp16(val)
            return np.where(np.abs(r) < FP16_MIN_NORMAL, np.float32(0), r) if self.flush else r
        return _store(val, kind)

    def _compile(self, operations) -> None:
        for op in operations:
            t = op.op_type
            self.op_types[t] = self.op_types.get(t, 0) + 1
            if op.blocks:
                raise UnsupportedOp(f"{self.package}: op {t!r} ({op.name}) has nested blocks, which the reference evaluator does not run")
            if t == "const":
                v = op.outputs[0]
                val = _const_value(v)
                self.consts[v.name] = self._store(val, "fp16") if self.flush and _dtype_name(v.dtype) == "fp16" else val
                continue
            if t not in OPS and t not in STATE_OPS:
                raise UnsupportedOp(f"{self.package}: op {t!r} ({op.name}) is not supported by the reference evaluator")
            static, dynamic, lists = {}, [], []
            for k, v in op.inputs.items():
                if isinstance(v, (list, tuple)):
                    refs = [(False, self.consts[x.name]) if x.name in self.consts else (True, x.name) for x in v]
                    if all(not d for d, _ in refs):
                        static[k] = [val for _, val in refs]
                    else:
                        lists.append((k, refs))
                elif v.name in self.consts:
                    static[k] = self.consts[v.name]
                else:
                    dynamic.append((k, v.name))
            outs = [(o.name, self._round(o), _declared(o)) for o in op.outputs]
            if t in STATE_OPS:
                key = "input" if t == "read_state" else "state"
                dynamic = [(k, n) for k, n in dynamic if k != key]  # the state itself lives in `states`
                self.plan.append((t, op.inputs[key].name, static, dynamic, lists, outs))
                continue
            fn = OPS[t]
            if t in self.fp16_ops and outs[0][1] == "fp16":  # an fp16 op on a device with fp16 intermediates
                fn = self.fp16_ops[t]
            if not dynamic and not lists:  # constant subgraph: fold now
                for (name, kind, declared), val in zip(outs, _as_tuple(fn(**static))):
                    self.consts[name] = self._store(_checked(val, declared, self.package, op.name, t), kind)
            else:
                if t in EXACT_OPS:  # fp16 in, the same values out: stored as they come
                    outs = [(name, "fp32" if kind == "fp16" else kind, declared) for name, kind, declared in outs]
                self.plan.append((t, fn, static, dynamic, lists, outs, op.name))

    def initial_states(self, lanes: int | None = None) -> dict[str, np.ndarray]:
        """Core ML starts a state at zeros (MLModel.make_state)."""
        first = () if lanes is None else (lanes,)
        return {n: np.zeros(first + tuple(s), np.float32) for n, s in self.state_shapes.items()}

    def __call__(self, feeds: dict, states: dict | None = None, lanes: int | None = None) -> dict[str, np.ndarray]:
        """feeds: {input name: array}; states: {state name: array}, updated in
        place. lanes: every feed and state has a leading axis of that many
        independent streams (module docstring), and so has every output."""
        env = dict(self.consts)
        for n in self.input_names:
            if n not in feeds:
                raise KeyError(f"{self.name}: input {n!r} missing")
            x = np.asarray(feeds[n])
            if lanes is not None and x.shape[:1] != (lanes,):
                raise ValueError(f"{self.name}: input {n!r} has shape {x.shape}, not ({lanes}, ...) for {lanes} lanes")
            env[n] = self._store(x, self.input_types[n] if self.compute == "fp16" else "fp32")
        if self.state_shapes and states is None:
            raise ValueError(f"{self.name} is stateful: pass its states (Function.initial_states())")
        observe, store = self.observe, self._store
        for step in self.plan:
            t, fn, static, dynamic, lists, outs = step[:6]
            if t == "read_state":
                env[outs[0][0]] = np.array(states[fn], copy=True)
                continue
            args = dict(static)
            for k, n in dynamic:
                args[k] = env[n]
            for k, refs in lists:
                args[k] = [env[x] if d else x if lanes is None else np.broadcast_to(x, (lanes,) + np.shape(x)) for d, x in refs]
            if t == "coreml_update_state":
                states[fn] = self._store(args["value"], "fp16")  # states are fp16 storage
                env[outs[0][0]] = args["value"]
                continue
            if lanes is None:
                vals = fn(**args)
            else:
                vals = _run_lanes(t, fn, args, [k for k, _ in dynamic] + [k for k, _ in lists], outs[0][2][0], lanes)
            for (name, kind, declared), val in zip(outs, _as_tuple(vals)):
                env[name] = v = store(_checked(val, declared, self.package, step[6], t, lanes), kind)
                if observe is not None and declared[1] == "fp16":
                    observe(self.name, t, name, v)
        return {n: np.asarray(env[self.outputs[n]], np.float32) for n in self.output_names}


def _declared(var) -> tuple:
    """(shape or None where a dim is symbolic, dtype name) the program declares for a var."""
    shape = tuple(var.shape) if var.shape is not None else ()
    return (tuple(int(d) for d in shape) if all(isinstance(d, (int, np.integer)) for d in shape) else None, _dtype_name(var.dtype))


_KINDS = {"fp16": "f", "fp32": "f", "bool": "b"}


def _checked(val, declared: tuple, package: str, op_name: str, op_type: str, lanes: int | None = None):
    """val, after checking it against the program's declared shape (after the
    lane axis, with lanes) and dtype."""
    shape, dtype = declared
    got = np.shape(val)
    if lanes is not None and shape is not None:
        shape = (lanes,) + shape
    if shape is not None and got != shape:
        raise ValueError(f"{package}: op {op_type!r} ({op_name}) gave shape {got} where the program declares {shape}")
    kind = np.asarray(val).dtype.kind
    if kind not in _KINDS.get(dtype, "iu"):
        raise ValueError(f"{package}: op {op_type!r} ({op_name}) gave {np.asarray(val).dtype} where the program declares {dtype}")
    return val


def _as_tuple(v):
    return v if isinstance(v, tuple) else (v,)


def _round_fp16(a: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest float16 (ties to even), kept as
    float32. Bit arithmetic instead of astype(np.float16), whose scalar loop is
    20x slower on big tensors: the 13 low mantissa bits are rounded away for
    normal values; fp16 subnormals (below 2**-14) are multiples of 2**-24,
    rounded by rint; 65520 and beyond round to infinity, as IEEE says. Small
    tensors (most of a streaming step's) take the cast: its fixed cost is a
    tenth of the five passes here."""
    a = np.ascontiguousarray(a, np.float32)
    if a.size <= _CAST_MAX_SIZE:
        with np.errstate(over="ignore"):
            return a.astype(np.float16).astype(np.float32)
    bits = a.view(np.uint32)
    with np.errstate(over="ignore"):
        r = ((bits + (np.uint32(0x0FFF) + ((bits >> 13) & np.uint32(1)))) & np.uint32(0xFFFFE000)).view(np.float32)
    r = np.where(np.abs(a) < 2.0**-14, np.rint(a * 2.0**24) * np.float32(2.0**-24), r)
    r = np.where(np.abs(r) >= 65536.0, np.copysign(np.float32(np.inf), a), r)
    return np.where(np.isnan(a), a, r).astype(np.float32, copy=False)


_CAST_MAX_SIZE = 2048


def _store(val, kind: str | None):
    if kind == "fp16":
        return _round_fp16(val)
    if kind == "fp32":
        return np.asarray(val, np.float32)
    if kind in _DTYPES:
        return np.asarray(val).astype(_DTYPES[kind])
    return val


def load(package, compute: str = "fp16", device: Device = Device()) -> dict[str, Function]:
    """{function name: Function} of an .mlpackage ("main" for a one-function
    package). A ValueError (UnsupportedOp for an unknown op) names the package."""
    import contextlib
    import io

    import coremltools as ct
    from coremltools.converters.mil.frontend.milproto import load as milproto

    if compute not in COMPUTE:
        raise ValueError(f"compute {compute!r}: choose {' or '.join(COMPUTE)}")
    package = Path(package)
    if not package.is_dir():
        raise ValueError(f"{package} is not an .mlpackage directory")
    spec = ct.utils.load_spec(str(package))
    if spec.WhichOneof("Type") != "mlProgram":
        raise ValueError(f"{package} holds a {spec.WhichOneof('Type')}, not an ML program")
    weights = package / "Data" / "com.apple.CoreML" / "weights"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        prog = milproto.load(spec, spec.specificationVersion, str(weights))
    desc = spec.description
    described = {f.name: f for f in desc.functions} if len(desc.functions) else {"main": desc}
    out = {}
    for name, fn in prog.functions.items():
        if name not in described:
            raise ValueError(f"{package}: function {name!r} is not in the model description")
        out[name] = Function(fn, described[name], package.name, name, compute, device)
    return out


class EvaluatorRunner:
    """Runs a CoreML bundle's packages with the reference evaluator, behind
    the runner interface of export/runners.py. paths: {step: .mlpackage}
    (a multifunction package serves each step from its function of that
    name). Held states live here per step, zeroed by reset()."""

    kind = KIND

    def __init__(self, paths: dict, compute: str = "fp16", device: Device = Device(), observe=None):
        """device: the band corner (module docstring); observe: called as
        observe(function, op_type, var_name, value) after every fp16 op output."""
        self.paths, self.compute, self.device = dict(paths), compute, device
        loaded: dict[Path, dict[str, Function]] = {}
        self.functions = {}
        for step, p in paths.items():
            p = Path(p)
            if p not in loaded:
                loaded[p] = load(p, compute, device)
            fns = loaded[p]
            if step in fns:
                self.functions[step] = fns[step]
            elif list(fns) == ["main"]:
                self.functions[step] = fns["main"]
            else:
                raise ValueError(f"{p.name} has no function {step!r} (it has {', '.join(fns)})")
        for step, f in self.functions.items():  # reported by step name ("main" in a one-function package)
            f.observe = None if observe is None else (lambda _, *rest, step=step: observe(step, *rest))
        self.lanes: int | None = None
        self.reset()

    def with_lanes(self, lanes: int) -> EvaluatorRunner:
        """The same loaded program, running `lanes` independent streams at
        once: every feed and output has a leading lane axis (replay.stack_lanes)."""
        other = copy.copy(self)
        other.lanes = int(lanes)
        other.reset()
        return other

    def reset(self) -> None:
        self.states = {step: f.initial_states(self.lanes) for step, f in self.functions.items()}

    def input_names(self, step: str) -> list[str]:
        return list(self.functions[step].input_names)

    def output_names(self, step: str) -> list[str]:
        return list(self.functions[step].output_names)

    def run(self, step: str, feeds: dict) -> dict:
        """Held states also travel as I/O: `<name>` in feeds (when given)
        overwrites the held value and `<name>_out` returns it, so the one
        replay loop carries them, and resets a speaker slot in them, like
        explicit states (as an app writes an MLState)."""
        f, held = self.functions[step], self.states[step]
        for n in held:
            if n in feeds:
                held[n] = _round_fp16(feeds[n])  # states are fp16 storage
        out = f({n: feeds[n] for n in f.input_names}, held, self.lanes)
        out.update({n + STATE_OUT_SUFFIX: v.copy() for n, v in held.items()})
        return out

    def op_types(self) -> dict[str, int]:
        """Op type -> count over the loaded functions (for reports)."""
        out: dict[str, int] = {}
        for f in {id(f): f for f in self.functions.values()}.values():
            for t, c in f.op_types.items():
                out[t] = out.get(t, 0) + c
        return dict(sorted(out.items()))
