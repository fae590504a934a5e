"""States held inside the runtime against explicit state I/O, timed in one
interleaved run (one thread, p10 and median of every call): for each bundle,
its runner with `held_state` and without, per step, and the ratio held /
explicit. An explicit call binds every state in and reads every state out,
as an app feeding them back does; a held call binds only the data.

    python benchmarks/held_state.py dist/onnx dist/android [--rounds 30] [--json out.json]

The feeds are the bundle's own test vectors, streamed once through the
explicit runner; the held runner carries its own state through the same calls.
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import datetime, timezone

from anchor import cpu_name  # beside this script (its folder is on sys.path)


def main(argv=None) -> int:
    from avsep_mobile.export import stream_memory, vectors
    from avsep_mobile.export.bench import add_interleaved_args, interleaved, step_calls
    from avsep_mobile.runtime import manifest, runners
    from avsep_mobile.runtime.replay import stream

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_interleaved_args(ap)
    args = ap.parse_args(argv)

    calls, state_kib = {}, {}
    for d in args.dirs:
        m = manifest.load(d)
        recorded = runners.Recording(runners.for_bundle(d, m, threads=1))
        stream(recorded, vectors.load_npz(d / "test_vectors" / vectors.NPZ), m["signatures"])
        state_kib[str(d)] = round(stream_memory.state_bytes(m["signatures"])["total"] / 1024, 1)
        for mode, r in (("explicit", recorded.runner), ("held", runners.for_bundle(d, m, threads=1, held_state=True))):
            calls.update({f"{name}/{mode}": call for name, call in step_calls(str(d), r, recorded.feeds).items()})
    load = os.getloadavg()
    times = interleaved(calls, rounds=args.rounds, per_round=args.per_round)
    result = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu_name(), "threads": 1,
              "load_avg": [round(load[0], 2), round(os.getloadavg()[0], 2)], "call_ms": times, "ratio_held_p10": {}}
    print(f"{result['date']}, 1 thread, {args.rounds} x {args.per_round} interleaved calls, load {result['load_avg'][0]} -> "
          f"{result['load_avg'][1]}, {result['cpu']}")
    print(f"  {'bundle / step':40s} {'explicit p10 ms':>16s} {'held p10 ms':>12s} {'held/explicit p10 (median)':>27s}")
    for d in args.dirs:
        for step in ("av_step", "lip_step"):
            e, h = times[f"{d}/{step}/explicit"], times[f"{d}/{step}/held"]
            ratio = round(h["p10_ms"] / e["p10_ms"], 3)
            result["ratio_held_p10"][f"{d}/{step}"] = ratio
            print(f"  {(str(d) + '/' + step)[-40:]:40s} {e['p10_ms']:16.4f} {h['p10_ms']:12.4f} {ratio:14.3f} "
                  f"({h['median_ms'] / e['median_ms']:.3f})")
        print(f"  {str(d)[-40:]:40s} state {state_kib[str(d)]} KiB per stream (both steps)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
