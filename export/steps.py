"""What every converter shares: sample inputs to trace the step modules
(avsep_mobile.streaming.step_modules) with, a by-name wrapper, and the
metadata embedded in each exported file."""

from __future__ import annotations

import contextlib
import json

import torch
from torch import Tensor, nn

from avsep_mobile.model import AVSep
from avsep_mobile.runtime import signature, step_state


def check_precision(precision: str, supported=("fp32", "fp16")) -> None:
    if precision in ("int8", "int4"):
        raise ValueError(f"--precision {precision} needs a quantization hook (quantize.{precision}.hook_for; export.bundle passes it)")
    if precision not in supported:
        raise ValueError(f"precision {precision!r} is not supported for this target: choose {' or '.join(supported)}")


def sample_inputs(sig: signature.StepSignature, seed: int = 0) -> dict[str, Tensor]:
    """Plausible data inputs (small noise, active slots) and initial states, by name."""
    g = torch.Generator().manual_seed(seed)
    feeds = {t.name: torch.rand(t.shape, generator=g) * 0.1 for t in sig.inputs}
    if "active" in feeds:
        feeds["active"] = torch.ones(sig.inputs[[t.name for t in sig.inputs].index("active")].shape)
    feeds.update({k: torch.from_numpy(v) for k, v in step_state.initial_state(sig).items()})
    return feeds


class NamedStep(nn.Module):
    """Keyword inputs -> dict outputs, so converters that follow the Python call
    (litert-torch) name every tensor exactly as the signature does."""

    def __init__(self, step: nn.Module):
        super().__init__()
        self.step, self.sig = step, step.sig

    def forward(self, **feeds: Tensor) -> dict[str, Tensor]:
        outs = self.step(*[feeds[n] for n in self.sig.input_names])
        return dict(zip(self.sig.output_names, outs))


def metadata(model: AVSep, speakers: int, chunk_hops: int, precision: str) -> dict[str, str]:
    """String key/value metadata for every exported file: the scalars of
    signature.metadata plus the full signatures (names, shapes, dtypes, init)."""
    sigs = signature.signatures(model, speakers, chunk_hops)
    meta = {f"avsep.{k}": str(v) for k, v in signature.metadata(model.cfg, speakers, chunk_hops).items()}
    meta["avsep.precision"] = precision
    # the config the manifest states, checked against the model file by `avsep verify`
    meta["avsep.config"] = json.dumps(model.cfg.to_dict(), separators=(",", ":"))
    meta["avsep.signatures"] = json.dumps({n: s.to_json() for n, s in sigs.items()}, separators=(",", ":"))
    return meta


@contextlib.contextmanager
def torch_threads(n: int = 1):
    """Run torch on n threads inside the block. One thread makes the reference
    reproducible, and on a busy machine torch's default of all cores can be 20x
    slower (OpenMP threads spin against other processes)."""
    prev = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(prev)
