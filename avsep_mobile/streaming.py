"""The two streaming steps as traceable modules, and a small runtime that
carries their state in Python (the float reference for every export).

Both modules take their inputs positionally in signature order and return a
tuple in signature order, which is what jit.trace, torch.export and the ONNX
exporter all accept; names come from ``signature``.
"""

from __future__ import annotations

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


def initial_state(sig: signature.StepSignature) -> dict[str, Tensor]:
    return {s.name: torch.full(s.shape, s.init, dtype=torch.float32) for s in sig.states}


def call_by_name(step: nn.Module, sig: signature.StepSignature, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    """Run a step module on named inputs and return named outputs."""
    missing = [n for n in sig.input_names if n not in tensors]
    assert not missing, f"missing inputs: {missing}"
    outs = step(*[tensors[n] for n in sig.input_names])
    return dict(zip(sig.output_names, outs))


class Streamer:
    """Python-side stream: holds the state tensors between calls.

    >>> st = Streamer(model, speakers=2, chunk_hops=1)
    >>> emb = st.lip(crops)                 # each camera frame
    >>> spk, res = st.av(pcm, emb, active)  # each chunk of 160*K samples
    """

    def __init__(self, model: AVSep, speakers: int, chunk_hops: int = 1):
        self.lip_step = LipStep(model, speakers).eval()
        self.av_step = AVStep(model, speakers, chunk_hops).eval()
        self.speakers, self.chunk_hops = speakers, chunk_hops
        self.chunk_samples = model.cfg.hop_length * chunk_hops
        self.reset()

    def reset(self) -> None:
        self.lip_state = initial_state(self.lip_step.sig)
        self.av_state = initial_state(self.av_step.sig)

    @torch.no_grad()
    def lip(self, crops: Tensor) -> Tensor:
        out = call_by_name(self.lip_step, self.lip_step.sig, {"crops": crops, **self.lip_state})
        self.lip_state = {n: out[n + signature.STATE_OUT_SUFFIX] for n in self.lip_state}
        return out["lip_emb"]

    @torch.no_grad()
    def av(self, pcm: Tensor, lip_emb: Tensor, active: Tensor) -> tuple[Tensor, Tensor]:
        out = call_by_name(self.av_step, self.av_step.sig, {"pcm": pcm, "lip_emb": lip_emb, "active": active, **self.av_state})
        self.av_state = {n: out[n + signature.STATE_OUT_SUFFIX] for n in self.av_state}
        return out["speakers"], out["residual"]
