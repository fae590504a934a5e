"""Synthetic mouth crops that follow a speech signal.

The speech -> mouth mapping is fixed, the same for every speaker, so a model
can learn lips -> speech from it:
  opening  <- short-time level, in dB below the track's own loud level
              (so it ignores the mixing gain), smoothed over ~30 ms
  shape    <- spectral centroid: dark, low-centroid sounds (u, o) round the
              lips (narrow, taller), bright ones (i, e, s) spread them
Everything else is a per-track nuisance drawn from the seed: skin tone,
lighting gradient, a constant audio-video lag of up to 40 ms, smooth head
translation/rotation/scale, lip thickness, and sensor noise.
"""

from __future__ import annotations

import math

import numpy as np

from ..lips_file import video_frames
from ..runtime.mouth_renderer import MouthRenderer

HOP_S = 0.01  # envelope analysis rate
OPEN_RANGE_DB = 30.0  # levels this far below the loud level keep the mouth closed


def speech_features(speech: np.ndarray, sample_rate: int, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mouth opening and spread in [0, 1] at the given times (s)."""
    hop = max(1, int(round(HOP_S * sample_rate)))
    win = 4 * hop  # 40 ms windows, centred on hop centres
    x = np.pad(np.asarray(speech, np.float32), (win // 2, win))
    n = max(1, (len(x) - win) // hop)
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[: n * hop : hop] * np.hanning(win).astype(np.float32)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (n, win/2+1)
    level = 10 * np.log10(power.mean(axis=1) + 1e-10)
    freqs = np.fft.rfftfreq(win, 1 / sample_rate)
    centroid = (power * freqs).sum(axis=1) / (power.sum(axis=1) + 1e-10)

    loud = np.percentile(level, 98)
    opening = np.clip((level - loud + OPEN_RANGE_DB) / OPEN_RANGE_DB, 0.0, 1.0)
    if loud < -80:  # a silent track: 10*log10(1e-10) is -100 dB
        opening[:] = 0.0
    # log-frequency spread: 300 Hz -> fully rounded, 3 kHz -> fully spread
    spread = np.clip(np.log(np.maximum(centroid, 1.0) / 300.0) / math.log(10.0), 0.0, 1.0)
    spread = np.where(opening > 0.05, spread, 0.5)  # silence: neutral shape

    # articulators are slow: a gaussian of sigma 30 ms, which also makes the
    # track robust to the +-40 ms lag
    k = np.exp(-0.5 * (np.arange(-9, 10) / 3.0) ** 2)
    k /= k.sum()
    opening = np.convolve(np.pad(opening, 9, mode="edge"), k, "valid")
    spread = np.convolve(np.pad(spread, 9, mode="edge"), k, "valid")
    t = np.arange(n) * HOP_S
    return np.interp(times, t, opening), np.interp(times, t, spread)


def render_lips(speech: np.ndarray, sample_rate: int = 16000, fps: float = 25.0, seed: int = 0) -> np.ndarray:
    """uint8 (T_video, 88, 88) mouth crops, T_video = ceil(len(speech) / sample_rate * fps)."""
    speech = np.asarray(speech)
    assert speech.ndim == 1, f"speech must be mono (n,), got {speech.shape}"
    assert 1 <= fps <= 240, f"fps must be a camera rate, got {fps}"
    n_frames = video_frames(len(speech), fps, sample_rate)
    renderer = MouthRenderer(seed)
    t = np.arange(n_frames) / fps  # (T,)
    opening, spread = speech_features(speech, sample_rate, t + renderer.lag)
    return renderer.frames(opening, spread, t)
