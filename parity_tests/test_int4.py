"""4-bit exports (`--precision int4`, quantize/int4.py): each passes its
parity gate and the task gate with its Linear weights really stored in 4
bits, and an export whose 4-bit weight was damaged after quantization fails
them and writes nothing but the report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from avsep_mobile.export import bundle, thresholds
from avsep_mobile.quantize import int4, sensitivity

GATE_MIXTURES = 2  # tiny is untrained: the task gate runs, its drop is near zero


# ios at both targets: per-block int4 (iOS 18), 4-bit palettes (iOS 17); the
# reference evaluator runs the programs (CoreML prediction needs macOS)
VARIANTS = {"android": ("android", None), "onnx": ("onnx", None), "ios17": ("ios", 17), "ios18": ("ios", 18)}


def _export(tmp_path_factory, model, variant, hook=None):
    target, ios = VARIANTS[variant]
    out = tmp_path_factory.mktemp(f"{variant}_int4") / "bundle"
    report = bundle.export(target, model, out, precision="int4", hook=hook, ios=ios, checkpoint=bundle.checkpoint_info(None, "tiny"),
                           progress=False, gate_mixtures=GATE_MIXTURES)
    return out, report


@pytest.fixture(scope="module")
def int4_bundles(tmp_path_factory, tiny_model):
    return {v: _export(tmp_path_factory, tiny_model, v) for v in VARIANTS}


def _four_bit_tensors(out, variant) -> int:
    """Weights stored in 4 bits: INT4 tensors of the .tflite, 4-bit MatMulNBits
    of the .onnx files, 16-entry palettes or int4 block weights of the packages."""
    if variant.startswith("ios"):
        import coremltools as ct

        int4, count = ct.proto.MIL_pb2.DataType.Value("INT4"), 0
        for package in out.glob("*.mlpackage"):
            for fn in ct.utils.load_spec(str(package)).mlProgram.functions.values():
                for block in fn.block_specializations.values():
                    made = {o.name: o.type.tensorType.dataType for op in block.operations for o in op.outputs}
                    for op in block.operations:
                        if op.type == "constexpr_lut_to_dense":
                            count += 1
                        elif op.type == "constexpr_blockwise_shift_scale":  # data inline, or a named const
                            arg = op.inputs["data"].arguments[0]
                            inline = arg.WhichOneof("binding") == "value"
                            count += (arg.value.type.tensorType.dataType if inline else made.get(arg.name)) == int4
        return count
    if variant == "android":
        from ai_edge_litert import schema_py_generated as schema
        from ai_edge_litert.tools import flatbuffer_utils

        m = flatbuffer_utils.convert_bytearray_to_object(bytearray((out / "avsep.tflite").read_bytes()))
        return len({t.buffer for g in m.subgraphs for t in g.tensors if t.type == schema.TensorType.INT4})
    import onnx

    return sum(1 for f in ("lip_step.onnx", "av_step.onnx") for n in onnx.load(str(out / f)).graph.node
               if n.op_type == "MatMulNBits" and onnx.helper.get_attribute_value(next(a for a in n.attribute if a.name == "bits")) == 4)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_int4_export_passes_its_gates(variant, int4_bundles, tiny_model):
    target, ios = VARIANTS[variant]
    out, report = int4_bundles[variant]
    assert report["passed"], report["failed"]
    assert report["gate"]["min_db"] == thresholds.INT4_MIN_SNR_DB
    assert report["task"]["mixtures"] == GATE_MIXTURES and report["task"]["max_drop_db"] == thresholds.INT4_MAX_SISNRI_DROP_DB
    m = json.loads((out / "manifest.json").read_text())
    assert m["precision"] == "int4" and m["quantization"]["scheme"] == int4.hook_for(target, tiny_model, ios).scheme
    assert _four_bit_tensors(out, variant) == len(int4.four_bit_layers(tiny_model)) > 0


def _float_weights_left(out, variant, model) -> list[str]:
    """What an int4 bundle still stores in float that it should not: the mel
    matrix (android, ONNX: a float constant of its shape), a conv weight not
    behind a compression op (CoreML: its weight a plain const), the STFT's
    twiddle blocks (CoreML: 147 KB of fp32 the size-first export leaves out)."""
    if variant == "android":
        from ai_edge_litert import schema_py_generated as schema
        from ai_edge_litert.tools import flatbuffer_utils

        def constant(buffer) -> bool:  # data inline, or after the flatbuffer at an offset
            return (buffer.data is not None and len(buffer.data) > 0) or (buffer.size or 0) > 0

        mel = model.get_buffer(int4.MEL_BUFFER)
        shapes = {tuple(mel.shape), tuple(mel.T.shape)}
        m = flatbuffer_utils.convert_bytearray_to_object(bytearray((out / "avsep.tflite").read_bytes()))
        return [t.name.decode() for g in m.subgraphs for t in g.tensors
                if t.type == schema.TensorType.FLOAT32 and tuple(t.shape) in shapes and constant(m.buffers[t.buffer])]
    if variant == "onnx":
        import onnx
        from onnx import numpy_helper

        mel = model.get_buffer(int4.MEL_BUFFER).numpy()
        return [f"{f}: {i.name} (mel)" for f in ("lip_step.onnx", "av_step.onnx") for i in onnx.load(str(out / f)).graph.initializer
                if i.data_type == onnx.TensorProto.FLOAT and numpy_helper.to_array(i).shape in (mel.shape, mel.T.shape)]
    if variant.startswith("ios"):
        import coremltools as ct

        left = []
        for package in out.glob("*.mlpackage"):
            for fn in ct.utils.load_spec(str(package)).mlProgram.functions.values():
                for block in fn.block_specializations.values():
                    made = {o.name: op.type for op in block.operations for o in op.outputs}
                    left += [f"{package.name}: {op.outputs[0].name}" for op in block.operations
                             if op.type == "const" and "blocks_" in op.outputs[0].name]
                    left += [f"{package.name}: conv weight {op.inputs['weight'].arguments[0].name}" for op in block.operations
                             if op.type == "conv" and made.get(op.inputs["weight"].arguments[0].name) == "const"]
        return left
    return []


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_int4_leaves_no_large_float_constant(variant, int4_bundles, tiny_model):
    out, _ = int4_bundles[variant]
    assert _float_weights_left(out, variant, tiny_model) == []


def _damage_tflite(content: bytes, rows: int) -> bytes:
    """The INT4 weight with `rows` output rows (the mask head's: one per
    frequency bin) with every nibble inverted (q -> -q - 1: the layer negated)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    m = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    (target,) = {t.buffer for g in m.subgraphs for t in g.tensors if t.type == schema.TensorType.INT4 and t.shape[0] == rows}
    b = m.buffers[target]
    if b.data is not None and len(b.data):
        b.data = np.bitwise_not(np.asarray(b.data, np.uint8))
        return bytes(flatbuffer_utils.convert_object_to_bytearray(m))
    raw = bytearray(content)  # stored after the flatbuffer at an offset
    raw[b.offset:b.offset + b.size] = bytes(~np.frombuffer(content[b.offset:b.offset + b.size], np.uint8))
    return bytes(raw)


