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

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_write_bytes

FORMAT = "avsep-schedule-cases/1"
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


def flush_samples(received: int, chunk_samples: int, output_delay_samples: int) -> int:
    """Zeros to feed at the end of a stream of `received` samples so every real
    sample leaves the overlap-add buffer (signature.stream_chunks)."""
    total = -(-(received + output_delay_samples) // chunk_samples) * chunk_samples
    return total - received


# ---- the case table -------------------------------------------------------

SR, CHUNK, FPS, DELAY = 16000, 160, 25.0, 240


def _run(events: list, speakers: int, **kw) -> list[dict]:
    sch = Scheduler(SR, kw.pop("chunk_samples", CHUNK), speakers, **kw)
    out = []
    for e in events:
        if e[0] == "frame":
            sch.frame(e[1], e[2])
        elif e[0] == "audio":
            sch.audio(e[1])
        elif e[0] == "end_of_video":
            sch.end_of_video()
        elif e[0] == "offset":
            sch.offset_ns = e[1]
        out += [{"chunk": c.index, "lip": c.lip, "active": c.active, "reset": c.reset} for c in sch.drain()]
    return out


def _regular(n_frames: int, fps: float, speakers: int, faces=None, skip=()) -> list:
    faces = faces or (lambda j: list(range(speakers)))
    return [("frame", frame_ns(j, fps), faces(j)) for j in range(n_frames) if j not in skip]


def _timeline(frames: list, n_chunks: int, chunk: int = CHUNK, frame_delay_ns: int = 0, end_video: bool = True) -> list:
    """Interleave frames and whole-chunk audio by time; a frame arrives
    frame_delay_ns after its timestamp (its lip_step latency)."""
    ev = [((f[1] + frame_delay_ns) * SR, 0, f) for f in frames]
    ev += [((c + 1) * chunk * NS, 1, ("audio", chunk)) for c in range(n_chunks)]
    out = [e[2] for e in sorted(ev, key=lambda e: (e[0], e[1]))]
    return out + ([("end_of_video",)] if end_video else [])


def _case(name: str, note: str, events: list, speakers: int = 2, **kw) -> dict:
    params = {"sample_rate": SR, "chunk_samples": kw.get("chunk_samples", CHUNK), "speakers": speakers,
              "offset_ns": kw.get("offset_ns", 0), "max_video_wait_ns": kw.get("max_video_wait_ns", 0),
              "startup_wait_ns": kw.get("startup_wait_ns", 200_000_000)}
    ev = [{"frame": {"t_ns": e[1], "faces": list(e[2])}} if e[0] == "frame" else
          {"audio": e[1]} if e[0] == "audio" else {"offset_ns": e[1]} if e[0] == "offset" else {"end_of_video": True}
          for e in events]
    return {"name": name, "note": note, "params": params, "events": ev, "expect": _run(events, speakers, **kw)}


def _gate_case(name: str, note: str, fps: float, times: list) -> dict:
    g = FrameGate(fps)
    return {"name": name, "note": note, "lip_fps": fps, "t_ns": times, "accept": [g.accept(t) for t in times]}


def _slot_case(name: str, note: str, faces: list) -> dict:
    tracker = SlotFaces(len(faces[0]))
    return {"name": name, "note": note, "faces": faces, "reset": [tracker.update(f) for f in faces]}


def _chunking_case(name: str, buffers: list, chunk: int = CHUNK, delay: int = DELAY) -> dict:
    got, pending, counts = 0, 0, []
    for b in buffers:
        pending += b
        counts.append(pending // chunk)
        pending %= chunk
        got += b
    return {"name": name, "chunk_samples": chunk, "output_delay_samples": delay, "buffers": buffers,
            "chunks_after_each": counts, "flush_samples": flush_samples(got, chunk, delay)}


def cases() -> dict:
    """The table every core is tested against (parity_tests/data/schedule_cases.json)."""
    n = 40  # chunks of 10 ms
    reg = _regular(12, FPS, 2)
    sched = [
        _case("reference_all_frames_first", "all frames known before the audio: equals streaming.held_lip_index",
              reg + [("audio", CHUNK)] * n, max_video_wait_ns=NEVER),
        _case("live_in_time_order_wait", "frames arrive at their timestamps, the chunk waits for a later frame: equals the reference",
              _timeline(reg, n), max_video_wait_ns=NEVER),
        _case("live_late_frames_no_wait", "each frame's lip_step finishes 15 ms after its timestamp and chunks never wait: "
              "the chunks ending in those 15 ms hold the previous frame (late)", _timeline(reg, n, frame_delay_ns=15_000_000)),
        _case("live_late_frames_wait_20ms", "the same 15 ms lip_step latency, chunks wait up to 20 ms: equals the reference",
              _timeline(reg, n, frame_delay_ns=15_000_000), max_video_wait_ns=20_000_000),
        _case("startup_camera_starts_late", "first frame at 95 ms: the chunks before it wait and then hold frame 0, as the reference clips",
              _timeline([("frame", 95_000_000 + frame_ns(j, FPS), [0, 1]) for j in range(8)], 30)),
        _case("startup_timeout", "no frame for 300 ms: chunks older than startup_wait_ns go out with no frame, every slot inactive",
              _timeline([("frame", 300_000_000 + frame_ns(j, FPS), [0, 1]) for j in range(4)], 45)),
        _case("dropped_frames", "frames 3, 4 and 7 never arrive: their chunks hold the frame before",
              _timeline(_regular(12, FPS, 2, skip=(3, 4, 7)), n)),
        _case("face_leaves_and_returns", "slot 1's face (id 7) is gone in frames 4-6 and comes back: active follows the held frame, no reset",
              _timeline(_regular(12, FPS, 2, faces=lambda j: [3, -1 if 4 <= j <= 6 else 7]), n)),
        _case("slot_handed_to_new_face", "slot 0 holds face 3, then face 9 from frame 5: reset[0] on the first chunk holding frame 5",
              _timeline(_regular(12, FPS, 2, faces=lambda j: [3 if j < 5 else 9, 4]), n)),
        _case("slot_new_face_after_gap", "slot 1: face 4, empty in frames 3-5, then face 8: reset when face 8 is first held",
              _timeline(_regular(12, FPS, 2, faces=lambda j: [1, 4 if j < 3 else (-1 if j <= 5 else 8)]), n)),
        _case("av_offset_plus_40ms", "offset +40 ms: each frame counts 40 ms later on the audio clock",
              _timeline(reg, n), offset_ns=40_000_000, max_video_wait_ns=NEVER),
        _case("av_offset_minus_20ms", "offset -20 ms: each frame counts 20 ms earlier",
              _timeline(reg, n), offset_ns=-20_000_000, max_video_wait_ns=NEVER),
        _case("av_offset_changed_mid_stream", "offset set to +30 ms after 150 ms of audio",
              [e for e in _timeline(reg, 15, end_video=False)] + [("offset", 30_000_000)] +
              [("audio", CHUNK)] * (n - 15) + [("end_of_video",)], max_video_wait_ns=NEVER),
        _case("chunk_k4_30fps", "K=4 chunks (640 samples) and a 29.97 fps camera",
              _timeline(_regular(15, 29.97, 1), 12, chunk=640), speakers=1, chunk_samples=640, max_video_wait_ns=NEVER),
        _case("audio_in_odd_buffers", "audio arrives in buffers of 1000 samples (not a chunk multiple), all frames first",
              reg + [("audio", 1000)] * 6 + [("end_of_video",)], max_video_wait_ns=NEVER),
    ]
    gates = [
        _gate_case("gate_25fps_regular", "a 25 fps camera at lip_fps 25: every frame", 25.0, [frame_ns(j, 25.0) for j in range(10)]),
        _gate_case("gate_30fps_camera", "a 30 fps camera at lip_fps 25: 5 of every 6 frames", 25.0, [frame_ns(j, 30.0) for j in range(13)]),
        _gate_case("gate_jitter_and_repeats", "+-15 ms jitter, a repeated and an older timestamp", 25.0,
                   [0, 55_000_000, 80_000_000, 80_000_000, 70_000_000, 118_000_000, 175_000_000, 200_000_000]),
    ]
    slots = [
        _slot_case("slot_faces_mixed", "appear, leave, come back, handed over, two slots swap their faces",
                   [[-1, -1], [3, -1], [3, 5], [-1, 5], [3, 5], [3, 8], [8, 3], [-1, -1], [8, 3]]),
    ]
    chunking = [
        _chunking_case("buffers_1024", [1024] * 5),
        _chunking_case("buffers_mixed", [1, 159, 160, 161, 479, 4800, 7]),
        _chunking_case("buffers_k4", [441, 441, 441, 441], chunk=640, delay=240),
        _chunking_case("exact_chunks", [160, 320]),
    ]
    return {"format": FORMAT, "generated_by": "python -m avsep_mobile.schedule --write parity_tests/data/schedule_cases.json",
            "schedule": sched, "frame_gate": gates, "slot_faces": slots, "chunking": chunking}


def regular_schedule(n_chunks: int, chunk_hops: int, hop: int, sample_rate: int, fps: float, n_frames: int) -> np.ndarray:
    """The frame each chunk holds under this rule with frames at j / fps, all
    known in advance (equal to streaming.held_lip_index: tests/test_schedule.py)."""
    sch = Scheduler(sample_rate, hop * chunk_hops, 1, max_video_wait_ns=NEVER)
    for j in range(n_frames):
        sch.frame(frame_ns(j, fps), [0])
    sch.end_of_video()
    sch.audio(n_chunks * hop * chunk_hops)
    return np.array([c.lip for c in sch.drain()], np.int64)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m avsep_mobile.schedule", description="Write the scheduling case table (JSON).")
    p.add_argument("--write", metavar="PATH", help="write the table here (default: stdout)")
    a = p.parse_args(argv)
    text = json.dumps(cases(), indent=1) + "\n"
    if a.write:
        atomic_write_bytes(Path(a.write), text.encode())
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
