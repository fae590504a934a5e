"""Test vectors: a few seconds of deterministic streamed inputs and the float
PyTorch reference output of every step call, as `vectors.npz` and as raw
little-endian float32/int32 `.bin` files listed in `index.json` (for the apps).

Schedule (avsep_mobile.streaming.stream, the one replay loop): before av_step
call c, slots with reset[c] = 1 have their per-slot state reset, then lip_step
runs for every camera frame up to lip_call[c]; av_step gets the latest
lip_emb, held between camera frames.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from avsep_mobile.data.lips import render_lips
from avsep_mobile.model import AVSep
from avsep_mobile.runtime import signature
from avsep_mobile.runtime.replay import stream
from avsep_mobile.runtime.scheduler import NEVER, Scheduler, frame_ns
from avsep_mobile.streaming import TorchRunner

from .steps import torch_threads

FORMAT = "avsep-test-vectors/1"
INDEX = "index.json"
NPZ = "vectors.npz"
LAYOUT = {  # step -> (inputs, outputs)
    "lip_step": (("crops",), ("lip_emb",)),
    "av_step": (("pcm", "lip_emb", "active"), ("speakers", "residual")),
}


def speech_like(seconds: float, sample_rate: int, f0: float, syllable_hz: float, seed: int) -> np.ndarray:
    """A harmonic tone with vibrato and a syllable-rate amplitude envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = f0 * (1 + 0.06 * np.sin(2 * np.pi * 3.1 * t + rng.uniform(0, 2 * np.pi)))
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    x = sum(np.sin(h * phase) / h for h in range(1, 12) if h * f0 < sample_rate / 2.5)
    env = np.clip(np.sin(2 * np.pi * syllable_hz * t + rng.uniform(0, 2 * np.pi)), 0, None) ** 1.5
    return (x * env / np.max(np.abs(x))).astype(np.float32)


def render_crops(sources: list[np.ndarray], sample_rate: int, fps: float, n_frames: int) -> np.ndarray:
    """float32 (S, T, 88, 88) in [0, 1]: one mouth track per source, drawn by the training renderer."""
    tracks = [np.asarray(render_lips(src, sample_rate, fps, seed=i))[:n_frames] for i, src in enumerate(sources)]
    return (np.stack(tracks).astype(np.float32) / 255.0).astype(np.float32)


@torch_threads(1)
def make(model: AVSep, speakers: int, chunk_hops: int, seconds: float = 3.0, fps: float = 25.0, progress=None) -> dict[str, np.ndarray]:
    """Inputs and float reference outputs, keyed `<step>/<tensor>`, plus the
    schedule: `av_step/lip_call` and `av_step/reset` (streaming.stream)."""
    cfg = model.cfg
    sr, chunk = cfg.sample_rate, cfg.hop_length * chunk_hops
    f0s = [110.0, 205.0, 160.0, 260.0]
    sources = [speech_like(seconds, sr, f0s[i % 4] * (1 + 0.1 * (i // 4)), 3.0 + 0.7 * i, seed=i) for i in range(speakers)]
    mix = 0.5 * sum(sources) / speakers
    n_chunks, n_frames = math.ceil(len(mix) / chunk), int(round(seconds * fps))
    pcm = np.zeros(n_chunks * chunk, np.float32)
    pcm[: len(mix)] = mix
    crops = render_crops(sources, sr, fps, n_frames)  # (S, T, 88, 88)
    # the faces the camera sees, per frame and slot (-1: none): the last slot's
    # face leaves the picture, then a new face takes the slot
    faces = np.tile(np.arange(speakers), (n_frames, 1))
    if speakers > 1:
        faces[int(0.6 * n_frames) : int(0.75 * n_frames), -1] = -1
        faces[int(0.75 * n_frames) :, -1] = speakers
    # the live schedule (avsep_mobile.runtime.scheduler, the rule the apps follow) with
    # every frame known: which frame each chunk holds, active and reset per slot
    sch = Scheduler(sr, chunk, speakers, max_video_wait_ns=NEVER)
    for j in range(n_frames):
        sch.frame(frame_ns(j, fps), faces[j].tolist())
    sch.end_of_video()
    sch.audio(n_chunks * chunk)
    chunks = sch.drain()
    lip_call = np.array([c.lip for c in chunks], np.int32)
    active = np.array([c.active for c in chunks], np.float32)
    reset = np.array([c.reset for c in chunks], np.float32)
    vec = {
        "lip_step/crops": np.ascontiguousarray(crops[:, : lip_call[-1] + 1].transpose(1, 0, 2, 3)[:, :, None]),  # (frames, S, 1, 88, 88)
        "av_step/pcm": pcm.reshape(n_chunks, 1, chunk),
        "av_step/active": active,
        "av_step/lip_call": lip_call,
        "av_step/reset": reset,
    }
    sigs = {"lip_step": signature.lip_step(model, speakers), "av_step": signature.av_step(model, speakers, chunk_hops)}
    out = stream(TorchRunner(model, speakers, chunk_hops), vec, sigs, progress=progress)
    return {**vec, **{k: v.astype(np.float32) for k, v in out.items()}}


def write(vectors: dict[str, np.ndarray], out_dir) -> list[Path]:
    """vectors.npz, one .bin per tensor and index.json, under out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_dir / NPZ, **{k.replace("/", "."): a for k, a in vectors.items()})
    index: dict = {"format": FORMAT}
    paths = [out_dir / NPZ]

    def entry(key):
        a = vectors[key]
        rel = f"{key}.bin"
        (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / rel).write_bytes(np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes())
        paths.append(out_dir / rel)
        return {"file": rel, "shape": list(a.shape), "dtype": str(a.dtype)}

    for step, (ins, outs) in LAYOUT.items():
        index[step] = {
            "calls": int(vectors[f"{step}/{ins[0]}"].shape[0]),
            "inputs": {n: entry(f"{step}/{n}") for n in ins},
            "outputs": {n: entry(f"{step}/{n}") for n in outs},
        }
    index["av_step"]["lip_call"] = entry("av_step/lip_call")
    index["av_step"]["reset"] = entry("av_step/reset")
    (out_dir / INDEX).write_text(json.dumps(index, indent=2))
    return [out_dir / INDEX] + paths


def load_npz(path) -> dict[str, np.ndarray]:
    with np.load(Path(path)) as z:
        return {k.replace(".", "/"): z[k] for k in z.files}


def load_bins(vector_dir) -> dict[str, np.ndarray]:
    """Read the .bin files through index.json, as an app does."""
    vector_dir = Path(vector_dir)
    index = json.loads((vector_dir / INDEX).read_text())
    out = {}
    for step in LAYOUT:
        entries = {**index[step]["inputs"], **index[step]["outputs"]}
        if step == "av_step":
            entries.update({k: index[step][k] for k in ("lip_call", "reset") if k in index[step]})
        for name, e in entries.items():
            a = np.fromfile(vector_dir / e["file"], dtype=np.dtype(e["dtype"]).newbyteorder("<"))
            out[f"{step}/{name}"] = a.reshape(e["shape"]).astype(e["dtype"])
    return out
