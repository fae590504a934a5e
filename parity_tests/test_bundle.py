"""Bundles: manifest checksums, verify, the failed-gate rule, CLI errors."""

from __future__ import annotations

import json
import shutil

import pytest

from avsep_mobile.cli import main
from avsep_mobile.export import thresholds
from avsep_mobile.runtime import manifest


def test_manifest_lists_every_file_with_its_sha256(android_bundle):
    out, _ = android_bundle
    m = manifest.load(out)
    assert m["format"] == manifest.FORMAT and m["target"] == "android"
    assert m["model_files"] == {"lip_step": "avsep.tflite", "av_step": "avsep.tflite"}
    assert m["files"] == manifest.file_entries(out)
    assert "test_vectors/index.json" in m["files"] and "parity_report.json" in m["files"]
    assert manifest.verify(out) == []


def test_verify_fails_after_a_byte_is_flipped(onnx_bundle, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(onnx_bundle[0], out)
    assert main(["verify", str(out)]) == 0
    f = out / "av_step.onnx"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x01
    f.write_bytes(bytes(data))
    assert main(["verify", str(out)]) == 2  # refused in one line


def test_mlpackage_checksum_rule(ios_bundle, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(ios_bundle[0], out)
    m = manifest.load(out)
    assert m["files"]["AVSepAV.mlpackage"]["sha256"] == manifest.sha256_dir(out / "AVSepAV.mlpackage")
    weights = next(p for p in sorted((out / "AVSepAV.mlpackage").rglob("*")) if p.is_file() and "weight" in p.name)
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    assert any("AVSepAV.mlpackage" in p for p in manifest.verify(out))


def test_failed_gate_writes_only_the_report(monkeypatch, tmp_path, capsys):
    out = tmp_path / "onnx"
    out.mkdir()
    (out / "stale.bin").write_bytes(b"old bundle")
    monkeypatch.setattr(thresholds, "FP32_MIN_SNR_DB", 1e6)
    rc = main(["export", "onnx", "--preset", "tiny", "--precision", "fp32", "--out", str(out), "--json"])
    assert rc != 0
    assert sorted(p.name for p in out.iterdir()) == ["parity_report.json", "parity_report.md", "parity_report.png"]
    assert json.loads((out / "parity_report.json").read_text())["passed"] is False
    assert not list(tmp_path.glob(".onnx*")), "temporary dirs left behind"
    assert main(["verify", str(out)]) == 2  # no manifest: a one-line error


@pytest.mark.parametrize("argv, message", [
    (["export", "android", "--preset", "tiny", "--chunk-hops", "0"], "chunk-hops"),
    (["export", "windows", "--preset", "tiny"], "unknown target"),
    (["export", "onnx", "--preset", "tiny", "--precision", "fp16"], "fp16"),
    (["export", "android", "--checkpoint", "/nonexistent.pt"], "not found"),
    (["export", "ios", "--preset", "tiny", "--int8-scheme", "static"], "not available for ios"),
    (["export", "android", "--preset", "tiny", "--precision", "fp32", "--int8-scheme", "dynamic"], "int8 only"),
    (["export", "android", "--preset", "tiny", "--calib-data", "/nonexistent"], "avsep data make"),
])
def test_bad_input_is_a_one_line_error(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err


def test_bench_reports_rtf_beside_torch(onnx_bundle, capsys):
    assert main(["bench", str(onnx_bundle[0]), "--repeats", "1", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    for kind in ("onnx", "onnx held state", "torch"):
        assert set(r["models"][kind]["rtf"]) == {"av_step", "lip_step", "stream"}
        assert r["models"][kind]["rtf"]["stream"] > 0
