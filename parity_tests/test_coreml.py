"""CoreML: structure, and numerics on every platform: the CoreML runtime on
macOS, the reference evaluator of the ML program (export/coreml_eval.py)
elsewhere, streamed over the test vectors with state carried."""

from __future__ import annotations

import json
import shutil
import struct
import warnings

import numpy as np
import pytest

from avsep_mobile import metrics
from avsep_mobile.export import bundle, coreml, parity, thresholds, vectors
from avsep_mobile.runtime import manifest, runners, signature
from avsep_mobile.runtime.coreml_eval import EvaluatorRunner
from avsep_mobile.runtime.replay import stream

FP16_MIN_SNR_DB = 35.0  # fp16 rounding of every intermediate, vs float torch
# an fp32 package from torch.export vs float torch: the jit.trace form it
# replaced measured 133-140 dB (tiny) and 117-138 dB (shipped), and the two
# packages streamed identical outputs (infinite SNR) before the trace went
EXPORT_MIN_SNR_DB = 100.0


@pytest.fixture(scope="module")
def ios_fp32_bundle(tmp_path_factory, tiny_model):
    out = tmp_path_factory.mktemp("ios_fp32") / "bundle"
    return out, bundle.export("ios", tiny_model, out, precision="fp32", checkpoint=bundle.checkpoint_info(None, "tiny"), progress=False)


def _replay(out):
    m = manifest.load(out)
    ref = vectors.load_npz(out / "test_vectors" / vectors.NPZ)
    return ref, stream(runners.for_bundle(out, m), ref, m["signatures"])


def test_coreml_structure_matches_signature(ios_bundle, tiny_model):
    out, report = ios_bundle
    assert report["passed"], [c for c in report["structure"] if not c["ok"]]
    sigs = signature.signatures(tiny_model, 2, 1)
    for step, sig in sigs.items():
        spec = coreml.read_spec(out / coreml.SPLIT_FILES[step])
        assert spec.specificationVersion == coreml.SPEC_VERSION[17]
        assert [t.name for t in spec.description.input] == sig.input_names
        assert [t.name for t in spec.description.output] == sig.output_names
        assert json.loads(spec.description.metadata.userDefined["avsep.signatures"])[step] == sig.to_json()
    m = manifest.load(out)
    assert m["precision"] == "fp16" and m["coreml"]["deployment_target"] == "iOS17"
    # the packages hold what CoreML reads and nothing else (no converter debug maps)
    for step in sigs:
        package = out / coreml.SPLIT_FILES[step]
        assert sorted(p.name for p in package.iterdir()) == ["Data", "Manifest.json"]


def test_coreml_stateful_is_one_multifunction_package(ios_stateful_bundle, tiny_model):
    out, report = ios_stateful_bundle
    assert report["passed"], [c for c in report["structure"] if not c["ok"]]
    spec = coreml.read_spec(out / coreml.MULTI_FILE)
    assert spec.specificationVersion == coreml.SPEC_VERSION[18]
    funcs = {f.name: f for f in spec.description.functions}
    assert set(funcs) == {"lip_step", "av_step"}
    av = signature.av_step(tiny_model, 2, 1)
    assert [t.name for t in funcs["av_step"].input] == ["pcm", "lip_emb", "active", "stft_in", "ola"]
    assert sorted(s.name for s in funcs["av_step"].state) == sorted(s.name for s in av.states if s.name not in coreml.EXPLICIT_STATES)
    assert manifest.load(out)["model_files"] == {"lip_step": coreml.MULTI_FILE, "av_step": coreml.MULTI_FILE}


def test_coreml_fp32_matches_torch(ios_fp32_bundle):
    out, report = ios_fp32_bundle
    assert report["passed"], report["failed"]
    assert report["numerics"] in ("reference evaluator", "CoreML runtime")
    ref, got = _replay(out)
    for key in ("av_step/speakers", "lip_step/lip_emb"):
        assert metrics.snr_db(ref[key], got[key]) >= thresholds.FP32_MIN_SNR_DB, key


