"""Model size, compute and latency figures (`avsep info`)."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from .model import AVSep
from .runtime import signature, step_state
from .streaming import step_modules


def count_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def weight_sparsity(model: torch.nn.Module) -> float:
    """Fraction of exact zeros in the Linear / Conv weights of 256+ elements
    (what magnitude pruning zeroes and CoreML's sparse format stores)."""
    layers = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d)
    ws = [m.weight for m in model.modules() if isinstance(m, layers) and m.weight.numel() >= 256]
    return float(sum((w == 0).sum() for w in ws) / max(1, sum(w.numel() for w in ws)))


@torch.no_grad()
def step_macs(step: torch.nn.Module, sig: signature.StepSignature) -> int:
    """Multiply-accumulates of one call (matmuls and convolutions), counted by torch."""
    inputs = [torch.zeros(t.shape) for t in sig.inputs] + [torch.from_numpy(v) for v in step_state.initial_state(sig).values()]
    with FlopCounterMode(display=False) as counter:
        step(*inputs)
    return counter.get_total_flops() // 2


def model_info(model: AVSep, speakers: int = 2, chunk_hops: int = 1, lip_fps: float = 25.0) -> dict:
    cfg = model.cfg
    steps = step_modules(model, speakers, chunk_hops)
    lip, av = steps["lip_step"], steps["av_step"]
    chunks_per_s = cfg.sample_rate / (cfg.hop_length * chunk_hops)
    audio_macs = step_macs(av, av.sig) * chunks_per_s
    video_macs = step_macs(lip, lip.sig) * lip_fps
    parts = {"video_encoder": model.video, "audio_encoder": model.audio, "fusion": model.fusion, "decoder": model.decoder}
    params = {k: count_params(v) for k, v in parts.items()}
    params["total"] = count_params(model)
    return {
        "config": cfg.to_dict(),
        "speakers": speakers,
        "chunk_hops": chunk_hops,
        "parameters": params,
        "macs_per_second": {"audio": int(audio_macs), "video": int(video_macs), "total": int(audio_macs + video_macs)},
        "latency_ms": signature.latency_ms(cfg, chunk_hops),
        "states": {
            name: {s.name: list(s.shape) for s in sig.states}
            for name, sig in signature.signatures(model, speakers, chunk_hops).items()
        },
    }


def format_info(info: dict) -> str:
    p, m = info["parameters"], info["macs_per_second"]
    lines = [
        f"parameters      {p['total'] / 1e6:.2f} M  (video {p['video_encoder'] / 1e6:.2f}, audio {p['audio_encoder'] / 1e6:.2f}, "
        f"fusion {p['fusion'] / 1e6:.2f}, decoder {p['decoder'] / 1e6:.2f})",
        f"MACs / s audio  {m['audio'] / 1e6:.1f} M   ({info['speakers']} speakers, chunk {info['chunk_hops']} hop)",
        f"MACs / s video  {m['video'] / 1e6:.1f} M   (25 fps)",
        f"latency         {info['latency_ms']:.1f} ms",
        "state tensors:",
    ]
    for step, states in info["states"].items():
        for name, shape in states.items():
            lines.append(f"  {step:9s} {name:16s} {tuple(shape)}")
    return "\n".join(lines)
