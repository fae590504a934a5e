"""PCM and camera frames in, separated PCM out, block by block: the streaming
engine an app wraps (Kotlin: StreamCore.kt behind Separator.kt; Swift:
StreamCore.swift behind Separator.swift), around any runner.

    >>> sep = Separator.open("dist/android")            # checks the manifest first
    >>> if sep.accept(t_ns):                            # a camera frame on the audio clock
    ...     sep.frame(t_ns, crops, faces)               # crops (S, 1, 88, 88) in [0, 1]; faces[s]: id or -1
    >>> out = sep.process(block)                        # any number of samples
    >>> out = sep.flush()                               # end of stream: the rest and the flush

What it owns, each rule from its own module: state binding and per-slot
reset (step_state), the lip_fps frame gate and the A/V schedule (scheduler:
which frame's embedding, `active` and `reset` each chunk gets), chunking and
the flush (chunker). Outputs come as they are released: each slot's PCM and
the residual, the input delayed by `output_delay_samples`.

`separate_lips` is the offline use: a whole recording with lip tracks at a
regular frame rate, replayed through the same steps (replay.stream).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import manifest as bundle_manifest
from .chunker import Chunker, flush_samples
from .replay import stream, stream_inputs, stream_pcm
from .runners import for_bundle
from .scheduler import NEVER, FrameGate, Scheduler, SlotFaces
from .step_state import StepState, reset_runner_slot


@dataclass
class Separated:
    """The released chunks of one call: speakers (S, n) and residual (n,)."""

    speakers: np.ndarray
    residual: np.ndarray

    @property
    def samples(self) -> int:
        return len(self.residual)


class Separator:
    def __init__(self, runner, signatures: dict, meta: dict, offset_ns: int = 0, max_video_wait_ns: int = NEVER):
        """runner: runs lip_step and av_step by name (runners.py, or the float
        torch runner); signatures: {step: StepSignature or its JSON}; meta: the
        manifest's scalars (signature.metadata). max_video_wait_ns: how long a
        chunk waits for the frame that decides it (NEVER: until a later frame
        or end_of_video, exact for a file; 0 for a live camera)."""
        self.runner, self.meta = runner, meta
        self.signatures = {k: v.to_json() if hasattr(v, "to_json") else v for k, v in signatures.items()}
        self.sample_rate, self.hop_samples = meta["sample_rate"], meta["hop_samples"]
        self.chunk_samples, self.speakers = meta["chunk_samples"], meta["speakers"]
        self.output_delay_samples = meta["output_delay_samples"]
        self.offset_ns, self.max_video_wait_ns = offset_ns, max_video_wait_ns
        emb = next(t for t in self.signatures["av_step"]["inputs"] if t["name"] == "lip_emb")
        self._zero_emb = np.zeros(tuple(emb["shape"]), np.float32)
        self.reset()

    @classmethod
    def open(cls, bundle_dir, public_key=None, threads: int | None = None, held_state: bool = False, **schedule) -> Separator:
        """A Separator over an exported bundle, after the checks an app makes
        before loading a model: the signature when a key is given, then every
        file's sha256. A ValueError says what is wrong. held_state: the
        runtime keeps the states (runners.for_bundle)."""
        bundle_dir = Path(bundle_dir)
        if public_key is not None:
            from .signing import check_signature, load_public

            check_signature(bundle_dir, load_public(public_key) if isinstance(public_key, (str, Path)) else public_key)
        m = bundle_manifest.load(bundle_dir)
        problems = [p for p in bundle_manifest.verify(bundle_dir, m) if "parity" not in p]
        if problems:
            raise ValueError(f"{bundle_dir}: {problems[0]}: re-export the bundle")
        runner = for_bundle(bundle_dir, m, threads, held_state)
        if runner is None:
            raise ValueError(f"{bundle_dir} is a {m['target']!r} bundle, which this machine cannot run")
        return cls(runner, m["signatures"], m, **schedule)

    def reset(self) -> None:
        """A new stream: every state, the schedule, the chunker and the counts start over."""
        self.runner.reset()
        self.chunks = 0  # av_step calls
        self.active_chunks = np.zeros(self.speakers, np.int64)  # per slot: chunks run with a face
        self.resets = np.zeros(self.speakers, np.int64)  # per slot: chunks that handed it to a new face
        self.state = {step: StepState(step, sig) for step, sig in self.signatures.items()}
        self._gate = FrameGate(self.meta["lip_fps"])
        self._lip_slots = SlotFaces(self.speakers)
        self._schedule = Scheduler(self.sample_rate, self.chunk_samples, self.speakers,
                                   offset_ns=self.offset_ns, max_video_wait_ns=self.max_video_wait_ns)
        self._chunker = Chunker(self.chunk_samples, self.hop_samples)
        self._pcm: deque[np.ndarray] = deque()  # whole chunks waiting for their frame to be decided
        self._embs: dict[int, np.ndarray] = {}  # lip_step call -> its lip_emb, until no chunk can hold it

    # ---- video ---------------------------------------------------------

    def accept(self, t_ns: int) -> bool:
        """Should this camera frame be measured and run? (the lip_fps gate;
        ask before the face work, so frames the model skips cost nothing)"""
        return self._gate.accept(int(t_ns))

    def frame(self, t_ns: int, crops: np.ndarray, faces) -> np.ndarray:
        """An accepted frame: crops (S, 1, crop, crop) float32 in [0, 1] (an
        empty slot holds its last crop), faces[s] the id of the face in slot s
        or -1. A slot handed to another face has its lip_step state reset
        first. Returns the lip embedding."""
        for s in np.flatnonzero(self._lip_slots.update(faces)):
            self._reset_slot("lip_step", int(s))
        emb = self._call("lip_step", {"crops": np.asarray(crops, np.float32)})["lip_emb"]
        self._embs[self._schedule.frame(int(t_ns), list(faces))] = emb
        return emb

    def end_of_video(self) -> None:
        """No more frames will come: no chunk waits for video any more."""
        self._schedule.end_of_video()

    # ---- audio ---------------------------------------------------------

    def process(self, samples) -> Separated:
        """Queue mono PCM at sample_rate; run every chunk the schedule releases."""
        x = np.asarray(samples, np.float32).reshape(-1)
        if not np.isfinite(x).all():
            raise ValueError("the audio holds NaN or infinite samples: pass finite PCM in [-1, 1]")
        self._pcm.extend(self._chunker.push(x))
        self._schedule.audio(len(x))
        return self._run_released()

    def flush(self) -> Separated:
        """End of stream: the queued samples and the flush zeros, so every real
        sample comes out. Call reset() before a new stream."""
        received = self._chunker.received
        self._pcm.extend(self._chunker.flush(self.output_delay_samples))
        self._schedule.audio(flush_samples(received, self.chunk_samples, self.output_delay_samples))
        self._schedule.end_of_video()
        return self._run_released()

    def _run_released(self) -> Separated:
        spk, res = [], []
        for c in self._schedule.drain():
            for s in np.flatnonzero(c.reset):
                self._reset_slot("av_step", int(s))
            self.chunks += 1
            self.active_chunks += np.asarray(c.active) > 0
            self.resets += np.asarray(c.reset) > 0
            emb = self._embs.get(c.lip, self._zero_emb)
            for k in [k for k in self._embs if k < c.lip]:  # older embeddings are never held again
                del self._embs[k]
            out = self._call("av_step", {"pcm": self._pcm.popleft()[None], "lip_emb": emb,
                                         "active": np.asarray(c.active, np.float32)})
            spk.append(out["speakers"])
            res.append(out["residual"][0])
        if not spk:
            return Separated(np.zeros((self.speakers, 0), np.float32), np.zeros(0, np.float32))
        return Separated(np.concatenate(spk, axis=1), np.concatenate(res))

    # ---- steps ---------------------------------------------------------

    def _call(self, step: str, data: dict) -> dict:
        out = self.runner.run(step, self.state[step].feeds(data))
        self.state[step].update(out)
        return out

    def _reset_slot(self, step: str, slot: int) -> None:
        reset_runner_slot(self.state[step], self.runner, slot)


def separate_lips(runner, signatures: dict, meta: dict, mix: np.ndarray, lips: np.ndarray, fps: float, active=None) -> dict:
    """A whole recording through the steps, frames at j / fps: mix (n,),
    lips (S, frames, crop, crop) uint8 -> {"speakers": (S, n), "residual": (n,)}
    aligned with the input."""
    out = stream(runner, stream_inputs(meta, mix, lips, fps, active), signatures)
    return stream_pcm(meta, out, len(mix))