def test_coreml_fp16_matches_torch(ios_bundle):
    out, report = ios_bundle
    assert report["passed"], report["failed"]
    ref, got = _replay(out)
    for key in ("av_step/speakers", "lip_step/lip_emb"):
        assert metrics.snr_db(ref[key], got[key]) >= FP16_MIN_SNR_DB, key
        assert metrics.psnr_db(ref[key], got[key]) >= thresholds.FP16_MIN_PSNR_DB, key
    if report["numerics"] == "reference evaluator":  # the band: fp32 compute of the same program is at least as close
        assert all(report["fp32_compute"][k] >= report["outputs"][k]["psnr_db"] - 1.0 for k in thresholds.GATED_OUTPUTS)


def test_fp16_gate_runs_every_corner_of_the_band_at_every_level(ios_bundle, tiny_model, monkeypatch):
    """The report holds each corner at each level; a gate set between the
    worst and the best figure fails exactly the rows below it."""
    from avsep_mobile.export import band, levels
    from avsep_mobile.runtime.coreml_eval import BAND

    out, report = ios_bundle
    rows = report["band"]["levels"]
    assert set(rows) == set(levels.GATE_LEVELS)
    assert all(set(v["corners"]) == {d.name for d in BAND} for v in rows.values())
    figures = [f[k] for v in rows.values() for f in v["corners"].values() for k in thresholds.GATED_OUTPUTS]
    assert report["band"]["worst"]["db"] == min(figures) >= thresholds.FP16_MIN_PSNR_DB
    middle = (min(figures) + max(figures)) / 2
    monkeypatch.setattr(thresholds, "gate", lambda precision: ("psnr_db", middle))
    m = manifest.load(out)
    ref = vectors.load_npz(out / "test_vectors" / vectors.NPZ)
    runner = runners.for_bundle(out, m)
    again = band.gate(runner, tiny_model, 2, 1, ref, stream(runner, ref, m["signatures"]), m["signatures"], "fp16", 16000)
    assert not again["passed"] and len(again["failed"]) == sum(x < middle for x in figures)
    assert all(" level, " in f and "dB" in f for f in again["failed"])


@pytest.mark.parametrize("which", ["ios_bundle", "ios_stateful_bundle"])
def test_lanes_stream_each_level_as_it_streams_alone(which, request):
    """The gate's levels as lanes of one stream (with the vectors' slot
    resets, and held CoreML states) equal each level streamed alone, in every
    corner of the band: bit for bit."""
    from avsep_mobile.export import band
    from avsep_mobile.runtime.coreml_eval import BAND
    from avsep_mobile.runtime.replay import stack_lanes, unstack_lanes

    out, _ = request.getfixturevalue(which)
    m = manifest.load(out)
    ref = vectors.load_npz(out / "test_vectors" / vectors.NPZ)
    assert ref["av_step/reset"].any()
    inputs = [{k: ref[k] * (np.float32(s) if k == "av_step/pcm" else 1) for k in band._INPUTS} for s in (0.01, 1.0, 2.0)]
    runner = runners.for_bundle(out, m)
    for d in BAND:
        r = EvaluatorRunner(runner.paths, "fp16", d)
        together = unstack_lanes(stream(r.with_lanes(3), stack_lanes(inputs), m["signatures"]))
        for x, lane in zip(inputs, together):
            alone = stream(r, x, m["signatures"])
            for k, v in alone.items():
                np.testing.assert_array_equal(lane[k], v, err_msg=f"{d.name}: {k}")


def test_coreml_stateful_gives_the_explicit_state_numbers(ios_bundle, ios_stateful_bundle):
    """Caches held as fp16 CoreML states vs fed back as fp32 I/O: the same
    fp16 program numbers (the held states round to fp16 once per step)."""
    ref, explicit = _replay(ios_bundle[0])
    _, stateful = _replay(ios_stateful_bundle[0])
    for key in ("av_step/speakers", "av_step/residual", "lip_step/lip_emb"):
        assert metrics.snr_db(explicit[key], stateful[key]) >= 50.0, key
        assert abs(metrics.snr_db(ref[key], explicit[key]) - metrics.snr_db(ref[key], stateful[key])) <= 1.0, key


