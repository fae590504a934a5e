"""`avsep separate VIDEO`: a recording of people talking -> one WAV per face.

Everything streams, as an app would run it: the audio track is read block by
block, video frames are decoded as the audio clock reaches them, each frame
the lip_fps gate accepts goes through the slot tracker (faces followed by
their mesh, the face detector run only while a slot has none: _Faces), the
face mesh and the mouth bridge into lip_step, and the live schedule
(avsep_mobile.runtime.scheduler) decides which lip embedding, `active` and `reset` each
av_step chunk gets. Outputs are written as they come, so memory stays flat
for an hour-long file.

Per slot: a face that leaves makes the slot inactive (its output goes quiet,
its speech returns to the residual); a new face taking the slot zeroes the
slot's per-slot state (lip_step's at its first frame, av_step's at its first
chunk); a file with no video track or no face at all is separated with every
slot inactive (audio only) and says so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_dir
from .audio import WavWriter, open_audio
from .runtime import signature
from .runtime.faces import (
    Face,
    FaceDetector,
    FaceMesh,
    SlotTracker,
    face_from_landmarks,
    mouth,
)
from .runtime.mouth_bridge import MouthBridge, slot_seed
from .runtime.chunker import flush_samples
from .runtime.scheduler import NEVER, NS, FrameGate, Scheduler
from .streaming import Streamer
from .video import frames, probe

LIP_FPS = 25.0  # the camera rate the shipped model was trained at (signature.metadata's lip_fps)


@dataclass(frozen=True)
class Options:
    chunk_hops: int = 1
    max_speakers: int = 2
    av_offset_ms: float = 0.0  # the schedule's offset: added to frame times (positive: camera clock early)
    lips: str = "rendered"  # or "crops"


class _Faces:
    """Accepted frames -> per-slot crops and face ids, with lip_step resets.

    As in MediaPipe's face mesh pipeline, a face is followed by its own mesh:
    each slot's next box comes from its last landmarks, and the detector
    (several tiles on a wide frame, the costliest model here) runs only on
    frames where some slot has no such box: a free slot, or a face whose mesh
    failed. A new face that can take a slot is still found at its first frame."""

    def __init__(self, slots: int, mode: str):
        self.det, self.mesh = FaceDetector(), FaceMesh()
        self.tracker = SlotTracker(slots)
        self.bridges = [MouthBridge(mode, seed=slot_seed(s)) for s in range(slots)]
        self.crops = np.zeros((slots, 1, 88, 88), np.float32)  # held while a slot is empty
        self.followed: list[Face | None] = [None] * slots  # each slot's box from its last mesh
        self.frames_with_face = self.frames_without_face = self.detector_runs = 0
        self.slot_faces: list[set] = [set() for _ in range(slots)]

    def __call__(self, rgb: np.ndarray, t: float) -> tuple[list[int], list[int]]:
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
        return ids, new


def separate_video(model, path, out_dir, opts: Options = Options(), progress=None, warn=None) -> dict:
    """Separate `path` into out_dir/speaker{i}.wav, residual.wav and
    summary.json (written all or nothing); returns the summary."""
    warn = warn or (lambda msg: None)
    cfg, path, out_dir = model.cfg, Path(path), Path(out_dir)
    if opts.max_speakers < 1:
        raise ValueError(f"--max-speakers must be at least 1, got {opts.max_speakers}")
    if opts.chunk_hops < 1:
        raise ValueError(f"--chunk-hops must be at least 1, got {opts.chunk_hops}")
    if not math.isfinite(opts.av_offset_ms) or abs(opts.av_offset_ms) > 10_000:
        raise ValueError(f"--av-offset-ms must be within +-10000, got {opts.av_offset_ms}")
    info = probe(path)
    audio = open_audio(path, cfg.sample_rate)  # refuses a file with no audio track
    warnings: list[str] = []
    if not info.has_video:
        warnings.append("no video track: separated audio only (every slot inactive, all sound in residual.wav)")
        warn(warnings[-1])
    S, sr = opts.max_speakers, cfg.sample_rate
    st = Streamer(model, S, opts.chunk_hops)
    chunk, delay = st.chunk_samples, signature.output_delay_samples(cfg)
    sch = Scheduler(sr, chunk, S, offset_ns=int(round(opts.av_offset_ms * 1e6)), max_video_wait_ns=NEVER)
    faces = _Faces(S, opts.lips) if info.has_video else None
    gate = FrameGate(LIP_FPS)
    video = iter(frames(path, info.audio_start_s)) if info.has_video else iter(())
    nxt = next(video, None)
    embs: dict[int, np.ndarray] = {}
    decoded = 0

    def take_frame(f) -> None:
        t_ns = int(round(f.t * NS))
        if not gate.accept(t_ns):
            return
        ids, new = faces(f.rgb, f.t)
        for s in new:
            st.reset_slot(s, "lip_step")
        embs[sch.frame(t_ns, ids)] = st.lip(faces.crops)

    active_chunks, resets, n_chunks = np.zeros(S, np.int64), np.zeros(S, np.int64), 0
    pcm = np.zeros(0, np.float32)  # audio received but not yet run
    zero_emb = np.zeros((S, cfg.d_model), np.float32)
    written, n_in = 0, 0

    def run_chunks(writers) -> None:
        nonlocal pcm, written, n_chunks
        for c in sch.drain():
            x, pcm = pcm[:chunk], pcm[chunk:]
            for s in np.flatnonzero(c.reset):
                st.reset_slot(int(s), "av_step")
            resets[:] += np.asarray(c.reset, np.int64)
            active = np.asarray(c.active, np.float32)
            active_chunks[:] += active.astype(np.int64)
            emb = embs[c.lip] if c.lip >= 0 else zero_emb
            for k in [k for k in embs if k < c.lip]:  # older embeddings are never held again
                del embs[k]
            spk, res = st.av(x[None], emb, active)
            n_chunks += 1
            # output sample i is input sample i - delay; keep input samples [0, n_in)
            lo, hi = max(0, delay - written), min(chunk, delay + n_in - written)
            if hi > lo:
                for s in range(S):
                    writers[s].write(spk[s, lo:hi])
                writers[S].write(res[0, lo:hi])
            written += chunk

    with atomic_dir(out_dir) as tmp:
        writers = [WavWriter(tmp / f"speaker{s + 1}.wav", sr) for s in range(S)] + [WavWriter(tmp / "residual.wav", sr)]
        try:
            for block in audio.blocks(seconds=1.0):  # 1 s reads keep the progress bar moving
                pcm = np.concatenate([pcm, block])
                n_in += len(block)
                sch.audio(len(block))
                clock = n_in / sr
                # frames up to the audio clock, and the first one after it, which settles the chunks before it
                while nxt is not None:
                    take_frame(nxt)
                    decoded += 1
                    past = nxt.t + opts.av_offset_ms / 1000 > clock
                    nxt = next(video, None)
                    if past:
                        break
                run_chunks(writers)
                if progress is not None:
                    progress(n_in / sr, audio.duration_s)
            tail = flush_samples(n_in, chunk, delay)
            pcm = np.concatenate([pcm, np.zeros(tail, np.float32)])
            sch.audio(tail)
            sch.end_of_video()
            run_chunks(writers)
        finally:
            for w in writers:
                w.close()
        seconds = n_in / sr
        frames_used = 0 if faces is None else faces.frames_with_face + faces.frames_without_face
        if info.has_video and (faces is None or faces.frames_with_face == 0):
            warnings.append("no face found in the video: separated audio only (every slot inactive, all sound in residual.wav)")
            warn(warnings[-1])
        summary = {
            "input": str(path),
            "seconds": round(seconds, 3),
            "notes": list(audio.notes),
            "warnings": warnings,
            "audio_only": bool(faces is None or faces.frames_with_face == 0),
            "lips": opts.lips,
            "bridge": ("face-mesh mouth opening and width drive the training mouth renderer" if opts.lips == "rendered"
                       else "real 88x88 grayscale mouth crops"),
            "chunk_hops": opts.chunk_hops,
            "max_speakers": S,
            "av_offset_ms": opts.av_offset_ms,
            "video": {"has_video": info.has_video, "fps": info.fps, "width": info.width, "height": info.height,
                      "frames_decoded": decoded, "frames_used": frames_used, "lip_fps": LIP_FPS,
                      "frames_with_face": 0 if faces is None else faces.frames_with_face,
                      "detector_runs": 0 if faces is None else faces.detector_runs,
                      "frames_without_face": 0 if faces is None else faces.frames_without_face},
            "faces": 0 if faces is None else faces.tracker.tracks_started,
            "slots": [{"slot": s + 1, "file": f"speaker{s + 1}.wav",
                       "faces": [] if faces is None else sorted(faces.slot_faces[s]),
                       "active_seconds": round(float(active_chunks[s]) * chunk / sr, 3),
                       "active_share": round(float(active_chunks[s]) / max(n_chunks, 1), 4),
                       "resets": int(resets[s])} for s in range(S)],
        }
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
