"""Separation quality on labelled mixtures (`avsep eval`)."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from .metrics import si_snr
from .model import AVSep
from .pipeline import separate


def score_example(model: AVSep, mix: np.ndarray, sources: np.ndarray, lips: np.ndarray, fps: float) -> dict:
    """SI-SNR improvement of each slot against the speaker whose lips drive it;
    the same slot scored against the same speaker after the lip streams were
    rolled by one slot (a model that follows lips drops here); and whether every
    slot is closest to its own speaker."""
    n = sources.shape[0]
    ref = torch.from_numpy(sources).double()
    base = si_snr(torch.from_numpy(mix).double().expand_as(ref), ref)  # (N,)
    est = torch.from_numpy(separate(model, mix, lips, fps)["speakers"]).double()
    swapped = torch.from_numpy(separate(model, mix, np.roll(lips, 1, axis=0), fps)["speakers"]).double()
    own = si_snr(est, ref) - base
    swap = si_snr(swapped, ref) - base  # slot i now carries the lips of speaker i-1
    cross = si_snr(est[:, None], ref[None, :])  # (slot, speaker)
    follows = bool((cross.argmax(dim=1) == torch.arange(n)).all())
    return {"si_snri": own.tolist(), "si_snri_swapped": swap.tolist(), "follows_own_lips": follows}


def evaluate(model: AVSep, examples, progress: bool = True) -> dict:
    """examples: iterable of objects with mix, sources, lips, fps."""
    rows = [score_example(model, ex.mix, ex.sources, ex.lips, ex.fps)
            for ex in tqdm(list(examples), desc="eval", disable=not progress, dynamic_ncols=True)]
    if not rows:
        raise ValueError("no examples to evaluate")
    n_max = max(len(r["si_snri"]) for r in rows)
    per_slot = [float(np.mean([r["si_snri"][i] for r in rows if len(r["si_snri"]) > i])) for i in range(n_max)]
    return {
        "mixtures": len(rows),
        "si_snri_db": float(np.mean([v for r in rows for v in r["si_snri"]])),
        "si_snri_db_per_slot": per_slot,
        "si_snri_swapped_db": float(np.mean([v for r in rows for v in r["si_snri_swapped"]])),
        "follows_own_lips": float(np.mean([r["follows_own_lips"] for r in rows])),
    }
