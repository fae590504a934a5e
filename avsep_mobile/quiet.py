"""Third-party noise off at the entry point, so a user sees avsep's own
progress bars and result lines; `avsep --verbose` shows everything.

What it hides, and how (measured on `avsep export ios|android`):
- Python warnings (coremltools, torch.onnx, onnxscript): ignored.
- Python logging at WARNING and below (torchao "Failed to load ... .so",
  coremltools "Failed to load _MLModelProxy", "Torch version ... has not been
  tested", torch's pytree notices): logging.disable(WARNING); errors still show.
- C/C++ libraries writing straight to file descriptor 2 (TensorFlow/absl
  "All log messages before absl::InitializeLog()", "Created TensorFlow Lite
  XNNPACK delegate", MLIR op counts): fd 2 goes to a scratch file while
  Python's sys.stderr keeps writing to the real stderr.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import warnings

# read by TensorFlow/absl/glog when they load: quieter at the source
_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "GLOG_minloglevel": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}


def _fileno(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None


@contextlib.contextmanager
def quiet(verbose: bool = False):
    """Hide third-party warnings, logging and native stderr inside the block."""
    if verbose:
        yield
        return
    for k, v in _ENV.items():
        os.environ.setdefault(k, v)
    was_disabled = logging.root.manager.disable
    with warnings.catch_warnings(), tempfile.TemporaryFile() as scratch:
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(2)
        # Python's stderr (tqdm bars, `error:` lines) keeps the real stderr;
        # under a test runner that replaced sys.stderr it is left alone
        swap = _fileno(sys.stderr) == 2
        old_stderr = sys.stderr
        if swap:
            sys.stderr = open(os.dup(saved), "w", buffering=1, encoding=old_stderr.encoding, errors="backslashreplace")
        os.dup2(scratch.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if swap:
                sys.stderr.close()
                sys.stderr = old_stderr
            logging.disable(was_disabled)


@contextlib.contextmanager
def library_prints(verbose: bool = False):
    """Python-level prints of a converter (litert-torch's progress tree,
    torch.onnx's export summary, coremltools' pass lists) dropped inside the
    block, unless verbose; native stderr is `quiet`'s job at the entry point."""
    if verbose:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def silence_process() -> None:
    """A worker process's own output off for good (export/overlap.py): its
    results and errors travel back through its futures, not its prints."""
    for k, v in _ENV.items():
        os.environ.setdefault(k, v)
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)
