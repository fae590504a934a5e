"""Separation quality on labelled mixtures (`avsep eval`), and listening
material: the mixture, each clean speaker, each separated output and a
spectrogram per example, so a person can hear and see the result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .audio import write_wav
from .metrics import estoi, pesq_wb, si_snr
from .model import AVSep
from .pipeline import separate

SAMPLE_RATE = 16000


def score_example(model: AVSep, mix: np.ndarray, sources: np.ndarray, lips: np.ndarray, fps: float) -> dict:
    """SI-SNR improvement of each slot against the speaker whose lips drive it;
    the same slot scored against the same speaker after the lip streams were
    rolled by one slot (a model that follows lips drops here); whether every
    slot is closest to its own speaker; wideband PESQ and extended STOI of each
    slot, and of the mixture as that slot's estimate (the reference point).
    "outputs" holds the separation."""
    n = sources.shape[0]
    ref = torch.from_numpy(sources).double()
    base = si_snr(torch.from_numpy(mix).double().expand_as(ref), ref)  # (N,)
    out = separate(model, mix, lips, fps)
    est = torch.from_numpy(out["speakers"]).double()
    swapped = torch.from_numpy(separate(model, mix, np.roll(lips, 1, axis=0), fps)["speakers"]).double()
    own = si_snr(est, ref) - base
    swap = si_snr(swapped, ref) - base  # slot i now carries the lips of speaker i-1
    cross = si_snr(est[:, None], ref[None, :])  # (slot, speaker)
    follows = bool((cross.argmax(dim=1) == torch.arange(n)).all())
    return {"si_snri": own.tolist(), "si_snri_swapped": swap.tolist(), "follows_own_lips": follows,
            "pesq_wb": [pesq_wb(r, e) for r, e in zip(sources, out["speakers"])],
            "pesq_wb_mixture": [pesq_wb(r, mix) for r in sources],
            "estoi": [estoi(r, e) for r, e in zip(sources, out["speakers"])],
            "estoi_mixture": [estoi(r, mix) for r in sources], "outputs": out}


def evaluate(model: AVSep, examples, progress: bool = True, listen_dir=None, listen: int = 0, desc: str = "eval") -> dict:
    """examples: iterable of objects with mix, sources, lips, fps, name. The
    first `listen` of them are written to listen_dir/<name>/ (write_listening)."""
    rows = []
    for i, ex in enumerate(tqdm(list(examples), desc=desc, disable=not progress, dynamic_ncols=True)):
        row = score_example(model, ex.mix, ex.sources, ex.lips, ex.fps)
        if listen_dir is not None and i < listen:
            write_listening(Path(listen_dir) / ex.name, ex, row)
        rows.append(row)
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
        # slots whose reference PESQ finds no speech in (NaN) are left out of its means
        **{k: float(np.nanmean([v for r in rows for v in r[k]]))
           for k in ("pesq_wb", "pesq_wb_mixture", "estoi", "estoi_mixture")},
    }


def write_listening(d: Path, ex, row: dict) -> None:
    """d/mix.wav, d/speakerN.wav (clean), d/separatedN.wav, d/residual.wav and
    d/spectrogram.png (mixture and residual, then clean vs separated per slot)."""
    d.mkdir(parents=True, exist_ok=True)
    out = row["outputs"]
    write_wav(d / "mix.wav", ex.mix)
    for i, (clean, est) in enumerate(zip(ex.sources, out["speakers"])):
        write_wav(d / f"speaker{i + 1}.wav", clean)
        write_wav(d / f"separated{i + 1}.wav", est)
    write_wav(d / "residual.wav", out["residual"])
    panels = [("mixture", ex.mix), ("residual (noise and what no slot took)", out["residual"])]
    for i, (clean, est) in enumerate(zip(ex.sources, out["speakers"])):
        panels += [(f"speaker {i + 1}, clean", clean),
                   (f"separated {i + 1}: SI-SNRi {row['si_snri'][i]:.1f} dB", est)]
    _spectrogram_png(d / "spectrogram.png", panels, title=ex.name)


def _spectrogram_png(path: Path, panels: list[tuple[str, np.ndarray]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    from scipy.signal import stft

    rows = len(panels) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(11, 2.2 * rows), sharex=True, sharey=True, squeeze=False)
    peak = max(float(np.abs(x).max()) for _, x in panels) + 1e-9
    for ax, (name, x) in zip(axes.flat, panels):
        f, t, z = stft(np.asarray(x, np.float64) / peak, SAMPLE_RATE, nperseg=512, noverlap=352)
        ax.pcolormesh(t, f / 1000, 20 * np.log10(np.abs(z) + 1e-6), vmin=-90, vmax=-10, shading="auto", cmap="magma")
        ax.set_title(name, fontsize=9)
    for ax in axes[:, 0]:
        ax.set_ylabel("kHz")
    for ax in axes[-1]:
        ax.set_xlabel("s")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
