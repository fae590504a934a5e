"""W8A8 made on the torch side, for CoreML: coremltools calibrates activations
through `predict`, which Linux lacks, and its `optimize.torch` quantizers need
FX tracing, which the streaming steps (dict states, shape-dependent paths)
do not survive. So the quantized model is an ordinary AVSep with

- every BatchNorm folded into the conv before it (what the converter would
  do anyway, done first so the int8 grid is the grid of the folded weight);
- each named nn.Linear / nn.Conv weight rounded to int8 per output channel,
  symmetric (scale = max|w| / 127): the grid `linear_quantize_weights`
  (linear_symmetric, per_channel) stores exactly, so the converted weights
  are the simulated ones;
- each such layer's input fake-quantized per tensor, int8 affine, over the
  range seen while streaming calibration mixtures through the steps (state
  carried, so calibration sees realistic caches). A forward pre-hook does it
  with the decomposed quantize ops (plain int8 tensors, as PT2E writes them),
  which torch.export records and coremltools turns into MIL quantize /
  dequantize ops around the layer.

States, inputs and outputs stay float. Streaming the same model with the
torch runner measures these numerics here (fp32 compute; CoreML computes
in fp16).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.ao.quantization.fx._decomposed  # noqa: F401  registers torch.ops.quantized_decomposed
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from avsep_mobile.model import AVSep, CausalConv2d

LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm2d into the Conv2d that feeds it, in place."""
    for mod in model.modules():
        if isinstance(mod, CausalConv2d) and isinstance(mod.norm, nn.BatchNorm2d):
            mod.conv, mod.norm = fuse_conv_bn_eval(mod.conv, mod.norm), nn.Identity()
        elif isinstance(mod, nn.Sequential):
            for i in range(1, len(mod)):
                if isinstance(mod[i], nn.BatchNorm2d) and isinstance(mod[i - 1], nn.Conv2d):
                    mod[i - 1], mod[i] = fuse_conv_bn_eval(mod[i - 1], mod[i]), nn.Identity()
    return model


def fake_quant_weight(w: Tensor) -> Tensor:
    """w on the int8 grid every target stores: symmetric per output channel (dim 0)."""
    scale = w.abs().amax(dim=tuple(range(1, w.dim())), keepdim=True).clamp_min(1e-12) / 127.0
    return (w / scale).round().clamp(-127, 127) * scale


def act_qparams(lo: float, hi: float) -> tuple[float, int]:
    """(scale, zero point) of int8 affine over the calibrated [lo, hi]; 0 is
    kept exact (zero padding, silent slots)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = max(hi - lo, 1e-12) / 255.0
    return scale, int(np.clip(round(-lo / scale) - 128, -128, 127))


def fake_quant_act(x: Tensor, lo: float, hi: float) -> Tensor:
    """x through int8 per tensor over [lo, hi] and back."""
    scale, zp = act_qparams(lo, hi)
    return ((x / scale).round() + zp).clamp(-128, 127).sub(zp) * scale


class InputQuant:
    """Forward pre-hook of one layer: records the input range while observing,
    then fake-quantizes the input per tensor (int8, affine)."""

    def __init__(self, lo: float = float("inf"), hi: float = float("-inf")):
        self.lo, self.hi = lo, hi
        self.scale, self.zero_point = None, None

    def freeze(self) -> None:
        if not np.isfinite(self.lo):
            raise ValueError("a quantized layer saw no calibration data")
        self.scale, self.zero_point = act_qparams(self.lo, self.hi)

    def __call__(self, module, args):
        x = args[0]
        if self.scale is None:
            self.lo, self.hi = min(self.lo, float(x.min())), max(self.hi, float(x.max()))
            return None
        qd = torch.ops.quantized_decomposed  # = fake_quant_act, exportable
        q = qd.quantize_per_tensor(x, self.scale, self.zero_point, -128, 127, torch.int8)
        return (qd.dequantize_per_tensor(q, self.scale, self.zero_point, -128, 127, torch.int8),) + tuple(args[1:])


class DynamicInputQuant:
    """Forward pre-hook: the input quantized per tensor over its own range at
    run time (TFLite's dynamic-range int8 FULLY_CONNECTED)."""

    def __call__(self, module, args):
        x = args[0]
        return (fake_quant_act(x, float(x.min()), float(x.max())),) + tuple(args[1:])


# What each shipped int8 scheme does to one layer: (weights int8, input quantization)
INPUT_QUANT = {
    "w8a8": "static",      # ios w8a8, android/onnx static: calibrated per-tensor inputs
    "dynamic": "dynamic",  # android default: Linear inputs per tensor at run time, convs weight-only but int8.static_convs (calibrated inputs)
    "weights": None,       # ios weights: weight-only
}


def quantizable_layers(model: AVSep, keep_float=()) -> dict[str, nn.Module]:
    """{module name: layer} of the named Linear / Conv layers that go int8."""
    return {n: m for n, m in model.named_modules() if isinstance(m, LAYERS) and not any(n == k or n.startswith(k + ".") for k in keep_float)}


def input_ranges(model: AVSep, calibrate) -> dict[str, tuple[float, float]]:
    """{layer: (min, max) of its input} while calibrate(copy) streams data
    through a BatchNorm-folded float copy of `model`."""
    q = fold_batchnorm(copy.deepcopy(model).eval())
    observers = {n: InputQuant() for n in quantizable_layers(q)}
    handles = [q.get_submodule(n).register_forward_pre_hook(o) for n, o in observers.items()]
    with torch.no_grad():
        calibrate(q)
    for h in handles:
        h.remove()
    return {n: (o.lo, o.hi) for n, o in observers.items()}


def quantize(model: AVSep, calibrate, keep_float=(), activations: bool = True, scheme: str | None = None,
             layers=None, ranges: dict | None = None) -> AVSep:
    """An int8 copy of `model` in a shipped scheme (INPUT_QUANT; default "w8a8",
    or "weights" when not `activations`), over `layers` (default every
    quantizable layer not in keep_float). calibrate(model) streams calibration
    data through the copy (its layer inputs are observed); `ranges` (from
    input_ranges) replaces that."""
    scheme = scheme or ("w8a8" if activations else "weights")
    if scheme not in INPUT_QUANT:
        raise ValueError(f"unknown int8 scheme {scheme!r}: {', '.join(INPUT_QUANT)}")
    from .int8 import static_convs

    q = fold_batchnorm(copy.deepcopy(model).eval())
    chosen = quantizable_layers(q, keep_float)
    if layers is not None:
        chosen = {n: chosen[n] for n in layers}
    static_in_dynamic = {f"{n}.conv" for n in static_convs(model)} if INPUT_QUANT[scheme] == "dynamic" else set()
    hooks = []
    with torch.no_grad():
        for name, layer in chosen.items():
            layer.weight.copy_(fake_quant_weight(layer.weight))
            if INPUT_QUANT[scheme] == "static" or name in static_in_dynamic:
                hooks.append(InputQuant(*(ranges[name] if ranges else (float("inf"), float("-inf")))))
                layer.register_forward_pre_hook(hooks[-1])
            elif INPUT_QUANT[scheme] == "dynamic" and isinstance(layer, nn.Linear):
                layer.register_forward_pre_hook(DynamicInputQuant())
        if hooks and ranges is None:
            calibrate(q)
    for h in hooks:
        h.freeze()
    return q
