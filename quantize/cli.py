"""`avsep quantize`, `avsep prune`, `avsep distill`: registered by the main CLI
through `add_parsers(subparsers)`; each command imports torch only when it runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

from avsep_mobile.train_flags import add_training_args


def _batch(args, batch: int = 8, seconds: float = 2.0) -> dict:
    """Calibration mixtures (int8.calibration_examples: generated, or --data) as one batch."""
    import numpy as np
    import torch

    from .int8 import calibration_examples

    exs = calibration_examples(batch, seconds, getattr(args, "data", None))
    n = min(len(ex.mix) for ex in exs)
    frames = min(ex.lips.shape[1] for ex in exs)
    return {"mix": torch.from_numpy(np.stack([ex.mix[:n] for ex in exs])),
            "sources": torch.from_numpy(np.stack([ex.sources[:, :n] for ex in exs])),
            "lips": torch.from_numpy(np.stack([ex.lips[:, :frames] for ex in exs])),
            "fps": torch.tensor([exs[0].fps] * len(exs))}


def cmd_prune(args) -> int:
    from avsep_mobile import checkpoint
    from avsep_mobile.info import weight_sparsity

    from .prune import magnitude_prune, prune_to_budget

    if not 0 < args.macs <= 1 or args.blocks < 0 or (args.sparsity is not None and not 0 <= args.sparsity < 1):
        raise ValueError(f"need 0 < --macs <= 1, --blocks >= 0, 0 <= --sparsity < 1 (got {args.macs:g}, {args.blocks}, {args.sparsity})")
    if args.data is not None and not args.data.is_dir():
        raise ValueError(f"--data {args.data} is not a directory: write mixtures with `avsep data make --out {args.data}`")
    model, meta = checkpoint.load(args.checkpoint)
    if args.sparsity is not None:
        pruned, report = magnitude_prune(model, args.sparsity), {}
        report["sparsity"] = weight_sparsity(pruned)
    else:
        pruned, report = prune_to_budget(model, _batch(args), args.macs, args.blocks, log=lambda m: None if args.json else print(m),
                                         drop=args.drop)
    checkpoint.save(args.out, pruned, {**meta, "pruned": report})
    report["checkpoint"] = str(args.out)
    print(json.dumps(report, indent=2) if args.json else f"wrote {args.out}")
    return 0


def cmd_distill(args) -> int:
    from avsep_mobile import checkpoint
    from avsep_mobile.model import AVSep, preset
    from avsep_mobile.train import TrainConfig
    from avsep_mobile.train_flags import training_config

    from .distill import DistillWeights, distill

    if min(args.steps, args.batch) < 1 or args.seconds < 0.5 or args.lr <= 0 or args.features < 0:
        raise ValueError("need --steps, --batch >= 1, --seconds >= 0.5, --lr > 0, --features >= 0")
    if args.student_n_fft and not args.student_hop:
        raise ValueError("--student-n-fft sets the DFT of a --student-hop copy: give --student-hop too")
    tc = TrainConfig(steps=args.steps, batch=args.batch, seconds=args.seconds, lr=args.lr, seed=args.seed,
                     warmup=min(100, args.steps // 10), pool_size=args.pool, save_every=args.save_every, **training_config(args))
    teacher, _ = checkpoint.load(args.teacher)
    if args.student is not None:
        student, _ = checkpoint.load(args.student)
    else:
        student = AVSep(preset(args.student_preset))
    if args.student_hop:
        student = student.with_hop(args.student_hop, args.student_n_fft)
    if args.student_video_pool is not None:  # 1 is a real choice (no pool), not "unset"
        student = student.with_video_pool(args.student_video_pool)
    if args.student_ffn_hidden is not None:
        student = student.with_ffn_hidden(args.student_ffn_hidden)
    path = distill(teacher, student.train(), tc, args.out, weights=DistillWeights(features=args.features))
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 speaks for the run
        print(json.dumps({"checkpoint": str(path)}) if args.json else f"wrote {path}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("prune", help="structured pruning to a MAC budget, or magnitude pruning to a sparsity")
    p.add_argument("--checkpoint", type=Path, help="default: the shipped model")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--macs", type=float, default=0.5, help="keep at most this fraction of MACs per second")
    p.add_argument("--blocks", type=int, default=0, help="first remove this many whole transformer blocks, the least important")
    p.add_argument("--drop", nargs="+", default=[], metavar="BLOCK",
                   help="first remove these blocks by name (e.g. fusion.0: the costliest per frame, three per-slot attentions)")
    p.add_argument("--sparsity", type=float, help="instead: zero this fraction of each layer's weights")
    p.add_argument("--data", type=Path, help="calibration mixtures (default: generated)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_prune)

    p = sub.add_parser("distill", help="train a student from a teacher's outputs and masks")
    p.add_argument("--teacher", type=Path, required=True)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--student", type=Path, help="a checkpoint to start from (e.g. a pruned model)")
    g.add_argument("--student-preset", choices=["base", "mobile", "tiny"], default="mobile")
    p.add_argument("--out", type=Path, default=Path("runs/distill"))
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--pool", type=int, default=4000, help="synthesised utterances to mix from (built once into ~/.cache/avsep)")
    p.add_argument("--save-every", type=int, default=200, help="write last.pt and model.pt every N steps (resumed if present)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--features", type=float, default=0.0, help="weight of hidden-feature matching (MSE to the teacher's lip embeddings)")
    p.add_argument("--student-hop", type=int, metavar="SAMPLES",
                   help="start the student at this hop, a multiple of its own (model.AVSep.with_hop: 320 is 20 ms, half the frame "
                        "rate and about half the cost); it then learns from the teacher's outputs, not its masks")
    p.add_argument("--student-n-fft", type=int, metavar="POINTS",
                   help="with --student-hop: the student's DFT size (default the next power of two above its window of "
                        "two hops; the window itself, e.g. 640, is a complete DFT with fewer bins and costs less)")
    p.add_argument("--student-video-pool", type=int, metavar="PIXELS",
                   help="start the student with its lip step averaging the mouth over this many pixels square "
                        "(model.AVSep.with_video_pool: 4 is a 22 x 22 mouth, a cheaper lip step)")
    p.add_argument("--student-ffn-hidden", type=int, metavar="UNITS",
                   help="start the student with this many feed-forward units, its own kept and the new ones' outputs at zero "
                        "(model.AVSep.with_ffn_hidden: the same ops, more capacity)")
    add_training_args(p)  # the data mix 0 by default: mobile_fast.pt's first 11000 steps (its re-distillation and mobile_pruned.pt: MODEL_CARD.md)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_distill)

    _add_quantize_parser(sub)


def cmd_quantize(args) -> int:
    from avsep_mobile import checkpoint

    from .int8 import calibration_examples
    from .sensitivity import sensitivity, write_report

    if args.calib_mixtures < 1 or args.mixtures < 1:
        raise ValueError(f"--calib-mixtures and --mixtures must be >= 1 (got {args.calib_mixtures}, {args.mixtures})")
    calib = calibration_examples(args.calib_mixtures, data=args.data)  # a bad --data is refused before the model loads
    model, _ = checkpoint.load(args.checkpoint)
    result = sensitivity(model, calib=calib, mixtures=args.mixtures,
                         progress=not args.json, scheme=args.scheme)
    paths = write_report(result, args.out)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        kept = "keep_8bit" if "keep_8bit" in result else "keep_float"
        print(f"wrote {', '.join(str(p) for p in paths)}; {kept.replace('_', ' ')}: {', '.join(result[kept]) or 'none'}")
    return 0


def _add_quantize_parser(sub) -> None:
    p = sub.add_parser("quantize", help="int8 / int4 sensitivity: quantize one layer at a time and report the cost of each "
                                        "(int8 exports themselves: avsep export <target>, int8 by default)")
    p.add_argument("--checkpoint", type=Path, help="default: the shipped model")
    p.add_argument("--scheme", choices=("w8a8", "dynamic", "weights", "int4"), default="w8a8",
                   help="the simulated scheme: w8a8 (ios w8a8, static tflite/onnx), dynamic (android default), weights (weight-only), "
                        "int4 (4-bit Linear weights: which stay at 8 bits)")
    p.add_argument("--out", type=Path, default=Path("dist/quantize"))
    p.add_argument("--data", type=Path, help="calibration mixtures (default: the set shipped in the package)")
    p.add_argument("--calib-mixtures", type=int, default=4)
    p.add_argument("--mixtures", type=int, default=4, help="held-out mixtures to score each layer on")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_quantize)
