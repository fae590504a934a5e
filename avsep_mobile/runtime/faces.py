"""Faces and mouths in video frames: MediaPipe's BlazeFace short-range
detector and its 468-point face mesh, both the .tflite files that ship inside
the mediapipe 0.10.21 wheel, run with LiteRT's Interpreter (nothing is
downloaded; mediapipe itself is never imported, only its model files read).

    det = FaceDetector(); mesh = FaceMesh()
    for box in det(rgb):          # Face boxes in pixels, best first
        pts = mesh(rgb, box)      # (468, 3) landmarks in pixels
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

MEDIAPIPE_PIN = "mediapipe==0.10.21"  # the 1.x wheels carry no models
DETECTOR_FILE = "modules/face_detection/face_detection_short_range.tflite"
MESH_FILE = "modules/face_landmark/face_landmark.tflite"

DET_SIZE = 128
DET_SCORE = 0.5  # MediaPipe's own min_detection_confidence
NMS_IOU = 0.3
MESH_SIZE = 192
MESH_SCALE = 1.5  # MediaPipe widens the detection box this much for the mesh
MESH_PRESENCE = 0.5  # face-presence probability below which the mesh is rejected

# face-mesh indices (MediaPipe's canonical face model)
UPPER_INNER_LIP, LOWER_INNER_LIP = 13, 14
MOUTH_CORNERS = (61, 291)
OUTER_EYE_CORNERS = (33, 263)
# the mesh points that stand in for the detector's six keypoints (eyes from their corners)
RIGHT_EYE_CORNERS, LEFT_EYE_CORNERS = (33, 133), (362, 263)
NOSE_TIP, RIGHT_EAR, LEFT_EAR = 1, 234, 454


class FaceModelError(FileNotFoundError):
    """The face models are missing; the message says how to get them."""


def model_path(name: str) -> Path:
    spec = importlib.util.find_spec("mediapipe")  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise FaceModelError(f"face models not found: install them with `pip install --no-deps {MEDIAPIPE_PIN}` "
                             "(setup.sh does; only its .tflite files are used)")
    path = Path(spec.submodule_search_locations[0]) / name
    if not path.is_file():
        raise FaceModelError(f"{path} is missing: the face models ship only in {MEDIAPIPE_PIN}; "
                             f"reinstall it with `pip install --no-deps {MEDIAPIPE_PIN}`")
    return path


def _interpreter(name: str):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(model_path(name)), num_threads=1)
    it.allocate_tensors()
    return it


@dataclass(frozen=True)
class Face:
    """A detection in image pixels: box corners, score, six keypoints (right
    eye, left eye, nose tip, mouth centre, right ear, left ear), (6, 2) x/y."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    keypoints: np.ndarray

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2

    @property
    def size(self) -> float:
        return max(self.x1 - self.x0, self.y1 - self.y0)


