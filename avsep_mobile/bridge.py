"""From a real face to what the model sees, one slot at a time.

The shipped model was trained on rendered mouths (data/lips.py), so a real
mouth crop is outside its training domain. The bridge measures the mouth in
the face mesh each frame and redraws it with the training renderer:

  opening <- inner-lip gap / mouth width, placed between this face's own
             closed (5th percentile) and open (98th) values over the last
             30 s, as the renderer places speech level between silence and
             the track's loud level; a floor on that range keeps a still
             mouth from amplifying landmark jitter
  spread  <- mouth width / outer-eye span, against this face's running
             median: +-20 % of width spans rounded .. spread

`crops` mode instead passes the real 88 x 88 grayscale mouth crop, upright
and scaled like the training crops, for a model trained on real video. The
sample apps compute the same two numbers from Vision / MediaPipe landmarks,
so phone and desktop agree.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .data.lips import MouthRenderer
from .faces import Mouth, mouth_crop

HISTORY_FRAMES = 750  # 30 s at 25 fps
MIN_OPEN_RANGE = 0.12  # gap/width between closed and open below which it is jitter, not speech
SPREAD_GAIN = 2.5  # 1/0.4: +-20 % of the median width is the renderer's full range
MODES = ("rendered", "crops")


class MouthBridge:
    def __init__(self, mode: str = "rendered", seed: int = 0):
        assert mode in MODES, f"mode must be one of {MODES}, got {mode!r}"
        self.mode, self.seed = mode, seed
        self.reset()

    def reset(self) -> None:
        """A new face: forget the old one's range and draw a fresh track."""
        self.ratio = deque(maxlen=HISTORY_FRAMES)
        self.width = deque(maxlen=HISTORY_FRAMES)
        self.renderer = MouthRenderer(self.seed)
        self.seed += 1

    def features(self, m: Mouth) -> tuple[float, float]:
        """(opening, spread) in [0, 1] for this frame's mouth."""
        r = m.gap / max(m.width, 1e-3)
        q = m.width / max(m.eye_span, 1e-3)
        self.ratio.append(r)
        self.width.append(q)
        lo, hi = np.percentile(self.ratio, [5, 98])
        opening = float(np.clip((r - lo) / max(hi - lo, MIN_OPEN_RANGE), 0.0, 1.0))
        spread = float(np.clip(0.5 + SPREAD_GAIN * (q / np.median(self.width) - 1.0), 0.0, 1.0))
        if opening <= 0.05:  # a closed mouth has the neutral shape, as in the renderer
            spread = 0.5
        return opening, spread

    def crop(self, rgb: np.ndarray, m: Mouth, t: float) -> np.ndarray:
        """(88, 88) uint8: the rendered mouth, or the real crop."""
        opening, spread = self.features(m)
        if self.mode == "crops":
            return mouth_crop(rgb, m)
        return self.renderer.frames(np.array([opening]), np.array([spread]), np.array([t]))[0]
