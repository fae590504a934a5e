"""Closed-loop drift of an int8 bundle over one long stream (state never
reset), against the float model of its checkpoint:

    python3 benchmarks/int8_drift.py dist/android [--seconds 64]

Prints the output SNR vs float over the first and the last 10 s, and their
difference (export/thresholds.py INT8_MAX_DRIFT_DB bounds it). An ios bundle
cannot run on Linux: its int8 numerics are streamed instead through the torch
model the package is traced from (quantize.int8.CoreMLInt8.torch_model)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("--seconds", type=float, default=64.0, help="stream length (held-out mixtures back to back)")
    args = p.parse_args(argv)

    import torch

    from avsep_mobile.data.mixtures import heldout_examples
    from avsep_mobile.data.speech import build_eval_pool
    from avsep_mobile.export import thresholds
    from avsep_mobile.export.bench import float_model
    from avsep_mobile.export.int8_gate import drift
    from avsep_mobile.quantize import int8
    from avsep_mobile.runtime import manifest, runners
    from avsep_mobile.streaming import TorchRunner

    torch.set_num_threads(1)
    m = manifest.load(args.bundle)
    model, weights = float_model(m)
    if weights != "checkpoint":
        print(f"error: the checkpoint of {args.bundle} is missing or changed: drift needs the float model it came from", file=sys.stderr)
        return 2
    speakers, k = m["speakers"], m["chunk_hops"]
    runner, numerics = runners.for_bundle(args.bundle, m, threads=1), m["target"]
    if runner is None:  # CoreML on Linux
        hook = int8.hook_for("ios", model, speakers, k)
        runner, numerics = TorchRunner(hook.torch_model, speakers, k), "torch simulation of the ios int8 package"
    n = max(2, round(args.seconds / 4.0))
    examples = heldout_examples(build_eval_pool(progress=False), n, speakers, seconds=4.0)
    result = drift(runner, model, speakers, k, examples)
    result.update({"bundle": str(args.bundle), "precision": m["precision"], "numerics": numerics, "max_drift_db": thresholds.INT8_MAX_DRIFT_DB})
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
