"""`avsep report` puts precisions side by side: sizes, MACs, RTF, task metric."""

from __future__ import annotations

import json

from avsep_mobile.export import bundle
from avsep_mobile.export import compression_report as report


def test_report_compares_float_and_int8(monkeypatch, tmp_path, tiny_model):
    monkeypatch.setattr(report, "VARIANTS", (("onnx", "fp32"), ("onnx", "int8")))
    result = report.build({"float": (tiny_model, bundle.checkpoint_info(None, "tiny"))}, tmp_path, gate_mixtures=1, progress=False)
    rows = {r["precision"]: r for r in result["rows"]}
    assert all(r["passed"] for r in rows.values())
    assert rows["int8"]["file_bytes"] < rows["fp32"]["file_bytes"]
    assert rows["int8"]["task"]["mixtures"] == 1 and "si_snri_drop_db" in rows["int8"]["task"]
    assert rows["fp32"]["rtf"]["onnx"] > 0 and rows["fp32"]["rtf"]["torch"] > 0
    md = (tmp_path / "report.md").read_text()
    assert md.count("| float | onnx |") == 2
    assert json.loads((tmp_path / "report.json").read_text())["rows"][0]["target"] == "onnx"
    assert (tmp_path / "report.png").stat().st_size > 1000

