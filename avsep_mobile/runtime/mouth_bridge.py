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

The rendering is noise-free (no per-frame flicker or sensor noise): a frame
is a pure function of the slot's nuisance params, (opening, spread) and the
frame time, so a phone redraws exactly what `avsep separate` feeds the model.
The model does not miss the noise: on two 6 s two-face clips
(tests/media_clips.py, speech seeds 3 and 11) the model shipped on
2026-12-02 averaged 5.19 dB SI-SNRi over the four slots noise-free and 5.14
dB with the training noise (each slot within 0.25 dB).
Each slot keeps one renderer for its whole life (seed slot_seed(s)); a new
face in the slot forgets the old one's range but is drawn with the same
params, so an app needs one params set per slot, no generator.

`crops` mode instead passes the real 88 x 88 grayscale mouth crop, upright
and scaled like the training crops, for a model trained on real video. The
sample apps compute the same two numbers from Vision / MediaPipe landmarks
and draw with the params of the bundle's bridge.json (config()), so phone and
desktop agree; their cores are tested against app_cases.bridge_cases().
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .faces import (
    LOWER_INNER_LIP,
    MOUTH_CORNERS,
    OUTER_EYE_CORNERS,
    UPPER_INNER_LIP,
    Mouth,
    mouth_crop,
)
from .mouth_renderer import CROP, MouthRenderer

HISTORY_FRAMES = 750  # 30 s at 25 fps
MIN_OPEN_RANGE = 0.12  # gap/width between closed and open below which it is jitter, not speech
SPREAD_GAIN = 2.5  # 1/0.4: +-20 % of the median width is the renderer's full range
CLOSED_OPENING = 0.05  # at or below this opening the mouth has the neutral shape, as in the renderer
MODES = ("rendered", "crops")
FORMAT = "avsep-bridge/1"
FILE = "bridge.json"


def slot_seed(slot: int) -> int:
    """The renderer seed of a speaker slot, on desktop and in the bundle."""
    return 1000 * slot


class MouthBridge:
    def __init__(self, mode: str = "rendered", seed: int = 0, history: int = HISTORY_FRAMES):
        assert mode in MODES, f"mode must be one of {MODES}, got {mode!r}"
        self.mode, self.history = mode, history
        self.renderer = MouthRenderer(seed, noise=False)
        self.reset()

    def reset(self) -> None:
        """A new face: forget the old one's closed/open range and median width."""
        self.ratio = deque(maxlen=self.history)
        self.width = deque(maxlen=self.history)

    def features(self, m: Mouth) -> tuple[float, float]:
        """(opening, spread) in [0, 1] for this frame's mouth."""
        r = m.gap / max(m.width, 1e-3)
        q = m.width / max(m.eye_span, 1e-3)
        self.ratio.append(r)
        self.width.append(q)
        lo, hi = np.percentile(self.ratio, [5, 98])
        opening = float(np.clip((r - lo) / max(hi - lo, MIN_OPEN_RANGE), 0.0, 1.0))
        spread = float(np.clip(0.5 + SPREAD_GAIN * (q / max(np.median(self.width), 1e-3) - 1.0), 0.0, 1.0))
        if opening <= CLOSED_OPENING:
            spread = 0.5
        return opening, spread

    def crop(self, rgb: np.ndarray, m: Mouth, t: float) -> np.ndarray:
        """(88, 88) uint8: the rendered mouth at frame time t (s), or the real crop."""
        opening, spread = self.features(m)
        if self.mode == "crops":
            return mouth_crop(rgb, m)
        return self.renderer.frames(np.array([opening]), np.array([spread]), np.array([t]))[0]


def config(slots: int) -> dict:
    """bridge.json: what an app needs to run the bridge as `avsep separate` does."""
    return {"format": FORMAT, "crop_size": CROP, "history_frames": HISTORY_FRAMES, "min_open_range": MIN_OPEN_RANGE,
            "spread_gain": SPREAD_GAIN, "closed_opening": CLOSED_OPENING,
            "face_mesh": {"mouth_corners": list(MOUTH_CORNERS), "upper_inner_lip": UPPER_INNER_LIP,
                          "lower_inner_lip": LOWER_INNER_LIP, "outer_eye_corners": list(OUTER_EYE_CORNERS)},
            "slots": [{"seed": slot_seed(s), "renderer": MouthRenderer(slot_seed(s), noise=False).params()}
                      for s in range(slots)]}
