"""Camera frames -> one mouth crop and one face id per speaker slot: the face
detector, the slot tracker, the face mesh and the mouth bridge in a row
(Kotlin/Swift: the apps' MouthCropper, over the platform's face landmarks).

As in MediaPipe's face mesh pipeline, a face is followed by its own mesh:
each slot's next box comes from its last landmarks, and the detector
(several tiles on a wide frame, the costliest model here) runs only on
frames where some slot has no such box: a free slot, or a face whose mesh
failed. A new face that can take a slot is still found at its first frame.
An empty slot, or a face whose mesh fails, holds its last crop.
"""

from __future__ import annotations

import numpy as np

from .faces import Face, FaceDetector, FaceMesh, SlotTracker, face_from_landmarks, mouth
from .mouth_bridge import MouthBridge, slot_seed
from .mouth_renderer import CROP


class MouthCropper:
    """>>> mc = MouthCropper(slots=2, mode="rendered")
    >>> ids = mc(rgb, t)          # (H, W, 3) uint8 frame at t seconds -> face id per slot (-1: none)
    >>> mc.crops                  # (slots, 1, 88, 88) float32 in [0, 1], what lip_step takes
    """

    def __init__(self, slots: int, mode: str = "rendered"):
        self.det, self.mesh = FaceDetector(), FaceMesh()
        self.tracker = SlotTracker(slots)
        self.bridges = [MouthBridge(mode, seed=slot_seed(s)) for s in range(slots)]
        self.crops = np.zeros((slots, 1, CROP, CROP), np.float32)  # held while a slot is empty
        self.followed: list[Face | None] = [None] * slots  # each slot's box from its last mesh
        self.frames_with_face = self.frames_without_face = self.detector_runs = 0
        self.slot_faces: list[set] = [set() for _ in range(slots)]

    def __call__(self, rgb: np.ndarray, t: float) -> list[int]:
        detections = []
        if any(f is None for f in self.followed):
            detections = self.det(rgb)
            self.detector_runs += 1
        found, new = self.tracker.update(detections, t, held=self.followed)
        self.followed = [None] * len(found)
        ids = [-1] * len(found)
        for s in new:
            self.bridges[s].reset()
        for s, face in enumerate(found):
            if face is None:
                continue
            landmarks = self.mesh(rgb, face)
            if landmarks is None:  # the mesh does not confirm the face: empty this frame, search the next
                continue
            self.followed[s] = face_from_landmarks(landmarks)
            self.crops[s, 0] = self.bridges[s].crop(rgb, mouth(landmarks), t) / 255.0
            ids[s] = self.tracker.slots[s].id
            self.slot_faces[s].add(ids[s])
        if any(i >= 0 for i in ids):
            self.frames_with_face += 1
        else:
            self.frames_without_face += 1
        return ids
