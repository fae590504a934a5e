"""All-or-nothing writes: a reader sees the old file or dir, or the new one,
never half of it. Temporaries live beside the target so the final rename
stays on one filesystem (os.replace across filesystems is not atomic).

A run killed outright (SIGKILL, power loss) cleans nothing up; its
temporaries are named `.<target>.<pid>-<hex>.tmp|.old`, and the next write
of the same target removes those whose process is gone (and puts an old
dir back if the kill came between the two renames of a swap)."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from pathlib import Path


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def _alive(pid: int) -> bool:
    if os.name == "nt":  # no signal-0 probe: never take another run's files
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def clear_stale(path) -> list[Path]:
    """Remove the temporaries of killed writes of `path`; returns what it removed or restored."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)-[0-9a-f]{{8}}\.(tmp|old)")
    done = []
    for p in sorted(path.parent.glob(f".{path.name}.*")) if path.parent.is_dir() else ():
        m = pattern.fullmatch(p.name)
        if m is None or int(m.group(1)) == os.getpid() or _alive(int(m.group(1))):
            continue
        if m.group(2) == "old" and not path.exists():  # killed mid-swap: the old output is still the output
            os.rename(p, path)
        elif p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        done.append(p)
    return done


def atomic_write_bytes(path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clear_stale(path)
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
    clear_stale(final)
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


def check_writable(out_dir) -> None:
    """One-line ValueError unless out_dir can be created or replaced: its
    nearest existing ancestor must be a writable directory (checked before
    minutes of work, not after)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} exists and is not a directory: remove it or pass another --out")
    parent = out_dir.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"cannot write {out_dir}: {parent} is a file, not a folder; pass another --out")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write {out_dir}: {parent} is not writable; pass --out to a writable folder")
