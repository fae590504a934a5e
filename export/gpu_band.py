"""The device band on the float graph: the Android fp16 export on a GPU delegate.

LiteRT's CPU kernels run the fp16 export (fp16 weights) in float32; a GPU
delegate at fp16 precision computes the whole graph in fp16, with no fp32
islands (the CoreML export keeps its signal path in fp32: export/coreml.py).
No evaluator of a TFLite graph with per-op fp16 rounding exists here, so the
float graph the export is converted from (the model with LITERT_FOLDS, as
export/tflite.py converts it) runs under `Fp16Device`, a TorchDispatchMode
that computes every ATen op the way such a device would, in one corner of
coreml_eval.BAND (one model of the hardware for both targets):

- every floating input of an op (weights, buffers, graph inputs, Python
  scalar constants such as an epsilon) and every floating output is rounded
  to fp16: ties to even, beyond the fp16 maximum to infinity (IEEE, torch's
  float32 -> float16 cast). Inputs are rounded as the delegate uploads them.
- subnormals "keep" or "flush": "flush" zeroes values below 2**-14 on every
  op input and output (constants included), as coreml_eval does.
- accumulation "fp32": each op computes in float32 from its rounded inputs
  and only its output is rounded (a GPU with fp32 accumulators, as Arm Mali
  and Adreno offer). "fp16": matmul (mm, bmm, addmm), convolution, sum, mean
  and softmax run through coreml_eval.Fp16Arithmetic, every product and
  partial sum rounded to fp16 in a pairwise tree, softmax's shift,
  exponentials, sum and division each rounded (half-precision shaders).
  LayerNorm reaches this graph written out (the "layernorm_ops" fold), so its
  means are such sums and its other steps are ops rounded on their own.
  Another accumulating op (native_layer_norm, var, cumsum, ...) under "fp16"
  stops the run with its name: nothing is skipped.

Approximations, on the side of the float graph: the converter's own
rewrites (BatchNorm folded into the conv before the weights are rounded,
fused activations) are not seen, and an op that TFLite splits or fuses is
rounded once here.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

from avsep_mobile.model import AVSep
from avsep_mobile.runtime.coreml_eval import FP16_MIN_NORMAL, Device, Fp16Arithmetic
from avsep_mobile.streaming import TorchRunner

from .folds import LITERT_FOLDS, fold

KIND = "gpu-fp16-simulation"
aten = torch.ops.aten
# accumulating ops with no fp16-intermediate model here: refused under fp16 accumulation
_UNMODELLED = {aten.native_layer_norm.default, aten.var.correction, aten.var_mean.correction, aten.cumsum.default,
               aten._log_softmax.default, aten.baddbmm.default, aten.dot.default, aten.mv.default, aten.linalg_vector_norm.default}


def _fp16_ops(ar: Fp16Arithmetic) -> dict:
    """{aten op: the same op with fp16 intermediates}, on NumPy arguments."""
    def conv(x, w, b, stride, padding, dilation, transposed, output_padding, groups):
        if transposed:
            raise ValueError("fp16 accumulation of a transposed convolution is not modelled")
        return ar.conv(x, w, b, stride, "custom", [p for p in padding for _ in (0, 1)], dilation, groups)

    def addmm(c, a, b, beta=1, alpha=1):
        if beta != 1 or alpha != 1:
            raise ValueError("fp16 accumulation of addmm with beta/alpha != 1 is not modelled")
        return ar.r(ar.matmul(a, b) + c)

    return {
        aten.mm.default: ar.matmul, aten.bmm.default: ar.matmul, aten.addmm.default: addmm,
        aten.convolution.default: conv,
        aten.sum.default: lambda x, dtype=None: ar.reduce_sum(x),
        aten.sum.dim_IntList: lambda x, dims, keepdim=False, dtype=None: ar.reduce_sum(x, dims, keepdim),
        aten.mean.dim: lambda x, dims, keepdim=False, dtype=None: ar.reduce_mean(x, dims, keepdim),
        aten._softmax.default: lambda x, dim, half_to_float: ar.softmax(x, dim),
    }


class Fp16Device(TorchDispatchMode):
    """Every ATen op computed as a device in corner `device` computes an fp16
    graph (module docstring). observe(function, op_type, name, value), if
    given, sees every floating op output (name: the op's index in the call),
    as coreml_eval's observer does (export/census.py)."""

    def __init__(self, device: Device = Device(), observe=None, function: str = ""):
        super().__init__()
        self.flush = device.subnormals == "flush"
        self.fp16_ops = _fp16_ops(Fp16Arithmetic()) if device.accumulate == "fp16" else {}
        self.observe, self.function, self.n = observe, function, 0

    def round(self, x):
        """A float tensor or Python float as the device holds it; anything else as is."""
        if isinstance(x, float):
            r = float(np.float16(x))
            return 0.0 if self.flush and abs(r) < FP16_MIN_NORMAL else r
        if not (isinstance(x, torch.Tensor) and x.is_floating_point()):
            return x
        r = x.to(torch.float16).to(x.dtype)
        return torch.where(r.abs() < FP16_MIN_NORMAL, 0.0, r) if self.flush else r

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        args, kwargs = tree_map(self.round, (args, kwargs or {}))
        if func in self.fp16_ops:
            to_np = lambda x: x.numpy() if isinstance(x, torch.Tensor) else x  # noqa: E731
            out = torch.from_numpy(np.ascontiguousarray(self.fp16_ops[func](*tree_map(to_np, args), **tree_map(to_np, kwargs)), np.float32))
        elif func in _UNMODELLED and self.fp16_ops:
            raise ValueError(f"{func}: fp16 accumulation of this op is not modelled (export/gpu_band.py)")
        else:
            out = func(*args, **kwargs)
        if func._schema.is_mutable:  # in place: the mutated tensor holds the rounded values
            for a in args:
                if isinstance(a, torch.Tensor) and a.is_floating_point():
                    a.copy_(self.round(a))
            return out
        out = tree_map(self.round, out)
        if self.observe is not None:
            for o in (out if isinstance(out, (tuple, list)) else (out,)):
                if isinstance(o, torch.Tensor) and o.is_floating_point():
                    self.observe(self.function, func.overloadpacket.__name__, f"{self.n}", o.numpy())
                    self.n += 1
        return out


class GpuFp16Runner(TorchRunner):
    """The float graph of the Android export streamed under Fp16Device: the
    runner of one band corner of the Android fp16 export on a GPU delegate."""

    kind = KIND
    with_lanes = None  # vmap under this dispatch mode is not modelled: one stream at a time

    def __init__(self, model: AVSep, speakers: int, chunk_hops: int = 1, device: Device = Device(), observe=None):
        super().__init__(fold(model, LITERT_FOLDS), speakers, chunk_hops)
        self.device, self.observe = device, observe

    def run(self, step: str, feeds: dict) -> dict:
        with Fp16Device(self.device, self.observe, step):
            return super().run(step, feeds)
