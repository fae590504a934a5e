"""A second process for an export's independent work, where the machine has
a second core: the float side (test vectors, the gate levels, the task
gate's float estimates) runs there while this process calibrates and
converts; then the band's slowest corners run there while this process
streams the rest. On one core, or with AVSEP_SECOND_PROCESS=0, each job runs
in this process when its result is asked for: the same numbers either way
(both processes run torch and numpy on one thread).

The process is started once (spawn: a fresh interpreter, no forked OpenMP
state) and reused by every later export in this interpreter.

A job's arguments are pickled by value when it is submitted, in the caller's
thread, whichever process runs it: the job sees the model as it was then.
(The pool's own pickling runs later in a feeder thread and hands torch
tensors over as shared memory, moving the caller's weights into it while the
export goes on deep-copying and converting the same model.)
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import pickle
import sys
import types
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

_pool: ProcessPoolExecutor | None = None


def _enabled() -> bool:
    return (os.cpu_count() or 1) >= 2 and os.environ.get("AVSEP_SECOND_PROCESS", "1") != "0"


def _start_child() -> None:
    """The child: one torch thread (the reference's reproducibility), its
    libraries' noise off (what it computes comes back through the future)."""
    import torch

    from avsep_mobile import quiet

    torch.set_num_threads(1)
    quiet.silence_process()


def _shutdown() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


def _run(job: bytes):
    fn, args, kwargs = pickle.loads(job)
    return fn(*args, **kwargs)


@contextlib.contextmanager
def _main_module_hidden():
    """spawn re-imports the caller's __main__ in the child, which re-runs a
    script that calls export() without an `if __name__ == "__main__"` guard;
    the jobs never need __main__, so the child is started without it."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class _Later:
    """A job for this process, run when its result is first asked for."""

    def __init__(self, job: bytes):
        self._job, self._done, self._value = job, False, None

    def result(self):
        if not self._done:
            self._value, self._done = _run(self._job), True
            self._job = None
        return self._value


class _There:
    """A job in the second process. A process that died under it (killed, out
    of memory) is one line for the user, and the next export starts another."""

    def __init__(self, future: Future):
        self._future = future

    def result(self):
        try:
            return self._future.result()
        except BrokenProcessPool:
            _shutdown()
            raise OSError("the export's second process stopped (killed, or out of memory): run the export again, "
                          "or with AVSEP_SECOND_PROCESS=0 to work in one process") from None


def submit(fn, *args, **kwargs) -> _There | _Later:
    """fn(*args, **kwargs) in the second process (fn importable, arguments
    picklable), or later in this one; `.result()` gives its value either way."""
    global _pool
    job = pickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
    if not _enabled():
        return _Later(job)
    if _pool is None:
        _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_start_child)
        atexit.register(_shutdown)
    with _main_module_hidden():  # the child is spawned inside submit, when the pool has no idle process
        return _There(_pool.submit(_run, job))
