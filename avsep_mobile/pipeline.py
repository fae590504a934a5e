"""Offline and streaming separation of a recording with lip tracks, on one
schedule: lip_step runs for each camera frame as soon as its timestamp has
passed, av_step runs per chunk of K hops with the latest lip embedding held
(runtime/replay.held_lip_index). `stream_separate` runs the two steps call by call
through the one replay loop (runtime/replay.stream), as an app does; `separate`
computes the same thing in two big calls, so both agree to float precision."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .model import AVSep
from .runtime import signature
from .runtime.replay import stream, stream_inputs, stream_pcm
from .streaming import TorchRunner

__all__ = ["separate", "stream_separate", "griffin_lim"]


@torch.no_grad()
def separate(model: AVSep, mix: np.ndarray, lips: np.ndarray, fps: float, active=None, chunk_hops: int = 1, phase: str = "mixture") -> dict:
    """Offline reference. mix (n,) float32 16 kHz; lips uint8 (S, T_video, 88, 88).
    Returns {"speakers": (S, n), "residual": (n,)} aligned with the input."""
    if phase not in ("mixture", "griffin-lim"):
        raise ValueError(f"unknown phase {phase!r}: use mixture or griffin-lim")
    vec = stream_inputs(signature.metadata(model.cfg, lips.shape[0], chunk_hops), mix, lips, fps)
    pcm = torch.from_numpy(vec["av_step/pcm"].reshape(1, -1))
    crops = torch.from_numpy(vec["lip_step/crops"]).transpose(0, 1)  # (S, T, 1, 88, 88)
    s = crops.shape[0]
    active = torch.ones(1, s) if active is None else torch.as_tensor(active, dtype=torch.float32).reshape(1, s)
    emb, _ = model.forward_lips(crops[None], model.zero_state(model.lip_state_shapes(s)))
    held = emb[:, :, torch.from_numpy(np.repeat(vec["av_step/lip_call"], chunk_hops).astype(np.int64))]  # (1, S, T_hops, D)
    out, _ = model.forward_audio(pcm, held, active, model.zero_state(model.av_state_shapes(s)))
    spk = out["speakers"][0]
    if phase == "griffin-lim":
        spk = griffin_lim(model, pcm, out["masks"][0, :s])
    d, n = signature.output_delay_samples(model.cfg), len(mix)
    return {"speakers": spk[:, d : d + n].numpy(), "residual": out["residual"][0, 0, d : d + n].numpy()}


def stream_separate(model: AVSep, mix: np.ndarray, lips: np.ndarray, fps: float, active=None, chunk_hops: int = 1, progress=None) -> dict:
    """The same result as `separate`, computed call by call through the two
    streaming steps as an app would run them."""
    s = lips.shape[0]
    meta = signature.metadata(model.cfg, s, chunk_hops)
    runner = TorchRunner(model, s, chunk_hops)
    out = stream(runner, stream_inputs(meta, mix, lips, fps, active), runner.signatures, progress=progress)
    return stream_pcm(meta, out, len(mix))


def griffin_lim(model: AVSep, pcm: Tensor, masks: Tensor, iters: int = 32) -> Tensor:
    """Offline phase reconstruction of masked magnitudes, starting from the
    mixture phase. pcm (1, n), masks (S, T, bins) -> (S, n) delayed like the stream."""
    stft, d = model.stft, model.cfg.stft_context
    zeros = torch.zeros(1, d)
    re, im, _ = stft.analyse(pcm, zeros)
    mag = masks * torch.sqrt(re**2 + im**2)  # (S, T, bins)
    phase_re = re / (torch.sqrt(re**2 + im**2) + 1e-8)
    phase_im = im / (torch.sqrt(re**2 + im**2) + 1e-8)
    phase_re, phase_im = phase_re.expand_as(mag), phase_im.expand_as(mag)
    s = mag.shape[0]
    for _ in range(iters):
        y, _ = stft.synthesise(mag * phase_re, mag * phase_im, torch.zeros(s, d))
        aligned = torch.cat([y[:, d:], torch.zeros(s, d)], dim=1)  # undo the synthesis delay
        r2, i2, _ = stft.analyse(aligned, torch.zeros(s, d))
        norm = torch.sqrt(r2**2 + i2**2) + 1e-8
        phase_re, phase_im = r2 / norm, i2 / norm
    y, _ = stft.synthesise(mag * phase_re, mag * phase_im, torch.zeros(s, d))
    return y
