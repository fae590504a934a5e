"""Streaming: the two steps as traceable modules, the float reference runner,
and the one replay loop that drives every runner (float torch here; TFLite,
ONNX, CoreML and the CoreML evaluator in avsep_mobile.export).

A runner has `run(step_name, feeds) -> outputs` (dicts of numpy arrays,
bound by name, never by position), `input_names(step)`, `output_names(step)`
and `reset()`; one that keeps states inside (CoreML's MLState) also has
`reset_slot(step, signature, slot)`. `stream` feeds it a stream in the test-vector layout:

    lip_step/crops   (frames, S, 1, 88, 88)  one camera frame per lip_step call
    av_step/pcm      (calls, 1, hop*K)       one chunk per av_step call
    av_step/active   (calls, S)              1 for a tracked face
    av_step/lip_call (calls,) int            before av_step call c, lip_step runs
                                             for every frame up to lip_call[c]
    av_step/reset    (calls, S), optional    1: slot i gets a new face at call c
                                             (its per-slot state is reset first)

The step modules take their inputs positionally in signature order and return
a tuple in signature order, which jit.trace, torch.export and the ONNX exporter
all accept; names come from ``signature``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from . import signature
from .model import AVSep


class LipStep(nn.Module):
    """(crops (S, 1, 88, 88), *states) -> (lip_emb (S, D), *states_out)."""

    def __init__(self, model: AVSep, speakers: int):
        super().__init__()
        self.model = model
        self.sig = signature.lip_step(model, speakers)
        self.state_names = [s.name for s in self.sig.states]

    def forward(self, crops: Tensor, *states: Tensor):
        s = crops.shape[0]
        emb, new = self.model.forward_lips(crops.reshape(1, s, 1, *crops.shape[1:]), dict(zip(self.state_names, states)))
        return (emb.reshape(s, -1),) + tuple(new[n] for n in self.state_names)


class AVStep(nn.Module):
    """(pcm (1, hop*K), lip_emb (S, D), active (S,), *states)
    -> (speakers (S, hop*K), residual (1, hop*K), *states_out)."""

    def __init__(self, model: AVSep, speakers: int, chunk_hops: int = 1):
        super().__init__()
        self.model, self.chunk_hops = model, chunk_hops
        self.sig = signature.av_step(model, speakers, chunk_hops)
        self.state_names = [s.name for s in self.sig.states]

    def forward(self, pcm: Tensor, lip_emb: Tensor, active: Tensor, *states: Tensor):
        s, k = lip_emb.shape[0], self.chunk_hops
        lips = lip_emb.reshape(1, s, 1, -1).expand(1, s, k, lip_emb.shape[1])  # held for the whole chunk
        out, new = self.model.forward_audio(pcm, lips, active.reshape(1, s), dict(zip(self.state_names, states)))
        return (out["speakers"][0], out["residual"][0]) + tuple(new[n] for n in self.state_names)


def step_modules(model: AVSep, speakers: int, chunk_hops: int = 1) -> dict[str, nn.Module]:
    """{"lip_step": LipStep, "av_step": AVStep} in eval mode: what every exporter traces."""
    return {"lip_step": LipStep(model, speakers).eval(), "av_step": AVStep(model, speakers, chunk_hops).eval()}


class TorchRunner:
    """The float PyTorch steps behind the runner interface: the reference every
    export is compared with, and the baseline of `avsep bench`."""

    kind = "torch"

    def __init__(self, model: AVSep, speakers: int, chunk_hops: int = 1, threads: int | None = None):
        if threads:
            torch.set_num_threads(threads)
        self.steps = step_modules(model, speakers, chunk_hops)
        self.signatures = {n: s.sig for n, s in self.steps.items()}

    def input_names(self, step: str) -> list[str]:
        return self.steps[step].sig.input_names

    def output_names(self, step: str) -> list[str]:
        return self.steps[step].sig.output_names

    def run(self, step: str, feeds: dict) -> dict:
        with torch.no_grad():
            outs = self.steps[step](*[torch.from_numpy(np.ascontiguousarray(feeds[n], np.float32)) for n in self.input_names(step)])
        return {n: o.numpy() for n, o in zip(self.output_names(step), outs)}

    def reset(self) -> None:
        pass


def stream(runner, vectors: dict, signatures: dict, closed_loop: bool = True, progress=None) -> dict[str, np.ndarray]:
    """Replay a stream (the layout in the module docstring) through a runner
    with its state carried: each state output `X_out` is fed back as input `X`.
    Returns `lip_step/lip_emb` per frame and `av_step/{lip_emb,speakers,residual}`
    per call, stacked, like the reference in the test vectors (av_step/lip_emb
    is the embedding each call was given: the held one).

    closed_loop: av_step gets the runner's own lip_emb (as an app does) rather
    than the reference lip_emb stored in the vectors.
    signatures: {step: StepSignature or its to_json()}, for the initial states.
    """
    runner.reset()
    state = {step: signature.initial_state(sig) for step, sig in signatures.items()}
    outs: dict[str, list] = {"lip_step/lip_emb": [], "av_step/lip_emb": [], "av_step/speakers": [], "av_step/residual": []}

    def call(step, data):
        res = runner.run(step, {**data, **state[step]})
        for name in state[step]:
            if name + signature.STATE_OUT_SUFFIX in res:  # a stateful model keeps the rest inside
                state[step][name] = res[name + signature.STATE_OUT_SUFFIX]
        return res

    lip_call, resets = vectors["av_step/lip_call"], vectors.get("av_step/reset")
    emb, next_frame, n = None, 0, len(lip_call)
    for c in range(n):
        if resets is not None:
            for slot in np.flatnonzero(resets[c]):
                for step, sig in signatures.items():
                    state[step] = {k: np.array(v) for k, v in state[step].items()}  # runners may return read-only arrays
                    signature.reset_slot(state[step], sig, int(slot))
                    if hasattr(runner, "reset_slot"):  # a runner that keeps states inside (CoreML MLState)
                        runner.reset_slot(step, sig, int(slot))
        while next_frame <= lip_call[c]:
            emb = call("lip_step", {"crops": vectors["lip_step/crops"][next_frame]})["lip_emb"]
            outs["lip_step/lip_emb"].append(emb)
            next_frame += 1
        held = emb if closed_loop or "av_step/lip_emb" not in vectors else vectors["av_step/lip_emb"][c]
        res = call("av_step", {"pcm": vectors["av_step/pcm"][c], "lip_emb": held, "active": vectors["av_step/active"][c]})
        outs["av_step/lip_emb"].append(np.asarray(held, np.float32))
        outs["av_step/speakers"].append(res["speakers"])
        outs["av_step/residual"].append(res["residual"])
        if progress is not None:
            progress(c + 1, n)
    return {k: np.stack(v) for k, v in outs.items()}


def held_lip_index(n_chunks: int, chunk_hops: int, hop: int, sample_rate: int, fps: float, n_frames: int) -> np.ndarray:
    """The lip schedule of a recording with regular camera frames: for each
    chunk, the last frame whose timestamp j/fps is not after the end of the
    chunk: (n_chunks,) int, clipped to the frames that exist."""
    ends = (np.arange(n_chunks) + 1) * chunk_hops * hop / sample_rate  # seconds
    idx = np.floor(ends * fps + 1e-9).astype(np.int64)
    return np.clip(idx, 0, n_frames - 1)


def stream_inputs(model: AVSep, mix: np.ndarray, lips: np.ndarray, fps: float, active=None, chunk_hops: int = 1) -> dict[str, np.ndarray]:
    """A recording in the layout `stream` replays: mix (n,) float32 16 kHz,
    lips (S, frames, 88, 88) uint8 or float in [0, 1], active None (all
    tracked), (S,) or (calls, S). The PCM is padded with the flush hops so
    every real sample leaves the overlap-add buffer; the lip schedule is
    held_lip_index (the camera frame each chunk sees)."""
    cfg = model.cfg
    assert mix.ndim == 1, f"mix must be mono (n,), got {mix.shape}"
    assert lips.ndim == 4 and lips.shape[2:] == (cfg.crop_size, cfg.crop_size), f"lips must be (S, T, 88, 88), got {lips.shape}"
    chunk = cfg.hop_length * chunk_hops
    n_chunks = signature.stream_chunks(cfg, len(mix), chunk_hops)
    pcm = np.zeros(n_chunks * chunk, np.float32)
    pcm[: len(mix)] = mix
    s, n_frames = lips.shape[:2]
    crops = lips.astype(np.float32) / 255.0 if lips.dtype == np.uint8 else lips.astype(np.float32)
    act = np.ones((n_chunks, s), np.float32) if active is None else np.broadcast_to(np.asarray(active, np.float32), (n_chunks, s))
    return {
        "lip_step/crops": np.ascontiguousarray(crops.transpose(1, 0, 2, 3)[:, :, None]),  # (T, S, 1, 88, 88)
        "av_step/pcm": pcm.reshape(n_chunks, 1, chunk),
        "av_step/active": np.ascontiguousarray(act),
        "av_step/lip_call": held_lip_index(n_chunks, chunk_hops, cfg.hop_length, cfg.sample_rate, fps, n_frames).astype(np.int32),
    }


def stream_pcm(model: AVSep, streamed: dict, n: int) -> dict[str, np.ndarray]:
    """The outputs of `stream` as PCM aligned with an n-sample input:
    {"speakers": (S, n), "residual": (n,)} (the model's delay removed)."""
    d = signature.output_delay_samples(model.cfg)
    spk, res = streamed["av_step/speakers"], streamed["av_step/residual"]
    speakers = spk.transpose(1, 0, 2).reshape(spk.shape[1], -1)
    return {"speakers": speakers[:, d : d + n], "residual": res.reshape(-1)[d : d + n]}


class Streamer:
    """A stream driven call by call from Python, state held between calls.

    >>> st = Streamer(model, speakers=2, chunk_hops=1)
    >>> emb = st.lip(crops)                 # each camera frame
    >>> spk, res = st.av(pcm, emb, active)  # each chunk of 160*K samples
    >>> st.reset_slot(1)                    # a new face takes slot 1
    """

    def __init__(self, model: AVSep, speakers: int, chunk_hops: int = 1):
        self.runner = TorchRunner(model, speakers, chunk_hops)
        self.speakers, self.chunk_hops = speakers, chunk_hops
        self.chunk_samples = model.cfg.hop_length * chunk_hops
        self.reset()

    def reset(self) -> None:
        self.state = {step: signature.initial_state(sig) for step, sig in self.runner.signatures.items()}

    def reset_slot(self, slot: int, step: str | None = None) -> None:
        """A new face takes `slot`: reset its per-slot state in one step
        (lip_step at the face's first frame, av_step at its first chunk) or both."""
        for name, sig in self.runner.signatures.items():
            if step in (None, name):
                signature.reset_slot(self.state[name], sig, slot)

    def _call(self, step: str, data: dict) -> dict:
        with torch.inference_mode():  # no autograd bookkeeping at all: av_step 12 % less CPU than under no_grad alone
            out = self.runner.run(step, {**data, **self.state[step]})
        self.state[step] = {n: np.array(out[n + signature.STATE_OUT_SUFFIX]) for n in self.state[step]}
        return out

    def lip(self, crops) -> np.ndarray:
        return self._call("lip_step", {"crops": crops})["lip_emb"]

    def av(self, pcm, lip_emb, active) -> tuple[np.ndarray, np.ndarray]:
        out = self._call("av_step", {"pcm": pcm, "lip_emb": lip_emb, "active": active})
        return out["speakers"], out["residual"]
