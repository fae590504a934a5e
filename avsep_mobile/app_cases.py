"""The case tables the app cores are tested against, written by running the
runtime's own rules (never a second copy of them): the live schedule, frame
gate, slot faces and chunking (runtime/scheduler.py, runtime/chunker.py) and
the mouth bridge and renderer (runtime/mouth_bridge.py), face-slot tracking,
the mouth's measurements and crop (runtime/faces.py) and the camera-to-audio
clock (runtime/av_clock.py). Kotlin runs them in its unit tests, Swift's
XCTests read the same files, the web sample runs the Kotlin core on them
under node.

    python -m avsep_mobile.app_cases --schedule parity_tests/data/schedule_cases.json
    python -m avsep_mobile.app_cases --bridge parity_tests/data/bridge_cases.json
    python -m avsep_mobile.app_cases --faces parity_tests/data/face_cases.json
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

import numpy as np

from .atomic import atomic_write_bytes
from .runtime.chunker import Chunker, flush_samples
from .runtime import faces
from .runtime.av_clock import AvClock
from .runtime.faces import Mouth
from .runtime.mouth_bridge import (
    CLOSED_OPENING,
    HISTORY_FRAMES,
    MIN_OPEN_RANGE,
    SPREAD_GAIN,
    MouthBridge,
    slot_seed,
)
from .runtime.mouth_renderer import CROP, MouthRenderer
from .runtime.scheduler import NEVER, NS, FrameGate, Scheduler, SlotFaces, frame_ns

SCHEDULE_FORMAT = "avsep-schedule-cases/1"
SCHEDULE_FILE = "parity_tests/data/schedule_cases.json"
BRIDGE_FORMAT = "avsep-bridge-cases/1"
BRIDGE_FILE = "parity_tests/data/bridge_cases.json"
FACES_FORMAT = "avsep-face-cases/1"
FACES_FILE = "parity_tests/data/face_cases.json"

# ---- the schedule ---------------------------------------------------------

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
    ch = Chunker(chunk)
    counts = [len(ch.push(np.zeros(b, np.float32))) for b in buffers]
    return {"name": name, "chunk_samples": chunk, "output_delay_samples": delay, "buffers": buffers,
            "chunks_after_each": counts, "flush_samples": flush_samples(ch.received, chunk, delay)}


def schedule_cases() -> dict:
    """The schedule table every core is tested against (SCHEDULE_FILE)."""
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
        _chunking_case("buffers_hop20", [441, 160, 1024, 7], chunk=320, delay=320),  # the default's 20 ms hop, one hop a chunk
    ]
    return {"format": SCHEDULE_FORMAT, "generated_by": f"python -m avsep_mobile.app_cases --schedule {SCHEDULE_FILE}",
            "schedule": sched, "frame_gate": gates, "slot_faces": slots, "chunking": chunking}


# ---- the mouth bridge -----------------------------------------------------

# (opening, spread, t): closed, half open and rounded, wide open at both shape
# extremes, and an hour in (head motion is a function of t)
_FRAME_POINTS = [(0.0, 0.5, 0.0), (0.4, 0.2, 0.04), (1.0, 0.0, 1.52), (0.85, 1.0, 3600.0)]


def _measurements(rng: np.random.Generator, n: int, still: bool = False) -> list[list[float]]:
    """n frames of (gap, width, eye_span) in pixels: talking, or a still mouth with landmark jitter."""
    gap = rng.uniform(0.2, 0.4, n) if still else np.abs(rng.normal(6.0, 6.0, n))
    width = 50.0 * (1 + 0.08 * rng.standard_normal(n))
    return np.stack([gap, width, 80.0 + rng.normal(0, 1.0, n)], 1).tolist()


def bridge_cases() -> dict:
    """What every app core is tested against: landmark measurements -> (opening,
    spread), and renderer params + (opening, spread, t) -> 88 x 88 pixels
    (row-major uint8, base64)."""
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
    return {"format": BRIDGE_FORMAT, "generated_by": f"python -m avsep_mobile.app_cases --bridge {BRIDGE_FILE}",
            "crop_size": CROP, "min_open_range": MIN_OPEN_RANGE, "spread_gain": SPREAD_GAIN, "closed_opening": CLOSED_OPENING,
            "features": features, "frames": frames}


# ---- face slots, the mouth crop, the camera clock ----------------------------

TRACK_FPS = 25.0  # the tracker sees the frames the lip_fps gate accepts


def _box(cx: float, cy: float, size: float) -> faces.Face:
    return faces.Face(cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2, 1.0, np.zeros((6, 2)))


def _tracking_case(name: str, note: str, frames: list, slots: int = 2) -> dict:
    """frames: per frame (detections, slots whose mesh fails this frame). Runs faces.SlotTracker as
    runtime/mouth_cropper.py does (a slot shows its track id only when its face is measured, and keeps
    its last crop otherwise) and the schedule's SlotFaces on the ids that come out."""
    tracker, resets = faces.SlotTracker(slots), SlotFaces(slots)
    crop_frame = [-1] * slots
    rows, expect = [], []
    for k, (dets, unmeasured) in enumerate(frames):
        t = k / TRACK_FPS
        found, new = tracker.update(dets, t)
        face_of = [next(j for j, d in enumerate(dets) if d is f) if f is not None else -1 for f in found]
        ids = [-1] * slots
        for s in range(slots):
            if found[s] is not None and s not in unmeasured:
                ids[s], crop_frame[s] = tracker.slots[s].id, k
        rows.append({"t": t, "faces": [[d.x0, d.y0, d.x1, d.y1] for d in dets], "unmeasured": sorted(unmeasured)})
        expect.append({"face_of": face_of, "started": list(new), "track_ids": [tr.id if tr else -1 for tr in tracker.slots],
                       "face_ids": ids, "crop_frame": list(crop_frame), "reset": resets.update(ids)})
    return {"name": name, "note": note, "slots": slots, "frames": rows, "expect": expect}


