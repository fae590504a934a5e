"""All-or-nothing writes: a reader sees the old file or dir, or the new one,
never half of it. Temporaries live beside the target so the final rename
stays on one filesystem (os.replace across filesystems is not atomic)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}{suffix}")


def atomic_write_bytes(path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, ".tmp")
    # os.open rather than mkstemp: mkstemp's 0600 would survive the rename
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(final_dir):
    """Yield an empty temporary sibling dir; if the block succeeds it replaces
    final_dir (an old final_dir is removed), otherwise it is deleted."""
    final = Path(final_dir)
    if final.exists() and not final.is_dir():
        raise ValueError(f"{final} exists and is not a directory: remove it or pick another output path")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(final, ".tmp")
    tmp.mkdir(0o777)  # umask applies, unlike mkdtemp's 0700
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # a non-empty dir cannot be renamed over, so move the old one aside first
    old = None
    if final.exists():
        old = _sibling(final, ".old")
        os.rename(final, old)
    try:
        os.rename(tmp, final)
    except BaseException:
        if old is not None:
            os.rename(old, final)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
