"""4-bit weights for every target that can run them (`avsep export <target>
--precision int4`). Only the weights of named nn.Linear layers (96 % of the
mobile model's parameters) go to 4 bits; everything else is stored as in the
int8 export or float, and states, inputs and outputs stay float.

- android: ai-edge-quantizer, int4 weights in blocks of BLOCK input values
  (one scale per block, symmetric) on the FULLY_CONNECTED ops of named
  Linear layers, dynamic range (the kernel quantizes the activations at run
  time, as the int8 default does); the convs weight-only int8 as in int8,
  and the mel matrix weight-only int8 per band.
- onnx: onnxruntime's MatMulNBits (`matmul_nbits_quantizer`), 4 bits in
  blocks of BLOCK, symmetric, on the MatMul of each named Linear (a Gemm is
  first rewritten as MatMul + Add: MatMulNBits replaces MatMul only); the
  convs' weights int8 per channel and the mel matrix int8 per band, each
  behind a DequantizeLinear.
- ios: iOS 18: `linear_quantize_weights` int4 per block of BLOCK
  (constexpr_blockwise_shift_scale); iOS 17 (no per-block int4 op): 4-bit
  palettes, `palettize_weights` k-means with 16 entries per tensor
  (constexpr_lut_to_dense); the convs (found by op, so a conv with batch
  norm folded in too) and the mel matrix int8 per channel. The STFT stays
  unfolded (folds.SIZE_COSTLY_FOLDS): its twiddle blocks would be 17 % of
  the package.

Layers in `keep_8bit` (module names; KEEP_8BIT by default, chosen by the
int4 sensitivity report, quantize.sensitivity with scheme "int4") and any
Linear whose input width is not a multiple of BLOCK stay at 8 bits per
channel on every target.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import torch
from torch import Tensor, nn

from avsep_mobile.model import AVSep

from . import w8a8

# input values per scale: 32 is the smallest block every target offers
# (ai-edge-quantizer BLOCKWISE_32, MatMulNBits, CoreML per_block) and the most accurate
BLOCK = 32
# Layers kept at 8 bits in the shipped int4 exports, from the int4 sensitivity
# report of the default model (avsep_mobile/checkpoints/int4_sensitivity.md,
# mobile_fast.pt at its 20 ms hop, 4 held-out mixtures): every Linear alone at 4 bits keeps
# >= 38.2 dB output SNR and costs <= 0.02 dB SI-SNRi (mobile.pt: 38.5 dB,
# 0.02 dB), inside the sensitivity.KEEP_8BIT_* bounds, so none is kept at 8 bits.
KEEP_8BIT: tuple[str, ...] = ()
IOS_MODES = {18: "per-block int4", 17: "4-bit palettes"}
# MatMulNBits' accuracy_level 4 (activations int8 per block at run time): the
# shipped av_step ran in 0.78x the unset level's time (A/A 1.00), the stream per
# audio second at 1.06x onnx fp32 instead of 1.32x (one thread, AMD EPYC
# avx512_vnni, interleaved); speakers 34.6 dB vs float (35.1 unset), task drop 0.05 dB
ACCURACY_LEVEL = 4
MEL_BUFFER = "audio.mel"  # the model's mel filterbank (a buffer, not a layer)


def linear_layers(model: AVSep) -> dict[str, nn.Linear]:
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear)}


def four_bit_layers(model: AVSep, keep_8bit=KEEP_8BIT) -> list[str]:
    """The Linear layers that get 4-bit weights: all but keep_8bit and those
    whose input width no block divides."""
    return [n for n, m in linear_layers(model).items() if n not in keep_8bit and m.in_features % BLOCK == 0]


def fake_quant_weight(w: Tensor, block: int = BLOCK) -> Tensor:
    """w (out, in) on a symmetric int4 grid, one scale per `block` input
    values of each output row (scale = max|w| / 7, levels -8..7)."""
    out, n = w.shape
    b = w.reshape(out, n // block, block)
    scale = b.abs().amax(dim=-1, keepdim=True).clamp_min(1e-12) / 7.0
    return ((b / scale).round().clamp(-8, 7) * scale).reshape(out, n)


def simulate(model: AVSep, layers=None, keep_8bit=KEEP_8BIT) -> AVSep:
    """A copy of `model` with the int4 numerics of the android export on
    `layers` (default four_bit_layers): 4-bit block weights, and the input of
    each such Linear quantized to int8 per tensor at run time (dynamic
    range). The torch side of the sensitivity report."""
    q = copy.deepcopy(model).eval()
    chosen = four_bit_layers(q, keep_8bit) if layers is None else list(layers)
    with torch.no_grad():
        for name in chosen:
            layer = q.get_submodule(name)
            layer.weight.copy_(fake_quant_weight(layer.weight))
            layer.register_forward_pre_hook(w8a8.DynamicInputQuant())
    return q


# ---------------------------------------------------------------- TFLite


def tflite_hook(model: AVSep, keep_8bit=KEEP_8BIT):
    """bytes -> bytes: the float .tflite with 4-bit block weights (see the
    module docstring); 8-bit layers dynamic int8 per channel, convs
    weight-only int8."""
    from .int8 import _TFLITE_LAYER_RE, _tflite_scope

    eight = [n for n in linear_layers(model) if n not in four_bit_layers(model, keep_8bit)]

    def apply(content: bytes) -> bytes:
        from ai_edge_quantizer import qtyping, quantizer

        fc = qtyping.TFLOperationName.FULLY_CONNECTED
        qt = quantizer.Quantizer(bytearray(content))
        qt.add_dynamic_config(_TFLITE_LAYER_RE, fc, 4, granularity=qtyping.QuantGranularity[f"BLOCKWISE_{BLOCK}"])
        for op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            qt.add_weight_only_config(_TFLITE_LAYER_RE, qtyping.TFLOperationName[op], 8)
        for layer in eight:  # the last matching scope wins
            qt.add_dynamic_config(_tflite_scope(layer, model), fc, 8)
        # the mel matrix (80 x 257, the largest float constant left: 7 % of the
        # file) stored int8 per mel band; its op is named after the module that owns it
        owner = MEL_BUFFER.rsplit(".", 1)[0]
        qt.add_weight_only_config(re.escape(f"_{owner.split('.')[-1]}") + ";;?$", fc, 8)  # the quantizer appends a ";"
        return bytes(qt.quantize(None, enable_progress_report=False).quantized_model)

    apply.scheme = (f"ai-edge-quantizer int4 weights in blocks of {BLOCK} (FULLY_CONNECTED of named layers, dynamic range), "
                    f"convs weight-only int8; 8-bit layers: {', '.join(eight) or 'none'}")
    return apply


# ---------------------------------------------------------------- ONNX


def _gemm_to_matmul(proto) -> None:
    """Rewrite each Gemm with a constant weight as MatMul (+ Add of its bias),
    in place: MatMulNBits replaces MatMul nodes only. The weight is stored
    transposed where the Gemm had transB, so MatMul computes the same."""
    from onnx import helper, numpy_helper

    inits = {i.name: i for i in proto.graph.initializer}
    nodes = []
    for node in proto.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        plain = attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0 and not attrs.get("transA", 0)
        if node.op_type != "Gemm" or node.input[1] not in inits or not plain:
            nodes.append(node)
            continue
        w = numpy_helper.to_array(inits[node.input[1]])
        if attrs.get("transB", 0):
            inits[node.input[1]].CopyFrom(numpy_helper.from_array(np.ascontiguousarray(w.T), node.input[1]))
        if len(node.input) > 2 and node.input[2]:
            mid = node.output[0] + "_matmul"
            nodes.append(helper.make_node("MatMul", node.input[:2], [mid], name=node.name))
            nodes.append(helper.make_node("Add", [mid, node.input[2]], list(node.output), name=node.name + "_bias"))
        else:
            nodes.append(helper.make_node("MatMul", node.input[:2], list(node.output), name=node.name))
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)


def _int8_behind_dequantize(proto, init, axis: int):
    """Initializer `init` stored int8, one symmetric scale per index of
    `axis`, in place; returns the DequantizeLinear that restores its name."""
    from onnx import helper, numpy_helper

    name, w = init.name, numpy_helper.to_array(init)
    others = tuple(i for i in range(w.ndim) if i != axis)
    scale = np.maximum(np.abs(w).max(axis=others), 1e-12).astype(np.float32) / 127.0
    q = np.clip(np.round(w / np.expand_dims(scale, others)), -127, 127).astype(np.int8)
    init.CopyFrom(numpy_helper.from_array(q, name + "_int8"))
    proto.graph.initializer.append(numpy_helper.from_array(scale, name + "_scale"))
    return helper.make_node("DequantizeLinear", [name + "_int8", name + "_scale"], [name], name=name + "_dequantize", axis=axis)


def _int8_conv_weights(proto, conv_nodes) -> None:
    """Store each named conv's weight as int8 per output channel + a
    DequantizeLinear in front of the Conv (weight-only, as the int8 convs of
    the other targets), in place."""
    inits = {i.name: i for i in proto.graph.initializer}
    deq = [_int8_behind_dequantize(proto, inits[node.input[1]], 0) for node in proto.graph.node
           if node.name in conv_nodes and node.input[1] in inits]
    for i, node in enumerate(deq):  # before every node: the graph stays topologically sorted
        proto.graph.node.insert(i, node)


def _int8_mel(proto, mel: np.ndarray) -> None:
    """The mel matrix (a MatMul's constant, (bins, mels) or its transpose)
    stored int8 per mel band behind a DequantizeLinear, as android stores it,
    in place: float, it was 10 % of a 4-bit av_step."""
    from onnx import numpy_helper

    inits = {i.name: i for i in proto.graph.initializer}
    users = {n.input[1] for n in proto.graph.node if n.op_type == "MatMul" and len(n.input) > 1}
    for name in sorted(users & set(inits)):
        w = numpy_helper.to_array(inits[name])
        if w.shape in (mel.shape, mel.T.shape) and (np.array_equal(w, mel) or np.array_equal(w, mel.T)):
            proto.graph.node.insert(0, _int8_behind_dequantize(proto, inits[name], w.shape.index(mel.shape[0])))


def onnx_hook(model: AVSep, keep_8bit=KEEP_8BIT):
    """path -> None: rewrite a float step .onnx in place with MatMulNBits
    weights: 4 bits on the 4-bit layers, 8 bits on the other named Linears."""
    four = set(four_bit_layers(model, keep_8bit))

    def apply(path) -> None:
        import logging

        import onnx

        from .int8 import onnx_layer_nodes

        proto = onnx.load(str(path))
        meta = list(proto.metadata_props)
        _gemm_to_matmul(proto)
        found = onnx_layer_nodes(proto, model)
        layers = {n: layer for n, layer in found.items() if isinstance(model.get_submodule(layer), nn.Linear)}
        matmuls = [n.name for n in proto.graph.node if n.op_type == "MatMul"]
        root = logging.getLogger()
        level = root.level  # the quantizer's import sets the root logger to INFO and logs every node
        try:
            from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

            root.setLevel(logging.WARNING)
            for bits, chosen in ((4, {n for n, layer in layers.items() if layer in four}),
                                 (8, {n for n, layer in layers.items() if layer not in four})):
                if not chosen:
                    continue
                q = MatMulNBitsQuantizer(proto, bits=bits, block_size=BLOCK, is_symmetric=True, accuracy_level=ACCURACY_LEVEL,
                                         nodes_to_exclude=[n for n in matmuls if n not in chosen], op_types_to_quantize=("MatMul",))
                q.process()
                proto = q.model.model
        finally:
            root.setLevel(level)
        _int8_conv_weights(proto, {n for n in found if n not in layers})
        _int8_mel(proto, model.get_buffer(MEL_BUFFER).numpy())
        del proto.metadata_props[:]
        proto.metadata_props.extend(meta)
        onnx.save(proto, str(path))

    apply.scheme = (f"onnxruntime MatMulNBits, 4-bit weights in blocks of {BLOCK} (MatMul of named Linear layers), convs and mel matrix int8 weight-only; "
                    f"8-bit layers: {', '.join(sorted(set(linear_layers(model)) - four)) or 'none'}")
    return apply


# ---------------------------------------------------------------- CoreML


class CoreMLInt4:
    """The iOS int4 hook: called on each converted step's MLModel, it stores
    the 4-bit layers' weights per block of BLOCK (iOS 18) or as 4-bit palettes
    (iOS 17), and the 8-bit layers' int8 per channel."""

    def __init__(self, model: AVSep, ios: int, keep_8bit=KEEP_8BIT):
        if ios not in IOS_MODES:
            raise ValueError(f"iOS target {ios} has no int4 scheme: choose {' or '.join(map(str, IOS_MODES))}")
        self.ios = ios
        from .int8 import coreml_weight_names

        linears = set(linear_layers(model))
        four = set(four_bit_layers(model, keep_8bit))
        others = set(w8a8.quantizable_layers(model))  # every named layer: the complement picks a set's MIL const names
        self.four_bit = coreml_weight_names(model, keep_float=tuple(others - four))
        # the 8-bit Linears, the convs and the mel matrix (int8 per channel, as
        # android stores them); torch.export names a buffer's const "b_" + its path
        self.eight_bit = coreml_weight_names(model, keep_float=tuple(four)) | {"b_model_" + MEL_BUFFER.replace(".", "_")}
        how = f"int4 per block of {BLOCK} (iOS 18)" if ios >= 18 else "4-bit palettes, 16 entries per tensor (iOS 17)"
        self.scheme = (f"coremltools {how} on named Linear layers, convs and mel matrix int8 per channel; "
                       f"8-bit layers: {', '.join(sorted(linears - four)) or 'none'}")

    def __call__(self, ml):
        import coremltools as ct

        ops = [op for f in ml._mil_program.functions.values() for op in f.operations]
        consts = {op.name for op in ops if op.op_type == "const"}
        four = {c for c in consts if c.removesuffix("_to_fp16") in self.four_bit}
        eight = {c for c in consts if c.removesuffix("_to_fp16") in self.eight_bit}
        # every conv weight too: a conv with batch norm folded in gets a new const name
        conv_weights = (op.inputs["weight"].op for op in ops if op.op_type == "conv")
        eight |= {w.name for w in conv_weights if w is not None and w.op_type == "const"} - four
        if not four:
            raise RuntimeError("no layer weight found by name in the converted program (did coremltools rename its consts?)")
        opt = ct.optimize.coreml
        if self.ios >= 18:
            int4 = opt.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int4", granularity="per_block", block_size=BLOCK,
                                               weight_threshold=0)
            ml = opt.linear_quantize_weights(ml, config=opt.OptimizationConfig(op_name_configs={c: int4 for c in four}))
        else:
            lut = opt.OpPalettizerConfig(mode="kmeans", nbits=4, granularity="per_tensor", weight_threshold=0)
            ml = opt.palettize_weights(ml, config=opt.OptimizationConfig(op_name_configs={c: lut for c in four}))
        if eight:
            int8 = opt.OpLinearQuantizerConfig(mode="linear_symmetric", granularity="per_channel", weight_threshold=0)
            ml = opt.linear_quantize_weights(ml, config=opt.OptimizationConfig(op_name_configs={c: int8 for c in eight}))
        return ml


def hook_for(target: str, model: AVSep, ios: int = 17, keep_8bit=KEEP_8BIT):
    """The int4 hook of a target (no calibration: weights only)."""
    if target == "android":
        return tflite_hook(model, keep_8bit)
    if target == "onnx":
        return onnx_hook(model, keep_8bit)
    if target == "ios":
        return CoreMLInt4(model, ios, keep_8bit)
    raise ValueError(f"unknown target {target!r}")
