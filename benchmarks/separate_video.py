"""`avsep separate` on a long two-face clip: time, peak memory, faces and
frames tracked.

    OMP_NUM_THREADS=1 python3 benchmarks/separate_video.py --minutes 10 --work /tmp/avsep_bench

Makes the clip once (tests/media_clips.py: the astronaut photograph, two
faces side by side, each mouth opening with its own looping synthesised
voice, the voices mixed), then runs the real CLI under /usr/bin/time -v and
prints one JSON line: wall time, real-time factor, peak RSS, and the CLI's
summary (faces, frames with and without a face, per-slot activity).
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/avsep_bench"))
    ap.add_argument("--chunk-hops", type=int, default=1)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    clip = args.work / f"two_faces_{args.minutes:g}min.mp4"
    if not clip.is_file():
        t0 = time.time()
        tracks = speech(args.minutes * 60, seed=3, voices=2)
        write_clip(clip.with_suffix(".tmp.mp4"), tracks)
        os.replace(clip.with_suffix(".tmp.mp4"), clip)
        print(f"made {clip} in {time.time() - t0:.0f} s", file=sys.stderr)
    out = args.work / "out"
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "avsep_mobile.cli", "separate", str(clip), "--out", str(out),
           "--chunk-hops", str(args.chunk_hops)]
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.time() - t0
    if r.returncode != 0:
        print(r.stderr[-2000:], file=sys.stderr)
        return r.returncode
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
