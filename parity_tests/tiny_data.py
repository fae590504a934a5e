"""Data for the parity tests that needs no speech pool."""

from __future__ import annotations

import numpy as np

from avsep_mobile.data.mixtures import Example
from avsep_mobile.export import vectors


def tiny_calibration(model, n=2, seconds=1.5):
    """Short calibration mixtures from the test-vector signal generator (no speech pool)."""
    out = []
    for i in range(n):
        v = vectors.make(model, 2, 1, seconds=seconds)
        mix = v["av_step/pcm"].reshape(-1) * (1.0 + 0.5 * i)
        lips = (v["lip_step/crops"][:, :, 0].transpose(1, 0, 2, 3) * 255).astype(np.uint8)
        out.append(Example(mix, np.stack([mix, mix]) * 0.5, lips, 25.0, f"calib{i}"))
    return out
