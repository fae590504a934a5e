"""Several exported bundles of one model timed in one interleaved run (one
thread, p10 and median of every call): cost per audio second and its ratio to
the first bundle, with each bundle's model bytes. For precisions side by side
(fp32 / int8 / int4 of a target), which `avsep bench` times one at a time.

    python benchmarks/bundle_speed.py dist/android_fp32 dist/android_int8 dist/android_int4 [--rounds 30] [--json out.json]

Every bundle gets the same calls: the feeds (inputs and carried states) of the
float model streaming 2 s of test vectors, so the bundles must share the
signature (one model, speakers, chunk).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone

import torch
from anchor import cpu_name  # beside this script (its folder is on sys.path)


def main(argv=None) -> int:
    from avsep_mobile.export import vectors
    from avsep_mobile.export.bench import (
        add_interleaved_args,
        float_model,
        interleaved,
        step_calls,
    )
    from avsep_mobile.export.profile import record_feeds
    from avsep_mobile.runtime import manifest, runners

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_interleaved_args(ap)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    bundles = {str(d): manifest.load(d) for d in args.dirs}
    first = next(iter(bundles.values()))
    if any(m["signatures"] != first["signatures"] for m in bundles.values()):
        raise SystemExit("error: the bundles' signatures differ: time bundles of one model, speakers and chunk")
    model, _ = float_model(first)
    vec = vectors.make(model, first["speakers"], first["chunk_hops"], seconds=2.0)
    feeds = record_feeds(model, first["speakers"], first["chunk_hops"], vec, first["signatures"], threads=1)
    calls = {}
    for d, m in bundles.items():
        r = runners.for_bundle(d, m, 1)
        if r is None:
            raise SystemExit(f"error: {d}: {m['target']} cannot run on this machine")
        calls.update(step_calls(d, r, feeds))
    load = os.getloadavg()
    times = interleaved(calls, rounds=args.rounds, per_round=args.per_round)
    av_per_s = first["sample_rate"] / first["chunk_samples"]
    lip_per_s = first["lip_fps"]
    result = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu_name(), "threads": 1,
              "load_avg": [round(load[0], 2), round(os.getloadavg()[0], 2)], "call_ms": times, "bundles": {}}
    base = None
    for d, m in bundles.items():
        row = {"target": m["target"], "precision": m["precision"],
               "model_bytes": sum(e["bytes"] for f, e in m["files"].items() if f in set(m["model_files"].values()))}
        for stat in ("p10_ms", "median_ms"):
            row[f"ms_per_audio_second_{stat[:-3]}"] = round(times[f"{d}/av_step"][stat] * av_per_s + times[f"{d}/lip_step"][stat] * lip_per_s, 3)
        base = base or row
        row["ratio_p10"] = round(row["ms_per_audio_second_p10"] / base["ms_per_audio_second_p10"], 3)
        row["ratio_median"] = round(row["ms_per_audio_second_median"] / base["ms_per_audio_second_median"], 3)
        row["bytes_ratio"] = round(row["model_bytes"] / base["model_bytes"], 3)
        result["bundles"][d] = row
    print(f"{result['date']}, 1 thread, {args.rounds} x {args.per_round} interleaved calls, load {result['load_avg'][0]} -> "
          f"{result['load_avg'][1]}, {result['cpu']}")
    print(f"  {'bundle':36s} {'ms/audio s p10':>15s} {'median':>8s} {'ratio p10 (median)':>19s} {'bytes':>9s} {'ratio':>6s}")
    for d, r in result["bundles"].items():
        print(f"  {d[-36:]:36s} {r['ms_per_audio_second_p10']:15.2f} {r['ms_per_audio_second_median']:8.2f} "
              f"{r['ratio_p10']:10.2f} ({r['ratio_median']:.2f}) {r['model_bytes']:9d} {r['bytes_ratio']:6.3f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
