"""A real face that talks: the astronaut photograph that ships in
scikit-image's wheel, its jaw dropped frame by frame by a mouth-opening
track, and the mouth crops a camera path makes of it (face detector, face
mesh and the mouth bridge, as `avsep separate VIDEO` runs them).

`avsep eval` uses it to measure the lips path on mouths moved by a rule the
model never trained on (data.mouth_augment.EVAL_RULE); tests/media_clips.py
muxes the same frames into video files.
"""

from __future__ import annotations

import numpy as np

# the astronaut's face in the 512 x 512 photograph: a 200 px square around it,
# the line under her lower teeth, the mouth's centre and half width, the chin
FACE_BOX = (29, 229, 126, 326)  # y0, y1, x0, x1
MOUTH_LINE, MOUTH_X, MOUTH_HALF_W, CHIN = 149 - 29, 225 - 126, 24, 200 - 29
MAX_OPEN_PX = 16  # the gap at full opening, in the 200 px face


def face_image() -> np.ndarray:
    import skimage.data

    y0, y1, x0, x1 = FACE_BOX
    return np.ascontiguousarray(skimage.data.astronaut()[y0:y1, x0:x1])  # (200, 200, 3)


def open_mouth(face: np.ndarray, gap_px: float) -> np.ndarray:
    """The face with its jaw dropped by gap_px: a half-ellipse cavity under
    the upper teeth, the lower lip and chin moved down, fading toward the neck."""
    h, w = face.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = gap_px * np.sqrt(np.clip(1 - ((xx - MOUTH_X) / MOUTH_HALF_W) ** 2, 0, 1))  # gap under each column
    floor = CHIN + 15

    def fade(y):  # the jaw drops by the full gap at the mouth, not at all at the neck
        return np.clip((floor - y) / (floor - MOUTH_LINE), 0, 1)

    src_y = np.where(yy >= MOUTH_LINE + d, yy - d * fade(yy - d), yy)
    out = face[np.clip(np.round(src_y).astype(int), 0, h - 1), xx.astype(int)].astype(np.float32)
    cavity = (yy >= MOUTH_LINE) & (yy < MOUTH_LINE + d)
    shade = 30 + 25 * np.clip((yy - MOUTH_LINE) / np.maximum(d, 1), 0, 1)
    out[cavity] = np.stack([shade * 1.4, shade * 0.6, shade * 0.6], -1)[cavity]
    return out.astype(np.uint8)


def camera_lips(opening: np.ndarray, times: np.ndarray, slot: int = 0) -> np.ndarray:
    """uint8 (T, 88, 88): the face opening its jaw by `opening` (in [0, 1]) at
    frame `times` (s), through the face detector, face mesh and the mouth
    bridge of speaker slot `slot` (rendered mode, what `avsep separate` feeds
    the model). A frame whose face is lost holds the last crop."""
    from ..runtime.faces import FaceDetector, FaceMesh, face_from_landmarks, mouth
    from ..runtime.mouth_bridge import MouthBridge, slot_seed
    from ..runtime.mouth_renderer import CROP

    face = face_image()
    det, mesh, bridge = FaceDetector(), FaceMesh(), MouthBridge("rendered", seed=slot_seed(slot))
    out = np.zeros((len(times), CROP, CROP), np.uint8)
    box, last = None, np.zeros((CROP, CROP), np.uint8)
    for k, (o, t) in enumerate(zip(opening, times)):
        rgb = open_mouth(face, MAX_OPEN_PX * float(o))
        if box is None:  # the mesh follows the face; the detector runs only when it has none
            found = det(rgb)
            box = found[0] if found else None
        landmarks = mesh(rgb, box) if box is not None else None
        if landmarks is None:
            box = None
        else:
            box = face_from_landmarks(landmarks)
            last = bridge.crop(rgb, mouth(landmarks), float(t))
        out[k] = last
    return out


def camera_example(ex, opening_rule):
    """ex (a data.mixtures.Example) with each speaker's mouth track replaced by
    the talking face's, its jaw moved by opening_rule(source, sample_rate,
    times) -> opening, through the camera path; speaker i in bridge slot i."""
    from dataclasses import replace

    times = np.arange(ex.lips.shape[1]) / ex.fps
    lips = np.stack([camera_lips(opening_rule(s, 16000, times), times, slot=i) for i, s in enumerate(ex.sources)])
    return replace(ex, lips=lips)
