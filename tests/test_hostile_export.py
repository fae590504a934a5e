"""Hostile input for export, verify and checkpoints (docs/hostile_inputs.md):
an export that is interrupted or runs out of disk leaves the previous export
byte for byte and nothing half-written; a damaged checkpoint or manifest or an
unwritable output folder is refused in one line with exit code 2."""

from __future__ import annotations

import errno
import json
import os

import pytest
import torch

from avsep_mobile.checkpoint import SHIPPED, save
from avsep_mobile.cli import main
from avsep_mobile.export import bundle, signing
from avsep_mobile.model import AVSep, preset
from avsep_mobile.runtime import manifest

TINY_EXPORT = ["export", "android", "--preset", "tiny", "--precision", "fp32", "--json"]  # --json: no progress bars on stderr


def _one_line_error(capsys, *words) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err, err
    for w in words:
        assert w in err, err
    return err


def _snapshot(d) -> dict:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture
def old_export(tmp_path):
    """A previous export in dist/android: what a failed export must leave alone."""
    out = tmp_path / "dist" / "android"
    (out / "test_vectors").mkdir(parents=True)
    (out / "avsep.tflite").write_bytes(os.urandom(4096))
    (out / "test_vectors" / "index.json").write_text('{"old": true}\n')
    (out / "manifest.json").write_text('{"format": "previous"}\n')
    return out


def _failing(exc):
    """A converter that writes half a model file into the export dir, then fails."""
    def convert(job, out_dir):
        with open(out_dir / "avsep.tflite", "wb") as f:
            f.write(b"\0" * 1000)
            raise exc
    return convert


@pytest.mark.parametrize("exc, rc, words", [
    (OSError(errno.ENOSPC, "No space left on device"), 2, ("No space left",)),
    (KeyboardInterrupt(), 130, ("interrupted",)),
])
def test_a_failed_export_leaves_the_previous_one_intact(old_export, monkeypatch, capsys, exc, rc, words):
    before = _snapshot(old_export)
    monkeypatch.setattr(bundle, "_convert", _failing(exc))
    assert main(TINY_EXPORT + ["--out", str(old_export)]) == rc
    _one_line_error(capsys, *words)
    assert _snapshot(old_export) == before
    assert sorted(p.name for p in old_export.parent.iterdir()) == ["android"], "temporary dirs left behind"


def test_a_disk_that_fills_at_the_last_write_leaves_the_previous_export_intact(old_export, tmp_path, monkeypatch, capsys):
    """The whole export runs; the very last write inside the atomic dir (the signature) fails."""
    assert main(["keygen", "--out", str(tmp_path / "keys")]) == 0
    before = _snapshot(old_export)
    real = signing.sign_bundle

    def full_disk(bundle_dir, key):
        real(bundle_dir, key)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(signing, "sign_bundle", full_disk)
    assert main(TINY_EXPORT + ["--out", str(old_export), "--sign", str(tmp_path / "keys" / signing.PRIVATE_NAME)]) == 2
    _one_line_error(capsys, "No space left")
    assert _snapshot(old_export) == before
    assert sorted(p.name for p in old_export.parent.iterdir()) == ["android"], "temporary dirs left behind"


def test_an_unwritable_output_folder_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    def never(*a, **kw):
        raise AssertionError("conversion started")

    monkeypatch.setattr(bundle, "_convert", never)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert main(TINY_EXPORT + ["--out", str(a_file / "android")]) == 2
    _one_line_error(capsys, "is a file")
    assert main(TINY_EXPORT + ["--out", str(a_file)]) == 2
    _one_line_error(capsys, "not a directory")
    assert a_file.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway")
