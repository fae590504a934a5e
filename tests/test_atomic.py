"""A write killed outright (SIGKILL: no cleanup runs) leaves its temporary
beside the target only until the next write of that target, which removes
it, and puts the previous output back if the kill came mid-swap."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from avsep_mobile.atomic import atomic_dir, clear_stale

pytestmark = pytest.mark.skipif(os.name == "nt", reason="SIGKILL and the signal-0 liveness probe are POSIX")

# the child writes inside atomic_dir(target) and kills itself at the named stage
CHILD = """
import os, signal, sys
from pathlib import Path
from avsep_mobile import atomic

target, stage = Path(sys.argv[1]), sys.argv[2]
rename = os.rename

def rename_then_die(a, b):
    rename(a, b)
    if Path(a) == target:  # the old output moved aside, the new one not yet in place
        os.kill(os.getpid(), signal.SIGKILL)

atomic.os.rename = rename_then_die
with atomic.atomic_dir(target) as tmp:
    (tmp / "speaker1.wav").write_bytes(b"half")
    if stage == "writing":
        os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed(target: Path, stage: str) -> None:
    r = subprocess.run([sys.executable, "-c", CHILD, str(target), stage], capture_output=True, text=True, timeout=60)
    assert r.returncode == -signal.SIGKILL, r.stderr


def _litter(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}."))


def _write(target: Path, text: str) -> None:
    with atomic_dir(target) as tmp:
        (tmp / "summary.json").write_text(text)


def test_a_run_killed_while_writing_is_cleared_by_the_next_run(tmp_path):
    out = tmp_path / "out dir"
    _write(out, "previous")
    _killed(out, "writing")
    assert len(_litter(out)) == 1 and (out / "summary.json").read_text() == "previous"
    _write(out, "next")
    assert _litter(out) == [] and (out / "summary.json").read_text() == "next"


def test_a_run_killed_mid_swap_gets_the_previous_output_back(tmp_path):
    out = tmp_path / "out"
    _write(out, "previous")
    _killed(out, "swap")
    assert not out.exists() and len(_litter(out)) == 2  # the old dir aside, the new one never renamed in
    assert len(clear_stale(out)) == 2
    assert _litter(out) == [] and (out / "summary.json").read_text() == "previous"


def test_a_live_writers_temporary_is_left_alone(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out) as tmp:
        other = tmp_path / f".out.{os.getppid()}-0123abcd.tmp"  # a running process's (our parent's) write
        other.mkdir()
        assert clear_stale(out) == [] and tmp.exists() and other.exists()
