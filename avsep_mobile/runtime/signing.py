"""Checking a signed bundle: Ed25519 over manifest.json (`avsep verify DIR
--key PUB`, `avsep run --key PUB`; the apps' Signing.kt / ManifestSignature.swift).
Keys and signatures are made by export/signing.py (`avsep keygen`, `avsep
export --sign KEY`).

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
from pathlib import Path

from .manifest import NAME, SIG_NAME

ALGORITHM = "ed25519"


def ed25519():
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519


def raw_public(public) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public) -> str:
    """First 16 hex digits of sha256(raw public key)."""
    return hashlib.sha256(raw_public(public)).hexdigest()[:16]


def read_b64(path, size: int, what: str, hint: str) -> bytes:
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


def load_public(path):
    raw = read_b64(path, 32, "public key", "pass the signing.pub written by `avsep keygen`")
    return ed25519().Ed25519PublicKey.from_public_bytes(raw)


def check_signature(bundle_dir, public) -> None:
    """One-line ValueError unless manifest.sig is a valid signature of manifest.json by `public`."""
    import json

    from cryptography.exceptions import InvalidSignature

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
