"""`avsep data make|lips|import|pack`: labelled mixtures and mouth tracks on
disk, an index of a user's own talking-face clips for training, and a training
pack to carry to a machine that cannot synthesise speech.

Errors are raised as ValueError/OSError; avsep's main() prints them as one
`error:` line and returns 2."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes
from ..audio import read_wav
from ..lips_file import FPS_RANGE


def _check_fps(fps: float | None) -> None:
    if fps is not None and not FPS_RANGE[0] <= fps <= FPS_RANGE[1]:
        raise ValueError(f"--fps {fps:g} is outside {FPS_RANGE[0]:g}..{FPS_RANGE[1]:g}: pass the camera frame rate")


def cmd_make(args) -> int:
    from tqdm import tqdm

    from .mixtures import make_example, write_example
    from .speech import build_pool

    if args.count < 1:
        raise ValueError(f"--count must be at least 1, got {args.count}")
    if not 0.5 <= args.seconds <= 60:
        raise ValueError(f"--seconds must be within 0.5..60, got {args.seconds:g}")
    _check_fps(args.fps)
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out} is a file: pass a directory")
    pool = build_pool(args.cache_dir, args.pool, args.seed, progress=not args.json)
    for i in tqdm(range(args.count), desc="mixtures", disable=args.json, dynamic_ncols=True):
        # a seed per (run seed, index): runs with different --seed never share a mixture
        seed = int(np.random.SeedSequence([args.seed, i]).generate_state(1)[0])
        ex = make_example(pool, seed, args.speakers, args.seconds, args.fps)
        ex.name = f"mix_{i:06d}"
        write_example(args.out, ex)
    result = {"count": args.count, "dir": str(args.out), "seconds": args.seconds, "speakers": args.speakers}
    text = f"wrote {args.count} mixtures of {args.speakers} speakers, {args.seconds:g} s each, to {args.out}"
    print(json.dumps(result, indent=2) if args.json else text)
    return 0


def cmd_lips(args) -> int:
    from .lips import render_lips

    _check_fps(args.fps)
    speech, notes = read_wav(args.speech)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    lips = render_lips(speech, 16000, args.fps, args.seed)[None]  # (1, T, 88, 88)
    buf = io.BytesIO()
    np.savez_compressed(buf, lips=lips, fps=np.float64(args.fps))
    atomic_write_bytes(args.out, buf.getvalue())
    result = {"lips": str(args.out), "frames": lips.shape[1], "fps": args.fps}
    print(json.dumps(result, indent=2) if args.json else f"wrote {args.out}: {lips.shape[1]} frames at {args.fps:g} fps")
    return 0


def cmd_import(args) -> int:
    from tqdm import tqdm

    from .clips import import_dir

    with tqdm(desc="import", unit="clip", disable=args.json, dynamic_ncols=True) as bar:
        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)

        result = import_dir(args.dir, args.out, args.lips, progress=progress)
    text = (f"wrote {result['index']}: {result['clips']} clips of {result['speakers']} speakers, {result['hours']:.2f} h "
            f"({result['made']} made, {result['cached']} from the cache), {len(result['skipped'])} skipped")
    text += "".join(f"\n  skipped {s['source']}: {s['reason']}" for s in result["skipped"])
    print(json.dumps(result, indent=2) if args.json else text)
    return 0


def cmd_pack(args) -> int:
    from .pack import write_pack

    if args.pool < 2 or args.recorded_pool < 0:
        raise ValueError(f"need --pool >= 2 and --recorded-pool >= 0, got {args.pool} and {args.recorded_pool}")
    level = {} if args.opus_level is None else {"opus_level": args.opus_level}
    info = write_pack(args.out, args.pool, args.seed, args.recorded_pool, cache_dir=args.cache_dir, progress=not args.json,
                      **level)
    mb = sum(p["bytes"] for p in info["pools"].values()) / 1e6
    text = f"wrote {args.out}: {mb:.1f} MB, " + ", ".join(
        f"{name} {p['utterances']} utterances / {p['hours']:.2f} h at {p['kbps']:g} kbps" for name, p in info["pools"].items())
    print(json.dumps(info, indent=2) if args.json else text)
    return 0


def add_parser(subparsers) -> None:
    data = subparsers.add_parser("data", help="make labelled mixtures or a mouth track for a speech file; import your own clips; "
                                              "pack the training pools for a machine that cannot make them")
    sub = data.add_subparsers(dest="data_command", required=True)

    p = sub.add_parser("make", help="write mixtures as DIR/mix_NNNNNN/{mix.wav, s1.wav.., lips.npz}")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speakers", type=int, choices=[2, 3], default=2)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--fps", type=float, help="camera rate (default: 25 or 30, drawn per mixture)")
    p.add_argument("--pool", type=int, default=200, help="synthesised utterances to mix from")
    p.add_argument("--cache-dir", type=Path, help="where synthesised speech is cached (default ~/.cache/avsep, or $AVSEP_CACHE)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_make)

    p = sub.add_parser("lips", help="render the mouth track of a clean speech file")
    p.add_argument("speech", type=Path)
    p.add_argument("--out", type=Path, required=True, help="lips.npz: lips uint8 [1, T, 88, 88], fps")
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--seed", type=int, default=0, help="face, lighting and head motion; not the mouth movement")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_lips)

    p = sub.add_parser("import", help="index a folder of single-speaker talking-face clips for `avsep train --data`")
    p.add_argument("dir", type=Path, metavar="DIR", help="videos (any container PyAV reads), DIR/<speaker>/<clip>.mp4; "
                                                         "a clean CLIP.wav/.flac beside a clip replaces its sound")
    p.add_argument("--out", type=Path, required=True, help="the index dir (reused: clips already there are not made again)")
    p.add_argument("--lips", choices=["rendered", "crops"], default="rendered",
                   help="mouths redrawn by the bridge, as `avsep separate` feeds the model (default), or real crops")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("pack", help="the training pools, Opus-coded in one folder, for `avsep train --pack` on a machine "
                                    "with no speech synthesiser (a GPU machine)")
    p.add_argument("out", type=Path, metavar="OUT")
    p.add_argument("--pool", type=int, default=3000, help="synthesised utterances (the pool `avsep train --pool N` mixes)")
    p.add_argument("--recorded-pool", type=int, default=1500,
                   help="recorded-speech utterances, training speakers only (0: none; then train with --recorded 0)")
    p.add_argument("--seed", type=int, default=0, help="the pools' seed (avsep train's pool seed is 0)")
    p.add_argument("--opus-level", type=float,
                   help="libsndfile's Opus compression level, 0..1 (default 0.96: about 15 kbps; "
                        "3000 + 1500 utterances in about 45 MB)")
    p.add_argument("--cache-dir", type=Path, help="where the pools are cached (default ~/.cache/avsep, or $AVSEP_CACHE)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_pack)
