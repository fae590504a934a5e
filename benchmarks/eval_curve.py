"""The held-out curve of a training run: `avsep eval`'s two held-out sets
(unseen sentences, unseen voices) scored on checkpoints taken during the run.

    OMP_NUM_THREADS=1 python3 benchmarks/eval_curve.py --count 20 --out runs/heldout_curve.csv \
        0=avsep_mobile/checkpoints/mobile.pt 1000=runs/snap/step1000.pt ...

Each argument is STEP=CHECKPOINT (the step in this run at which the checkpoint
was taken). Rows already in --out are kept and not re-scored, so the curve can
grow while the run goes on; benchmarks/plot_training.py --heldout draws it.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

FIELDS = ["step", "set", "mixtures", "si_snri_db", "follows_own_lips"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="+", help="STEP=CHECKPOINT")
    p.add_argument("--count", type=int, default=20, help="mixtures per held-out set")
    p.add_argument("--out", type=Path, required=True, help="CSV, appended to")
    args = p.parse_args()

    from avsep_mobile import checkpoint
    from avsep_mobile.data.mixtures import heldout_examples
    from avsep_mobile.data.speech import build_eval_pool, build_unseen_voice_pool
    from avsep_mobile.evaluate import evaluate

    done = set()
    if args.out.exists():
        done = {(int(r["step"]), r["set"]) for r in csv.DictReader(args.out.open())}
    else:
        args.out.write_text(",".join(FIELDS) + "\n")
    sets = {"unseen_sentences": heldout_examples(build_eval_pool(), count=args.count),
            "unseen_voices": heldout_examples(build_unseen_voice_pool(), count=args.count)}
    for item in args.checkpoints:
        step, path = item.split("=", 1)
        model, _ = checkpoint.load(path)
        for name, examples in sets.items():
            if (int(step), name) in done:
                continue
            res = evaluate(model, examples, desc=f"step {step} {name}")
            with args.out.open("a") as f:
                csv.writer(f).writerow([int(step), name, res["mixtures"], f"{res['si_snri_db']:.3f}",
                                        f"{res['follows_own_lips']:.3f}"])
            print(f"step {step} {name}: {res['si_snri_db']:.2f} dB SI-SNRi, follows own lips {100 * res['follows_own_lips']:.0f}%",
                  flush=True)


if __name__ == "__main__":
    main()
