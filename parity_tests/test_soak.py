"""The soak benchmark (benchmarks/soak.py) in small: 30 s of audio through the
tiny exported TFLite and ONNX models with the state carried; at every
checkpoint the carried stream must equal a fresh run of the same model started
a warm-up before the window (the model's memory is finite, so a carried stream
that differs has drifted), stay at parity with a fresh float run, and keep its
states bounded."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from avsep_mobile.export import thresholds

SECONDS, INTERVAL_S, WINDOW_S = 30.0, 10.0, 2.0
SAME_MIN_SNR_DB = 100.0  # carried vs fresh, same runtime: equal up to float rounding


def _soak_module():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "soak.py"
    spec = importlib.util.spec_from_file_location("soak", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("fixture", ["android_bundle", "onnx_bundle"])
def test_a_carried_stream_does_not_drift_from_a_fresh_one(request, tiny_model, fixture):
    soak = _soak_module()
    out, _ = request.getfixturevalue(fixture)
    r = soak.soak(out, tiny_model, hours=SECONDS / 3600, interval_s=INTERVAL_S, window_s=WINDOW_S, block_s=4.0, pool=4)
    assert len(r["rows"]) >= 4 and r["hours"] * 3600 == pytest.approx(SECONDS)
    # the warm-up covers the receptive field, so the fresh run starts well inside the stream
    assert r["warmup_s"] * 16000 / 160 >= r["receptive_field_hops"] and r["rows"][-1]["fresh_from_s"] > 0
    for row in r["rows"]:
        same = row["snr_vs_fresh_same_db"]
        assert math.isinf(same) or same >= SAME_MIN_SNR_DB, row
        assert row["snr_vs_fresh_float_db"] >= thresholds.FP32_MIN_SNR_DB, row
        assert math.isfinite(row["state_max_abs"]) and row["state_max_abs"] < 1e3, row
    # no growth: the last interval's states are of the size of the first's
    assert r["state_max_last_interval"] <= 2 * r["state_max_first_interval"]


def test_the_receptive_field_bound_holds(tiny_model):
    """A click this many hops in the past no longer changes the output; one
    inside the bound does (so the bound is not vacuous)."""
    import numpy as np

    from avsep_mobile.pipeline import separate

    soak = _soak_module()
    cfg = tiny_model.cfg
    hops = soak.receptive_field_hops(cfg)
    n = (hops + 40) * cfg.hop_length
    rng = np.random.default_rng(0)
    mix = (0.1 * rng.standard_normal(n)).astype(np.float32)
    lips = rng.integers(0, 256, (2, int(np.ceil(n / cfg.sample_rate * 25)), cfg.crop_size, cfg.crop_size), dtype=np.uint8)
    base = separate(tiny_model, mix, lips, 25.0)["speakers"]
    late = n - 20 * cfg.hop_length  # the last 20 hops are compared
    for at, changes in ((0, False), (late - 10 * cfg.hop_length, True)):
        m2 = mix.copy()
        m2[at : at + cfg.hop_length] += 0.5
        diff = np.abs(separate(tiny_model, m2, lips, 25.0)["speakers"][:, late:] - base[:, late:]).max()
        assert (diff > 1e-6) == changes, (at, diff)
