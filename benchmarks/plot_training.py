"""Plot a training run's log.csv (loss and SI-SNR per step) to a PNG.

    python benchmarks/plot_training.py runs/mobile/log.csv avsep_mobile/checkpoints/training_curve.png
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def smooth(x: np.ndarray, n: int = 50) -> np.ndarray:
    return np.convolve(x, np.ones(n) / n, mode="valid") if len(x) > n else x


def main(log_csv: str, out_png: str) -> None:
    d = np.genfromtxt(log_csv, delimiter=",", names=True)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, key, label in ((a, "loss", "loss"), (b, "si_snr_db", "training SI-SNR (dB)")):
        ax.plot(d["step"], d[key], alpha=0.25, color="tab:blue")
        ax.plot(d["step"][len(d) - len(smooth(d[key])):], smooth(d[key]), color="tab:blue")
        ax.set_xlabel("step")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    b.set_xlabel(f"step  ({d['elapsed_s'][-1] / 60:.0f} min in all)")
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)


if __name__ == "__main__":
    main(*sys.argv[1:3])