def _damage_onnx(path, rows: int) -> None:
    """The same in av_step.onnx: the 4-bit MatMulNBits weight of N = rows outputs."""
    import onnx
    from onnx import numpy_helper

    if path.name != "av_step.onnx":
        return
    proto = onnx.load(str(path))
    inits = {i.name: i for i in proto.graph.initializer}
    attr = onnx.helper.get_attribute_value
    (name,) = [n.input[1] for n in proto.graph.node if n.op_type == "MatMulNBits"
               and attr(next(a for a in n.attribute if a.name == "bits")) == 4 and attr(next(a for a in n.attribute if a.name == "N")) == rows]
    inits[name].CopyFrom(numpy_helper.from_array(np.bitwise_not(numpy_helper.to_array(inits[name])), name))
    onnx.save(proto, str(path))


@pytest.mark.parametrize("target", ["android", "onnx"])
def test_a_damaged_4bit_weight_fails_the_gates(target, tmp_path_factory, tiny_model):
    hook = int4.hook_for(target, tiny_model)
    rows = tiny_model.mask_head.out_features
    assert "mask_head" in int4.four_bit_layers(tiny_model)
    if target == "android":
        def damaged(content):
            return _damage_tflite(hook(content), rows)
    else:
        def damaged(path):
            hook(path)
            _damage_onnx(path, rows)
    out, report = _export(tmp_path_factory, tiny_model, target, hook=damaged)
    assert not report["passed"] and report["failed"]
    assert not (out / "manifest.json").exists() and {p.name for p in out.iterdir()} <= {"parity_report.json", "parity_report.md", "parity_report.png"}
    assert report["outputs"]["speakers"]["snr_db"] < thresholds.INT4_MIN_SNR_DB


def test_int4_simulation_is_on_the_4bit_grid(tiny_model):
    q = int4.simulate(tiny_model)
    name = int4.four_bit_layers(tiny_model)[0]
    w = q.get_submodule(name).weight.detach()
    blocks = w.reshape(w.shape[0], -1, int4.BLOCK)
    steps = blocks / (blocks.abs().amax(-1, keepdim=True) / 7)
    assert torch.allclose(steps, steps.round(), atol=1e-4) and steps.abs().max() <= 8
    assert not torch.equal(w, tiny_model.get_submodule(name).weight)


def test_int4_sensitivity_covers_every_4bit_layer(tiny_model):
    from tiny_data import tiny_calibration

    scored = tiny_calibration(tiny_model, n=1, seconds=1.0)
    r = sensitivity.sensitivity(tiny_model, None, examples=scored, progress=False, scheme="int4")
    assert r["scheme"].startswith("int4") and "keep_8bit" in r and "keep_float" not in r
    assert sorted(r["layers"]) == sorted(int4.four_bit_layers(tiny_model, keep_8bit=()))
    assert set(r["keep_8bit"]) <= set(r["layers"])
    assert r["rule"]["min_output_snr_db"] == sensitivity.KEEP_8BIT_MIN_SNR_DB
