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
