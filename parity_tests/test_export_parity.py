"""Exported models match the float PyTorch reference, streamed with state carried."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from avsep_mobile import signature
from avsep_mobile.metrics import snr_db
from avsep_mobile.streaming import call_by_name
from avsep_mobile.export import onnx as onnx_target
from avsep_mobile.export import runners, thresholds, tflite, vectors
from avsep_mobile.export.steps import sample_inputs, step_modules

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
    got = streaming.stream(runner, ref, m["signatures"])
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
def test_inputs_bind_by_name_not_position(target, request, tiny_model):
    """Feeds in reversed order (and states with random values) give the torch result."""
    out, _ = request.getfixturevalue(f"{target}_bundle")
    runner, m = _runner(target, out)
    g = torch.Generator().manual_seed(1)
    for name, step in step_modules(tiny_model, m["speakers"], m["chunk_hops"]).items():
        feeds = sample_inputs(step.sig, seed=3)
        feeds.update({s.name: torch.randn(s.shape, generator=g) * 0.1 for s in step.sig.states})
        want = call_by_name(step, step.sig, feeds)
        shuffled = {k: feeds[k].numpy() for k in reversed(list(feeds))}
        got = runner.run(name, shuffled)
        for k, v in want.items():
            assert snr_db(v.detach().numpy(), got[k]) >= thresholds.FP32_MIN_SNR_DB, (name, k)


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
