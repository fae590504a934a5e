"""`avsep separate` on a long two-face clip: time, peak memory, faces and
frames tracked.

    OMP_NUM_THREADS=1 python3 benchmarks/separate_video.py --minutes 10 --work /tmp/avsep_bench

Makes the clip once (tests/media_clips.py: the astronaut photograph, two
faces side by side, each mouth opening with its own looping synthesised
voice, the voices mixed), then runs the real CLI under /usr/bin/time -v and
prints one JSON line: wall time, real-time factor, peak RSS, and the CLI's
summary (faces, frames with and without a face, detector runs, per-slot
activity).

--profile runs the CLI under cProfile instead and prints `profile`: CPU
seconds and share of the run in each stage (decoding, detector, tracker, face
mesh, mouth bridge, lip_step, av_step, and what runs before separating).
cProfile's own overhead inflates Python-heavy code (torch's module calls
most), so read the shares, not the seconds, and take CPU time from a run
without it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.media_clips import speech, write_clip  # noqa: E402

# the CLI under cProfile timed by this process's CPU time, not the wall clock
# (which on a shared machine counts waiting for a core), imports included
PROFILED = """
import cProfile, sys, time
p = cProfile.Profile(time.process_time)
p.enable()
from avsep_mobile.cli import main
rc = main(sys.argv[2:])
p.disable()
p.dump_stats(sys.argv[1])
sys.exit(rc)
"""


def stage_profile(path: Path) -> dict:
    """{stage: {"seconds", "share"}} from a cProfile file: each stage is the
    cumulative time of the function that runs it, found by its code object."""
    import pstats

    from avsep_mobile import separate_video, streaming, video
    from avsep_mobile.runtime import faces, mouth_bridge

    stages = {"decoding": video.frames, "detector": faces.FaceDetector.__call__, "tracker": faces.SlotTracker.update,
              "face mesh": faces.FaceMesh.__call__, "mouth bridge": mouth_bridge.MouthBridge.crop,
              "lip_step + av_step": streaming.TorchRunner.run}
    stats = pstats.Stats(str(path)).stats  # {(file, line, name): (calls, primitive calls, tottime, cumtime, callers)}

    def cumulative(fn) -> float:
        code = fn.__code__
        return stats.get((code.co_filename, code.co_firstlineno, code.co_name), (0, 0, 0.0, 0.0))[3]

    total = sum(v[2] for v in stats.values())  # every function's own time: the whole profiled run
    seconds = {name: cumulative(fn) for name, fn in stages.items()}
    seconds["before separating (imports, model load)"] = total - cumulative(separate_video.separate_video)
    seconds["rest (scheduler, WAV writing, ...)"] = total - sum(seconds.values())
    return {name: {"seconds": round(s, 2), "share": round(s / total, 3)} for name, s in seconds.items()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/avsep_bench"))
    ap.add_argument("--chunk-hops", type=int, default=1)
    ap.add_argument("--profile", action="store_true", help="per-stage breakdown under cProfile (no timing figures)")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    clip = args.work / f"two_faces_{args.minutes:g}min.mp4"
    if not clip.is_file():
        t0 = time.time()
        tracks = speech(args.minutes * 60, seed=3, voices=2)
        write_clip(clip.with_suffix(".tmp.mp4"), tracks)
        os.replace(clip.with_suffix(".tmp.mp4"), clip)
        print(f"made {clip} in {time.time() - t0:.0f} s", file=sys.stderr)
    out, prof = args.work / "out", args.work / "separate.prof"
    runner = ["-c", PROFILED, str(prof)] if args.profile else ["-m", "avsep_mobile.cli"]
    cmd = ["/usr/bin/time", "-v", sys.executable, *runner, "separate", str(clip), "--out", str(out),
           "--chunk-hops", str(args.chunk_hops)]
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.time() - t0
    if r.returncode != 0:
        print(r.stderr[-2000:], file=sys.stderr)
        return r.returncode
    if args.profile:
        summary = json.loads((out / "summary.json").read_text())
        print(json.dumps({"clip": str(clip), "audio_seconds": summary["seconds"], "video": summary["video"],
                          "profile": stage_profile(prof)}))
        return 0
    def field(name):
        return float(re.search(rf"{re.escape(name)}: ([\d.]+)", r.stderr).group(1))

    peak_kb, cpu = field("Maximum resident set size (kbytes)"), field("User time (seconds)") + field("System time (seconds)")
    summary = json.loads((out / "summary.json").read_text())
    # on a shared machine wall time includes waiting for a core; CPU time is the work
    print(json.dumps({"clip": str(clip), "audio_seconds": summary["seconds"], "wall_seconds": round(wall, 1),
                      "cpu_seconds": round(cpu, 1), "rtf_wall": round(wall / summary["seconds"], 3),
                      "rtf_cpu": round(cpu / summary["seconds"], 3), "peak_rss_mb": round(peak_kb / 1024, 1),
                      "chunk_hops": args.chunk_hops, "faces": summary["faces"], "video": summary["video"],
                      "slots": summary["slots"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