def test_a_read_only_output_folder_is_refused(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert main(TINY_EXPORT + ["--out", str(ro / "android")]) == 2
        _one_line_error(capsys, "not writable")
    finally:
        ro.chmod(0o755)


def _tiny_checkpoint(path, **config):
    model = AVSep(preset("tiny"))
    save(path, model)
    if config:
        ckpt = torch.load(path, weights_only=False)
        ckpt["config"].update(config)
        torch.save(ckpt, path)
    return path


@pytest.mark.parametrize("make, words", [
    (lambda p: p.write_bytes(b""), ("corrupt",)),
    (lambda p: p.write_bytes(SHIPPED.read_bytes()[:5000]), ("corrupt",)),
    (lambda p: p.write_bytes(os.urandom(20000)), ("corrupt",)),
    (lambda p: p.write_text("not a checkpoint\n"), ("corrupt",)),
    (lambda p: torch.save([1, 2, 3], p), ("not written by avsep",)),
    (lambda p: torch.save({"config": {}, "state_dict": [1]}, p), ("not written by avsep",)),
    (lambda p: _tiny_checkpoint(p, attention_sinks=4), ("attention_sinks", "another")),  # a newer version's config
    (lambda p: _tiny_checkpoint(p, d_model="wide"), ("invalid config",)),
    (lambda p: _tiny_checkpoint(p, n_heads=3), ("invalid config",)),
    (lambda p: _tiny_checkpoint(p, d_model=64, n_heads=2), ("does not match",)),  # weights of another shape
])
@pytest.mark.parametrize("command", [["info"], ["export", "android", "--precision", "fp32"]])
def test_a_damaged_or_foreign_checkpoint_is_one_line(tmp_path, capsys, make, words, command):
    p = tmp_path / "model v2 ünïcode.pt"
    make(p)
    assert main(command + ["--checkpoint", str(p)] + (["--out", str(tmp_path / "out")] if command[0] == "export" else [])) == 2
    _one_line_error(capsys, *words)
    assert not (tmp_path / "out").exists()


GOOD = {"format": manifest.FORMAT, "target": "android", "files": {}, "model_files": {}, "signatures": {}}


@pytest.mark.parametrize("content, words", [
    (b"", ("not valid JSON",)),
    (b'{"format": "avsep-manifest/1", "files": {', ("not valid JSON",)),
    (b'{"format": "\xff\xff"}', ("not UTF-8",)),
    (b"[1, 2]", ("not a JSON object",)),
    (json.dumps({**GOOD, "format": "avsep-manifest/99"}).encode(), ("avsep-manifest/99", "re-export")),
    (json.dumps({k: v for k, v in GOOD.items() if k != "files"}).encode(), ("lacks files",)),
    (json.dumps({**GOOD, "files": {"avsep.tflite": "abc"}}).encode(), ("malformed files",)),
])
def test_a_corrupt_manifest_is_one_line(tmp_path, capsys, content, words):
    d = tmp_path / "bundle with spaces"
    d.mkdir()
    (d / "manifest.json").write_bytes(content)
    assert main(["verify", str(d)]) == 2
    _one_line_error(capsys, *words)


@pytest.mark.parametrize("files, planted, problem", [
    ({"../../etc/passwd": {"sha256": "0" * 64}}, None, "../../etc/passwd: points outside the bundle"),
    ({"avsep.tflite": {"sha256": "0" * 64}}, None, "avsep.tflite: missing"),
    ({}, "planted.tflite", "planted.tflite: not in the manifest"),
])
def test_a_manifest_that_does_not_match_the_bundle_is_refused(tmp_path, capsys, files, planted, problem):
    d = tmp_path / "bündle"
    d.mkdir()
    (d / "manifest.json").write_text(json.dumps({**GOOD, "files": files}))
    (d / "parity_report.json").write_text('{"passed": true}')
    if planted:
        (d / planted).write_bytes(b"\0" * 64)
    capsys.readouterr()
    assert main(["verify", str(d)]) == 2
    _one_line_error(capsys, "refused")
    assert main(["verify", str(d), "--json"]) == 2
    assert problem in json.loads(capsys.readouterr().out)["problems"]


def test_a_missing_manifest_or_bundle_is_one_line(tmp_path, capsys):
    assert main(["verify", str(tmp_path)]) == 2
    _one_line_error(capsys, "no manifest.json")
    assert main(["verify", str(tmp_path / "nowhere")]) == 2
    _one_line_error(capsys, "no manifest.json")

