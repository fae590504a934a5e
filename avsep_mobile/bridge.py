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
(tests/media_clips.py, speech seeds 3 and 11) the shipped model's SI-SNRi
over the four slots averages 5.19 dB noise-free and 5.14 dB with the
training noise (each slot within 0.25 dB).
Each slot keeps one renderer for its whole life (seed slot_seed(s)); a new
face in the slot forgets the old one's range but is drawn with the same
params, so an app needs one params set per slot, no generator.

`crops` mode instead passes the real 88 x 88 grayscale mouth crop, upright
and scaled like the training crops, for a model trained on real video. The
sample apps compute the same two numbers from Vision / MediaPipe landmarks
and draw with the params of the bundle's bridge.json (config()), so phone and
desktop agree; their cores are tested against case_table().
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .data.lips import CROP, MouthRenderer
from .faces import LOWER_INNER_LIP, MOUTH_CORNERS, OUTER_EYE_CORNERS, UPPER_INNER_LIP, Mouth, mouth_crop

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


CASES_FORMAT = "avsep-bridge-cases/1"
CASES_FILE = "parity_tests/data/bridge_cases.json"
# (opening, spread, t): closed, half open and rounded, wide open at both shape
# extremes, and an hour in (head motion is a function of t)
_FRAME_POINTS = [(0.0, 0.5, 0.0), (0.4, 0.2, 0.04), (1.0, 0.0, 1.52), (0.85, 1.0, 3600.0)]


def _measurements(rng: np.random.Generator, n: int, still: bool = False) -> list[list[float]]:
    """n frames of (gap, width, eye_span) in pixels: talking, or a still mouth with landmark jitter."""
    gap = rng.uniform(0.2, 0.4, n) if still else np.abs(rng.normal(6.0, 6.0, n))
    width = 50.0 * (1 + 0.08 * rng.standard_normal(n))
    return np.stack([gap, width, 80.0 + rng.normal(0, 1.0, n)], 1).tolist()


def case_table() -> dict:
    """What every app core is tested against: landmark measurements -> (opening,
    spread), and renderer params + (opening, spread, t) -> 88 x 88 pixels
    (row-major uint8, base64)."""
    import base64

    rng = np.random.default_rng(13)
    runs = {"talking, history rolls over": (_measurements(rng, 90), 40),
            "still mouth: the range floor": (_measurements(rng, 30, still=True), HISTORY_FRAMES),
            "degenerate widths and eye spans": ([[3.0, 0.0, 80.0], [0.0, 50.0, 0.0], [9.0, 48.0, 81.0], [0.0, 0.0, 0.0],
                                                 [20.0, 52.0, 80.0], [1.0, 44.0, 79.0], [15.0, 60.0, 0.0]], 8),
            "talking, default history": (_measurements(rng, 61), HISTORY_FRAMES)}
    features = []
    for name, (rows, history) in runs.items():
        b = MouthBridge(seed=0, history=history)
        out = [b.features(Mouth(np.zeros(2), width, gap, eye, 0.0)) for gap, width, eye in rows]
        features.append({"name": name, "history": history, "measurements": rows, "expect": [list(f) for f in out]})
    frames = []
    for seed in (slot_seed(0), slot_seed(1)):
        r = MouthRenderer(seed, noise=False)
        for opening, spread, t in _FRAME_POINTS:
            img = r.frames(np.array([opening]), np.array([spread]), np.array([t]))[0]
            frames.append({"seed": seed, "params": r.params(), "opening": opening, "spread": spread, "t": t,
                           "pixels": base64.b64encode(img.tobytes()).decode()})
    return {"format": CASES_FORMAT, "generated_by": f"python -m avsep_mobile.bridge --write-cases {CASES_FILE}",
            "crop_size": CROP, "min_open_range": MIN_OPEN_RANGE, "spread_gain": SPREAD_GAIN, "closed_opening": CLOSED_OPENING,
            "features": features, "frames": frames}


if __name__ == "__main__":
    import argparse
    import json

    ap = argparse.ArgumentParser(description="write the bridge case table the app cores are tested against")
    ap.add_argument("--write-cases", required=True, metavar="PATH")
    path = ap.parse_args().write_cases
    with open(path, "w") as f:
        json.dump(case_table(), f, indent=1)
        f.write("\n")
