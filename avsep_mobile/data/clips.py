"""A user's own talking-face recordings as training data: `avsep data import
DIR` makes an index of them, `avsep train --data INDEX` mixes them on the fly.

Import: every video under DIR (any container PyAV reads) is one speaker's
clip. Its audio is the clip's own track, or a clean recording beside it with
the same stem (CLIP.wav / CLIP.flac), at 16 kHz. Its mouth track is made
exactly as `avsep separate VIDEO` makes one: frames on the audio clock, the
lip_fps gate, then MouthCropper (face detector, face mesh, the mouth bridge;
rendered mouths by default, real crops with --lips crops), held onto a
LIP_FPS grid as the live schedule holds the latest frame. Layout:

    INDEX/index.json       format, lips mode, the clips (id, source, speaker,
                           seconds, share of frames with a face) and the
                           clips skipped with their reason
    INDEX/clips/<id>.npz   audio int16 (n,) at 16 kHz, lips uint8 (T, 88, 88), fps
    INDEX/clips/<id>.skip  why a clip was skipped (so it is not tried again)

<id> hashes what decides the result (the source path, size and mtime, the
clean audio's, the lips mode, PIPELINE_VERSION): a second run, or one after
an interruption, reuses every clip already done. Each file is written
atomically, so a stopped import leaves nothing half-written.

A clip's speaker is its first folder under DIR (LRS3: DIR/<speaker>/<clip>.mp4),
or the clip itself when it sits at the top. Training mixes 2 (or 3) clips
of distinct speakers: each clip's audio is a target and its mouth track
that target's cue (the standard recipe on LRS3 and VoxCeleb2).
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_write_bytes
from ..audio import AudioError, read_audio
from ..lips_file import video_frames
from ..runtime.mouth_renderer import CROP
from ..video import VIDEO_SUFFIXES, VideoError, frames, probe
from .mixtures import TRAIN_SEED_LIMIT, _active_rms, _noise

FORMAT = "avsep-clip-index/1"
PIPELINE_VERSION = 1  # bump when the audio or mouth pipeline changes, so old clips are made again
SAMPLE_RATE = 16000
LIP_FPS = 25.0  # the rate the model's lip_step runs at (separate_video, signature.metadata)
MIN_FACE_SHARE = 0.8  # of the gated frames; fewer and the clip's cue is mostly a held crop
MIN_SECONDS = 1.0
CLEAN_SUFFIXES = (".wav", ".flac")
LIPS = ("rendered", "crops")


def find_clips(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def clean_audio_for(clip: Path) -> Path | None:
    return next((p for p in (clip.with_suffix(s) for s in CLEAN_SUFFIXES) if p.is_file()), None)


def speaker_of(rel: Path) -> str:
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def clip_id(root: Path, clip: Path, lips: str) -> str:
    """A hash of everything that decides the clip's entry."""
    parts = [str(clip.relative_to(root)), lips, PIPELINE_VERSION]
    for p in (clip, clean_audio_for(clip)):
        if p is not None:
            st = p.stat()
            parts += [p.name, st.st_size, st.st_mtime_ns]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:20]


class ClipError(ValueError):
    """Why a clip cannot be used; the message is the reason the index lists."""


def mouth_track(path: Path, n_samples: int, lips: str, audio_start_s: float) -> tuple[np.ndarray, float]:
    """uint8 (T, 88, 88) on the LIP_FPS grid for n_samples of audio, and the
    share of gated frames that had a face."""
    from ..runtime.mouth_cropper import MouthCropper
    from ..runtime.scheduler import NS, FrameGate

    gate, cropper = FrameGate(LIP_FPS), MouthCropper(1, lips)
    times, crops = [], []
    for f in frames(path, audio_start_s):
        if not gate.accept(int(round(f.t * NS))):
            continue
        cropper(f.rgb, f.t)
        times.append(f.t)
        crops.append(np.round(cropper.crops[0, 0] * 255).astype(np.uint8))
    if not crops:
        raise ClipError("no video frames")
    seen = cropper.frames_with_face / max(cropper.frames_with_face + cropper.frames_without_face, 1)
    grid = np.arange(video_frames(n_samples, LIP_FPS, SAMPLE_RATE)) / LIP_FPS
    # each grid frame shows the latest camera frame at or before it (half a frame of slack for rounding)
    idx = np.clip(np.searchsorted(np.array(times), grid + 0.5 / LIP_FPS, side="right") - 1, 0, len(crops) - 1)
    return np.stack(crops)[idx], seen