def test_one_altered_weight_fails_the_gate(ios_fp32_bundle, tiny_model, tmp_path):
    """Rewrite one float of the mask head in AVSepAV's weight file: the
    numbers, not only the checksums, catch it."""
    out, _ = ios_fp32_bundle
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    weights = bad / coreml.SPLIT_FILES["av_step"] / "Data" / "com.apple.CoreML" / "weights" / "weight.bin"
    blob = bytearray(weights.read_bytes())
    spec = coreml.read_spec(bad / coreml.SPLIT_FILES["av_step"])
    block = next(iter(spec.mlProgram.functions["main"].block_specializations.values()))
    meta = next(op.attributes["val"].blobFileValue.offset for op in block.operations
                if op.type == "const" and op.outputs[0].name == "p_model_mask_head_weight")  # every speaker mask
    _, _, _, data = struct.unpack_from("<IIQQ", blob, meta)  # MIL blob metadata: sentinel, dtype, size, data offset
    at = data + 4 * (40 * 32 + 3)  # bin 40, a speech band
    value = np.frombuffer(blob, np.float32, 1, at)[0]
    blob[at:at + 4] = np.float32(value + 0.5).tobytes()
    weights.write_bytes(bytes(blob))
    assert any("sha256 mismatch" in p for p in manifest.verify(bad))
    ref, got = _replay(bad)
    result = parity.compare(ref, got, "fp32", 16000)
    assert not result["passed"] and "speakers" in result["failed"], result["outputs"]


def _exported_fp32_streams_torch(model, out):
    """Convert `model` at fp32 with every warning recorded; return the
    deprecations that escaped and the SNR of each streamed output vs torch."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        coreml.convert(model, 2, 1, out, "fp32")
    deprecations = [f"{w.category.__name__}: {str(w.message)[:100]}" for w in caught
                    if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning))]
    ref = vectors.make(model, 2, 1, seconds=1.0)
    files = {step: out / f for step, f in coreml.model_files().items()}
    got = stream(EvaluatorRunner(files, compute="fp32"), ref, signature.signatures(model, 2, 1))
    return deprecations, {k: metrics.snr_db(ref[k], got[k]) for k in ("av_step/speakers", "av_step/residual", "lip_step/lip_emb")}


def test_coreml_from_torch_export_matches_torch_without_deprecations(tiny_model, tmp_path):
    deprecations, snr = _exported_fp32_streams_torch(tiny_model, tmp_path)
    assert not deprecations
    assert min(snr.values()) >= EXPORT_MIN_SNR_DB, snr


@pytest.mark.slow
def test_shipped_model_from_torch_export_matches_torch(tmp_path):
    from avsep_mobile import checkpoint

    if not checkpoint.SHIPPED.is_file():
        pytest.skip("no shipped checkpoint")
    deprecations, snr = _exported_fp32_streams_torch(checkpoint.load()[0], tmp_path)
    assert not deprecations
    assert min(snr.values()) >= EXPORT_MIN_SNR_DB, snr


@pytest.mark.slow
@pytest.mark.parametrize("stateful", [False, True], ids=["fp16", "stateful"])
def test_shipped_model_fp16_export_holds_across_the_band(tmp_path, stateful):
    """The shipped mobile checkpoint, exported for iOS at fp16 (and stateful):
    speakers and lip_emb at or above the fp16 gate against float torch at the
    worst corner of the device band, at quiet, normal and loud levels; no
    fp16 intermediate in the subnormal range from -60 dBFS to loud."""
    from avsep_mobile import checkpoint
    from avsep_mobile.export import census, levels

    if not checkpoint.SHIPPED.is_file():
        pytest.skip("no shipped checkpoint")
    model, _ = checkpoint.load()
    report = bundle.export("ios", model, tmp_path / "ios", precision="fp16", stateful=stateful,
                           checkpoint=bundle.checkpoint_info(None, None), progress=False)
    assert report["passed"], report["failed"]
    assert report["numerics"] in ("reference evaluator", "CoreML runtime")
    assert report["outputs"]["speakers"]["snr_db"] >= FP16_MIN_SNR_DB
    band = report["band"]
    assert set(band["levels"]) == set(levels.GATE_LEVELS)
    if report["numerics"] == "reference evaluator":
        assert all(len(v["corners"]) == 4 for v in band["levels"].values())
    assert band["worst"]["db"] >= thresholds.FP16_MIN_PSNR_DB and band["metric"] == "psnr_db", band["worst"]
    result = census.census_bundle(tmp_path / "ios")
    assert result["passed"], census.format_census(result)
