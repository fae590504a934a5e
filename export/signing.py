"""Signed bundles: Ed25519 over manifest.json (`avsep keygen`, `avsep export
--sign KEY`, `avsep verify DIR --key PUB`).

The manifest already holds the sha256 of every other file of the bundle, so
one signature over the manifest covers the whole bundle. The rule, exactly as
the sample apps' loaders implement it:

  signed bytes   the bytes of DIR/manifest.json exactly as stored on disk
                 (no parsing, no re-serialising, no newline stripping)
  signature      DIR/manifest.sig: the 64-byte Ed25519 signature (RFC 8032,
                 pure Ed25519, no prehash, no context), written as one line of
                 standard base64 with padding and a trailing "\\n"; a loader
                 strips ASCII whitespace before decoding. manifest.sig is not
                 listed in the manifest's "files" (it is written after it).
  public key     a file holding the raw 32-byte Ed25519 public key as one
                 line of standard base64 ("\\n" after it), e.g. `signing.pub`
  private key    the raw 32-byte Ed25519 seed as one line of base64, file mode
                 0600, e.g. `signing.key`; it never leaves the build machine
  key id         the first 16 hex digits of sha256(raw public key); the
                 manifest carries it under "signing" so a mismatch can name
                 both keys. It is informational: only the signature decides.

A loader with a public key configured: (1) read manifest.json's bytes and
manifest.sig; refuse if manifest.sig is missing; (2) verify the signature with
the public key over those bytes; refuse on failure; (3) parse the manifest and
check each file's sha256 (an .mlpackage directory by the rule in manifest.py);
refuse on any mismatch; only then load a model. Without a configured key it
does (3) only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from avsep_mobile.atomic import atomic_write_bytes

SIG_NAME = "manifest.sig"
PRIVATE_NAME = "signing.key"
PUBLIC_NAME = "signing.pub"
ALGORITHM = "ed25519"


def _ed25519():
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519


def _raw_public(public) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public) -> str:
    """First 16 hex digits of sha256(raw public key)."""
    return hashlib.sha256(_raw_public(public)).hexdigest()[:16]


def keygen(out_dir) -> tuple[Path, Path]:
    """Write a new key pair into out_dir; refuses to overwrite an existing one."""
    from cryptography.hazmat.primitives import serialization

    out_dir = Path(out_dir)
    priv_path, pub_path = out_dir / PRIVATE_NAME, out_dir / PUBLIC_NAME
    for p in (priv_path, pub_path):
        if p.exists():
            raise ValueError(f"{p} already exists: remove it or pass another --out (a key is never overwritten)")
    out_dir.mkdir(parents=True, exist_ok=True)
    key = _ed25519().Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    atomic_write_bytes(priv_path, base64.b64encode(seed) + b"\n")
    os.chmod(priv_path, 0o600)
    atomic_write_bytes(pub_path, base64.b64encode(_raw_public(key.public_key())) + b"\n")
    return priv_path, pub_path


def _read_b64(path, size: int, what: str, hint: str) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} {path} not found: {hint}")
    try:
        raw = base64.b64decode(path.read_bytes().strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise ValueError(f"{path} is not a {what} (expected {size} bytes as base64): {hint}")
    return raw


def load_private(path):
    raw = _read_b64(path, 32, "private signing key", "make one with `avsep keygen --out DIR` and pass DIR/signing.key")
    return _ed25519().Ed25519PrivateKey.from_private_bytes(raw)


def load_public(path):
    raw = _read_b64(path, 32, "public key", "pass the signing.pub written by `avsep keygen`")
    return _ed25519().Ed25519PublicKey.from_public_bytes(raw)


def manifest_fields(private) -> dict:
    """What a signed bundle's manifest records under "signing"."""
    return {"signing": {"algorithm": ALGORITHM, "key_id": key_id(private.public_key()), "signature_file": SIG_NAME}}


def sign_bundle(bundle_dir, private) -> Path:
    """Sign bundle_dir/manifest.json as stored; writes manifest.sig beside it."""
    from .manifest import NAME

    bundle_dir = Path(bundle_dir)
    sig = private.sign((bundle_dir / NAME).read_bytes())
    path = bundle_dir / SIG_NAME
    atomic_write_bytes(path, base64.b64encode(sig) + b"\n")
    return path


def check_signature(bundle_dir, public) -> None:
    """One-line ValueError unless manifest.sig is a valid signature of manifest.json by `public`."""
    import json

    from cryptography.exceptions import InvalidSignature

    from .manifest import NAME

    bundle_dir = Path(bundle_dir)
    mpath, spath = bundle_dir / NAME, bundle_dir / SIG_NAME
    if not mpath.is_file():
        raise ValueError(f"{bundle_dir} has no {NAME}: not an avsep export (run `avsep export ...`)")
    if not spath.is_file():
        raise ValueError(f"{bundle_dir} is not signed (no {SIG_NAME}): refusing it; export it with --sign KEY")
    try:
        sig = base64.b64decode(spath.read_bytes().strip(), validate=True)
    except (binascii.Error, ValueError):
        sig = b""
    if len(sig) != 64:
        raise ValueError(f"{spath} is not an Ed25519 signature (64 bytes as base64): refusing the bundle")
    data = mpath.read_bytes()
    try:
        public.verify(sig, data)
        return
    except InvalidSignature:
        pass
    try:  # only to word the error: the key id in an unverified manifest proves nothing
        signed_by = json.loads(data).get("signing", {}).get("key_id")
    except (ValueError, AttributeError):
        signed_by = None
    mine = key_id(public)
    if signed_by and signed_by != mine:
        raise ValueError(f"{bundle_dir} was signed with key {signed_by}, not with the given key {mine}: refusing it")
    raise ValueError(f"{NAME} in {bundle_dir} does not match its signature: it was changed after signing; refusing it")
