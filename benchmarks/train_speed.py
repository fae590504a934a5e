"""Training speed on this machine: steps/s of `avsep train` with one process
(1 or N torch threads) and with N processes under torchrun (1 thread each),
at the same global batch. Timed from the log after the first WARM steps, so
start-up, pool loading and the loader's first batches are left out.

    python3 benchmarks/train_speed.py --preset mobile --steps 12 --batch 6 --seconds 2.0 --pool 400

Prints one JSON line per configuration. On a shared machine the figures are
noisy: run it twice and compare.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from avsep_mobile.model import PRESETS

WARM = 2


def run(preset: str, procs: int, threads: int, steps: int, batch: int, seconds: float, pool: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="avsep_speed_") as tmp:
        out = Path(tmp) / "run"
        args = ["-m", "avsep_mobile.cli", "train", "--preset", preset, "--out", str(out), "--steps", str(steps),
                "--batch", str(batch // procs), "--seconds", str(seconds), "--pool", str(pool), "--save-every", str(10**9)]
        launcher = [sys.executable] if procs == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                         "--nproc_per_node", str(procs)]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        subprocess.run(launcher + args, check=True, env=env, capture_output=True, text=True)
        rows = [line.split(",") for line in (out / "log.csv").read_text().splitlines()[1:]]
    elapsed = {int(r[0]): float(r[4]) for r in rows}
    rate = (steps - WARM) / max(elapsed[steps] - elapsed[WARM], 1e-9)
    return {"preset": preset, "processes": procs, "threads_each": threads, "global_batch": batch // procs * procs,
            "seconds": seconds, "steps_per_s": round(rate, 4), "mixtures_per_s": round(rate * (batch // procs) * procs, 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="mobile", choices=list(PRESETS))
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--batch", type=int, default=6, help="global batch, split over the processes")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--pool", type=int, default=400)
    cores = os.cpu_count() or 2
    p.add_argument("--configs", default=f"1x1,1x{cores},{cores}x1", help="PROCESSESxTHREADS, comma-separated")
    args = p.parse_args()
    if args.steps <= WARM:
        sys.exit(f"error: --steps must be > {WARM}")
    for procs, threads in (map(int, c.split("x")) for c in args.configs.split(",")):
        print(json.dumps(run(args.preset, procs, threads, args.steps, args.batch, args.seconds, args.pool)), flush=True)


if __name__ == "__main__":
    main()
