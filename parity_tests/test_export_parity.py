"""Exported models match the float PyTorch reference, streamed with state carried."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from avsep_mobile.export import bundle, tflite, thresholds, vectors
from avsep_mobile.export import onnx as onnx_target
from avsep_mobile.export.steps import sample_inputs
from avsep_mobile.metrics import snr_db
from avsep_mobile.runtime import manifest, replay, runners, signature
from avsep_mobile.streaming import TorchRunner

MIN_STEPS = 100


def _runner(target, out):
    m = json.loads((out / "manifest.json").read_text())
    return runners.for_bundle(out, m), m


@pytest.mark.parametrize("target", ["android", "onnx"])
def test_export_matches_torch_streamed(target, request):
    out, report = request.getfixturevalue(f"{target}_bundle")
    assert report["passed"], report
    runner, m = _runner(target, out)
    ref = vectors.load_npz(out / "test_vectors" / vectors.NPZ)
    assert ref["av_step/pcm"].shape[0] >= MIN_STEPS
    got = replay.stream(runner, ref, m["signatures"])
    for key in ("av_step/speakers", "av_step/residual", "lip_step/lip_emb"):
        assert snr_db(ref[key], got[key]) >= thresholds.FP32_MIN_SNR_DB, key


@pytest.mark.parametrize("target", ["android", "onnx"])
def test_signature_names_equal_avsep_signature(target, request, tiny_model):
    out, _ = request.getfixturevalue(f"{target}_bundle")
    runner, m = _runner(target, out)
    for name, sig in signature.signatures(tiny_model, m["speakers"], m["chunk_hops"]).items():
        assert sorted(runner.input_names(name)) == sorted(sig.input_names)
        assert sorted(runner.output_names(name)) == sorted(sig.output_names)
        assert m["signatures"][name] == sig.to_json()


@pytest.mark.parametrize("target", ["android", "onnx"])
def test_each_named_input_reaches_its_tensor(target, request, tiny_model):
    """Every state gets its own random value: a converter that mixed up two
    inputs of the same shape (the fusion and decoder caches are all alike)
    would give another result than torch on the same named feeds. The control:
    swapping two such states' values does change torch's result."""
    out, _ = request.getfixturevalue(f"{target}_bundle")
    runner, m = _runner(target, out)
    torch_runner = TorchRunner(tiny_model, m["speakers"], m["chunk_hops"])
    g = torch.Generator().manual_seed(1)
    for name, sig in signature.signatures(tiny_model, m["speakers"], m["chunk_hops"]).items():
        feeds = {k: v.numpy() for k, v in sample_inputs(sig, seed=3).items()}
        feeds.update({s.name: (torch.randn(s.shape, generator=g) * 0.1).numpy() for s in sig.states})
        want, got = torch_runner.run(name, feeds), runner.run(name, feeds)
        for k, v in want.items():
            assert snr_db(v, got[k]) >= thresholds.FP32_MIN_SNR_DB, (name, k)
        by_shape: dict = {}
        for s in sig.states:
            by_shape.setdefault(s.shape, []).append(s.name)
        alike = next((names for names in by_shape.values() if len(names) >= 2), [])
        if alike:
            swapped = {**feeds, alike[0]: feeds[alike[1]], alike[1]: feeds[alike[0]]}
            first = sig.output_names[0]
            assert snr_db(want[first], torch_runner.run(name, swapped)[first]) < thresholds.FP32_MIN_SNR_DB


@pytest.mark.parametrize("target", ["android", "onnx"])
def test_chunk_of_four_hops_exports_and_matches(target, tiny_model, tmp_path):
    """K = 4 (40 ms chunks): the exported step takes 640 samples and matches
    float torch over the streamed vectors."""
    report = bundle.export(target, tiny_model, tmp_path / "k4", precision="fp32", chunk_hops=4, seconds=1.0, progress=False)
    assert report["passed"], report
    m = manifest.load(tmp_path / "k4")
    assert m["chunk_hops"] == 4 and m["signatures"]["av_step"]["inputs"][0]["shape"] == [1, 640]
    ref = vectors.load_npz(tmp_path / "k4" / "test_vectors" / vectors.NPZ)
    got = replay.stream(runners.for_bundle(tmp_path / "k4", m), ref, m["signatures"])
    assert snr_db(ref["av_step/speakers"], got["av_step/speakers"]) >= thresholds.FP32_MIN_SNR_DB
    if target == "android":  # a chunk's matmuls stay FULLY_CONNECTED (a BATCH_MATMUL of a broadcast constant ran 10x slower)
        from avsep_mobile.export.profile import litert_step_op_counts

        ops = litert_step_op_counts(tmp_path / "k4" / tflite.MODEL_FILE, "av_step")
        assert ops["BATCH_MATMUL"] == 0, ops


def test_metadata_embedded_in_model_files(android_bundle, onnx_bundle, tiny_model):
    sigs = {n: s.to_json() for n, s in signature.signatures(tiny_model, 2, 1).items()}
    meta = tflite.read_metadata(android_bundle[0] / tflite.MODEL_FILE)
    assert json.loads(meta["avsep.signatures"]) == sigs
    assert meta["avsep.hop_samples"] == "160"
    for step in ("lip_step", "av_step"):
        meta = onnx_target.read_metadata(onnx_bundle[0] / onnx_target.model_file(step))
        assert json.loads(meta["avsep.signatures"]) == sigs


def test_parity_report_files(android_bundle):
    out, report = android_bundle
    for f in ("parity_report.json", "parity_report.md", "parity_report.png"):
        assert (out / f).stat().st_size > 0
    r = json.loads((out / "parity_report.json").read_text())
    assert r["passed"] and r["calls"]["av_step"] >= MIN_STEPS
    assert len(r["si_snr_db_per_speaker"]) == 2 and r["snr_over_time"]["snr_db"]


def test_test_vectors_bin_equal_npz(onnx_bundle):
    out, _ = onnx_bundle
    npz = vectors.load_npz(out / "test_vectors" / vectors.NPZ)
    bins = vectors.load_bins(out / "test_vectors")
    assert set(npz) == set(bins)
    for k in npz:
        assert bins[k].dtype == npz[k].dtype and np.array_equal(bins[k], npz[k]), k
    index = json.loads((out / "test_vectors" / "index.json").read_text())
    assert index["format"] == vectors.FORMAT
    assert index["av_step"]["lip_call"]["dtype"] == "int32"
    assert index["lip_step"]["calls"] == npz["lip_step/crops"].shape[0] == int(npz["av_step/lip_call"].max()) + 1
