"""The speech levels the gates stream at, beside the test vectors' own: quiet
speech (a phone at arm's length) and loud speech (peaks near full scale),
and the levels of the fp16 census (export/census.py). A level rescales the
PCM of the test vectors; the float reference is streamed again at it."""

from __future__ import annotations

import numpy as np

from avsep_mobile.runtime.replay import stream

# name -> (how, dBFS): "rms" over the whole stream (pauses included), "peak"
# of its largest sample, or None: the test vectors as recorded
GATE_LEVELS = {"quiet": ("rms", -45.0), "normal": None, "loud": ("peak", -0.1)}
CENSUS_LEVELS = {"-60 dBFS": ("rms", -60.0), "-45 dBFS": ("rms", -45.0), "-20 dBFS": ("rms", -20.0), "loud": ("peak", -0.1)}


def rms_dbfs(pcm: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(pcm, dtype=np.float64))) + 1e-20))


def peak_dbfs(pcm: np.ndarray) -> float:
    return float(20 * np.log10(np.max(np.abs(pcm)) + 1e-20))


def gain(pcm: np.ndarray, level) -> float:
    """The factor that brings pcm to `level` ((how, dBFS) or None)."""
    if level is None:
        return 1.0
    how, dbfs = level
    now = {"rms": rms_dbfs, "peak": peak_dbfs}[how](pcm)
    return float(10 ** ((dbfs - now) / 20))


def inputs_at(vectors: dict, level) -> dict:
    """The test vectors' inputs with av_step/pcm brought to `level` (no outputs)."""
    out = {k: v for k, v in vectors.items() if k.split("/")[1] in ("crops", "pcm", "active", "lip_call", "reset")}
    out["av_step/pcm"] = (vectors["av_step/pcm"] * np.float32(gain(vectors["av_step/pcm"], level))).astype(np.float32)
    return out


def reference_at(model, speakers: int, chunk_hops: int, vectors: dict, signatures: dict, level) -> dict:
    """Inputs at `level` and the float PyTorch outputs streamed from them."""
    from avsep_mobile.streaming import TorchRunner

    from .steps import torch_threads

    if level is None:
        return vectors
    x = inputs_at(vectors, level)
    with torch_threads(1):
        return {**x, **stream(TorchRunner(model, speakers, chunk_hops), x, signatures)}


def describe(level) -> str:
    return "as recorded" if level is None else f"{level[0]} {level[1]:g} dBFS"