def _tracking_cases() -> list[dict]:
    a, b, c = (160.0, 200.0, 90.0), (460.0, 210.0, 80.0), (620.0, 180.0, 70.0)  # (cx, cy, size): three people
    gone = lambda k, lo, hi: lo <= k < hi  # noqa: E731
    return [
        _tracking_case("missing_under_grace", "one face gone for 11 frames (back 0.48 s after it was last seen, under the "
                       "reference's 0.5 s): same slot, same track id, no reset; its crop is held and its id is -1 while it is gone",
                       [([] if gone(k, 5, 16) else [_box(a[0] + 2 * k, a[1], a[2])], ()) for k in range(22)]),
        _tracking_case("missing_over_grace", "one face gone for 14 frames (back 0.6 s after it was last seen): the track expires, "
                       "it comes back as a new track (reset)",
                       [([] if gone(k, 5, 19) else [_box(*a)], ()) for k in range(24)]),
        _tracking_case("arrive_together_left_to_right", "two faces appear in one frame, the right one listed first: the left takes slot 0",
                       [([], ())] + [([_box(*b), _box(*a)], ()) for _ in range(4)]),
        _tracking_case("more_faces_than_slots", "three faces, two slots: the third is ignored until a slot frees",
                       [([_box(*a), _box(*b), _box(*c)], ()) for _ in range(3)] +
                       [([_box(*b), _box(*c)], ()) for _ in range(16)]),
        _tracking_case("handed_over", "face a leaves, face c arrives while a's track is kept: c waits; after the grace period slot 0 "
                       "is handed to c (a new track: reset)",
                       [([_box(*a), _box(*b)], ()) for _ in range(3)] + [([_box(*b), _box(*c)], ()) for _ in range(16)]),
        _tracking_case("mesh_fails", "the face is found but cannot be measured for 4 frames: the track is kept, the slot shows -1 "
                       "and holds its last crop",
                       [([_box(*a), _box(*b)], {0} if gone(k, 3, 7) else ()) for k in range(10)]),
        _tracking_case("moving_and_jumping", "a face moving 20 % of its size a frame stays one track; a jump to the far side "
                       "(no overlap, centre far) is a new face in the free slot",
                       [([_box(100.0 + 18 * k, 200.0, 90.0)], ()) for k in range(8)] + [([_box(600.0, 200.0, 90.0)], ()) for _ in range(3)]),
    ]


