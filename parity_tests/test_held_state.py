"""States held inside the runtime (runners' `held_state`) give the numbers of
explicit state I/O, call for call, over a stream with per-slot resets; the
manifest still declares every state. CoreML holds them as iOS 18 states at
every precision that computes in fp16 (fp16, int8, int4; fp32 cannot: CoreML
states are fp16 only), within the fp16 storage's rounding."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tiny_data import tiny_calibration

from avsep_mobile import metrics
from avsep_mobile.export import bundle, thresholds, vectors
from avsep_mobile.runtime import manifest, runners
from avsep_mobile.runtime.replay import stream

TARGETS = ["onnx_bundle", "android_bundle"]


def _streams(bundle_dir, reset_slots=True):
    m = manifest.load(bundle_dir)
    vec = vectors.load_npz(bundle_dir / "test_vectors" / vectors.NPZ)
    assert vec["av_step/reset"].any(), "the vectors hold no slot reset: the test would not see one"
    held = runners.for_bundle(bundle_dir, m, threads=1, held_state=True)
    if not reset_slots:
        held = _NoSlotReset(held)
    return stream(runners.for_bundle(bundle_dir, m, threads=1), vec, m["signatures"]), stream(held, vec, m["signatures"]), held


class _NoSlotReset:
    """A held runner that ignores slot resets: what the test must catch."""

    def __init__(self, runner):
        self.runner = runner

    def __getattr__(self, name):
        if name == "reset_slot":
            raise AttributeError(name)
        return getattr(self.runner, name)


@pytest.mark.parametrize("fixture", TARGETS)
def test_held_state_matches_explicit_state_call_for_call(fixture, request):
    out, _ = request.getfixturevalue(fixture)
    explicit, held, runner = _streams(out)
    for key in explicit:
        worst = min(metrics.snr_db(e, h) for e, h in zip(explicit[key], held[key]) if np.any(e))
        assert worst >= thresholds.HELD_STATE_MIN_SNR_DB, f"{fixture} {key}: {worst:.1f} dB"
    m = manifest.load(out)
    for step, sig in m["signatures"].items():  # a call binds the data alone (by name, in any order)
        assert sorted(runner.input_names(step)) == sorted(t["name"] for t in sig["inputs"])
        assert sorted(runner.output_names(step)) == sorted(t["name"] for t in sig["outputs"])


@pytest.mark.parametrize("fixture", TARGETS)
def test_held_state_without_the_slot_reset_differs(fixture, request):
    out, _ = request.getfixturevalue(fixture)
    explicit, held, _ = _streams(out, reset_slots=False)
    assert metrics.snr_db(explicit["av_step/speakers"], held["av_step/speakers"]) < thresholds.HELD_STATE_MIN_SNR_DB


@pytest.mark.parametrize("fixture", TARGETS)
def test_manifest_declares_every_held_state(fixture, request):
    out, _ = request.getfixturevalue(fixture)
    sigs = json.loads((out / manifest.NAME).read_text())["signatures"]
    for step, sig in sigs.items():
        assert sig["states"], step
        for s in sig["states"]:
            assert s.keys() >= {"name", "shape", "dtype", "init", "per_slot"}, (step, s)


@pytest.mark.parametrize("precision", ["int8", "int4"])  # fp16: test_coreml.py
def test_coreml_states_hold_at_int8_and_int4(precision, tiny_model, tmp_path_factory):
    kw = {"precision": precision, "ios": 18, "gate_mixtures": 0, "checkpoint": bundle.checkpoint_info(None, "tiny"), "progress": False}
    if precision == "int8":
        kw["calib_examples"] = tiny_calibration(tiny_model)
    streamed = []
    for stateful in (False, True):
        out = tmp_path_factory.mktemp(f"ios_{precision}_{stateful}") / "bundle"
        report = bundle.export("ios", tiny_model, out, stateful=stateful, **kw)
        assert report["passed"], report.get("failed") or [c for c in report.get("structure", []) if not c["ok"]]
        m = manifest.load(out)
        assert all(m["coreml"]["model_states"].values()) == stateful
        vec = vectors.load_npz(out / "test_vectors" / vectors.NPZ)
        streamed.append(stream(runners.for_bundle(out, m, held_state=stateful), vec, m["signatures"]))
    explicit, held = streamed
    for key in ("av_step/speakers", "lip_step/lip_emb"):
        assert metrics.snr_db(explicit[key], held[key]) >= thresholds.COREML_STATE_MIN_SNR_DB, key
