"""Offline and streaming separation of a recording with lip tracks, on one
schedule: lip_step runs for each camera frame as soon as its timestamp has
passed, av_step runs per chunk of K hops with the latest lip embedding held.
The offline `separate` computes the same thing in two big calls, so both agree
to float precision."""

from __future__ import annotations


import numpy as np
import torch
from torch import Tensor

from . import signature
from .model import AVSep
from .streaming import Streamer


def held_lip_index(n_chunks: int, chunk_hops: int, hop: int, sample_rate: int, fps: float, n_frames: int) -> np.ndarray:
    """For each chunk, the last camera frame whose timestamp j/fps is not after
    the end of the chunk: (n_chunks,) int, clipped to the frames that exist."""
    ends = (np.arange(n_chunks) + 1) * chunk_hops * hop / sample_rate  # seconds
    idx = np.floor(ends * fps + 1e-9).astype(np.int64)
    return np.clip(idx, 0, n_frames - 1)


def _prepare(model: AVSep, mix: np.ndarray, lips: np.ndarray, chunk_hops: int):
    cfg = model.cfg
    assert mix.ndim == 1, f"mix must be mono (n,), got {mix.shape}"
    assert lips.ndim == 4 and lips.shape[2:] == (cfg.crop_size, cfg.crop_size), f"lips must be (S, T, 88, 88), got {lips.shape}"
    chunk = cfg.hop_length * chunk_hops
    n_chunks = signature.stream_chunks(cfg, len(mix), chunk_hops)
    pcm = np.zeros(n_chunks * chunk, np.float32)
    pcm[: len(mix)] = mix
    crops = torch.from_numpy(np.ascontiguousarray(lips)).float() / 255.0  # (S, T, 88, 88)
    return pcm, crops, n_chunks


def _finish(model: AVSep, speakers: Tensor, residual: Tensor, n: int) -> dict:
    d = signature.output_delay_samples(model.cfg)
    return {"speakers": speakers[:, d : d + n].numpy(), "residual": residual[0, d : d + n].numpy()}


@torch.no_grad()
def separate(model: AVSep, mix: np.ndarray, lips: np.ndarray, fps: float, active=None, chunk_hops: int = 1, phase: str = "mixture") -> dict:
    """Offline reference. mix (n,) float32 16 kHz; lips uint8 (S, T_video, 88, 88).
    Returns {"speakers": (S, n), "residual": (n,)} aligned with the input."""
    cfg = model.cfg
    pcm, crops, n_chunks = _prepare(model, mix, lips, chunk_hops)
    s, n_frames = crops.shape[:2]
    active = torch.ones(1, s) if active is None else torch.as_tensor(active, dtype=torch.float32).reshape(1, s)
    emb, _ = model.forward_lips(crops.reshape(1, s, n_frames, 1, *crops.shape[2:]), model.zero_state(model.lip_state_shapes(s)))
    idx = held_lip_index(n_chunks, chunk_hops, cfg.hop_length, cfg.sample_rate, fps, n_frames)
    held = emb[:, :, torch.from_numpy(np.repeat(idx, chunk_hops))]  # (1, S, T_hops, D)
    out, _ = model.forward_audio(torch.from_numpy(pcm)[None], held, active, model.zero_state(model.av_state_shapes(s)))
    if phase == "griffin-lim":
        spk = griffin_lim(model, torch.from_numpy(pcm)[None], out["masks"][0, :s])
        return _finish(model, spk, out["residual"][0], len(mix))
    if phase != "mixture":
        raise ValueError(f"unknown phase {phase!r}: use mixture or griffin-lim")
    return _finish(model, out["speakers"][0], out["residual"][0], len(mix))


@torch.no_grad()
def stream_separate(model: AVSep, mix: np.ndarray, lips: np.ndarray, fps: float, active=None, chunk_hops: int = 1, progress=None) -> dict:
    """The same result as `separate`, computed call by call through the two
    streaming steps as an app would run them."""
    cfg = model.cfg
    pcm, crops, n_chunks = _prepare(model, mix, lips, chunk_hops)
    s, n_frames = crops.shape[:2]
    active = torch.ones(s) if active is None else torch.as_tensor(active, dtype=torch.float32).reshape(s)
    st = Streamer(model, s, chunk_hops)
    idx = held_lip_index(n_chunks, chunk_hops, cfg.hop_length, cfg.sample_rate, fps, n_frames)
    chunk, next_frame, emb = st.chunk_samples, 0, None
    spk, res = [], []
    for c in range(n_chunks):
        while next_frame <= idx[c]:  # camera frames that have arrived by the end of this chunk
            emb = st.lip(crops[:, next_frame].unsqueeze(1))
            next_frame += 1
        a, b = st.av(torch.from_numpy(pcm[c * chunk : (c + 1) * chunk])[None], emb, active)
        spk.append(a)
        res.append(b)
        if progress is not None:
            progress(c + 1, n_chunks)
    return _finish(model, torch.cat(spk, 1), torch.cat(res, 1), len(mix))


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
