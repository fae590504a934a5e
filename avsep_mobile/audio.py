"""The one audio I/O module: WAV in as float32 mono at the model rate, WAV out
as 16-bit PCM, with one-line errors a user can act on."""

from __future__ import annotations

import io
import warnings
from math import gcd
from pathlib import Path

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

from .atomic import atomic_write_bytes


class AudioError(ValueError):
    """Bad audio input; the message is one line that says what to do."""


# full scale of each integer PCM type (scipy reads 24-bit as left-justified int32)
_FULL_SCALE = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0}


def read_wav(path, sample_rate: int = 16000) -> tuple[np.ndarray, list[str]]:
    """(n,) float32 in [-1, 1] at sample_rate, and notes on what was changed."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file: check the path")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", wavfile.WavFileWarning)
            rate, data = wavfile.read(path)
    except Exception as e:  # scipy raises ValueError, EOFError, struct.error... for broken files
        raise AudioError(f"{path}: not a readable WAV file ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}): "
                         "convert it to PCM WAV, e.g. `sox in.any -b 16 out.wav`") from None
    # scipy only warns when the samples stop before the header says; unknown chunks are harmless
    if any("EOF prematurely" in str(w.message) for w in caught):
        raise AudioError(f"{path}: truncated WAV (the data stops before its header says): "
                         "re-export it, or rewrite the header with `sox in.wav out.wav`")
    notes: list[str] = []
    if data.size == 0:
        raise AudioError(f"{path}: the file holds no audio samples: record or export it again")
    if data.dtype in _FULL_SCALE:
        x = data.astype(np.float32) / _FULL_SCALE[data.dtype]
    elif data.dtype == np.uint8:
        x = (data.astype(np.float32) - 128.0) / 128.0
    elif data.dtype.kind == "f":
        if not np.all(np.isfinite(data)):
            raise AudioError(f"{path}: the audio contains NaN or Inf samples: re-export it from its source")
        x = data.astype(np.float32)
    else:
        raise AudioError(f"{path}: unsupported sample type {data.dtype}: save it as 16-bit, 32-bit or float WAV")
    if x.ndim == 2:
        x = x.mean(axis=1)
        notes.append(f"downmixed {data.shape[1]} channels to mono")
    peak = float(np.max(np.abs(x)))
    if peak > 1.0:
        x = x / peak
        notes.append(f"float samples peaked at {peak:.2f}; scaled to 1.0")
    if rate != sample_rate:
        g = gcd(int(rate), int(sample_rate))
        x = resample_poly(x, sample_rate // g, int(rate) // g).astype(np.float32)
        x = np.clip(x, -1.0, 1.0)  # the filter's ringing can overshoot full scale
        notes.append(f"resampled {rate} Hz -> {sample_rate} Hz")
    return np.ascontiguousarray(x, dtype=np.float32), notes


def write_wav(path, x: np.ndarray, sample_rate: int = 16000) -> None:
    """Write (n,) float audio as mono 16-bit PCM, clipping to [-1, 1]."""
    x = np.asarray(x)
    if x.ndim != 1:
        raise AudioError(f"write_wav wants mono (n,) audio, got shape {x.shape}: write each channel separately")
    if not np.all(np.isfinite(x)):
        raise AudioError(f"refusing to write {path}: the audio contains NaN or Inf")
    pcm = np.round(np.clip(x.astype(np.float64), -1.0, 1.0) * 32767.0).astype(np.int16)
    buf = io.BytesIO()
    wavfile.write(buf, int(sample_rate), pcm)
    atomic_write_bytes(path, buf.getvalue())