def import_clip(root: Path, clip: Path, lips: str) -> dict:
    """One clip -> {"audio": int16, "lips": uint8, "face_share"}; ClipError for a clip that cannot be used."""
    try:
        info = probe(clip)
        clean = clean_audio_for(clip)
        if not info.has_video:
            raise ClipError("no video track")
        if clean is None and not info.has_audio:
            raise ClipError("no audio track and no clean audio beside it (CLIP.wav)")
        audio, _ = read_audio(clean if clean is not None else clip, SAMPLE_RATE)
        if len(audio) < MIN_SECONDS * SAMPLE_RATE:
            raise ClipError(f"{len(audio) / SAMPLE_RATE:.2f} s of audio, shorter than {MIN_SECONDS:g} s")
        track, seen = mouth_track(clip, len(audio), lips, info.audio_start_s)
    except (VideoError, AudioError) as e:
        raise ClipError(str(e).replace(f"{clip}: ", "")) from None
    if seen < MIN_FACE_SHARE:
        raise ClipError(f"no usable face: a face in {100 * seen:.0f}% of frames (needs {100 * MIN_FACE_SHARE:.0f}%)")
    pcm = np.round(np.clip(audio, -1, 1) * 32767).astype(np.int16)
    return {"audio": pcm, "lips": track, "face_share": seen}


def import_dir(root, out, lips: str = "rendered", progress=None) -> dict:
    """Index every clip under root into out (see the module docstring); returns the summary."""
    root, out = Path(root), Path(out)
    if lips not in LIPS:
        raise ValueError(f"--lips must be one of {', '.join(LIPS)}, got {lips!r}")
    if not root.is_dir():
        raise ValueError(f"{root} is not a directory: pass a folder of talking-face clips")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file: pass a directory for the index")
    if out.resolve().is_relative_to(root.resolve()):
        raise ValueError(f"--out {out} is inside {root}: put the index elsewhere")
    found = find_clips(root)
    if not found:
        raise ValueError(f"{root} holds no video files ({', '.join(VIDEO_SUFFIXES)})")
    entries, skipped, made, cached = [], [], 0, 0
    for k, clip in enumerate(found):
        rel = clip.relative_to(root)
        cid = clip_id(root, clip, lips)
        npz, skip = out / "clips" / f"{cid}.npz", out / "clips" / f"{cid}.skip"
        if npz.is_file() or skip.is_file():
            cached += 1
        else:
            made += 1
            try:
                c = import_clip(root, clip, lips)
            except ClipError as e:
                atomic_write_bytes(skip, str(e).encode())
            else:
                buf = io.BytesIO()
                np.savez(buf, audio=c["audio"], lips=c["lips"], fps=np.float64(LIP_FPS), face_share=np.float64(c["face_share"]))
                atomic_write_bytes(npz, buf.getvalue())
        if skip.is_file():
            skipped.append({"source": str(rel), "reason": skip.read_text()})
        else:
            with np.load(npz) as z:
                n, share = len(z["audio"]), float(z["face_share"])
            entries.append({"id": cid, "source": str(rel), "speaker": speaker_of(rel), "seconds": round(n / SAMPLE_RATE, 3),
                            "face_share": round(share, 4)})
        if progress is not None:
            progress(k + 1, len(found))
    index = {"format": FORMAT, "root": str(root.resolve()), "lips": lips, "sample_rate": SAMPLE_RATE, "fps": LIP_FPS,
             "clips": entries, "skipped": skipped}
    atomic_write_bytes(out / "index.json", (json.dumps(index, indent=1) + "\n").encode())
    return {"index": str(out / "index.json"), "clips": len(entries), "speakers": len({e["speaker"] for e in entries}),
            "hours": round(sum(e["seconds"] for e in entries) / 3600, 4), "made": made, "cached": cached,
            "skipped": skipped}


# ---------------------------------------------------------------- training


