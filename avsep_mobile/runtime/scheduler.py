"""The live audio/video schedule: which camera frame's lip embedding each
av_step chunk sees, and each slot's `active` and `reset` flags. The one rule,
written here as the reference; the sample apps' cores (Kotlin, Swift) follow
it and are tested against the table that `cases()` writes.

Time is counted on the audio clock: audio sample n is at n / sample_rate
seconds. A camera frame carries its presentation time in integer nanoseconds
on the same clock (0 = audio sample 0); `offset_ns` is added to it (the
settable A/V offset: positive when the camera's timestamps run early against
the audio). Comparisons are exact integer arithmetic, so every language gets
the same answer.

Events arrive in any interleaving, as they do in an app:

- ``accept(t_ns)`` (FrameGate): should lip_step run on this camera frame? The
  model was trained at ``lip_fps``: a frame is taken when it is the first on a
  new slot of the lip_fps grid (``floor(t * fps + 0.5)``), so a 30 fps camera
  gives 25 lip_step calls a second, jitter under half a period costs nothing,
  and repeated or older timestamps are refused.
- ``frame(t_ns, faces)``: an accepted frame whose lip_step has run (its lip
  call index is the count of frames before it); ``faces[s]`` is the id of the
  face tracked in slot s, or -1 when the slot is empty.
- ``audio(n)``: n more samples have arrived.
- ``end_of_video()``: no more frames will come (end of a recording, or
  flush: no chunk waits for video any more).

A chunk c (samples [c*chunk, (c+1)*chunk)) is released, in order, once its
audio is complete and its frame is decided:

- its frame is the last received frame whose time is not after the chunk's
  end (sample and hold; with frames at j / fps this is
  ``streaming.held_lip_index``). When every received frame lies after the chunk
  end (the camera started late), it is the first frame, as the reference
  clips to frame 0.
- the choice is final once a later frame has arrived, the video has ended, or
  the audio clock has passed the chunk end by ``max_video_wait_ns``. The wait
  trades latency for exactness: at 0 (live default) a frame whose lip_step
  finishes after its chunk's audio is *late* and only serves the chunks after
  it; the model was trained with +-40 ms of A/V lag, which covers one frame.
- start-up: until the first frame arrives, chunks wait for it (they then hold
  frame 0, as in the reference); after ``startup_wait_ns`` past a chunk's end
  with still no frame, that chunk is released with no frame (lip -1, zero
  embedding) and every slot inactive.
- ``active[s]`` = 1 when the held frame has a face in slot s;
  ``reset[s]`` = 1 when that face differs from the last face held in slot s
  (a slot handed to a new person: the app zeroes the slot's per-slot state
  slices before the call, so the new face does not inherit the old one's).
  A face leaving and the same face coming back is no reset. The video side
  applies the same rule (SlotFaces) to each accepted frame before its
  lip_step, zeroing lip_step's per-slot state of that slot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

NS = 1_000_000_000
NEVER = -1  # a wait of -1 ns: wait forever (until a later frame or end_of_video)


def frame_ns(j: int, fps: float) -> int:
    """Presentation time of frame j of a regular camera, in integer ns."""
    return int(round(j * NS / fps))


class FrameGate:
    """Decimates the camera to the model's lip_fps (see the module docstring)."""

    def __init__(self, lip_fps: float):
        self.lip_fps, self.last = lip_fps, None

    def accept(self, t_ns: int) -> bool:
        g = math.floor(t_ns / 1e9 * self.lip_fps + 0.5)
        if self.last is not None and g <= self.last:
            return False
        self.last = g
        return True


class SlotFaces:
    """Which slots were handed to a new face. ``update(faces)`` -> reset per
    slot: 1 where slot s now shows a face other than the last one it showed.
    The scheduler applies it to the frames chunks hold (av_step's per-slot
    state); the video side applies it to every accepted frame, before its
    lip_step (lip_step's per-slot state)."""

    def __init__(self, speakers: int):
        self.last = [-1] * speakers

    def update(self, faces) -> list:
        reset = [0.0] * len(self.last)
        for s, face in enumerate(faces):
            if face >= 0:
                reset[s] = 1.0 if self.last[s] >= 0 and self.last[s] != face else 0.0
                self.last[s] = int(face)
        return reset


@dataclass
class Chunk:
    index: int
    lip: int  # lip_step call index whose embedding is held, -1 for none (zeros)
    active: list
    reset: list


@dataclass
class _Frame:
    t_ns: int  # on the camera clock; the offset is applied at comparison time
    lip: int
    faces: list


@dataclass
class Scheduler:
    sample_rate: int
    chunk_samples: int
    speakers: int
    offset_ns: int = 0
    max_video_wait_ns: int = 0
    startup_wait_ns: int = 200_000_000
    received: int = 0
    released: int = 0
    frames_seen: int = 0
    video_ended: bool = False
    _frames: list = field(default_factory=list)
    _slots: SlotFaces | None = None

    def __post_init__(self):
        self._slots = SlotFaces(self.speakers)

    def frame(self, t_ns: int, faces) -> int:
        assert len(faces) == self.speakers, f"faces needs {self.speakers} entries, got {len(faces)}"
        lip = self.frames_seen
        self._frames.append(_Frame(int(t_ns), lip, [int(f) for f in faces]))
        self.frames_seen += 1
        return lip

    def audio(self, n: int) -> None:
        self.received += int(n)

    def end_of_video(self) -> None:
        self.video_ended = True

    def _not_after(self, f: _Frame, end: int) -> bool:
        return (f.t_ns + self.offset_ns) * self.sample_rate <= end * NS

    def _waited(self, end: int, wait_ns: int) -> bool:
        return wait_ns >= 0 and self.received * NS >= end * NS + wait_ns * self.sample_rate

    def next(self) -> Chunk | None:
        """The next chunk if it can be released now, else None."""
        end = (self.released + 1) * self.chunk_samples
        if self.received < end:
            return None
        if not self._frames:
            if not (self.video_ended or self._waited(end, self.startup_wait_ns)):
                return None
            return self._release(None)
        upto = [i for i, f in enumerate(self._frames) if self._not_after(f, end)]
        if not upto:  # every frame is after this chunk: hold the first, as the reference clips to frame 0
            return self._release(self._frames[0])
        last = upto[-1]
        later = last + 1 < len(self._frames)
        if not (later or self.video_ended or self._waited(end, self.max_video_wait_ns)):
            return None
        del self._frames[:last]  # older frames are never held again
        return self._release(self._frames[0])

    def drain(self) -> list[Chunk]:
        out = []
        while (c := self.next()) is not None:
            out.append(c)
        return out

    def _release(self, f: _Frame | None) -> Chunk:
        active, reset = [0.0] * self.speakers, [0.0] * self.speakers
        if f is not None:
            active = [1.0 if face >= 0 else 0.0 for face in f.faces]
            reset = self._slots.update(f.faces)
        c = Chunk(self.released, -1 if f is None else f.lip, active, reset)
        self.released += 1
        return c


def regular_schedule(n_chunks: int, chunk_hops: int, hop: int, sample_rate: int, fps: float, n_frames: int) -> np.ndarray:
    """The frame each chunk holds under this rule with frames at j / fps, all
    known in advance (equal to streaming.held_lip_index: tests/test_schedule.py)."""
    sch = Scheduler(sample_rate, hop * chunk_hops, 1, max_video_wait_ns=NEVER)
    for j in range(n_frames):
        sch.frame(frame_ns(j, fps), [0])
    sch.end_of_video()
    sch.audio(n_chunks * hop * chunk_hops)
    return np.array([c.lip for c in sch.drain()], np.int64)
