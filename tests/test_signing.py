"""Signed exports: keygen, export --sign, verify --key; every kind of tampering
is refused in one line with exit code 2."""

from __future__ import annotations

import base64
import json
import shutil
import stat

import pytest
import torch

from avsep_mobile.cli import main
from avsep_mobile.export import bundle, manifest_build, signing
from avsep_mobile.model import AVSep, preset
from avsep_mobile.runtime import manifest
from avsep_mobile.runtime.manifest import SIG_NAME
from avsep_mobile.runtime.signing import key_id, load_public


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    assert main(["keygen", "--out", str(d)]) == 0
    return d / signing.PRIVATE_NAME, d / signing.PUBLIC_NAME


@pytest.fixture(scope="module")
def signed_bundle(tmp_path_factory, keys):
    """A tiny android fp32 export, signed: exported once for the module."""
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("signed") / "android"
    report = bundle.export("android", AVSep(preset("tiny")).eval(), out, precision="fp32", progress=False,
                           checkpoint=bundle.checkpoint_info(None, "tiny"), sign_key=signing.load_private(keys[0]))
    assert report["passed"]
    return out


@pytest.fixture
def copy(signed_bundle, tmp_path):
    out = tmp_path / "bundle"
    shutil.copytree(signed_bundle, out)
    return out


def _refused(argv, capsys, *words) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err, err
    for w in words:
        assert w in err, err
    return err


def test_keygen_writes_raw_ed25519_keys_as_base64_and_never_overwrites(keys, capsys):
    priv, pub = keys
    assert len(base64.b64decode(priv.read_text().strip())) == 32
    assert len(base64.b64decode(pub.read_text().strip())) == 32
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    before = priv.read_bytes()
    _refused(["keygen", "--out", str(priv.parent)], capsys, "already exists")
    assert priv.read_bytes() == before


def test_signed_export_verifies_with_its_public_key(signed_bundle, keys, capsys):
    m = manifest.load(signed_bundle)
    assert m["signing"]["algorithm"] == "ed25519"
    assert m["signing"]["key_id"] == key_id(load_public(keys[1]))
    assert SIG_NAME not in m["files"] and manifest.verify(signed_bundle) == []
    assert main(["verify", str(signed_bundle), "--key", str(keys[1])]) == 0
    assert "signature valid" in capsys.readouterr().out


def test_signature_rule_is_ed25519_over_the_manifest_bytes(signed_bundle, keys):
    """The rule the apps implement (signing.py docstring), checked with the bare library."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(keys[1].read_text().strip()))
    sig = base64.b64decode((signed_bundle / "manifest.sig").read_text().strip())
    assert len(sig) == 64
    pub.verify(sig, (signed_bundle / "manifest.json").read_bytes())  # raises if not


def test_a_tampered_model_file_is_refused(copy, keys, capsys):
    f = copy / "avsep.tflite"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x01
    f.write_bytes(bytes(data))
    _refused(["verify", str(copy), "--key", str(keys[1])], capsys, "avsep.tflite", "sha256 mismatch")


def test_a_tampered_manifest_is_refused_even_when_its_checksums_match(copy, keys, capsys):
    # swap the model and rewrite its sha256: the checksums alone now pass, the signature does not
    f = copy / "avsep.tflite"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x01
    f.write_bytes(bytes(data))
    m = json.loads((copy / "manifest.json").read_text())
    m["files"]["avsep.tflite"]["sha256"] = manifest.sha256_file(f)
    manifest_build.write(copy, m)
    assert main(["verify", str(copy), "--quick"]) == 0  # the hash-only look
    _refused(["verify", str(copy), "--key", str(keys[1])], capsys, "changed after signing")


def test_a_wrong_key_is_refused(copy, tmp_path, capsys):
    assert main(["keygen", "--out", str(tmp_path / "other")]) == 0
    _refused(["verify", str(copy), "--key", str(tmp_path / "other" / signing.PUBLIC_NAME)], capsys, "signed with key")


@pytest.mark.parametrize("damage", ["missing", "garbage", "truncated", "another manifest"])
def test_a_missing_or_broken_signature_is_refused(copy, keys, capsys, damage):
    sig = copy / SIG_NAME
    if damage == "missing":
        sig.unlink()
        _refused(["verify", str(copy), "--key", str(keys[1])], capsys, "not signed")
        return
    if damage == "garbage":
        sig.write_text("not base64 at all!\n")
    elif damage == "truncated":
        sig.write_text(sig.read_text()[:40] + "\n")
    else:  # a valid signature, but of other bytes
        other = signing.load_private(keys[0]).sign(b"{}")
        sig.write_text(base64.b64encode(other).decode() + "\n")
    _refused(["verify", str(copy), "--key", str(keys[1])], capsys, "refusing")


def test_a_bad_key_file_is_refused_before_any_work(tmp_path, keys, capsys):
    bad = tmp_path / "bad.key"
    bad.write_text("hello\n")
    out = tmp_path / "never"
    _refused(["export", "android", "--preset", "tiny", "--precision", "fp32", "--out", str(out), "--sign", str(bad)], capsys, "avsep keygen")
    _refused(["export", "android", "--preset", "tiny", "--precision", "fp32", "--out", str(out), "--sign", str(tmp_path / "nokey")], capsys, "not found")
    _refused(["verify", str(tmp_path), "--key", str(bad)], capsys, "public key")
    assert not out.exists()
