"""export/overlap.py: jobs in a second process where there are two cores,
or run later in this one, with the same result; a second process that dies
is one line for the user, and the next job gets a new one."""

from __future__ import annotations

import os

import pytest

from avsep_mobile.export import overlap


def test_a_job_runs_in_the_second_process_or_here_when_it_is_off(monkeypatch):
    if not overlap._enabled():
        pytest.skip("one core: every job runs in this process")
    assert overlap.submit(os.getpid).result() != os.getpid()
    monkeypatch.setenv("AVSEP_SECOND_PROCESS", "0")
    assert overlap.submit(os.getpid).result() == os.getpid()


def test_a_second_process_that_dies_is_one_line_and_the_next_job_gets_another():
    if not overlap._enabled():
        pytest.skip("one core: no second process")
    with pytest.raises(OSError, match="second process stopped.*AVSEP_SECOND_PROCESS=0"):
        overlap.submit(os._exit, 1).result()
    assert overlap.submit(os.getpid).result() != os.getpid()


def _total(t):
    return float(t.sum())


@pytest.mark.parametrize("second_process", ["1", "0"])
def test_a_job_sees_its_arguments_as_they_were_when_submitted(monkeypatch, second_process):
    """The export deep-copies and converts the model it has just handed to the
    float side; the job must not share (or see changes to) the caller's weights."""
    import torch

    monkeypatch.setenv("AVSEP_SECOND_PROCESS", second_process)
    weights = torch.ones(1000)
    job = overlap.submit(_total, weights)
    weights.mul_(2)
    assert job.result() == 1000.0
    assert not weights.is_shared()  # the caller's tensor never moved into shared memory


def test_a_script_without_a_main_guard_can_submit(tmp_path):
    """spawn re-runs an unguarded __main__ in the child; the pool starts its child without it."""
    import subprocess
    import sys

    if not overlap._enabled():
        pytest.skip("one core: no second process")
    script = tmp_path / "unguarded.py"
    script.write_text("import os\nfrom avsep_mobile.export import overlap\n"
                      "print(overlap.submit(os.getpid).result() != os.getpid())\n")
    r = subprocess.run([sys.executable, str(script)], check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "True"
