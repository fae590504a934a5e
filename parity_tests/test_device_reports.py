"""Reports written by the sample apps' benchmark screens on real phones."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from avsep_mobile.export import thresholds

REPORTS = sorted((Path(__file__).parent / "device_reports").glob("*.json"))
FORMAT = "avsep-device-report/1"


@pytest.mark.skipif(not REPORTS, reason="no device reports in parity_tests/device_reports/ (the sample apps write them)")
@pytest.mark.parametrize("path", REPORTS, ids=[p.name for p in REPORTS])
def test_device_report_is_valid_and_passes(path):
    r = json.loads(path.read_text())
    assert r["format"] == FORMAT
    assert r["target"] in ("ios", "android", "onnx")
    assert r["precision"] in ("fp32", "fp16", "int8")
    assert isinstance(r["device"], str) and r["device"]
    assert re.fullmatch(r"[0-9a-f]{64}", r["manifest_sha256"])
    assert isinstance(r["threads"], int) and r["threads"] >= 1
    minimum = thresholds.device_min_snr_db(r["precision"])
    for out in ("speakers", "residual", "lip_emb"):
        p = r["parity"][out]
        assert p["snr_db"] >= minimum, f"{out}: {p['snr_db']} dB < {minimum} dB"
        assert p["max_abs_err"] >= 0
    for step in ("av_step", "lip_step", "stream"):
        assert r["rtf"][step] > 0
    assert set(r["step_ms"]) >= {"av_step", "lip_step"} and set(r["calls"]) >= {"av_step", "lip_step"}
