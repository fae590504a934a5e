"""Device reports: the one written in this session by the Android core's JVM
replay (so this test always runs), and any committed from real devices in
device_reports/ (the sample apps' benchmark screens and the macOS avsep-bench
tool write them). Each must match avsep_mobile/schemas/device_report.schema.json
and pass the SNR gate of its precision."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from app_cores import replay

from avsep_mobile import device_report
from avsep_mobile.export import thresholds

REPORTS = sorted((Path(__file__).parent / "device_reports").glob("*.json"))


def check(r: dict) -> None:
    errors = device_report.schema_errors(r)
    assert not errors, "; ".join(errors)
    minimum = thresholds.device_min_snr_db(r["precision"])
    for out in ("speakers", "residual", "lip_emb"):
        snr = r["parity"][out]["snr_db"]
        assert snr >= minimum, f"{out}: {snr} dB < {minimum} dB"
    assert r["rtf"]["stream"] >= r["rtf"]["av_step"], "the stream runs every av_step and more"


def test_report_of_the_kotlin_core_replay(android_bundle, tmp_path_factory):
    try:
        out = replay(android_bundle[0], tmp_path_factory.mktemp("kotlin_core_report"))
    except RuntimeError as e:
        if sys.platform != "linux":  # setup.sh installs the JVM toolchain on Debian/Ubuntu (CI)
            pytest.skip(str(e))
        pytest.fail(str(e))
    assert out["report"].is_file(), out["replay"].stdout[-3000:] + out["replay"].stderr[-3000:]
    r = json.loads(out["report"].read_text())
    check(r)
    assert r["target"] == "android" and r["schedule"]["held_frames_equal_lip_call"]


@pytest.mark.parametrize("path", REPORTS, ids=[p.name for p in REPORTS])
def test_committed_device_report(path):
    check(json.loads(path.read_text()))


def test_schema_refuses_the_old_step_ms_keys():
    """The apps once wrote step_ms.av_step_median; bench.py and this test read step_ms.av_step."""
    r = {"format": device_report.FORMAT, "target": "android", "device": "x", "precision": "fp32", "manifest_sha256": "0" * 64,
         "threads": 1, "parity": {k: {"snr_db": 120.0, "max_abs_err": 0.0} for k in ("speakers", "residual", "lip_emb")},
         "rtf": {"av_step": 0.1, "lip_step": 0.1, "stream": 0.2}, "calls": {"av_step": 3, "lip_step": 1},
         "step_ms": {"av_step": 1.0, "lip_step": 1.0}}
    assert device_report.schema_errors(r) == []
    r["step_ms"] = {"av_step_median": 1.0, "lip_step_median": 1.0}
    assert any("step_ms" in e for e in device_report.schema_errors(r))
