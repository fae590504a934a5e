"""int8 exports stay within the int8 tolerances of float, streamed closed loop,
and do not drift; the sensitivity report covers every quantizable layer."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from tiny_data import tiny_calibration

from avsep_mobile import metrics, streaming
from avsep_mobile.export import bundle, thresholds, vectors
from avsep_mobile.metrics import snr_db
from avsep_mobile.quantize import int8, sensitivity, w8a8
from avsep_mobile.runtime import replay, runners, signature

MIN_STEPS = 100


_calib = tiny_calibration


@pytest.fixture(scope="module")
def int8_bundles(android_int8_bundle, onnx_int8_bundle):
    return {"android": android_int8_bundle, "onnx": onnx_int8_bundle}


@pytest.mark.parametrize("target", ["android", "onnx"])
def test_int8_matches_float_streamed_closed_loop(target, int8_bundles):
    out, report = int8_bundles[target]
    assert report["passed"], report
    m = json.loads((out / "manifest.json").read_text())
    assert m["precision"] == "int8" and "int8" in m["quantization"]["scheme"]
    ref = vectors.load_npz(out / "test_vectors" / vectors.NPZ)
    assert ref["av_step/pcm"].shape[0] >= MIN_STEPS
    got = replay.stream(runners.for_bundle(out, m), ref, m["signatures"])  # own state and lip_emb fed back
    for key in ("av_step/speakers", "av_step/residual", "lip_step/lip_emb"):
        assert snr_db(ref[key], got[key]) >= thresholds.INT8_MIN_SNR_DB, key


@pytest.mark.parametrize("target", ["android", "onnx"])
def test_int8_does_not_drift(target, int8_bundles):
    """Error at av_step calls 90-100 is no worse than at calls 1-10 by more than the bound."""
    out, _ = int8_bundles[target]
    m = json.loads((out / "manifest.json").read_text())
    ref = vectors.load_npz(out / "test_vectors" / vectors.NPZ)
    got = replay.stream(runners.for_bundle(out, m), ref, m["signatures"])
    r, g = ref["av_step/speakers"], got["av_step/speakers"]
    start, end = snr_db(r[0:10], g[0:10]), snr_db(r[90:100], g[90:100])
    assert end >= start - thresholds.INT8_MAX_DRIFT_DB, (start, end)


@pytest.mark.parametrize("target", ["android", "onnx"])
def test_int8_binds_by_name(target, int8_bundles, tiny_model):
    out, _ = int8_bundles[target]
    m = json.loads((out / "manifest.json").read_text())
    runner = runners.for_bundle(out, m)
    sigs = signature.signatures(tiny_model, m["speakers"], m["chunk_hops"])
    for name, sig in sigs.items():
        assert sorted(runner.input_names(name)) == sorted(sig.input_names)
        assert sorted(runner.output_names(name)) == sorted(sig.output_names)
    # every input its own value (states from a real stream, so in range): a
    # mixed-up binding of two same-shaped states would be far off float
    rng = np.random.default_rng(0)
    ref = vectors.load_npz(out / "test_vectors" / vectors.NPZ)
    warm = {k: v[:40] for k, v in ref.items() if k.startswith("av_step/")}
    warm.update({"lip_step/crops": ref["lip_step/crops"], "av_step/reset": np.zeros_like(ref["av_step/active"][:40])})
    torch_runner = streaming.TorchRunner(tiny_model, m["speakers"], m["chunk_hops"])
    recorder = runners.Recording(torch_runner)
    replay.stream(recorder, warm, sigs)
    feeds = recorder.feeds["av_step"][-1]
    feeds["pcm"] = rng.standard_normal(feeds["pcm"].shape).astype(np.float32) * 0.1
    want, got = torch_runner.run("av_step", feeds), runner.run("av_step", feeds)
    for k in want:
        assert got[k].dtype == np.float32, k  # states stay float at the interface
    assert snr_db(want["speakers"], got["speakers"]) >= thresholds.INT8_MIN_SNR_DB


def _coreml_ops(package) -> list:
    """(op type, output name, output dtype) of every op in a package's spec."""
    import coremltools as ct

    spec = ct.utils.load_spec(str(package))
    out = []

    def walk(block):
        for op in block.operations:
            out.append((op.type, op.outputs[0].name if op.outputs else "", op.outputs[0].type.tensorType.dataType if op.outputs else None))
            for b in op.blocks:
                walk(b)

    for fn in spec.mlProgram.functions.values():
        for block in fn.block_specializations.values():
            walk(block)
    return out