def _anchors() -> np.ndarray:
    """(896, 2) anchor centres of the short-range model (SSD: strides 8, 16,
    16, 16; two anchors per cell per layer; fixed unit size)."""
    out = []
    for stride, per_cell in ((8, 2), (16, 6)):
        g = DET_SIZE // stride
        yy, xx = np.mgrid[0:g, 0:g]
        c = np.stack([(xx + 0.5) / g, (yy + 0.5) / g], -1).reshape(-1, 1, 2)
        out.append(np.repeat(c, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


def _iou(a: Face, b: Face) -> float:
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = ix * iy
    union = (a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter
    return inter / union if union > 0 else 0.0


class FaceDetector:
    def __init__(self, score: float = DET_SCORE):
        self.it = _interpreter(DETECTOR_FILE)
        self.inp = self.it.get_input_details()[0]["index"]
        outs = {d["name"]: d["index"] for d in self.it.get_output_details()}
        self.reg, self.cls = outs["regressors"], outs["classificators"]
        self.anchors, self.score = _anchors(), score

    def __call__(self, rgb: np.ndarray) -> list[Face]:
        """Faces in an (H, W, 3) uint8 frame, best first. A wide or tall frame
        is also searched in overlapping square tiles: the short-range model
        sees its input at 128 px, where people side by side in a landscape
        frame are too small to be found in the whole picture."""
        h, w = rgb.shape[:2]
        short, long = min(h, w), max(h, w)
        found = []
        if long <= 1.4 * short:
            found = self._square(rgb, 0, 0)
        else:  # overlapping tiles cover every face the whole picture would show, larger
            for start in np.linspace(0, long - short, math.ceil(long / short) + 1).round().astype(int):
                tile = rgb[:, start : start + short] if w >= h else rgb[start : start + short]
                found += self._square(tile, start if w >= h else 0, 0 if w >= h else start)
        faces = []
        for f in sorted(found, key=lambda f: -f.score):
            if all(_iou(f, g) < NMS_IOU for g in faces):
                faces.append(f)
        return faces

    def _square(self, rgb: np.ndarray, ox: int, oy: int) -> list[Face]:
        """Faces in one image letterboxed to a square, as MediaPipe does, so
        faces keep their shape; boxes shifted by (ox, oy)."""
        h, w = rgb.shape[:2]
        side = max(h, w)
        pad_x, pad_y = (side - w) / 2, (side - h) / 2
        img = Image.fromarray(np.ascontiguousarray(rgb))  # a tile is a strided view: PIL copies those 15x slower
        if h == w:
            square = img
        else:
            square = Image.new("RGB", (side, side))
            square.paste(img, (int(pad_x), int(pad_y)))
        x = np.asarray(square.resize((DET_SIZE, DET_SIZE), Image.BILINEAR), np.float32) / 127.5 - 1.0
        self.it.set_tensor(self.inp, x[None])
        self.it.invoke()
        raw = self.it.get_tensor(self.reg)[0]  # (896, 16): box cx, cy, w, h, then 6 keypoints, in input pixels
        logit = np.clip(self.it.get_tensor(self.cls)[0, :, 0], -100, 100)
        keep = np.flatnonzero(logit >= math.log(self.score / (1 - self.score)))  # sigmoid(logit) >= score
        faces = []
        for i in keep[np.argsort(-logit[keep])]:
            a = self.anchors[i]
            cx, cy = raw[i, 0] / DET_SIZE + a[0], raw[i, 1] / DET_SIZE + a[1]
            bw, bh = raw[i, 2] / DET_SIZE, raw[i, 3] / DET_SIZE
            kp = raw[i, 4:16].reshape(6, 2) / DET_SIZE + a
            px, py = (lambda v: v * side - pad_x + ox), (lambda v: v * side - pad_y + oy)  # unit square -> frame pixels
            f = Face(px(cx - bw / 2), py(cy - bh / 2), px(cx + bw / 2), py(cy + bh / 2),
                     float(1 / (1 + math.exp(-logit[i]))), np.stack([px(kp[:, 0]), py(kp[:, 1])], -1))
            if all(_iou(f, g) < NMS_IOU for g in faces):
                faces.append(f)
        return faces


def _affine_crop(rgb: np.ndarray, centre, side: float, angle: float, out: int, mode: str = "RGB") -> tuple[np.ndarray, np.ndarray]:
    """A square of `side` pixels around `centre`, rotated by `angle` (radians,
    so that the face is upright), resampled to out x out; and the 2x3 matrix
    that maps output pixels back to frame pixels."""
    c, s = math.cos(angle), math.sin(angle)
    k = side / out
    # frame = centre + R(angle) @ ((p - out/2) * k)
    m = np.array([[c * k, -s * k, 0.0], [s * k, c * k, 0.0]])
    m[:, 2] = np.asarray(centre) - m[:, :2] @ np.array([out / 2, out / 2])
    img = Image.fromarray(rgb).convert(mode) if mode != "RGB" else Image.fromarray(rgb)
    crop = img.transform((out, out), Image.AFFINE, tuple(m.reshape(-1)), resample=Image.BILINEAR)
    return np.asarray(crop), m


class FaceMesh:
    def __init__(self, presence: float = MESH_PRESENCE):
        self.it = _interpreter(MESH_FILE)
        self.inp = self.it.get_input_details()[0]["index"]
        outs = self.it.get_output_details()
        self.pts = next(d["index"] for d in outs if d["shape"][-1] == 1404)
        self.flag = next(d["index"] for d in outs if d["shape"][-1] == 1)
        self.presence = presence

    def __call__(self, rgb: np.ndarray, face: Face) -> np.ndarray | None:
        """(468, 3) landmarks in frame pixels (z in crop pixels), or None when
        the mesh model does not see a face in the box."""
        eye_r, eye_l = face.keypoints[0], face.keypoints[1]
        angle = math.atan2(eye_l[1] - eye_r[1], eye_l[0] - eye_r[0])  # roll: eyes level when 0
        crop, m = _affine_crop(rgb, face.centre, face.size * MESH_SCALE, angle, MESH_SIZE)
        self.it.set_tensor(self.inp, (crop.astype(np.float32) / 255.0)[None])
        self.it.invoke()
        if 1 / (1 + math.exp(-float(self.it.get_tensor(self.flag).reshape(-1)[0]))) < self.presence:
            return None
        p = self.it.get_tensor(self.pts).reshape(468, 3)
        xy = p[:, :2] @ m[:, :2].T + m[:, 2]
        return np.concatenate([xy, p[:, 2:]], axis=1).astype(np.float32)


def face_from_landmarks(landmarks: np.ndarray) -> Face:
    """The box to run the next frame's mesh in, from this frame's mesh, as
    MediaPipe's face mesh follows a face between detections: the landmarks'
    bounding box (on the test clips within 5 % of the detector's box size and
    3 px of its centre, so FaceMesh widens it by the same MESH_SCALE) and the
    detector's six keypoints read off the mesh."""
    xy = landmarks[:, :2].astype(np.float64)
    x0, y0 = xy.min(axis=0)
    x1, y1 = xy.max(axis=0)
    kp = np.stack([xy[list(RIGHT_EYE_CORNERS)].mean(0), xy[list(LEFT_EYE_CORNERS)].mean(0), xy[NOSE_TIP],
                   xy[[UPPER_INNER_LIP, LOWER_INNER_LIP]].mean(0), xy[RIGHT_EAR], xy[LEFT_EAR]])
    return Face(float(x0), float(y0), float(x1), float(y1), 1.0, kp)


@dataclass(frozen=True)
class Mouth:
    """Mouth measurements from one face mesh, in frame pixels."""

    centre: np.ndarray  # (2,) x, y
    width: float  # corner to corner
    gap: float  # inner lips apart
    eye_span: float  # outer eye corners apart: the face's own scale
    angle: float  # roll, radians


def mouth(landmarks: np.ndarray) -> Mouth:
    a, b = landmarks[MOUTH_CORNERS[0], :2], landmarks[MOUTH_CORNERS[1], :2]
    up, lo = landmarks[UPPER_INNER_LIP, :2], landmarks[LOWER_INNER_LIP, :2]
    e0, e1 = landmarks[OUTER_EYE_CORNERS[0], :2], landmarks[OUTER_EYE_CORNERS[1], :2]
    lo_x, hi_x = (a, b) if a[0] <= b[0] else (b, a)
    return Mouth(centre=(a + b + up + lo) / 4, width=float(np.linalg.norm(b - a)), gap=float(np.linalg.norm(lo - up)),
                 eye_span=float(np.linalg.norm(e1 - e0)), angle=math.atan2(hi_x[1] - lo_x[1], hi_x[0] - lo_x[0]))


MOUTH_WIDTH_SHARE = 50 / 88  # the share of a crop's width the mouth spans (the crop is 1.76 x the mouth width)


def mouth_crop(rgb: np.ndarray, m: Mouth, size: int = 88, width_share: float = MOUTH_WIDTH_SHARE) -> np.ndarray:
    """(size, size) uint8 grayscale crop, upright, the mouth spanning
    width_share of it (the rendered training crops' proportion)."""
    crop, _ = _affine_crop(rgb, m.centre, max(m.width, 1.0) / width_share, m.angle, size, mode="L")
    return crop


TRACK_IOU = 0.3  # a detection continues a track when boxes overlap this much...
TRACK_CENTRE = 0.5  # ...or its centre moved less than this share of the face size
TRACK_GRACE_S = 0.5  # a track missing this long frees its slot


def _same_face(a: Face, b: Face) -> bool:
    """b continues a: the boxes overlap or b's centre is near a's."""
    return _iou(a, b) >= TRACK_IOU or math.dist(a.centre, b.centre) < TRACK_CENTRE * a.size


@dataclass
class Track:
    id: int
    face: Face
    last_seen: float  # seconds


class SlotTracker:
    """Assigns faces to a fixed number of speaker slots, frame by frame.

    A detection continues the track it overlaps (IoU) or whose centre is near;
    a new face takes the lowest free slot (left to right when several arrive
    at once) and that slot is marked for reset; a track unseen for
    TRACK_GRACE_S frees its slot. Faces beyond the slots are ignored.
    `held` (per slot, a Face or None) continues slots whose face is followed
    by its own mesh: a held face is its track's for sure, and detections of
    it are dropped; of two held faces that overlap, the older track keeps it.
    update() returns, per slot, the matched Face or None (no face this frame)
    and the slots whose occupant changed (to reset)."""

    def __init__(self, slots: int, grace_s: float = TRACK_GRACE_S):
        self.slots: list[Track | None] = [None] * slots
        self.grace_s, self.next_id = grace_s, 0

    def update(self, faces: list[Face], t: float,
               held: list[Face | None] | None = None) -> tuple[list[Face | None], list[int]]:
        for i, tr in enumerate(self.slots):
            if tr is not None and t - tr.last_seen > self.grace_s:
                self.slots[i] = None
        held = held or [None] * len(self.slots)
        # a held face whose track expired (a gap in the frames) comes back like a detection: a new track
        faces = list(faces) + [h for i, h in enumerate(held) if h is not None and self.slots[i] is None]
        out: list[Face | None] = [None] * len(self.slots)
        used_slot: set[int] = set()
        live = [i for i, tr in enumerate(self.slots) if tr is not None and held[i] is not None]
        for i in sorted(live, key=lambda i: self.slots[i].id):
            if all(not _same_face(out[k], held[i]) for k in used_slot):
                self.slots[i].face, self.slots[i].last_seen = held[i], t
                out[i] = held[i]
                used_slot.add(i)
        faces = [f for f in faces if all(not _same_face(out[k], f) for k in used_slot)]
        pairs = []
        for i, tr in enumerate(self.slots):
            if tr is None or i in used_slot:
                continue
            for j, f in enumerate(faces):
                if _same_face(tr.face, f):
                    pairs.append((-_iou(tr.face, f), math.dist(tr.face.centre, f.centre), i, j))
        used_face: set[int] = set()
        for _, _, i, j in sorted(pairs):  # greedy: best overlap first
            if i in used_slot or j in used_face:
                continue
            used_slot.add(i), used_face.add(j)
            self.slots[i].face, self.slots[i].last_seen = faces[j], t
            out[i] = faces[j]
        reset = []
        for j in sorted((j for j in range(len(faces)) if j not in used_face), key=lambda j: faces[j].centre[0]):
            free = next((i for i, tr in enumerate(self.slots) if tr is None), None)
            if free is None:
                break
            self.slots[free] = Track(self.next_id, faces[j], t)
            self.next_id += 1
            out[free] = faces[j]
            reset.append(free)
        return out, reset

    @property
    def tracks_started(self) -> int:
        return self.next_id
