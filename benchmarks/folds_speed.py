"""What each exact export fold (export/folds.py) buys on the shipped model's
av_step, in one interleaved run: LiteRT fp32, LiteRT int8 (the android
default, dynamic range) and onnxruntime fp32, for no fold, each fold alone and
all of them; the parity of each fp32 export against the UNFOLDED float model;
and (--coreml) the CoreML compute-op count of av_step (non-const MIL ops).

    python benchmarks/folds_speed.py [--rounds 30] [--coreml] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from ab_speed import coreml_ops  # beside this script (its folder is on sys.path)
from anchor import _quiet

KINDS = ("tflite_fp32", "tflite_int8", "onnx_fp32", "tflite_fp32_invoke", "tflite_int8_invoke")
VARIANTS = {"none": (), "layernorm": ("layernorm",), "attn_scale": ("attn_scale",), "const_bias": ("const_bias",),
            "all": ("layernorm", "attn_scale", "const_bias")}


def main(argv=None) -> int:
    from avsep_mobile.export.bench import add_interleaved_args

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_interleaved_args(ap, dirs=False)
    ap.add_argument("--coreml", action="store_true")
    ap.add_argument("--work", type=Path, help="keep the exported files here and reuse them on the next run (default: a temp dir)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    from avsep_mobile import checkpoint, metrics
    from avsep_mobile.export import onnx as onnx_target
    from avsep_mobile.export import tflite, vectors
    from avsep_mobile.export.bench import interleaved
    from avsep_mobile.export.folds import fold
    from avsep_mobile.export.profile import record_feeds
    from avsep_mobile.quantize import int8
    from avsep_mobile.runtime import signature
    from avsep_mobile.runtime.runners import ONNXRunner, TFLiteRunner
    from avsep_mobile.streaming import TorchRunner, step_modules

    model, _ = checkpoint.load(None, None)
    result = {"load_avg_start": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(), "threads": 1}
    if args.coreml:
        result["coreml_av_step_ops"] = {}
        for v, f in VARIANTS.items():
            ops = coreml_ops(step_modules(fold(model, f), 2, 1)["av_step"])
            result["coreml_av_step_ops"][v] = {"total": sum(ops.values()), "by_type": dict(ops.most_common())}
            print(f"coreml av_step {v}: {sum(ops.values())} non-const ops", flush=True)
    vec = vectors.make(model, 2, 1, seconds=2.0)
    feeds = record_feeds(model, 2, 1, vec, signature.signatures(model, 2, 1))["av_step"]
    ref = TorchRunner(model, 2, 1)  # the unfolded float model
    want = [ref.run("av_step", f) for f in feeds]
    hook = int8.hook_for("android", model, 2, 1)
    calls, parity = {}, {}
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        for v, f in VARIANTS.items():
            d = work / v
            if not (d / "done").exists():
                for sub in ("fp32", "int8", "onnx"):
                    (d / sub).mkdir(parents=True, exist_ok=True)
                with _quiet():
                    tflite.convert(model, 2, 1, d / "fp32", "fp32", folds=f)
                    # the int8 file: the android default recipe applied to that float flatbuffer (what convert does)
                    (d / "int8" / tflite.MODEL_FILE).write_bytes(hook((d / "fp32" / tflite.MODEL_FILE).read_bytes()))
                    onnx_target.convert(model, 2, 1, d / "onnx", "fp32", folds=f)
                (d / "done").touch()
            files = {"tflite_fp32": d / "fp32" / tflite.MODEL_FILE, "tflite_int8": d / "int8" / tflite.MODEL_FILE}
            runs = {**{k: TFLiteRunner(p, 1) for k, p in files.items()}, "onnx_fp32": ONNXRunner({"av_step": d / "onnx" / "av_step.onnx"}, 1)}
            parity[v] = {}
            for kind, r in runs.items():
                got = [r.run("av_step", x) for x in feeds]
                parity[v][kind] = round(min(metrics.snr_db(np.stack([w[k] for w in want]), np.stack([g[k] for g in got]))
                                            for k in ("speakers", "residual")), 1)
            # "none" twice (separate runtime instances of the same files): the A/A control for the noise
            for name in (v, "none_again") if v == "none" else (v,):
                runs = {**{k: TFLiteRunner(p, 1) for k, p in files.items()}, "onnx_fp32": ONNXRunner({"av_step": d / "onnx" / "av_step.onnx"}, 1)}
                for kind, r in runs.items():
                    it = itertools.cycle(feeds)
                    calls[f"{kind}/{name}"] = (lambda r=r, it=it: r.run("av_step", next(it)))
                for kind, p in files.items():
                    calls[f"{kind}_invoke/{name}"] = _invoke_only(p, feeds[len(feeds) // 2])
            print(f"exported {v}: parity vs unfolded torch (dB, min of speakers/residual) {parity[v]}", flush=True)
        times = interleaved(calls, rounds=args.rounds, per_round=args.per_round)
    result["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["av_step_ms"] = times
    result["parity_db_vs_unfolded_torch"] = parity
    names = ["none_again", *VARIANTS]
    result["gain_vs_none"] = {k: {v: round(1 - times[f"{k}/{v}"]["p10_ms"] / times[f"{k}/none"]["p10_ms"], 3) for v in names} for k in KINDS}
    result["gain_vs_none_median"] = {k: {v: round(1 - times[f"{k}/{v}"]["median_ms"] / times[f"{k}/none"]["median_ms"], 3) for v in names}
                                     for k in KINDS}
    print(format_result(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def _invoke_only(path, feeds: dict):
    """LiteRT Invoke alone (inputs bound once): the folds change only this part."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=1)
    sr = interp.get_signature_runner("av_step")
    sr(**feeds)
    sub, w = sr._subgraph_index, interp._interpreter
    return lambda: (interp, w.Invoke(sub))


def format_result(r: dict) -> str:
    lines = [f"av_step, 1 thread, interleaved; load average {r['load_avg_start'][0]:.1f} -> {r['load_avg_end'][0]:.1f} on {r['cpus']} CPUs",
             "  gain vs no fold, p10 (median); none_again = the same unfolded files in new instances: the noise floor"]
    names = ["none_again", *VARIANTS]
    lines.append(f"  {'':20s} {'none p10/med ms':>16s} " + " ".join(f"{v:>16s}" for v in names))
    for k in r["gain_vs_none"]:
        t = r["av_step_ms"][f"{k}/none"]
        cells = [f"{100 * r['gain_vs_none'][k][v]:+.1f}% ({100 * r['gain_vs_none_median'][k][v]:+.1f}%)" for v in names]
        lines.append(f"  {k:20s} {t['p10_ms']:7.4f}/{t['median_ms']:.4f} " + " ".join(f"{c:>16s}" for c in cells))
    lines.append("  parity vs unfolded float torch (dB): " + "; ".join(f"{v} {p}" for v, p in r["parity_db_vs_unfolded_torch"].items()))
    if "coreml_av_step_ops" in r:
        lines.append("  CoreML av_step non-const ops: " + ", ".join(f"{v} {c['total']}" for v, c in r["coreml_av_step_ops"].items()))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
