"""Before/after timing of an export change on the shipped model, in one run.

A code change (e.g. the key/value cache layout) cannot be exported from one
checkout both ways, so this works in two phases:

    # on the old code: export av_step/lip_step and the recorded feeds into A
    python benchmarks/ab_speed.py export /tmp/ab/before [--coreml]
    # on the new code
    python benchmarks/ab_speed.py export /tmp/ab/after [--coreml]
    # time both, interleaved, one thread
    python benchmarks/ab_speed.py time /tmp/ab/before /tmp/ab/after [--rounds 30] [--json out.json]

Each directory holds LiteRT fp32, LiteRT int8 (the android default: dynamic
range), onnxruntime fp32, the av_step feeds of 2 s of test vectors streamed
through the float model of that code (the state shapes belong to the code),
the parity of each file against that float model, and (--coreml) the CoreML
compute-op count of av_step (non-const MIL ops, fp16, iOS 17). `time` prints
after/before ratios of the av_step call (runner call and LiteRT Invoke alone),
p10 and median, with the load average.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pickle
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from anchor import (  # beside this script (its folder is on sys.path)
    _invoke_only,
    _quiet,
)

KINDS = ("tflite_fp32", "tflite_int8", "onnx_fp32")


def coreml_ops(step_module) -> Counter:
    """Non-const ops of a step's MIL program (fp16, iOS 17), by type."""
    from avsep_mobile.export import coreml

    with _quiet():
        ml = coreml._convert_step(step_module, "fp16", 17, False)
    return Counter(op.op_type for fn in ml._mil_program.functions.values() for op in fn.operations if op.op_type != "const")


def export(out: Path, with_coreml: bool) -> dict:
    from avsep_mobile import checkpoint, metrics
    from avsep_mobile.export import onnx as onnx_target
    from avsep_mobile.export import tflite, vectors
    from avsep_mobile.export.folds import FOLDS, fold
    from avsep_mobile.export.profile import record_feeds
    from avsep_mobile.quantize import int8
    from avsep_mobile.runtime import signature
    from avsep_mobile.streaming import TorchRunner, step_modules

    model, _ = checkpoint.load(None, None)
    for sub in KINDS:
        (out / sub).mkdir(parents=True, exist_ok=True)
    with _quiet():
        tflite.convert(model, 2, 1, out / "tflite_fp32", "fp32")
        hook = int8.hook_for("android", model, 2, 1)
        tflite.convert(model, 2, 1, out / "tflite_int8", "int8", quant_config=hook)
        onnx_target.convert(model, 2, 1, out / "onnx_fp32", "fp32")
    vec = vectors.make(model, 2, 1, seconds=2.0)
    feeds = record_feeds(model, 2, 1, vec, signature.signatures(model, 2, 1))["av_step"]
    (out / "feeds.pkl").write_bytes(pickle.dumps(feeds))
    ref = TorchRunner(model, 2, 1)
    want = [ref.run("av_step", f) for f in feeds]
    info = {"state_shapes": {s.name: list(s.shape) for s in signature.av_step(model, 2, 1).states}, "parity_db": {}}
    for kind, r in _runners(out).items():
        got = [r.run("av_step", f) for f in feeds]
        info["parity_db"][kind] = round(min(metrics.snr_db(np.stack([w[k] for w in want]), np.stack([g[k] for g in got]))
                                            for k in ("speakers", "residual")), 1)
    if with_coreml:
        ops = coreml_ops(step_modules(fold(model, FOLDS), 2, 1)["av_step"])
        info["coreml_av_step_ops"] = {"total": sum(ops.values()), "by_type": dict(ops.most_common())}
    (out / "info.json").write_text(json.dumps(info, indent=2))
    return info


def _runners(d: Path) -> dict:
    from avsep_mobile.runtime.runners import ONNXRunner, TFLiteRunner

    return {"tflite_fp32": TFLiteRunner(d / "tflite_fp32" / "avsep.tflite", 1), "tflite_int8": TFLiteRunner(d / "tflite_int8" / "avsep.tflite", 1),
            "onnx_fp32": ONNXRunner({"av_step": d / "onnx_fp32" / "av_step.onnx"}, 1)}


