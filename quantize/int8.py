"""INT8 post-training quantization for every target, calibrated on mixtures
streamed through the float steps (so calibration sees realistic state), and
`avsep quantize`.

What each target ships as `--precision int8` (measured on the mobile model,
see the report in the issue and `avsep quantize`):

- android: ai-edge-quantizer on the float .tflite, int8 weights per channel
  on FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D ops that come from a named
  nn.Linear / nn.Conv of the model; by default dynamic-range int8 for
  FULLY_CONNECTED (activations quantized at run time) and weight-only int8
  for the convs (see tflite_hook), static (activations per tensor from
  calibration) as the option (SCHEMES, measured below). Everything else (the STFT
  constants, the mel matmul, attention score matmuls, LayerNorm, softmax,
  gates) stays float, and so does every input and output, states included. Full-int8 recipes quantize LayerNorm and
  softmax and lose 10 dB (STACK-NOTES).
- onnx: onnxruntime `quantize_static`, QDQ, per-channel weights, only the
  MatMul/Gemm/Conv nodes whose weight is a named nn.Linear / nn.Conv (found by
  initializer name or value), keep-float layers excluded.
- ios: W8A8 made on the torch side (quantize.w8a8: int8 weight grid per
  channel, int8 fake-quant of every layer input calibrated by streaming, traced
  into MIL quantize/dequantize ops; weights stored int8 by
  `linear_quantize_weights`); "weights" (weight-only int8) is the fallback.
  coremltools' own activation calibration runs through `predict` (macOS only)
  and its optimize.torch quantizers need FX tracing, which the steps fail.

Layers in `keep_float` (module names, e.g. "mask_head") stay float on every
target; `quantize.sensitivity` measures which ones deserve it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from avsep_mobile.model import AVSep
from avsep_mobile.runtime import signature
from avsep_mobile.runtime.replay import stream, stream_inputs
from avsep_mobile.runtime.runners import Recording
from avsep_mobile.streaming import TorchRunner

# Layers kept float in the shipped int8 exports, chosen from the sensitivity
# report of the default model in the schemes the exports ship
# (checkpoints/int8_sensitivity.md: dynamic and w8a8): every layer alone keeps
# >= 43.5 dB output SNR and <= 0.005 dB SI-SNRi drop (mobile_fast.pt, the 20 ms hop;
# mobile_fast_10ms.pt 44.0 dB, 0.018 dB; mobile.pt
# 41.1 dB, 0.012 dB), inside the sensitivity.KEEP_FLOAT_* bounds, so none is kept float.
KEEP_FLOAT = ()

TFLITE_OPS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D")
# litert-torch names an op's output tensor after its module path,
# ".../torch.nn.modules.linear.Linear_q;2": only ops of named layers match
_TFLITE_LAYER_RE = r"torch\.nn\.modules\.(linear\.Linear|conv\.Conv[12]d)_[^/;]*;"
ONNX_OPS = ("MatMul", "Gemm", "Conv")
# TFLite: measured on the (partly trained) mobile model, 3 s test vectors,
# closed loop: static W8A8 on these ops 17.7 dB speakers SNR vs float (lip_emb
# 21.5 dB), dynamic-range int8 45.8 dB at about the same file size (0.49x of
# fp32): dynamic wins on quality and ships (SCHEMES); static stays available.


# ---------------------------------------------------------------- calibration


def calibration_examples(count: int = 4, seconds: float = 3.0, data=None, speakers: int = 2) -> list:
    """Mixtures for calibration: from --data DIR, else made from the speech shipped in the package."""
    from avsep_mobile.data import mixtures

    if data is not None:
        paths = mixtures.list_examples(data)[:count]
        if not paths:
            raise ValueError(f"no mixtures under {data}: write some with `avsep data make --out {data} --count 8`")
        return [mixtures.read_example(p) for p in paths]
    from avsep_mobile import calibration

    return calibration.calibration_examples(count, speakers, seconds)  # no speech synthesiser needed


def stream_examples(runner, model: AVSep, speakers: int, chunk_hops: int, examples) -> None:
    """Stream each calibration mixture through `runner` (state carried within a mixture)."""
    sigs = signature.signatures(model, speakers, chunk_hops)
    for ex in examples:
        if ex.lips.shape[0] != speakers:
            raise ValueError(f"calibration mixture has {ex.lips.shape[0]} speakers, the export {speakers}")
        stream(runner, stream_inputs(signature.metadata(model.cfg, ex.lips.shape[0], chunk_hops), ex.mix, ex.lips, ex.fps), sigs)


def calibration_feeds(model: AVSep, speakers: int, chunk_hops: int, examples, max_calls: int = 300) -> dict[str, list[dict]]:
    """{step: [named feeds]}: the inputs of every call of the float Streamer
    over the examples, state included, thinned evenly to max_calls per step."""
    rec = Recording(TorchRunner(model.eval(), speakers, chunk_hops))
    stream_examples(rec, model, speakers, chunk_hops, examples)
    out = {}
    for step, feeds in rec.feeds.items():
        keep = np.unique(np.linspace(0, len(feeds) - 1, min(max_calls, len(feeds))).round().astype(int))
        out[step] = [feeds[i] for i in keep]
    return out


# ---------------------------------------------------------------- TFLite


def _tflite_scope(module_name: str, model: AVSep) -> str:
    """A regex matching the TFLite op names of one module: each path component
    appears as `<Class>_<name>`; ModuleList containers leave no scope."""
    from torch import nn

    parts, mod = [], model
    for c in module_name.split("."):
        mod = mod[int(c)] if c.isdigit() else getattr(mod, c)
        if not isinstance(mod, nn.ModuleList):
            parts.append(re.escape(f"_{c}") + "[/;]")
    return ".*".join(parts)


def static_convs(model: AVSep) -> tuple[str, ...]:
    """The convs the android dynamic scheme quantizes statically (int8
    weights and activations, ranges calibrated): the audio CNN's last, its
    widest (the default's: 32 -> 64 channels, 3 x 3, 184 k MACs a frame, the
    costliest layer of av_step in float). The other convs keep int8 storage
    and float compute: dynamic-range int8 convs run TFLite's slow hybrid
    kernels.

    Measured on the 20 ms default (A/B in one interleaved run, one thread,
    AMD EPYC avx512_vnni, the unchanged fp32 files as A/A 0.999-1.002): int8
    av_step Invoke p10 0.960, call 0.957 of float convs; task gate over 24
    held-out mixtures: drop 0.018 dB (0.015 before), output SNR vs float
    39.35 dB (39.63). Adding the CNN's middle conv bought nothing more
    (0.959) for 0.5 dB less output SNR; the lip stem's depthwise conv ran
    5.5x slower static (XNNPACK leaves a depth multiplier of 16 to TFLite's
    reference kernel)."""
    convs = getattr(getattr(model, "audio", None), "convs", None)
    return (f"audio.convs.{len(convs) - 1}",) if convs else ()


def tflite_hook(calib: dict, model: AVSep, keep_float=KEEP_FLOAT, mode: str = "static", static=None):
    """bytes -> bytes: quantize a float .tflite (both signatures) with
    ai-edge-quantizer. mode: "static" (W8A8 on layer ops) or "dynamic"
    (dynamic-range int8 FULLY_CONNECTED, weight-only int8 convs but the
    `static` ones, default static_convs(model), which `calib` calibrates;
    () for a graph whose signatures the calibration feeds do not fit)."""
    if mode not in ("static", "dynamic"):
        raise ValueError(f"unknown TFLite int8 mode {mode!r}: static or dynamic")
    static = () if mode != "dynamic" else static_convs(model) if static is None else tuple(static)
    if static and not calib:
        raise ValueError(f"the dynamic scheme quantizes {', '.join(static)} statically: give it calibration feeds")

    def apply(content: bytes) -> bytes:
        from ai_edge_quantizer import algorithm_manager, qtyping, quantizer

        # Only weights of named layers: the other constants (mel matrix, STFT
        # factors) are 0.1 MB in fp32. Casting them to fp16 saved 0.05 MB but
        # ai-edge-quantizer 0.10 crashes when a cast constant has several users
        # (it names the duplicate with a str: "can only concatenate str").
        qt = quantizer.Quantizer(bytearray(content))
        for op in TFLITE_OPS:
            name = qtyping.TFLOperationName[op]
            if mode == "static":
                qt.add_static_config(_TFLITE_LAYER_RE, name, 8, 8)
            elif op == "FULLY_CONNECTED":
                qt.add_dynamic_config(_TFLITE_LAYER_RE, name, 8)
            else:
                # convs: int8 storage, fp32 compute (dequantized once at load).
                # Dynamic-range int8 convs run TFLite's hybrid kernels, slower
                # than XNNPACK fp32: lip_step 0.29-0.34 ms against 0.15-0.18 ms
                # this way (fp32: 0.21-0.24 ms), same file size.
                qt.add_weight_only_config(_TFLITE_LAYER_RE, name, 8)
        for layer in static:  # a later scope wins over the one above
            qt.add_static_config(_tflite_scope(layer, model), qtyping.TFLOperationName["CONV_2D"], 8, 8)
        for layer in keep_float:  # the last matching scope wins
            for op in TFLITE_OPS:
                qt.update_quantization_recipe(_tflite_scope(layer, model), qtyping.TFLOperationName[op],
                                              algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE)
        result = None
        if qt.need_calibration:
            result = qt.calibrate(calib, num_threads=1)
        return bytes(qt.quantize(result, enable_progress_report=False).quantized_model)

    apply.scheme = (f"ai-edge-quantizer {mode} int8 ({', '.join(TFLITE_OPS)} of named layers; "
                    + (f"static int8: {', '.join(static)}; " if static else "") + f"keep float: {', '.join(keep_float) or 'none'})")
    return apply


# ---------------------------------------------------------------- ONNX


def onnx_layer_nodes(proto, model: AVSep) -> dict[str, str]:
    """{node name: module name} for MatMul/Gemm/Conv nodes whose weight
    initializer is a named nn.Linear / nn.Conv weight (by name, else by value)."""
    from onnx import numpy_helper
    from torch import nn

    layers = {n: m.weight.detach().numpy() for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))}
    inits = {i.name: i for i in proto.graph.initializer}
    out = {}
    for node in proto.graph.node:
        if node.op_type not in ONNX_OPS or len(node.input) < 2 or node.input[1] not in inits:
            continue
        w_name = node.input[1]
        hit = next((n for n in layers if w_name in (f"model.{n}.weight", f"{n}.weight")), None)
        if hit is None:
            w = numpy_helper.to_array(inits[w_name])
            for n, lw in layers.items():
                if (w.shape == lw.shape and np.array_equal(w, lw)) or (w.ndim == 2 and w.T.shape == lw.shape and np.array_equal(w.T, lw)):
                    hit = n
                    break
        if hit is not None:
            out[node.name] = hit
    return out


class _Reader:
    """onnxruntime CalibrationDataReader over recorded named feeds."""

    def __init__(self, feeds: list[dict], names: list[str]):
        self._it = iter([{n: f[n] for n in names} for f in feeds])

    def get_next(self):
        return next(self._it, None)


def onnx_hook(calib: dict, model: AVSep, keep_float=KEEP_FLOAT):
    """path -> None: rewrite a float step .onnx in place as QDQ static int8."""

    def apply(path: Path) -> None:
        import onnx
        from onnxruntime.quantization import (
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )

        step = Path(path).stem
        proto = onnx.load(str(path))
        nodes = onnx_layer_nodes(proto, model)
        chosen = [n for n, layer in nodes.items() if layer not in keep_float]
        excluded = [n for n, layer in nodes.items() if layer in keep_float]
        names = [i.name for i in proto.graph.input]
        tmp = Path(path).with_suffix(".q.onnx")
        quantize_static(str(path), str(tmp), _Reader(calib[step], names), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=list(ONNX_OPS), nodes_to_quantize=chosen, nodes_to_exclude=excluded,
                        per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, extra_options={"ActivationSymmetric": False})
        q = onnx.load(str(tmp))
        del q.metadata_props[:]
        q.metadata_props.extend(proto.metadata_props)
        onnx.save(q, str(path))
        tmp.unlink()

    apply.scheme = f"onnxruntime quantize_static QDQ int8 ({', '.join(ONNX_OPS)} of named layers; keep float: {', '.join(keep_float) or 'none'})"
    return apply


# ---------------------------------------------------------------- CoreML


def coreml_weight_names(model: AVSep, keep_float=KEEP_FLOAT) -> set[str]:
    """MIL const names of the int8 layer weights: torch.export names a
    parameter after its path under the step module ("p_model." + path, dots
    as "_")."""
    from . import w8a8

    return {"p_model_" + n.replace(".", "_") + "_weight" for n in w8a8.quantizable_layers(model, keep_float)}


class CoreMLInt8:
    """The iOS int8 hook. The quantization is made on the torch side
    (quantize.w8a8): `torch_model` (BatchNorm folded, layer weights on the
    int8 grid, and for "w8a8" int8 fake-quant on every layer input) is what
    coreml.convert exports, and calling the hook on the converted MLModel
    stores those layer weights as int8 per channel
    (`linear_quantize_weights`, the same grid, so it is exact). The STFT/iSTFT
    constants and the mel matrix stay float (fp32: the signal path). On Linux, streaming `torch_model`
    measures these numerics (fp32 compute) where CoreML predict cannot run."""

    def __init__(self, model: AVSep, speakers: int, chunk_hops: int, examples, keep_float=KEEP_FLOAT, scheme: str = "w8a8"):
        from . import w8a8

        self.weights = coreml_weight_names(model, keep_float)
        if scheme == "w8a8":
            self.torch_model = w8a8.quantize(
                model, lambda q: stream_examples(TorchRunner(q, speakers, chunk_hops), q, speakers, chunk_hops, examples), keep_float)
            what = "W8A8: int8 weights per channel + int8 inputs per tensor (calibrated, torch side)"
        elif scheme == "weights":
            self.torch_model = w8a8.quantize(model, lambda q: None, keep_float, activations=False)
            what = "weight-only int8 per channel"
        else:
            raise ValueError(f"unknown iOS int8 scheme {scheme!r}: w8a8 or weights")
        self.scheme = f"coremltools {what} on named Linear/Conv layers; keep float: {', '.join(keep_float) or 'none'}"

    def conversion_passes(self) -> dict:
        """The weight quantization as a pass at the end of the conversion's own
        pipeline (export.coreml runs it there): the same program as calling
        the hook on the converted model, without a second trip through
        coremltools' passes (about 4 s per step on mobile). A weight is named
        as torch.export made it, or with "_to_fp16" once the fp16 pass cast it."""
        import coremltools as ct

        int8 = ct.optimize.coreml.OpLinearQuantizerConfig(mode="linear_symmetric", granularity="per_channel", weight_threshold=0)
        names = self.weights | {w + "_to_fp16" for w in self.weights}
        return {"compression::linear_quantize_weights": {"config": ct.optimize.coreml.OptimizationConfig(op_name_configs={n: int8 for n in names})}}

    def __call__(self, ml):
        """Quantize the layer weights of an already converted MLModel."""
        import coremltools as ct

        consts = {op.name for f in ml._mil_program.functions.values() for op in f.operations if op.op_type == "const"}
        if not any(c.removesuffix("_to_fp16") in self.weights for c in consts):
            raise RuntimeError("no layer weight found by name in the converted program (did coremltools rename its consts?)")
        (name, options), = self.conversion_passes().items()
        return ct.optimize.coreml.linear_quantize_weights(ml, config=options["config"])


# The int8 schemes of each target, the shipped default first (measured: see
# the module docstring and the closing notes).
SCHEMES = {"android": ("dynamic", "static"), "ios": ("w8a8", "weights"), "onnx": ("static",)}


def hook_for(target: str, model: AVSep, speakers: int, chunk_hops: int, examples=None, keep_float=KEEP_FLOAT, scheme: str | None = None):
    """The int8 hook of a target (scheme: one of SCHEMES[target], default the
    first), calibrated on `examples` (default: generated mixtures) streamed
    through the float model."""
    if target not in SCHEMES:
        raise ValueError(f"unknown target {target!r}")
    scheme = scheme or SCHEMES[target][0]
    if scheme not in SCHEMES[target]:
        raise ValueError(f"int8 scheme {scheme!r} is not available for {target}: choose {' or '.join(SCHEMES[target])}")
    needs_data = (target, scheme) in (("android", "static"), ("ios", "w8a8"), ("onnx", "static")) or (
        (target, scheme) == ("android", "dynamic") and bool(static_convs(model)))
    if needs_data and examples is None:
        examples = calibration_examples(speakers=speakers)
    if target == "ios":
        return CoreMLInt8(model, speakers, chunk_hops, examples, keep_float, scheme)
    calib = calibration_feeds(model, speakers, chunk_hops, examples) if needs_data else {}
    if target == "android":
        return tflite_hook(calib, model, keep_float, scheme)
    return onnx_hook(calib, model, keep_float)
