"""The CoreML reference evaluator, op by op: each op it supports, written
into a real ML program with coremltools' MIL builder (no optimisation passes,
so every op stays as written), saved as an .mlpackage, read back and evaluated,
against PyTorch or an independent NumPy formula on small random inputs,
edge cases included. A wrong op cannot hide behind an end-to-end number."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

ct = pytest.importorskip("coremltools")
from coremltools.converters.mil import Builder as mb  # noqa: E402
from coremltools.converters.mil.mil import types  # noqa: E402

from avsep_mobile.runtime import coreml_eval
from avsep_mobile.runtime.coreml_eval import EvaluatorRunner, UnsupportedOp, load  # noqa: E402

RNG = np.random.default_rng(0)


def _t(a):
    return torch.from_numpy(np.asarray(a, np.float32))


def _save(prog, path, target):
    m = ct.convert(prog, convert_to="mlprogram", minimum_deployment_target=target, compute_precision=ct.precision.FLOAT32,
                   pass_pipeline=ct.PassPipeline.EMPTY, skip_model_load=True)
    m.save(str(path))
    return path


class Case:
    """One op under test: its inputs (name -> array), how to write it in MIL,
    and the reference result."""

    def __init__(self, name, inputs, build, ref, tol=1e-5, target=None):
        self.name, self.inputs, self.build, self.ref, self.tol = name, inputs, build, ref, tol
        self.target = target or ct.target.iOS17


def _r(*shape, scale=1.0):
    return (scale * RNG.standard_normal(shape)).astype(np.float32)


def _torch_same_pads(n, k, s, d):
    """TensorFlow/MIL 'same': output ceil(n / s); the total padding, split with the odd one after."""
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


W_CONV1 = _r(6, 2, 3)        # 4 input channels, groups 2
W_CONV2 = _r(5, 3, 3, 2)
B_CONV2 = _r(5)
W_DW = _r(4, 1, 3, 3)        # depthwise
W_LIN = _r(7, 5)
B_LIN = _r(7)
Q_W = RNG.integers(-128, 128, (7, 5)).astype(np.int8)
Q_ZP = RNG.integers(-3, 4, (7,)).astype(np.int8)
Q_SCALE = (0.01 + 0.05 * RNG.random(7)).astype(np.float32)
SPARSE_W = _r(6, 5) * (RNG.random((6, 5)) > 0.6)
GAMMA, BETA = _r(6), _r(6)
GAMMA2, BETA2 = _r(5, 6), _r(5, 6)
DIV = (0.5 + RNG.random(3)).astype(np.float32)


def _cases() -> list[Case]:
    c = []
    add = c.append
    # elementwise, with numpy broadcasting
    add(Case("add_broadcast", {"x": _r(2, 3, 4), "y": _r(3, 1)}, lambda x, y: mb.add(x=x, y=y), lambda x, y: x + y))
    add(Case("sub_broadcast", {"x": _r(4, 1, 5), "y": _r(2, 1)}, lambda x, y: mb.sub(x=x, y=y), lambda x, y: x - y))
    add(Case("mul_const", {"x": _r(3, 4)}, lambda x: mb.mul(x=x, y=np.float32(2.5)), lambda x: 2.5 * x))
    add(Case("real_div", {"x": _r(2, 3)}, lambda x: mb.real_div(x=x, y=DIV), lambda x: x / DIV))
    add(Case("relu", {"x": _r(3, 5)}, lambda x: mb.relu(x=x), lambda x: np.maximum(x, 0)))
    add(Case("softplus", {"x": _r(4, 6, scale=20)}, lambda x: mb.softplus(x=x), lambda x: F.softplus(_t(x)).numpy(), 1e-4))
    add(Case("log_epsilon", {"x": np.abs(_r(3, 4)) + 0.1}, lambda x: mb.log(x=x, epsilon=np.float32(0.5)), lambda x: np.log(x + 0.5)))
    add(Case("log_default", {"x": np.abs(_r(3, 4)) + 0.1}, lambda x: mb.log(x=x), lambda x: np.log(x)))
    for mode, ref in (("EXACT", lambda x: F.gelu(_t(x)).numpy()), ("TANH_APPROXIMATION", lambda x: F.gelu(_t(x), approximate="tanh").numpy()),
                      ("SIGMOID_APPROXIMATION", lambda x: x * torch.sigmoid(1.702 * _t(x)).numpy())):
        add(Case(f"gelu_{mode}", {"x": _r(3, 7, scale=3)}, lambda x, mode=mode: mb.gelu(x=x, mode=mode), ref, 1e-5))
    add(Case("softmax_last", {"x": _r(2, 3, 5, scale=4)}, lambda x: mb.softmax(x=x, axis=-1), lambda x: torch.softmax(_t(x), -1).numpy()))
    add(Case("softmax_axis1", {"x": _r(2, 3, 5, scale=4)}, lambda x: mb.softmax(x=x, axis=1), lambda x: torch.softmax(_t(x), 1).numpy()))
    # shapes
    add(Case("reshape_minus1_zero", {"x": _r(2, 3, 4)}, lambda x: mb.reshape(x=x, shape=np.array([0, -1], np.int32)),
             lambda x: x.reshape(3, 8)))  # iOS 17: a 0 takes the input dim aligned from the right (3), not the left
    add(Case("reshape_zero_right_aligned", {"x": _r(2, 50)}, lambda x: mb.reshape(x=x, shape=np.array([1, 0, -1, 0], np.int32)),
             lambda x: x.reshape(1, 1, 2, 50)))  # the iOS 17 spec's own example
    add(Case("transpose", {"x": _r(2, 3, 4)}, lambda x: mb.transpose(x=x, perm=[2, 0, 1]), lambda x: x.transpose(2, 0, 1)))
    add(Case("expand_dims_negative", {"x": _r(3, 4)}, lambda x: mb.expand_dims(x=x, axes=[0, -1]), lambda x: x[None, :, :, None]))
    add(Case("slice_negative_stride2", {"x": _r(4, 6, 5)},
             lambda x: mb.slice_by_index(x=x, begin=[1, -5, 0], end=[3, -1, 0], stride=[1, 2, 1], end_mask=[False, False, True]),
             lambda x: x[1:3, 1:5:2, :]))
    add(Case("slice_reverse_masks", {"x": _r(4, 6, 5)},
             lambda x: mb.slice_by_index(x=x, begin=[0, 0, 0], end=[0, 0, 0], stride=[-1, 1, 2], begin_mask=[True] * 3, end_mask=[True] * 3),
             lambda x: x[::-1, :, ::2]))
    add(Case("slice_squeeze", {"x": _r(4, 6, 5)},
             lambda x: mb.slice_by_index(x=x, begin=[2, 0, 1], end=[3, 6, 4], squeeze_mask=[True, False, False]), lambda x: x[2, :, 1:4]))

    def upd_ref(x, u):
        out = x.copy()
        out[1:3, 0:6:2] = u
        return out
    add(Case("slice_update", {"x": _r(4, 6), "u": _r(2, 3)},
             lambda x, u: mb.slice_update(x=x, update=u, begin=[1, 0], end=[3, 6], stride=[1, 2]), upd_ref,
             target=ct.target.iOS18))
    add(Case("concat_negative_axis", {"x": _r(2, 3, 4), "y": _r(2, 1, 4)}, lambda x, y: mb.concat(values=[x, y], axis=-2),
             lambda x, y: np.concatenate([x, y], axis=1)))

    def interleave_ref(x, y):  # the spec's example: rows of x and y in turn
        out = np.empty((2, 4, 3), np.float32)
        out[:, 0::2], out[:, 1::2] = x, y
        return out
    add(Case("concat_interleave", {"x": _r(2, 2, 3), "y": _r(2, 2, 3)}, lambda x, y: mb.concat(values=[x, y], axis=1, interleave=True), interleave_ref))
    add(Case("stack_axis1", {"x": _r(3, 4), "y": _r(3, 4)}, lambda x, y: mb.stack(values=[x, y], axis=1), lambda x, y: np.stack([x, y], axis=1)))
    add(Case("tile", {"x": _r(2, 1, 3)}, lambda x: mb.tile(x=x, reps=[2, 3, 1]), lambda x: np.tile(x, (2, 3, 1))))
    add(Case("fill_like", {"x": _r(2, 5)}, lambda x: mb.fill_like(ref_tensor=x, value=np.float32(3.0)), lambda x: np.full((2, 5), 3.0, np.float32)))
    # pad: the last N dims, [before, after] per dim in order
    add(Case("pad_constant_value", {"x": _r(1, 2, 5, 6)}, lambda x: mb.pad(x=x, pad=np.array([1, 2, 0, 3], np.int32), mode="constant", constant_val=np.float32(0.5)),
             lambda x: F.pad(_t(x), (0, 3, 1, 2), value=0.5).numpy()))
    add(Case("pad_reflect", {"x": _r(1, 2, 5, 6)}, lambda x: mb.pad(x=x, pad=np.array([2, 1, 3, 0], np.int32), mode="reflect"),
             lambda x: F.pad(_t(x), (3, 0, 2, 1), mode="reflect").numpy()))
    add(Case("pad_replicate", {"x": _r(1, 2, 5, 6)}, lambda x: mb.pad(x=x, pad=np.array([0, 2, 4, 1], np.int32), mode="replicate"),
             lambda x: F.pad(_t(x), (4, 1, 0, 2), mode="replicate").numpy()))
    add(Case("pad_last_dim_only", {"x": _r(2, 3, 4)}, lambda x: mb.pad(x=x, pad=np.array([3, 1], np.int32)), lambda x: F.pad(_t(x), (3, 1)).numpy()))
    # reductions, norms
    add(Case("reduce_sum_keep", {"x": _r(2, 3, 4)}, lambda x: mb.reduce_sum(x=x, axes=[1, -1], keep_dims=True), lambda x: x.sum(axis=(1, 2), keepdims=True)))
    add(Case("reduce_mean", {"x": _r(2, 3, 4)}, lambda x: mb.reduce_mean(x=x, axes=[-2], keep_dims=False), lambda x: x.mean(axis=1)))
    add(Case("layer_norm_last", {"x": _r(2, 5, 6, scale=3)}, lambda x: mb.layer_norm(x=x, axes=[-1], gamma=GAMMA, beta=BETA, epsilon=np.float32(1e-5)),
             lambda x: F.layer_norm(_t(x), (6,), _t(GAMMA), _t(BETA), 1e-5).numpy(), 1e-4))
    add(Case("layer_norm_two_axes", {"x": _r(2, 5, 6, scale=3)}, lambda x: mb.layer_norm(x=x, axes=[-2, -1], gamma=GAMMA2, beta=BETA2, epsilon=np.float32(1e-3)),
             lambda x: F.layer_norm(_t(x), (5, 6), _t(GAMMA2), _t(BETA2), 1e-3).numpy(), 1e-4))
    # linear algebra
    add(Case("linear_bias", {"x": _r(2, 3, 5)}, lambda x: mb.linear(x=x, weight=W_LIN, bias=B_LIN), lambda x: F.linear(_t(x), _t(W_LIN), _t(B_LIN)).numpy()))
    add(Case("linear_no_bias", {"x": _r(3, 5)}, lambda x: mb.linear(x=x, weight=W_LIN), lambda x: F.linear(_t(x), _t(W_LIN)).numpy()))
    add(Case("matmul_broadcast", {"x": _r(2, 1, 3, 4), "y": _r(5, 4, 2)}, lambda x, y: mb.matmul(x=x, y=y), lambda x, y: (_t(x) @ _t(y)).numpy()))
    add(Case("matmul_transposes", {"x": _r(2, 4, 3), "y": _r(2, 5, 4)}, lambda x, y: mb.matmul(x=x, y=y, transpose_x=True, transpose_y=True),
             lambda x, y: (_t(x).transpose(-1, -2) @ _t(y).transpose(-1, -2)).numpy()))
    # iOS 18's fused attention: the exports' float mask, added to the scores
    scores_bias = _r(4, 1, 6, scale=2)
    add(Case("sdpa_float_mask", {"q": _r(2, 4, 1, 8), "k": _r(2, 4, 6, 8), "v": _r(2, 4, 6, 8)},
             lambda q, k, v, m=scores_bias: mb.scaled_dot_product_attention(query=q, key=k, value=v, attn_mask=m),
             lambda q, k, v, m=scores_bias: F.scaled_dot_product_attention(_t(q), _t(k), _t(v), attn_mask=_t(m)).numpy(), 1e-5,
             target=ct.target.iOS18))
    # conv: groups, dilation, strides, every pad type
    add(Case("conv1d_groups_dilation_custom", {"x": _r(1, 4, 11)},
             lambda x: mb.conv(x=x, weight=W_CONV1, strides=[2], pad_type="custom", pad=[3, 1], dilations=[2], groups=2),
             lambda x: F.conv1d(F.pad(_t(x), (3, 1)), _t(W_CONV1), stride=2, dilation=2, groups=2).numpy(), 1e-4))

    def conv2d_same(x, lower=False):
        ph, pw = _torch_same_pads(9, 3, 2, 1), _torch_same_pads(8, 2, 2, 1)
        if lower:
            ph, pw = ph[::-1], pw[::-1]
        return F.conv2d(F.pad(_t(x), (*pw, *ph)), _t(W_CONV2), _t(B_CONV2), stride=2).numpy()
    add(Case("conv2d_same", {"x": _r(1, 3, 9, 8)}, lambda x: mb.conv(x=x, weight=W_CONV2, bias=B_CONV2, strides=[2, 2], pad_type="same"), conv2d_same, 1e-4))
    add(Case("conv2d_same_lower", {"x": _r(1, 3, 9, 8)}, lambda x: mb.conv(x=x, weight=W_CONV2, bias=B_CONV2, strides=[2, 2], pad_type="same_lower"),
             lambda x: conv2d_same(x, lower=True), 1e-4))
    add(Case("conv2d_valid_batch", {"x": _r(2, 3, 6, 7)}, lambda x: mb.conv(x=x, weight=W_CONV2, pad_type="valid"),
             lambda x: F.conv2d(_t(x), _t(W_CONV2)).numpy(), 1e-4))
    add(Case("conv2d_depthwise_dilated", {"x": _r(1, 4, 9, 9)},
             lambda x: mb.conv(x=x, weight=W_DW, pad_type="custom", pad=[2, 2, 1, 3], dilations=[2, 1], groups=4),
             lambda x: F.conv2d(F.pad(_t(x), (1, 3, 2, 2)), _t(W_DW), dilation=(2, 1), groups=4).numpy(), 1e-4))
    # avg_pool
    add(Case("avg_pool_valid", {"x": _r(2, 3, 8, 6)}, lambda x: mb.avg_pool(x=x, kernel_sizes=[2, 2], strides=[2, 2], pad_type="valid"),
             lambda x: F.avg_pool2d(_t(x), 2, 2).numpy()))
    add(Case("avg_pool_pad_include", {"x": _r(1, 2, 7, 6)},
             lambda x: mb.avg_pool(x=x, kernel_sizes=[3, 3], strides=[2, 2], pad_type="custom", pad=[1, 1, 1, 1], exclude_padding_from_average=False),
             lambda x: F.avg_pool2d(_t(x), 3, 2, padding=1, count_include_pad=True).numpy()))
    add(Case("avg_pool_pad_exclude", {"x": _r(1, 2, 7, 6)},
             lambda x: mb.avg_pool(x=x, kernel_sizes=[3, 3], strides=[2, 2], pad_type="custom", pad=[1, 1, 1, 1], exclude_padding_from_average=True),
             lambda x: F.avg_pool2d(_t(x), 3, 2, padding=1, count_include_pad=False).numpy()))
    add(Case("avg_pool_ceil", {"x": _r(1, 2, 7, 8)},
             lambda x: mb.avg_pool(x=x, kernel_sizes=[2, 3], strides=[2, 2], pad_type="valid", ceil_mode=True),
             lambda x: F.avg_pool2d(_t(x), (2, 3), 2, ceil_mode=True).numpy()))
    # int8: activations (rounding half to even, clipping) and weights
    halves = np.array([[0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 200.0, -300.0]], np.float32)
    add(Case("quantize_round_clip", {"x": halves * 0.25},
             lambda x: mb.dequantize(input=mb.quantize(input=x, scale=np.float32(0.25), zero_point=np.int8(3), output_dtype="int8"),
                                     scale=np.float32(0.25), zero_point=np.int8(3)),
             lambda x: 0.25 * (np.clip(np.array([[0, 2, 2, 0, -2, -2, 200, -300]]) + 3, -128, 127) - 3)))
    qscale = np.array([0.1, 0.2, 0.05], np.float32)
    add(Case("quantize_per_axis_uint8", {"x": _r(2, 3, 4)},
             lambda x: mb.dequantize(input=mb.quantize(input=x, scale=qscale, zero_point=np.array([128, 120, 130], np.uint8), axis=1, output_dtype="uint8"),
                                     scale=qscale, zero_point=np.array([128, 120, 130], np.uint8), axis=1),
             lambda x: qscale[None, :, None] * (np.clip(np.rint(x / qscale[None, :, None]) + np.array([128, 120, 130])[None, :, None], 0, 255)
                                                - np.array([128, 120, 130])[None, :, None])))
    add(Case("constexpr_affine_dequantize", {"x": _r(3, 5)},
             lambda x: mb.linear(x=x, weight=mb.constexpr_affine_dequantize(quantized_data=Q_W, zero_point=Q_ZP, scale=Q_SCALE, axis=0)),
             lambda x: x @ (Q_SCALE[:, None] * (Q_W.astype(np.float32) - Q_ZP[:, None])).T, 1e-4))
    mask = np.packbits(SPARSE_W.reshape(-1) != 0, bitorder="little")  # the iOS 16 layout: bits of each byte, least significant first
    add(Case("constexpr_sparse_to_dense_ios16", {"x": _r(6, 5)},
             lambda x: mb.add(x=x, y=mb.constexpr_sparse_to_dense(nonzero_data=SPARSE_W[SPARSE_W != 0], mask=mask, shape=np.array(SPARSE_W.shape, np.uint32))),
             lambda x: x + SPARSE_W))
    return c


CASES = _cases()


@pytest.fixture(scope="module")
def op_functions(tmp_path_factory):
    """One program per deployment target holding its cases: inputs
    `<case>__<name>`, one output named after each case. [(function, feeds)]."""
    from coremltools.converters.mil.mil import Function, Program

    out = []
    for target in sorted({c.target for c in CASES}, key=lambda t: t.value):
        cases = [c for c in CASES if c.target == target]
        placeholders = {f"{c.name}__{k}": mb.placeholder(shape=v.shape, dtype=types.fp32) for c in cases for k, v in c.inputs.items()}
        with Function(placeholders, opset_version=target) as fn:
            outs = []
            for c in cases:
                outs.append(c.build(**{k: fn.inputs[f"{c.name}__{k}"] for k in c.inputs}))
                outs[-1].set_name(c.name)
            fn.set_outputs(outs)
        prog = Program()
        prog.add_function("main", fn)
        path = _save(prog, tmp_path_factory.mktemp("ops") / f"Ops{target.name}.mlpackage", target)
        f = load(path, "fp32")["main"]
        assert sorted(f.output_names) == sorted(c.name for c in cases)
        out.append((f, {f"{c.name}__{k}": v for c in cases for k, v in c.inputs.items()}))
    return out


@pytest.fixture(scope="module")
def op_program(op_functions):
    results = {}
    for f, feeds in op_functions:
        results.update(f(feeds))
    return results


def test_lanes_equal_each_lane_run_alone(op_functions):
    """Every op, three lanes at once (the inputs scaled differently per lane)
    against each lane run alone: bit for bit."""
    for f, feeds in op_functions:
        lanes = [{k: v * np.float32(1 + 0.25 * i) for k, v in feeds.items()} for i in range(3)]
        together = f({k: np.stack([lane[k] for lane in lanes]) for k in feeds}, lanes=3)
        for i, lane in enumerate(lanes):
            alone = f(lane)
            for name, v in alone.items():
                np.testing.assert_array_equal(together[name][i], v, err_msg=name)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_op_matches_reference(case, op_program):
    got = op_program[case.name]
    want = np.asarray(case.ref(**case.inputs), np.float32)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=case.tol, atol=case.tol)


def test_every_op_an_export_writes_is_supported():
    """The op types measured in every `avsep export ios` variant (fp32, fp16,
    iOS 18, stateful, int8 w8a8 / weights, sparse, sparse + int8)."""
    written = {"add", "avg_pool", "cast", "concat", "const", "constexpr_affine_dequantize", "constexpr_blockwise_shift_scale",
               "constexpr_sparse_to_dense", "conv", "coreml_update_state", "dequantize", "expand_dims", "fill_like", "gelu",
               "layer_norm", "linear", "log", "matmul", "mul", "pad", "quantize", "read_state", "real_div", "reduce_mean",
               "reduce_sum", "relu", "reshape", "scaled_dot_product_attention", "slice_by_index", "slice_update", "softmax", "softplus",
               "stack", "sub", "tile", "transpose"}
    assert written - {"const"} <= set(coreml_eval.OPS) | set(coreml_eval.STATE_OPS)


def _ios18_program(tmp_path):
    """iOS 18: a state read, accumulated and written; blockwise int8 and a uint1 sparse mask."""
    data = RNG.integers(-128, 128, (4, 6)).astype(np.int8)
    scale = (0.01 + RNG.random((4, 2))).astype(np.float32)
    offset = RNG.integers(-5, 5, (4, 2)).astype(np.int8)
    dense = _r(4, 6) * (RNG.random((4, 6)) > 0.5)
    bits = (dense != 0).astype(types.np_uint1_dtype)

    @mb.program(input_specs=[mb.TensorSpec((4, 6), types.fp32), mb.StateTensorSpec((4, 6), types.fp16)], opset_version=ct.target.iOS18)
    def prog(x, acc):
        x16 = mb.cast(x=x, dtype="fp16")
        w = mb.constexpr_blockwise_shift_scale(data=data, scale=scale.astype(np.float16), offset=offset)
        s = mb.constexpr_sparse_to_dense(nonzero_data=dense[dense != 0].astype(np.float16), mask=bits)
        total = mb.add(x=mb.read_state(input=acc), y=x16)
        mb.coreml_update_state(state=acc, value=total)
        y = mb.add(x=mb.mul(x=mb.read_state(input=acc), y=w), y=s)
        return mb.cast(x=y, dtype="fp32", name="y")

    path = _save(prog, tmp_path / "State.mlpackage", ct.target.iOS18)
    w_ref = np.repeat(scale.astype(np.float16).astype(np.float32), 3, axis=1) * (data.astype(np.float32) - np.repeat(offset, 3, axis=1))
    return path, w_ref.astype(np.float16).astype(np.float32), dense.astype(np.float16).astype(np.float32)


def test_state_is_read_accumulated_written_and_reset(tmp_path):
    path, w, s = _ios18_program(tmp_path)
    fn = load(path)["main"]
    assert fn.state_shapes == {"acc": [4, 6]} and fn.input_names == ["x"]
    runner = EvaluatorRunner({"step": path})
    xs = [_r(4, 6) for _ in range(3)]
    acc = np.zeros((4, 6), np.float32)
    for x in xs:
        acc = (acc + x.astype(np.float16).astype(np.float32)).astype(np.float16).astype(np.float32)  # fp16 state
        want = ((acc * w).astype(np.float16).astype(np.float32) + s).astype(np.float16).astype(np.float32)
        np.testing.assert_array_equal(runner.run("step", {"x": x})["y"], want)
    np.testing.assert_array_equal(runner.states["step"]["acc"], acc)
    runner.reset()
    np.testing.assert_array_equal(runner.run("step", {"x": xs[0]})["y"],
                                  ((xs[0].astype(np.float16).astype(np.float32) * w).astype(np.float16).astype(np.float32) + s).astype(np.float16).astype(np.float32))


def test_fp16_program_rounds_each_op_output_unless_fp32_compute(tmp_path):
    c = np.float16(1.0009765625 * 3)  # fp16-exact

    @mb.program(input_specs=[mb.TensorSpec((64,), types.fp32)], opset_version=ct.target.iOS17)
    def prog(x):
        h = mb.cast(x=x, dtype="fp16")
        y = mb.add(x=mb.mul(x=h, y=c), y=np.float16(0.1))
        return mb.cast(x=y, dtype="fp32", name="y")

    path = _save(prog, tmp_path / "Half.mlpackage", ct.target.iOS17)
    x = _r(64, scale=10)
    r16 = lambda a: np.asarray(a, np.float32).astype(np.float16).astype(np.float32)  # noqa: E731
    want16 = r16(r16(r16(x) * np.float32(c)) + np.float32(np.float16(0.1)))
    want32 = x * np.float32(c) + np.float32(np.float16(0.1))
    got16 = load(path, "fp16")["main"]({"x": x})["y"]
    got32 = load(path, "fp32")["main"]({"x": x})["y"]
    np.testing.assert_array_equal(got16, want16)
    np.testing.assert_allclose(got32, want32, rtol=1e-6)
    assert np.abs(got16 - got32).max() > 0  # the two modes are different numbers


def test_unknown_op_stops_with_one_line_naming_op_and_package(tmp_path):
    @mb.program(input_specs=[mb.TensorSpec((3,), types.fp32)], opset_version=ct.target.iOS17)
    def prog(x):
        return mb.sin(x=x, name="y")

    path = _save(prog, tmp_path / "Sine.mlpackage", ct.target.iOS17)
    with pytest.raises(UnsupportedOp) as e:
        load(path)
    msg = str(e.value)
    assert "'sin'" in msg and "Sine.mlpackage" in msg and "\n" not in msg


def test_compute_mode_is_checked(tmp_path):
    with pytest.raises(ValueError, match="compute 'int4'"):
        load(tmp_path / "Any.mlpackage", compute="int4")


# ---------------------------------------------------------------- the band (Device)


def _fp16_program(tmp_path, name, build, shape):
    """x (fp32) -> fp16 -> build(x16) -> fp32 output y."""
    @mb.program(input_specs=[mb.TensorSpec(shape, types.fp32)], opset_version=ct.target.iOS17)
    def prog(x):
        return mb.cast(x=build(mb.cast(x=x, dtype="fp16")), dtype="fp32", name="y")

    return _save(prog, tmp_path / f"{name}.mlpackage", ct.target.iOS17)


def _run(path, x, device):
    return load(path, "fp16", device)["main"]({"x": np.asarray(x, np.float32)})["y"]


def test_a_flushed_subnormal_is_zero_on_inputs_and_outputs(tmp_path):
    """2**-16 is an fp16 subnormal: kept, 4 x it is 2**-14 (normal); flushed,
    the cast's output (the mul's input) is zero already. 2**-12 / 8 = 2**-15
    is a subnormal result: kept, or zero."""
    path = _fp16_program(tmp_path, "Scale", lambda h: mb.mul(x=h, y=np.float16(4.0)), (2,))
    keep, flush = coreml_eval.Device("keep"), coreml_eval.Device("flush")
    np.testing.assert_array_equal(_run(path, [2.0**-16, 1.0], keep), [2.0**-14, 4.0])
    np.testing.assert_array_equal(_run(path, [2.0**-16, 1.0], flush), [0.0, 4.0])
    path = _fp16_program(tmp_path, "Shrink", lambda h: mb.mul(x=h, y=np.float16(0.125)), (2,))
    np.testing.assert_array_equal(_run(path, [2.0**-12, 1.0], keep), [2.0**-15, 0.125])
    np.testing.assert_array_equal(_run(path, [2.0**-12, 1.0], flush), [0.0, 0.125])


def test_an_fp16_sum_loses_what_fp16_loses(tmp_path):
    """1 + e - 1 + e with e = 3 * 2**-13: float32 accumulation gives 2e
    exactly (6 * 2**-13, an fp16 value); fp16 partial sums give 1 + e -> 1
    and -1 + e -> -(1 - 2**-11), so 2**-11: a third of the answer lost."""
    e = 3 * 2.0**-13
    x = [1.0, e, -1.0, e]
    for build in (lambda h: mb.reduce_sum(x=h, axes=[-1], keep_dims=True),
                  lambda h: mb.linear(x=h, weight=np.ones((1, 4), np.float16))):
        path = _fp16_program(tmp_path, f"Sum{len(list(tmp_path.iterdir()))}", build, (1, 4))
        np.testing.assert_array_equal(_run(path, [x], coreml_eval.Device(accumulate="fp32")), [[2 * e]])
        np.testing.assert_array_equal(_run(path, [x], coreml_eval.Device(accumulate="fp16")), [[2.0**-11]])


def test_fp16_accumulation_stays_near_float32_on_ordinary_values(tmp_path):
    """On values of one scale the fp16-intermediate forms of matmul, conv,
    layer_norm and softmax stay within a few fp16 ulps of float32 compute."""
    w = _r(6, 4, 3).astype(np.float16)
    cases = {
        "matmul": (lambda h: mb.matmul(x=h, y=_r(8, 5).astype(np.float16)), (3, 8)),
        "conv": (lambda h: mb.conv(x=h, weight=w, pad_type="same"), (1, 4, 9)),
        "layer_norm": (lambda h: mb.layer_norm(x=h, axes=[-1], epsilon=np.float16(1e-3)), (3, 16)),
        "softmax": (lambda h: mb.softmax(x=h, axis=-1), (3, 16)),
    }
    for name, (build, shape) in cases.items():
        path = _fp16_program(tmp_path, name, build, shape)
        x = _r(*shape)
        hi, lo = _run(path, x, coreml_eval.Device(accumulate="fp32")), _run(path, x, coreml_eval.Device(accumulate="fp16"))
        assert hi.shape == lo.shape
        np.testing.assert_allclose(lo, hi, rtol=8 * 2.0**-11, atol=8 * 2.0**-11 * np.abs(hi).max(), err_msg=name)
        assert np.isfinite(lo).all()


def test_every_op_output_is_checked_against_its_declared_shape(tmp_path, monkeypatch):
    """An op implementation that returns the wrong shape stops the call with
    one line naming the op, where it once passed silently."""
    path = _fp16_program(tmp_path, "Relu", lambda h: mb.relu(x=h), (2, 3))
    monkeypatch.setitem(coreml_eval.OPS, "relu", lambda x: np.maximum(x, 0)[:, :2])
    with pytest.raises(ValueError, match=r"op 'relu' .* gave shape \(2, 2\) where the program declares \(2, 3\)"):
        _run(path, _r(2, 3), coreml_eval.Device())
    monkeypatch.setitem(coreml_eval.OPS, "relu", lambda x: (x > 0))
    with pytest.raises(ValueError, match=r"gave bool where the program declares fp16"):
        _run(path, _r(2, 3), coreml_eval.Device())


def test_an_avg_pool_whose_last_window_starts_past_the_input_is_refused(tmp_path):
    """ceil_mode, a kernel smaller than its stride, no padding: the program
    declares (1, 2, 3) for a length-4 input, the evaluator's PyTorch window
    rule gives (1, 2, 2); the mismatch stops the call instead of passing."""
    path = _fp16_program(tmp_path, "Pool", lambda h: mb.avg_pool(x=h, kernel_sizes=[1], strides=[2], pad_type="valid", ceil_mode=True),
                         (1, 2, 4))
    with pytest.raises(ValueError, match=r"op 'avg_pool' .* gave shape \(1, 2, 2\) where the program declares \(1, 2, 3\)"):
        _run(path, _r(1, 2, 4), coreml_eval.Device())
