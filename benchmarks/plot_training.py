"""Plot a training run's log.csv (loss and SI-SNR per step) to a PNG, with the
held-out curve from benchmarks/eval_curve.py beside it.

    python benchmarks/plot_training.py runs/mobile/log.csv avsep_mobile/checkpoints/training_curve.png \
        [--before run1/log.csv --before run2/log.csv] [--heldout runs/heldout_curve.csv]

--before (repeatable, oldest first): the logs of the runs this one was
initialised from (--init), drawn first so the steps run on; --heldout's steps
count from the start of the last run (negative for checkpoints of earlier runs).
"""

import argparse
import csv
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def smooth(x: np.ndarray, n: int = 50) -> np.ndarray:
    return np.convolve(x, np.ones(n) / n, mode="valid") if len(x) > n else x


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("log_csv")
    p.add_argument("out_png")
    p.add_argument("--before", action="append", default=[], help="log.csv of a run this one started from (oldest first)")
    p.add_argument("--heldout", help="CSV from benchmarks/eval_curve.py")
    args = p.parse_args()

    offset, minutes, runs = 0, 0.0, []
    for i, path in enumerate(args.before + [args.log_csv]):
        d = np.genfromtxt(path, delimiter=",", names=True)
        last = i == len(args.before)
        runs.append((d, offset, "tab:blue" if last else ["tab:gray", "tab:olive", "tab:brown"][i % 3]))
        minutes += d["elapsed_s"][-1] / 60
        if not last:
            offset += int(d["step"][-1])
    panels = 3 if args.heldout else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.5))
    for ax, key, label in ((axes[0], "loss", "training loss"), (axes[1], "si_snr_db", "training SI-SNR (dB)")):
        for run, start, color in runs:
            ax.plot(run["step"] + start, run[key], alpha=0.2, color=color)
            ax.plot(run["step"][len(run) - len(smooth(run[key])):] + start, smooth(run[key]), color=color)
        ax.set_title(label)
        ax.grid(alpha=0.3)
    axes[0].set_xlabel("step")
    axes[1].set_xlabel(f"step  ({minutes:.0f} min in all)")
    if args.heldout:
        curves = defaultdict(list)
        for r in csv.DictReader(open(args.heldout)):
            curves[r["set"]].append((int(r["step"]) + offset, float(r["si_snri_db"]), int(r["mixtures"])))
        for name, pts in sorted(curves.items()):
            pts.sort()
            axes[2].plot([s for s, _, _ in pts], [v for _, v, _ in pts], "o-", label=f"{name.replace('_', ' ')} ({pts[0][2]} mixtures)")
        axes[2].set_title("held-out SI-SNRi (dB)")
        axes[2].set_xlabel("step")
        axes[2].grid(alpha=0.3)
        axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out_png, dpi=110)


if __name__ == "__main__":
    main()