@pytest.fixture(scope="module")
def ios_w8a8(tmp_path_factory, tiny_model):
    d = tmp_path_factory.mktemp("ios_int8") / "bundle"
    report = bundle.export("ios", tiny_model, d, precision="int8", checkpoint=bundle.checkpoint_info(None, "tiny"),
                           progress=False, gate_mixtures=2, calib_examples=_calib(tiny_model))
    return d, report


def test_ios_int8_is_w8a8_with_float_bases(ios_w8a8):
    """Layer inputs go through quantize/dequantize, layer weights are stored
    int8, the STFT constants and the mel matrix stay float (fp32: the signal
    path, coreml.fp32_signal_path), states stay fp32 at the interface."""
    import coremltools as ct

    out, report = ios_w8a8
    assert report["passed"], report
    assert report["task"]["numerics"] in ("reference evaluator", "CoreML runtime") and report["task"]["mixtures"] == 2
    assert "W8A8" in json.loads((out / "manifest.json").read_text())["quantization"]["scheme"]
    ops = _coreml_ops(out / "AVSepAV.mlpackage")
    types = [t for t, _, _ in ops]
    assert types.count("quantize") >= 5 and types.count("dequantize") >= 5
    int8_weights = [n for t, n, _ in ops if t == "constexpr_affine_dequantize"]
    assert any("attn_q_weight" in n for n in int8_weights) and not any("stft" in n or "mel" in n for n in int8_weights)
    fp32 = ct.proto.MIL_pb2.DataType.FLOAT32
    assert any(t == "const" and "audio_mel" in n and d == fp32 for t, n, d in ops)


def test_ios_int8_quantized_inside_the_conversion_is_the_hook_applied_after(tiny_model, tmp_path):
    """coreml.convert runs the hook's weight quantization as a pass of the
    conversion; the program equals the hook called on the converted model."""
    import collections

    from avsep_mobile.export import coreml
    from avsep_mobile.runtime import coreml_eval

    hook = int8.hook_for("ios", tiny_model, 2, 1, _calib(tiny_model, n=1, seconds=1.0))
    step = streaming.step_modules(hook.torch_model, 2, 1)["av_step"]
    with warnings.catch_warnings():
        coreml._ignore_converter_warnings()  # as coreml.convert does around its conversions
        after = hook(coreml._convert_step(step, "int8", 17, False))
        inside = coreml._convert_step(step, "int8", 17, False, hook.conversion_passes())
    feeds = {n: v.numpy() for n, v in coreml.sample_inputs(step.sig).items()}
    outs, types = [], []
    for name, ml in (("after", after), ("inside", inside)):
        ml.save(str(tmp_path / f"{name}.mlpackage"))
        fn = coreml_eval.load(tmp_path / f"{name}.mlpackage")["main"]
        outs.append(fn(feeds))
        types.append(collections.Counter(op.op_type for f in ml._mil_program.functions.values() for op in f.operations))
    assert types[0] == types[1] and types[1]["constexpr_affine_dequantize"] > 0
    for k in outs[0]:
        np.testing.assert_array_equal(outs[0][k], outs[1][k])


