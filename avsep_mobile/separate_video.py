"""`avsep separate VIDEO`: a recording of people talking -> one WAV per face.

Everything streams, as an app would run it: the audio track is read block by
block, video frames are decoded as the audio clock reaches them, each frame
the lip_fps gate accepts goes through the slot tracker (faces followed by
their mesh, the face detector run only while a slot has none: MouthCropper), the
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
from pathlib import Path

from .atomic import atomic_dir
from .audio import WavWriter, open_audio
from .runtime.mouth_cropper import MouthCropper
from .runtime.scheduler import NS
from .runtime.separator import Separated, Separator
from .video import frames, probe

LIPS = ("rendered", "crops")


class _Aligned:
    """Writes released PCM on the input's timeline: output sample i is input
    sample i - delay; what lies past the input's end (the flush) is dropped."""

    def __init__(self, writers: list, delay: int):
        self.writers, self.delay, self.written = writers, delay, 0

    def write(self, out: Separated, n_in: int) -> None:
        lo, hi = max(0, self.delay - self.written), min(out.samples, self.delay + n_in - self.written)
        if hi > lo:
            for w, pcm in zip(self.writers, list(out.speakers) + [out.residual]):
                w.write(pcm[lo:hi])
        self.written += out.samples


def separate_video(separator: Separator, path, out_dir, lips: str = "rendered", progress=None, warn=None) -> dict:
    """Separate `path` into out_dir/speaker{i}.wav, residual.wav and
    summary.json (written all or nothing) through `separator` (a bundle's
    runtime, or the float model: streaming.separator); returns the summary.
    lips: "rendered" (the bridge redraws each measured mouth) or "crops"."""
    warn = warn or (lambda msg: None)
    path, out_dir = Path(path), Path(out_dir)
    if lips not in LIPS:
        raise ValueError(f"lips must be one of {', '.join(LIPS)}, got {lips!r}")
    S, sr = separator.speakers, separator.sample_rate
    info = probe(path)
    audio = open_audio(path, sr)  # refuses a file with no audio track
    warnings: list[str] = []
    if not info.has_video:
        warnings.append("no video track: separated audio only (every slot inactive, all sound in residual.wav)")
        warn(warnings[-1])
        separator.end_of_video()
    faces = MouthCropper(S, lips) if info.has_video else None
    video = iter(frames(path, info.audio_start_s)) if info.has_video else iter(())
    nxt = next(video, None)
    decoded, n_in = 0, 0
    with atomic_dir(out_dir) as tmp:
        writers = [WavWriter(tmp / f"speaker{s + 1}.wav", sr) for s in range(S)] + [WavWriter(tmp / "residual.wav", sr)]
        out = _Aligned(writers, separator.output_delay_samples)
        try:
            for block in audio.blocks(seconds=1.0):  # 1 s reads keep the progress bar moving
                n_in += len(block)
                clock = n_in / sr
                # frames up to the audio clock, and the first one after it, which settles the chunks before it
                while nxt is not None:
                    t_ns = int(round(nxt.t * NS))
                    if separator.accept(t_ns):
                        ids = faces(nxt.rgb, nxt.t)
                        separator.frame(t_ns, faces.crops, ids)
                    decoded += 1
                    past = nxt.t + separator.offset_ns / NS > clock
                    nxt = next(video, None)
                    if past:
                        break
                out.write(separator.process(block), n_in)
                if progress is not None:
                    progress(n_in / sr, audio.duration_s)
            out.write(separator.flush(), n_in)
        finally:
            for w in writers:
                w.close()
        if info.has_video and (faces is None or faces.frames_with_face == 0):
            warnings.append("no face found in the video: separated audio only (every slot inactive, all sound in residual.wav)")
            warn(warnings[-1])
        summary = _summary(path, separator, info, audio.notes, warnings, faces, lips, decoded, n_in)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _summary(path, separator: Separator, info, notes, warnings, faces: MouthCropper | None, lips: str,
             decoded: int, n_in: int) -> dict:
    """summary.json: what was found in the video and what each slot carries."""
    S, sr = separator.speakers, separator.sample_rate
    frames_used = 0 if faces is None else faces.frames_with_face + faces.frames_without_face
    return {
        "input": str(path),
        "seconds": round(n_in / sr, 3),
        "notes": list(notes),
        "warnings": warnings,
        "audio_only": bool(faces is None or faces.frames_with_face == 0),
        "lips": lips,
        "bridge": ("face-mesh mouth opening and width drive the training mouth renderer" if lips == "rendered"
                   else "real 88x88 grayscale mouth crops"),
        "chunk_hops": separator.meta["chunk_hops"],
        "max_speakers": S,
        "av_offset_ms": separator.offset_ns / 1e6,
        "video": {"has_video": info.has_video, "fps": info.fps, "width": info.width, "height": info.height,
                  "frames_decoded": decoded, "frames_used": frames_used, "lip_fps": separator.meta["lip_fps"],
                  "frames_with_face": 0 if faces is None else faces.frames_with_face,
                  "detector_runs": 0 if faces is None else faces.detector_runs,
                  "frames_without_face": 0 if faces is None else faces.frames_without_face},
        "faces": 0 if faces is None else faces.tracker.tracks_started,
        "slots": [{"slot": s + 1, "file": f"speaker{s + 1}.wav",
                   "faces": [] if faces is None else sorted(faces.slot_faces[s]),
                   "active_seconds": round(float(separator.active_chunks[s]) * separator.chunk_samples / sr, 3),
                   "active_share": round(float(separator.active_chunks[s]) / max(separator.chunks, 1), 4),
                   "resets": int(separator.resets[s])} for s in range(S)],
    }
