"""Signing bundles: Ed25519 over manifest.json (`avsep keygen`, `avsep export
--sign KEY`). The rule (signed bytes, signature file, key files, key id) and
checking a signature are the runtime's: runtime/signing.py."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from avsep_mobile.atomic import atomic_write_bytes
from avsep_mobile.runtime.manifest import NAME, SIG_NAME
from avsep_mobile.runtime.signing import (
    ALGORITHM,
    ed25519,
    key_id,
    raw_public,
    read_b64,
)

PRIVATE_NAME = "signing.key"
PUBLIC_NAME = "signing.pub"


def keygen(out_dir) -> tuple[Path, Path]:
    """Write a new key pair into out_dir; refuses to overwrite an existing one."""
    from cryptography.hazmat.primitives import serialization

    out_dir = Path(out_dir)
    priv_path, pub_path = out_dir / PRIVATE_NAME, out_dir / PUBLIC_NAME
    for p in (priv_path, pub_path):
        if p.exists():
            raise ValueError(f"{p} already exists: remove it or pass another --out (a key is never overwritten)")
    out_dir.mkdir(parents=True, exist_ok=True)
    key = ed25519().Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    atomic_write_bytes(priv_path, base64.b64encode(seed) + b"\n")
    os.chmod(priv_path, 0o600)
    atomic_write_bytes(pub_path, base64.b64encode(raw_public(key.public_key())) + b"\n")
    return priv_path, pub_path


def load_private(path):
    raw = read_b64(path, 32, "private signing key", "make one with `avsep keygen --out DIR` and pass DIR/signing.key")
    return ed25519().Ed25519PrivateKey.from_private_bytes(raw)


def manifest_fields(private) -> dict:
    """What a signed bundle's manifest records under "signing"."""
    return {"signing": {"algorithm": ALGORITHM, "key_id": key_id(private.public_key()), "signature_file": SIG_NAME}}


def sign_bundle(bundle_dir, private) -> Path:
    """Sign bundle_dir/manifest.json as stored; writes manifest.sig beside it."""
    bundle_dir = Path(bundle_dir)
    sig = private.sign((bundle_dir / NAME).read_bytes())
    path = bundle_dir / SIG_NAME
    atomic_write_bytes(path, base64.b64encode(sig) + b"\n")
    return path


