"""Parity of every iOS export variant vs float torch, as the CoreML reference
evaluator (export/coreml_eval.py) sees it, and the evaluator's time per
second of streamed audio. Prints a table.

    OMP_NUM_THREADS=1 python benchmarks/coreml_parity.py              # the shipped model
    OMP_NUM_THREADS=1 python benchmarks/coreml_parity.py --preset tiny --seconds 1

Each variant is converted (export/coreml.py, as `avsep export ios` does),
then the test vectors are streamed with state carried through the evaluator
at fp16 rounding (as Core ML runs an fp16 program) and at fp32 compute.
The reference is the float model the package was made from (for the sparse
variant: the magnitude-pruned float model, so the figure is the export's
error, not the pruning's). For int8 the torch simulation the gate used before
the evaluator existed is shown too.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

from avsep_mobile import checkpoint, metrics
from avsep_mobile.export import coreml, vectors
from avsep_mobile.quantize import int8
from avsep_mobile.quantize.prune import magnitude_prune
from avsep_mobile.runtime import signature
from avsep_mobile.runtime.coreml_eval import EvaluatorRunner
from avsep_mobile.runtime.replay import stream
from avsep_mobile.streaming import TorchRunner

KEYS = ("av_step/speakers", "lip_step/lip_emb")


def variants(model, speakers, chunk_hops, sparsity):
    """(name, float reference model, convert kwargs)."""
    pruned = magnitude_prune(copy.deepcopy(model), sparsity)
    return [
        ("fp32", model, dict(precision="fp32")),
        ("fp16", model, dict(precision="fp16")),
        ("int8 w8a8", model, dict(precision="int8", quantize=int8.hook_for("ios", model, speakers, chunk_hops, scheme="w8a8"))),
        ("int8 weights", model, dict(precision="int8", quantize=int8.hook_for("ios", model, speakers, chunk_hops, scheme="weights"))),
        (f"sparse {sparsity:.0%} fp16", pruned, dict(precision="fp16")),
        ("stateful fp16", model, dict(precision="fp16", stateful=True)),
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=["mobile", "tiny"], help="random weights of a preset instead of the shipped checkpoint")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--sparsity", type=float, default=0.5)
    ap.add_argument("--speakers", type=int, default=2)
    args = ap.parse_args(argv)
    model, _ = checkpoint.load(None, args.preset)
    what = args.preset or "shipped mobile"
    rows = []
    for name, ref_model, kw in variants(model, args.speakers, 1, args.sparsity):
        with tempfile.TemporaryDirectory() as tmp:
            coreml.convert(ref_model, args.speakers, 1, tmp, **kw)
            files = coreml.model_files(18 if kw.get("stateful") else 17, kw.get("stateful", False))
            ref = vectors.make(ref_model, args.speakers, 1, seconds=args.seconds)
            sigs = signature.signatures(ref_model, args.speakers, 1)
            row = {"variant": name}
            for compute in ("fp16", "fp32"):
                runner = EvaluatorRunner({s: Path(tmp) / f for s, f in files.items()}, compute=compute)
                t0 = time.perf_counter()
                got = stream(runner, ref, sigs)
                row[f"s_per_s_{compute}"] = (time.perf_counter() - t0) / args.seconds
                row[compute] = {k: metrics.snr_db(ref[k], got[k]) for k in KEYS}
            hook = kw.get("quantize")
            if getattr(hook, "torch_model", None) is not None:
                sim = stream(TorchRunner(hook.torch_model, args.speakers, 1), ref, sigs)
                row["torch_sim"] = {k: metrics.snr_db(ref[k], sim[k]) for k in KEYS}
        rows.append(row)
        print(f"  done {name}", flush=True)
    print(f"\nCoreML reference evaluator vs float torch, {what}, {args.seconds:g} s streamed (SNR dB: speakers / lip_emb)")
    print(f"{'variant':18s} {'fp16 rounding':>16s} {'fp32 compute':>16s} {'torch sim':>16s} {'eval s per s audio':>20s}")
    for r in rows:
        f = lambda d: f"{d[KEYS[0]]:6.1f} / {d[KEYS[1]]:5.1f}" if d else ""  # noqa: E731
        print(f"{r['variant']:18s} {f(r['fp16']):>16s} {f(r['fp32']):>16s} {f(r.get('torch_sim')):>16s} {r['s_per_s_fp16']:20.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