class ClipIndex:
    """An imported index: clips (audio float32, lips uint8) grouped by speaker, loaded lazily."""

    def __init__(self, path):
        path = Path(path)
        index_file = path / "index.json" if path.is_dir() else path
        if not index_file.is_file():
            raise ValueError(f"{path}: no index.json: make one with `avsep data import DIR --out {path}`")
        meta = json.loads(index_file.read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{index_file}: not an avsep clip index ({meta.get('format')!r}): make one with `avsep data import`")
        self.dir, self.clips = index_file.parent, meta["clips"]
        self.speakers = sorted({c["speaker"] for c in self.clips})
        if len(self.speakers) < 2:
            raise ValueError(f"{index_file}: clips of {len(self.speakers)} speaker(s); mixing needs at least 2")
        self.fps = float(meta["fps"])
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        cid = self.clips[i]["id"]
        if cid not in self._cache:
            with np.load(self.dir / "clips" / f"{cid}.npz") as z:
                self._cache[cid] = ((z["audio"] / 32767).astype(np.float32), z["lips"])
        return self._cache[cid]


def mix_clips(index: ClipIndex, seed: int, speakers: int = 2, seconds: float = 2.5) -> dict:
    """A training mixture of `speakers` clips of distinct speakers: each
    clip's audio (a random stretch starting on a frame) is a target, its
    mouth track the cue; levels, noise and gain drawn as data.mixtures draws them."""
    rng = np.random.default_rng([seed, 0xc11b])
    names = rng.choice(index.speakers, size=min(speakers, len(index.speakers)), replace=False)
    n, n_frames = int(round(seconds * SAMPLE_RATE)), video_frames(int(round(seconds * SAMPLE_RATE)), index.fps, SAMPLE_RATE)
    hop = SAMPLE_RATE / index.fps  # samples per frame
    sources, lips = np.zeros((len(names), n), np.float32), np.zeros((len(names), n_frames, CROP, CROP), np.uint8)
    for s, name in enumerate(names):
        pick = [i for i, c in enumerate(index.clips) if c["speaker"] == name]
        audio, track = index.load(pick[rng.integers(len(pick))])
        start = int(rng.integers(0, max(len(track) - n_frames, 0) + 1))  # whole frames keep sound and mouth in step
        a = audio[int(round(start * hop)) : int(round(start * hop)) + n]
        sources[s, : len(a)] = a
        part = track[start : start + n_frames]
        lips[s, : len(part)] = part
        lips[s, len(part):] = part[-1]  # past the clip's end: a still mouth over silence
    rms = np.array([_active_rms(x) for x in sources])
    sources *= (10 ** (rng.uniform(-5, 5, len(names)) / 20) / np.maximum(rms, 1e-6))[:, None] * 0.1
    noise = np.zeros(n, np.float32)
    if rng.random() < 0.5:
        noise = _noise(rng, n) * _active_rms(sources.sum(0)) * 10 ** (-rng.uniform(10, 30) / 20)
    gain = 10 ** (rng.uniform(-12, 6) / 20)
    sources, noise = sources * gain, noise * gain
    mix = sources.sum(0) + noise
    peak = max(np.abs(mix).max(), np.abs(sources).max())
    if peak > 0.99:
        sources, mix = sources * (0.99 / peak), mix * (0.99 / peak)
    return {"mix": torch.from_numpy(mix.astype(np.float32)), "sources": torch.from_numpy(sources.astype(np.float32)),
            "lips": torch.from_numpy(lips), "fps": index.fps}


class ClipMixtureStream(torch.utils.data.IterableDataset):
    """Endless mixtures of imported clips, seeds as MixtureStream draws them
    (rank r of W, worker w of K: base_seed + (k*K + w)*W + r, below TRAIN_SEED_LIMIT)."""

    def __init__(self, index_path, seconds: float = 2.5, speakers: int = 2, base_seed: int = 0, rank: int = 0,
                 world_size: int = 1):
        super().__init__()
        self.index_path, self.seconds, self.speakers = index_path, seconds, speakers
        self.base_seed, self.rank, self.world_size = base_seed, rank, world_size
        ClipIndex(index_path)  # refuse a bad index here, not inside a loader worker

    def __iter__(self):
        index = ClipIndex(self.index_path)
        info = torch.utils.data.get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        k = 0
        while True:
            seed = (self.base_seed + (k * workers + worker) * self.world_size + self.rank) % TRAIN_SEED_LIMIT
            yield mix_clips(index, seed, self.speakers, self.seconds)
            k += 1
