"""lips.npz: mouth tracks beside an audio file (`avsep data lips`, `avsep
separate MIX --lips`, `avsep run BUNDLE MIX --lips`): lips uint8 (N, T, 88, 88),
one grayscale mouth crop per speaker and camera frame, and fps."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .runtime.mouth_renderer import CROP

FPS_RANGE = (10.0, 120.0)
FRAME_SLACK = 2  # camera frame counts may round either way at the ends


def video_frames(n_samples: int, fps: float, sample_rate: int = 16000) -> int:
    """ceil(seconds * fps), immune to float error (9.88 s * 25 fps is 247, not 248)."""
    return max(1, math.ceil(n_samples / sample_rate * fps - 1e-6))


def read_lips(path, n_samples: int | None = None, speakers: int | None = None, sample_rate: int = 16000) -> tuple[np.ndarray, float]:
    """lips uint8 (N, T, 88, 88) and fps from a lips.npz, checked against the
    audio length (n_samples at sample_rate) and speaker count when given."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file: pass a lips.npz (make one with `avsep data lips SPEECH.wav`)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k in ("lips", "fps")}
            names = sorted(z.files)
    except Exception as e:  # zipfile, pickle and OS errors for a damaged or foreign file
        raise ValueError(f"{path}: not a readable .npz ({type(e).__name__}): write it again with `avsep data lips`") from None
    if len(arrays) != 2:
        raise ValueError(f"{path}: needs arrays 'lips' and 'fps', has {names}: write it with `avsep data lips`")
    lips, fps = arrays["lips"], arrays["fps"]
    if lips.dtype != np.uint8 or lips.ndim != 4 or lips.shape[2:] != (CROP, CROP) or 0 in lips.shape[:2]:
        raise ValueError(f"{path}: lips must be uint8 [N, T, {CROP}, {CROP}], got {lips.dtype} {list(lips.shape)}: "
                         "crop grayscale mouths to 88x88 per frame")
    if fps.size != 1 or not np.issubdtype(fps.dtype, np.number):
        raise ValueError(f"{path}: fps must be one number, got {fps.dtype} {list(fps.shape)}")
    fps = float(fps.reshape(()))
    if not FPS_RANGE[0] <= fps <= FPS_RANGE[1]:
        raise ValueError(f"{path}: fps {fps:g} is outside {FPS_RANGE[0]:g}..{FPS_RANGE[1]:g}: store the camera frame rate")
    if speakers is not None and lips.shape[0] != speakers:
        raise ValueError(f"{path}: lips has {lips.shape[0]} tracks but there are {speakers} speakers: one track per s*.wav")
    if n_samples is not None:
        want = video_frames(n_samples, fps, sample_rate)
        if abs(lips.shape[1] - want) > FRAME_SLACK:
            raise ValueError(f"{path}: {lips.shape[1]} frames at {fps:g} fps but the audio needs {want} "
                             f"({n_samples / sample_rate:.2f} s): check the fps or trim audio and video alike")
    return lips, fps
