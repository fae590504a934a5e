"""Streaming in torch: the two steps as traceable modules (what every
exporter converts), the float reference runner behind the runner interface
(runtime/runners.py), and `Streamer`, the float model driven call by call.
The replay loop that drives every runner is runtime/replay.py.

The step modules take their inputs positionally in signature order and return
a tuple in signature order, which jit.trace, torch.export and the ONNX exporter
all accept; names come from ``signature``.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import Tensor, nn

from .model import AVSep
from .runtime import signature
from .runtime.separator import Separator
from .runtime.step_state import StepState


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
        # reshapes, not [0]: a converter merges them with the model's own reshapes
        return (out["speakers"].reshape(s, -1), out["residual"].reshape(1, -1)) + tuple(new[n] for n in self.state_names)


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
        self.lanes: int | None = None

    def with_lanes(self, lanes: int) -> TorchRunner:
        """The same steps over `lanes` independent streams at once (torch.vmap;
        every feed and output has a leading lane axis, runtime/replay.py).
        Batched kernels round differently: a lane equals its own run to about
        1e-6, not bit for bit, so references that gate fp32 exports stay one by one."""
        other = copy.copy(self)
        other.lanes = int(lanes)
        return other

    def input_names(self, step: str) -> list[str]:
        return self.steps[step].sig.input_names

    def output_names(self, step: str) -> list[str]:
        return self.steps[step].sig.output_names

    def run(self, step: str, feeds: dict) -> dict:
        fn = self.steps[step] if self.lanes is None else torch.vmap(self.steps[step])
        with torch.no_grad():
            outs = fn(*[torch.from_numpy(np.ascontiguousarray(feeds[n], np.float32)) for n in self.input_names(step)])
        return {n: o.numpy() for n, o in zip(self.output_names(step), outs)}

    def reset(self) -> None:
        pass


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
        self.state = {step: StepState(step, sig) for step, sig in self.runner.signatures.items()}

    def reset_slot(self, slot: int, step: str | None = None) -> None:
        """A new face takes `slot`: reset its per-slot state in one step
        (lip_step at the face's first frame, av_step at its first chunk) or both."""
        for name, st in self.state.items():
            if step in (None, name):
                st.reset_slot(slot)

    def _call(self, step: str, data: dict) -> dict:
        with torch.inference_mode():  # no autograd bookkeeping at all: av_step 12 % less CPU than under no_grad alone
            out = self.runner.run(step, self.state[step].feeds(data))
        self.state[step].update({k: np.array(v) for k, v in out.items()})
        return out

    def lip(self, crops) -> np.ndarray:
        return self._call("lip_step", {"crops": crops})["lip_emb"]

    def av(self, pcm, lip_emb, active) -> tuple[np.ndarray, np.ndarray]:
        out = self._call("av_step", {"pcm": pcm, "lip_emb": lip_emb, "active": active})
        return out["speakers"], out["residual"]


def separator(model: AVSep, speakers: int, chunk_hops: int = 1, lip_fps: float = 25.0, **schedule) -> Separator:
    """The float model behind the runtime's Separator (what `avsep separate`
    runs, and what a bundle's runtime is compared with)."""
    runner = TorchRunner(model, speakers, chunk_hops)
    return Separator(runner, runner.signatures, signature.metadata(model.cfg, speakers, chunk_hops, lip_fps), **schedule)