def test_w8a8_simulation_streams_without_drift(tiny_model):
    """The torch model the iOS package is traced from, streamed 100+ steps
    closed loop: within the int8 tolerance of float, no drift."""
    hook = int8.hook_for("ios", tiny_model, 2, 1, _calib(tiny_model))
    ref = vectors.make(tiny_model, 2, 1, seconds=3.0)
    sigs = signature.signatures(tiny_model, 2, 1)
    got = replay.stream(streaming.TorchRunner(hook.torch_model, 2, 1), ref, sigs)
    r, g = ref["av_step/speakers"], got["av_step/speakers"]
    assert r.shape[0] >= MIN_STEPS
    assert snr_db(r, g) >= thresholds.INT8_MIN_SNR_DB
    assert snr_db(r[90:100], g[90:100]) >= snr_db(r[0:10], g[0:10]) - thresholds.INT8_MAX_DRIFT_DB
    assert snr_db(r, g) < 200  # really quantized
    lq = hook.torch_model.audio.layers[0].attn.q
    w = lq.weight / (lq.weight.abs().amax(1, keepdim=True) / 127)
    assert torch.allclose(w, w.round(), atol=1e-3)


def test_int8_weights_shrink_the_files(int8_bundles, android_bundle):
    q = (int8_bundles["android"][0] / "avsep.tflite").stat().st_size
    f = (android_bundle[0] / "avsep.tflite").stat().st_size
    assert q < f


def test_android_dynamic_runs_the_audio_cnns_last_conv_in_int8(int8_bundles, tiny_model):
    """The dynamic scheme's static conv: av_step's CONV_2D of that layer reads
    an int8 input through a QUANTIZE and writes int8; every other conv of
    either step stays float compute over int8-stored weights."""
    from avsep_mobile.export.profile import litert_ops, litert_signatures

    (static,) = int8.static_convs(tiny_model)
    scope = f"CausalConv2d_{static.rsplit('.', 1)[1]}/"
    path = int8_bundles["android"][0] / "avsep.tflite"
    seen = {op.output: op.input_type == op.output_type == "INT8"
            for sub in litert_signatures(path).values() for op in litert_ops(path, sub)
            if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D")}
    assert [int8_io for name, int8_io in seen.items() if scope in name] == [True]
    assert not any(int8_io for name, int8_io in seen.items() if scope not in name)
    manifest = json.loads((int8_bundles["android"][0] / "manifest.json").read_text())
    assert f"static int8: {static}" in manifest["quantization"]["scheme"]


@pytest.mark.parametrize("scheme", ["w8a8", "dynamic"])
def test_sensitivity_lists_every_quantizable_layer(tiny_model, scheme):
    """Measured in the simulation of a scheme the exports ship."""
    torch.manual_seed(0)
    calib = _calib(tiny_model, n=1, seconds=1.0)
    scored = _calib(tiny_model, n=1, seconds=1.0)
    r = sensitivity.sensitivity(tiny_model, calib, examples=scored, progress=False, scheme=scheme)
    assert r["scheme"].startswith(scheme)
    layers = [n for n, mod in tiny_model.named_modules() if isinstance(mod, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d))]
    assert sorted(r["layers"]) == sorted(layers)
    for row in r["layers"].values():
        assert 0 < row["output_snr_db"] < metrics.CAP_DB  # every layer really quantized
    assert set(r["keep_float"]) <= set(layers)
    assert r["combined"]["all"]["output_snr_db"] <= max(v["output_snr_db"] for v in r["layers"].values())


def test_fake_quant_is_int8():
    w = torch.randn(4, 9)
    q = w8a8.fake_quant_weight(w)
    steps = (q / (w.abs().amax(1, keepdim=True) / 127)).round()
    assert torch.allclose(q / (w.abs().amax(1, keepdim=True) / 127), steps, atol=1e-4) and steps.abs().max() <= 127
    x = torch.linspace(-1, 3, 1000)
    assert len(torch.unique(w8a8.fake_quant_act(x, -1.0, 3.0))) <= 256