def _landmarks(points) -> np.ndarray:
    """A 468-point mesh holding only the six points faces.mouth reads."""
    lm = np.zeros((468, 3))
    for idx, xy in zip([*faces.MOUTH_CORNERS, faces.UPPER_INNER_LIP, faces.LOWER_INNER_LIP, *faces.OUTER_EYE_CORNERS], points):
        lm[idx, :2] = xy
    return lm


def _mouth_points(cx: float, cy: float, width: float, gap: float, roll: float, swap: bool = False) -> list:
    """Corners, upper and lower inner lip, outer eye corners of a face rolled by `roll` (radians)."""
    c, s = np.cos(roll), np.sin(roll)
    turn = lambda x, y: [cx + c * x - s * y, cy + s * x + c * y]  # noqa: E731
    corners = [turn(-width / 2, 0.0), turn(width / 2, 0.3)]
    pts = corners[::-1] if swap else corners
    return pts + [turn(1.0, -gap / 2), turn(-0.5, gap / 2), turn(-1.3 * width, -1.4 * width), turn(1.3 * width, -1.4 * width)]


def _frame(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A smooth colour pattern with noise, so every bilinear weight shows in the crop."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([128 + 100 * np.sin(xx / 7.0), 128 + 90 * np.cos(yy / 5.0), (xx * 3 + yy * 2) % 256], -1)
    return np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


def _mouth_cases(rng: np.random.Generator) -> tuple[list, list]:
    shapes = {"level": (60.0, 50.0, 26.0, 9.0, 0.0, False), "rolled_left": (64.0, 44.0, 30.0, 3.0, 0.4, False),
              "rolled_right_corners_swapped": (55.0, 52.0, 22.0, 12.0, -1.2, True),
              "at_the_frame_edge": (4.0, 66.0, 34.0, 8.0, 0.1, False), "width_under_a_pixel": (40.0, 40.0, 0.6, 0.2, 0.0, False)}
    with_pixels = {"level", "rolled_right_corners_swapped", "at_the_frame_edge"}
    mouths, crops = [], []
    w, h = 96, 72
    for name, (cx, cy, width, gap, roll, swap) in shapes.items():
        pts = _mouth_points(cx, cy, width, gap, roll, swap)
        m = faces.mouth(_landmarks(pts))
        side = max(m.width, 1.0) / faces.MOUTH_WIDTH_SHARE
        rgb = _frame(rng, w, h)
        _, transform = faces._affine_crop(rgb, m.centre, side, m.angle, CROP, mode="L")
        flat = [float(v) for xy in pts for v in xy]
        mouths.append({"name": name, "points": flat, "size": CROP,
                       "expect": {"centre": [float(v) for v in m.centre], "width": m.width, "gap": m.gap, "eye_span": m.eye_span,
                                  "angle": m.angle, "transform": [float(v) for v in transform.reshape(-1)]}})
        if name not in with_pixels:
            continue
        # the transform as Python computed it: a core's own cos/sin may differ in the last bit, which can move a
        # pixel that sits on a grey-level boundary; with this one its sampler must match PIL exactly
        crops.append({"name": name, "width": w, "height": h, "rgb": base64.b64encode(rgb.tobytes()).decode(), "points": flat,
                      "size": CROP, "transform": [float(v) for v in transform.reshape(-1)],
                      "pixels": base64.b64encode(faces.mouth_crop(rgb, m, CROP).tobytes()).decode()})
    return mouths, crops


def _clock_case(name: str, note: str, sample_rate: int, events: list) -> dict:
    clock, out = AvClock(sample_rate), []
    for kind, args in events:
        if kind == "frame":
            out.append({"frame": args, "audio_ns": clock.to_audio_ns(args["camera_ns"], args["timebase"], args["boot_minus_uptime_ns"])})
        else:
            out.append({kind: args, "anchored": getattr(clock, kind)(**args)})
    return {"name": name, "note": note, "sample_rate": sample_rate, "events": out}


def _clock_cases() -> list[dict]:
    day = 86_400 * NS  # boot time after a day awake
    sleep = 3 * 3600 * NS  # of which three hours in deep sleep: uptime is that much behind
    frame = lambda ns, tb, bmu=0: ("frame", {"camera_ns": ns, "timebase": tb, "boot_minus_uptime_ns": bmu})  # noqa: E731
    return [
        _clock_case("captured_stamp_realtime_camera", "AudioRecord stamped frame 4800 at boot time; a REALTIME camera's frames",
                    16000, [frame(day, "BOOT"), ("captured", {"position": 4800, "stamp_ns": day + 250_000_000, "input_latency_ns": 0}),
                            frame(day + 40_000_000, "BOOT"), frame(day + 300_000_000, "BOOT"),
                            ("read", {"frames_read": 160, "now_ns": day + 999 * NS, "input_latency_ns": 0})]),
        _clock_case("uptime_camera_after_deep_sleep", "a front camera with timestamp source UNKNOWN (uptime) after 3 h of deep sleep: "
                    "boot - uptime, read at the frame, puts it on the audio clock", 16000,
                    [("captured", {"position": 0, "stamp_ns": day, "input_latency_ns": 0}),
                     frame(day - sleep + 40_000_000, "UPTIME", sleep), frame(day - sleep + 80_000_000, "UPTIME", sleep + 1_000)]),
        _clock_case("read_fallback_counts_input_latency", "no capture stamp: the first read of 480 samples returned at now; the "
                    "last of them entered the microphone 12 ms before", 16000,
                    [("read", {"frames_read": 480, "now_ns": day + 500_000_000, "input_latency_ns": 12_000_000}),
                     frame(day + 500_000_000, "BOOT"), frame(day + 460_000_000, "BOOT")]),
        _clock_case("ios_sink_host_time", "AVAudioSinkNode at 48 kHz: the first buffer's host time less AVAudioSession.inputLatency; "
                    "frames on the host clock", 48000,
                    [("captured", {"position": 0, "stamp_ns": 5_000 * NS + 7, "input_latency_ns": 2_500_000}),
                     frame(5_000 * NS + 33_366_667, "HOST"), frame(4_999 * NS, "HOST")]),
        _clock_case("odd_rate_floor", "44.1 kHz: a position that is no whole number of ns rounds down, as integer division",
                    44100, [("captured", {"position": 1, "stamp_ns": 1_000_000, "input_latency_ns": 0}), frame(1_000_000, "BOOT")]),
    ]


def face_cases() -> dict:
    """What every app core's face slots, mouth crop and camera clock are tested against (FACES_FILE)."""
    mouths, crops = _mouth_cases(np.random.default_rng(25))
    return {"format": FACES_FORMAT, "generated_by": f"python -m avsep_mobile.app_cases --faces {FACES_FILE}",
            "constants": {"track_iou": faces.TRACK_IOU, "track_centre": faces.TRACK_CENTRE, "track_grace_s": faces.TRACK_GRACE_S,
                          "mouth_width_share": faces.MOUTH_WIDTH_SHARE},
            "tracking": _tracking_cases(), "mouths": mouths, "crops": crops, "clock": _clock_cases()}


TABLES = {"schedule": schedule_cases, "bridge": bridge_cases, "faces": face_cases}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m avsep_mobile.app_cases", description="Write the app cores' case tables (JSON).")
    for name in TABLES:
        p.add_argument(f"--{name}", metavar="PATH", help=f"write the {name} table here ('-': stdout)")
    a = p.parse_args(argv)
    todo = {name: getattr(a, name) for name in TABLES if getattr(a, name)}
    if not todo:
        p.error("name at least one table to write")
    for name, path in todo.items():
        text = json.dumps(TABLES[name](), indent=1) + "\n"
        if path == "-":
            sys.stdout.write(text)
        else:
            atomic_write_bytes(Path(path), text.encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
