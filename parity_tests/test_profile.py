"""`avsep bench --profile` (export/profile.py) on the tiny bundles: every
runtime reports its split and its ops, and the CLI prints the table."""

from __future__ import annotations

import json

import pytest

from avsep_mobile.export import profile


@pytest.mark.parametrize("target,kind", [("android", "tflite"), ("onnx", "onnx")])
def test_profile_splits_each_step_and_names_its_ops(target, kind, request):
    out, _ = request.getfixturevalue(f"{target}_bundle")
    r = profile.profile(out, repeats=1, max_calls=12)
    assert set(r["runtimes"]) == {kind, "torch"}
    for rt, steps in r["runtimes"].items():
        assert set(steps) == set(profile.STEPS)
        for p in steps.values():
            assert set(p["split_ms"]) >= {"bind", "run", "read", "python"}
            assert p["split_ms"]["run"] > 0 and p["op_count"] > 0 and p["ops"]
            assert p["inputs"] > 1 and p["bytes_in"] > 0 and p["bytes_out"] > 0
            if p["op_times"] is not None:  # a real op profiler: shares of the profiled op time
                assert 0 < sum(o["share"] for o in p["ops"]) <= 1.001
                assert all(o["ms"] >= 0 for o in p["ops"])
    litert = r["runtimes"].get("tflite")
    if litert:  # no op profiler in the Python API: the output says so
        assert litert["av_step"]["op_times"] is None and "no op profiler" in litert["av_step"]["note"]


def test_bench_profile_cli_prints_table_and_json(onnx_bundle, capsys):
    from avsep_mobile.cli import main

    out, _ = onnx_bundle
    assert main(["bench", str(out), "--profile", "--repeats", "1"]) == 0
    text = capsys.readouterr().out
    assert "onnx av_step" in text and "torch lip_step" in text and "top ops" in text and "load average" in text
    assert main(["bench", str(out), "--profile", "--repeats", "1", "--json"]) == 0
    assert "onnx" in json.loads(capsys.readouterr().out)["runtimes"]