def time_dirs(dirs: list[Path], rounds: int, per_round: int) -> dict:
    """Interleaved av_step timing of every kind in every dir; ratios to the first dir."""
    from avsep_mobile.export.bench import interleaved

    calls = {}
    for d in dirs:
        feeds = pickle.loads((d / "feeds.pkl").read_bytes())
        for kind, r in _runners(d).items():
            it = itertools.cycle(feeds)
            calls[f"{kind}/{d.name}"] = (lambda r=r, it=it: r.run("av_step", next(it)))
        for kind in ("tflite_fp32", "tflite_int8"):
            calls[f"{kind}_invoke/{d.name}"] = _invoke_only(d / kind / "avsep.tflite", "av_step", feeds[len(feeds) // 2])
    load_start = [round(x, 2) for x in os.getloadavg()]
    times = interleaved(calls, rounds=rounds, per_round=per_round)
    base = dirs[0].name
    kinds = sorted({k.split("/")[0] for k in calls}, key=lambda k: list(calls).index(f"{k}/{base}"))
    ratios = {k: {d.name: {s: round(times[f"{k}/{d.name}"][s] / times[f"{k}/{base}"][s], 3) for s in ("p10_ms", "median_ms")} for d in dirs}
              for k in kinds}
    int8_over_fp32 = {d.name: {s: round(times[f"tflite_int8/{d.name}"][s] / times[f"tflite_fp32/{d.name}"][s], 3) for s in ("p10_ms", "median_ms")}
                      for d in dirs}
    infos = {d.name: json.loads((d / "info.json").read_text()) for d in dirs}
    return {"threads": 1, "rounds": rounds, "per_round": per_round, "cpus": os.cpu_count(), "load_avg_start": load_start,
            "load_avg_end": [round(x, 2) for x in os.getloadavg()], "av_step_ms": times, "ratio_to_first": ratios,
            "int8_over_fp32": int8_over_fp32, "info": infos}


def format_time(r: dict) -> str:
    names = list(r["int8_over_fp32"])
    lines = [f"av_step, 1 thread, interleaved {r['rounds']} x {r['per_round']} calls; load average {r['load_avg_start'][0]:.2f} -> "
             f"{r['load_avg_end'][0]:.2f} on {r['cpus']} CPUs",
             f"  ratio to {names[0]}: p10 (median)"]
    lines.append(f"  {'':22s} {names[0] + ' p10/med ms':>22s} " + " ".join(f"{n:>16s}" for n in names[1:]))
    for k, per in r["ratio_to_first"].items():
        t = r["av_step_ms"][f"{k}/{names[0]}"]
        lines.append(f"  {k:22s} {t['p10_ms']:10.4f}/{t['median_ms']:.4f} " +
                     " ".join(f"{per[n]['p10_ms']:>7.3f} ({per[n]['median_ms']:.3f})" for n in names[1:]))
    lines.append("  LiteRT int8/fp32 (runner call): " + "; ".join(f"{n} {v['p10_ms']:.3f} ({v['median_ms']:.3f})" for n, v in r["int8_over_fp32"].items()))
    for n, info in r["info"].items():
        ops = info.get("coreml_av_step_ops", {}).get("total", "n/a")
        lines.append(f"  {n}: parity vs its float torch (dB) {info['parity_db']}; CoreML av_step non-const ops {ops}")
    return "\n".join(lines)


def main(argv=None) -> int:
    from avsep_mobile.export.bench import add_interleaved_args

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="export the current code's av_step variants and feeds into DIR")
    e.add_argument("dir", type=Path)
    e.add_argument("--coreml", action="store_true", help="also count av_step's CoreML compute ops")
    t = sub.add_parser("time", help="time DIRs interleaved (ratios to the first)")
    add_interleaved_args(t)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.cmd == "export":
        print(json.dumps(export(args.dir, args.coreml), indent=1))
        return 0
    missing = [str(d) for d in args.dirs if not (d / "info.json").is_file()]
    if missing:
        print(f"error: {', '.join(missing)} not exported: run `ab_speed.py export DIR` first", file=sys.stderr)
        return 2
    r = time_dirs(args.dirs, args.rounds, args.per_round)
    print(format_time(r))
    if args.json:
        args.json.write_text(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
