"""`avsep`: the command line. `build_parser()` builds it, `main(argv)` runs it."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from .train_flags import add_training_args


def _model_args(p: argparse.ArgumentParser, presets: bool = True) -> None:
    p.add_argument("--checkpoint", type=Path, help="a checkpoint written by avsep (default: the shipped mobile_lean.pt; mobile.pt is the full model)")
    if presets:
        p.add_argument("--preset", choices=["base", "mobile", "tiny"], help="an untrained preset instead of a checkpoint")


def _load_model(args):
    from . import checkpoint

    return checkpoint.load(args.checkpoint, getattr(args, "preset", None) if args.checkpoint is None else None)


def _check_min(args, **minimum) -> None:
    """One-line error for the first --flag below its minimum (before any work)."""
    for name, lo in minimum.items():
        value = getattr(args, name)
        if value < lo:
            raise ValueError(f"--{name.replace('_', '-')} must be >= {lo:g}, got {value:g}")


def _emit(args, result: dict, text: str) -> int:
    print(json.dumps(result, indent=2) if getattr(args, "json", False) else text)
    return 0


# ---------------------------------------------------------------- commands


def cmd_info(args) -> int:
    from .info import format_info, model_info

    _check_min(args, speakers=1, chunk_hops=1)
    model, _ = _load_model(args)
    info = model_info(model, args.speakers, args.chunk_hops)
    return _emit(args, info, format_info(info))


def cmd_train(args) -> int:
    from .model import preset
    from .train import TrainConfig, train
    from .train_flags import training_config

    _check_min(args, steps=1, batch=1, seconds=0.5, pool=2, save_every=1)
    if args.lr <= 0:
        raise ValueError(f"--lr must be > 0, got {args.lr:g}")
    tc = TrainConfig(steps=args.steps, batch=args.batch, seconds=args.seconds, lr=args.lr, seed=args.seed, pool_size=args.pool,
                     save_every=args.save_every, **training_config(args))
    init = None
    if args.init is not None:  # its weights and config; a fresh optimizer (last.pt, when present, wins)
        from . import checkpoint

        init = checkpoint.load(args.init)[0].train()
        if args.attn_window is not None:
            init = init.with_attn_window(args.attn_window)
    elif args.attn_window is not None:
        raise ValueError("--attn-window shortens a trained model's attention: give --init too")
    path = train(init.cfg if init is not None else preset(args.preset), tc, args.out, init=init)
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 speaks for the run
        return 0
    return _emit(args, {"checkpoint": str(path)}, f"wrote {path}")


def _eval_sets(args) -> dict:
    """name -> examples: the user's --data, or the built-in held-out sets."""
    if args.data is not None:
        from .data.mixtures import list_examples, read_example

        paths = list_examples(args.data)
        if not paths:
            raise ValueError(f"{args.data} holds no mixtures (DIR/<name>/mix.wav): make some with `avsep data make`")
        return {"data": [read_example(p) for p in paths[: args.count]]}
    from .data.mixtures import heldout_examples, scaled
    from .data.mouth_augment import eval_rule_opening
    from .data.recorded import build_heldout_recorded_pool
    from .data.speech import build_eval_pool, build_unseen_voice_pool
    from .data.talking_face import camera_example
    from .export.levels import GATE_LEVELS, gain

    # training-family voices reading unseen sentences; then a voice family no training pool contains; then
    # the unseen sentences again, each mixture in its own simulated room (target: direct path + early reflections)
    eval_pool = build_eval_pool()
    recorded = heldout_examples(build_heldout_recorded_pool(), count=args.count, speakers=args.speakers)
    sentences = heldout_examples(eval_pool, count=args.count, speakers=args.speakers)
    return {"unseen_sentences": sentences,
            "unseen_voices": heldout_examples(build_unseen_voice_pool(), count=args.count, speakers=args.speakers),
            "reverberant": heldout_examples(eval_pool, count=args.count, speakers=args.speakers, room=1.0),
            # people reading letters, syllables and phrases (data.recorded), speakers no training pool holds
            "recorded_speech": recorded,
            # the same mixtures, each mouth a real face's (data.talking_face) whose jaw moves by a rule no training
            # track used (data.mouth_augment.eval_rule_opening), through the face mesh and bridge as `avsep separate`
            "recorded_speech_camera": [camera_example(ex, eval_rule_opening) for ex in recorded],
            # the unseen sentences at the device band's quiet gate level, -45 dBFS RMS (a soft or distant talker)
            "quiet": [scaled(ex, gain(ex.mix, GATE_LEVELS["quiet"])) for ex in sentences]}


def _eval_line(name: str, res: dict) -> str:
    return (f"{name.replace('_', ' ')}: {res['mixtures']} mixtures, SI-SNRi {res['si_snri_db']:.2f} dB "
            f"(per slot {', '.join(f'{v:.2f}' for v in res['si_snri_db_per_slot'])}), "
            f"lips swapped {res['si_snri_swapped_db']:.2f} dB, follows own lips {100 * res['follows_own_lips']:.0f}%, "
            f"PESQ-WB {res['pesq_wb']:.2f} (mixture {res['pesq_wb_mixture']:.2f}), "
            f"ESTOI {res['estoi']:.3f} (mixture {res['estoi_mixture']:.3f})")


def cmd_eval(args) -> int:
    import contextlib

    from .atomic import atomic_dir
    from .evaluate import evaluate

    _check_min(args, count=1, listen=0)
    if args.data is not None and not args.data.is_dir():
        raise ValueError(f"--data {args.data} is not a directory: make mixtures with `avsep data make --out {args.data}`")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out} is a file: pass a directory for the listening material")
    model, _ = _load_model(args)
    sets = _eval_sets(args)
    res = {}
    # listening material appears all at once, or not at all
    with (atomic_dir(args.out) if args.out is not None else contextlib.nullcontext()) as tmp:
        for name, examples in sets.items():
            res[name] = evaluate(model, examples, progress=not args.json, desc=name, listen=args.listen,
                                 listen_dir=None if tmp is None else tmp / name)
        if tmp is not None:
            (tmp / "results.json").write_text(json.dumps(res, indent=2))
    text = "\n".join(_eval_line(k, v) for k, v in res.items())
    if args.out is not None:
        text += f"\nwrote listening material (mixture, clean and separated speakers, spectrogram) to {args.out}"
    return _emit(args, res, text)


def cmd_separate(args) -> int:
    from tqdm import tqdm

    from .audio import read_wav
    from .lips_file import read_lips
    from .pipeline import separate, stream_separate
    from .video import VIDEO_SUFFIXES, is_video_path

    _check_min(args, chunk_hops=1, max_speakers=1)
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out} is a file: pass a directory")
    if is_video_path(args.mix):
        return cmd_separate_video(args)
    if args.lips in LIP_MODES or args.lips is None:
        raise ValueError(f"{args.mix} is audio: pass its mouth tracks with --lips lips.npz, "
                         f"or a video ({', '.join(VIDEO_SUFFIXES)}) to track faces in")
    mix, notes = read_wav(args.mix)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    lips, fps = read_lips(Path(args.lips), n_samples=len(mix))
    model, _ = _load_model(args)
    if args.phase == "mixture":
        with tqdm(desc="separate", disable=args.json, dynamic_ncols=True) as bar:
            def progress(i, n):
                bar.total = n
                bar.update(i - bar.n)
            out = stream_separate(model, mix, lips, fps, chunk_hops=args.chunk_hops, progress=progress)
    else:  # Griffin-Lim is offline only
        out = separate(model, mix, lips, fps, chunk_hops=args.chunk_hops, phase=args.phase)
    return _write_separation(args, out)


LIP_MODES = ("rendered", "crops")


def _video_lips(args) -> str:
    from .atomic import check_writable

    lips = args.lips or "rendered"
    if lips not in LIP_MODES:
        raise ValueError(f"--lips {lips}: a video takes --lips rendered (the default) or crops, not a file")
    if not math.isfinite(args.av_offset_ms) or abs(args.av_offset_ms) > 10_000:
        raise ValueError(f"--av-offset-ms must be within +-10000, got {args.av_offset_ms}")
    check_writable(args.out)
    return lips


def _separate_video(args, separator, lips: str) -> int:
    """A video through any Separator (the float model or a bundle's runtime), streamed as an app runs it."""
    from tqdm import tqdm

    from .separate_video import separate_video

    with tqdm(desc="separate", unit="s", disable=args.json, dynamic_ncols=True,
              bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} s [{elapsed}<{remaining}]") as bar:
        def progress(done_s, total_s):
            bar.total = round(total_s) if total_s else None
            bar.update(min(done_s, total_s or done_s) - bar.n)

        summary = separate_video(separator, args.mix, args.out, lips, progress=progress,
                                 warn=lambda m: print(f"warning: {m}", file=sys.stderr))
    for note in summary["notes"]:
        print(f"note: {note}", file=sys.stderr)
    files = [str(Path(args.out) / s["file"]) for s in summary["slots"]]
    v = summary["video"]
    text = (f"wrote {', '.join(files)}, residual.wav, summary.json: {summary['faces']} face(s), "
            f"{v['frames_with_face']} of {v['frames_used']} frames with a face, lips {summary['lips']}")
    return _emit(args, summary, text)


def _write_separation(args, out: dict) -> int:
    from .atomic import atomic_dir
    from .audio import write_wav

    files = []
    with atomic_dir(args.out) as tmp:
        for i, pcm in enumerate(out["speakers"]):
            write_wav(tmp / f"speaker{i + 1}.wav", pcm)
            files.append(str(Path(args.out) / f"speaker{i + 1}.wav"))
        write_wav(tmp / "residual.wav", out["residual"])
    return _emit(args, {"files": files, "residual": str(Path(args.out) / "residual.wav")}, "wrote " + ", ".join(files))


def cmd_separate_video(args) -> int:
    from .streaming import separator

    lips = _video_lips(args)
    if args.phase != "mixture":
        raise ValueError("--phase griffin-lim is offline only: a video is separated on the streaming path")
    model, _ = _load_model(args)
    sep = separator(model, args.max_speakers, args.chunk_hops, offset_ns=int(round(args.av_offset_ms * 1e6)))
    return _separate_video(args, sep, lips)


def cmd_run(args) -> int:
    """`avsep run BUNDLE INPUT`: the same separation through an exported bundle, with the runtime alone (no torch)."""
    from .audio import read_wav
    from .lips_file import read_lips
    from .runtime.separator import Separator, separate_lips
    from .video import VIDEO_SUFFIXES, is_video_path

    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out} is a file: pass a directory")
    if is_video_path(args.mix):
        lips = _video_lips(args)
        sep = Separator.open(args.bundle, args.key, args.threads, args.held_state, offset_ns=int(round(args.av_offset_ms * 1e6)))
        return _separate_video(args, sep, lips)
    if args.lips in LIP_MODES or args.lips is None:
        raise ValueError(f"{args.mix} is audio: pass its mouth tracks with --lips lips.npz, "
                         f"or a video ({', '.join(VIDEO_SUFFIXES)}) to track faces in")
    sep = Separator.open(args.bundle, args.key, args.threads, args.held_state)
    mix, notes = read_wav(args.mix, sep.sample_rate)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    lips, fps = read_lips(Path(args.lips), n_samples=len(mix), sample_rate=sep.sample_rate)
    if lips.shape[0] != sep.speakers:
        raise ValueError(f"{args.lips} has {lips.shape[0]} mouth track(s), but {args.bundle} separates {sep.speakers} "
                         f"speaker slots: export a bundle with --speakers {lips.shape[0]} or pass {sep.speakers} tracks")
    return _write_separation(args, separate_lips(sep.runner, sep.signatures, sep.meta, mix, lips, fps))


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="avsep", description="Audio-visual speech separation for phones.")
    # read anywhere on the command line by main(), so `avsep export ios --verbose` works too
    parser.add_argument("-v", "--verbose", action="store_true", help="show third-party warnings and log lines (hidden by default)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="parameters, MACs per second, latency, state tensors")
    _model_args(p)
    p.add_argument("--speakers", type=int, default=2)
    p.add_argument("--chunk-hops", type=int, default=1)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("train", help="train on generated mixtures (torchrun for several GPUs/machines)")
    p.add_argument("--preset", choices=["base", "mobile", "tiny"], default="mobile")
    p.add_argument("--init", type=Path, help="start from this checkpoint's weights (e.g. the shipped mobile.pt) instead of --preset")
    p.add_argument("--attn-window", type=int,
                   help="with --init: fine-tune with the attention window cut to this many past frames (nearest bias entries kept)")
    p.add_argument("--out", type=Path, default=Path("runs/mobile"), help="run dir: model.pt, last.pt (resumed if present)")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seconds", type=float, default=2.5, help="length of each training mixture")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--pool", type=int, default=4000, help="synthesised utterances to mix from (built once into ~/.cache/avsep)")
    p.add_argument("--save-every", type=int, default=200, help="write last.pt and model.pt every N steps")
    add_training_args(p, voice_perturb=0.5, room_share=0.3, recorded_share=0.35, mouth_augment=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="SI-SNR improvement, PESQ-WB, ESTOI, lips swapped, lip following: unseen sentences, unseen voices, reverberant rooms, recorded speech (rendered lips and a camera's), quiet speech")
    _model_args(p)
    p.add_argument("--data", type=Path, help="a dir of mixtures (default: the built-in held-out set)")
    p.add_argument("--count", type=int, default=50)
    p.add_argument("--speakers", type=int, default=2, choices=[2, 3])
    p.add_argument("--out", type=Path, help="write listening material here: per set, --listen examples with their wavs and a spectrogram")
    p.add_argument("--listen", type=int, default=4, help="examples per set written to --out")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("separate", help="separate a video (faces tracked) or a mixture with lip tracks, through the streaming path")
    p.add_argument("mix", type=Path, metavar="INPUT", help="a video (.mp4 .mov .mkv .webm ...) or an audio file")
    p.add_argument("--lips", help="video: rendered (landmarks drive the training mouth renderer; default) or crops "
                                  "(real mouth crops); audio: lips.npz with lips uint8 [N, T, 88, 88], fps")
    p.add_argument("--out", type=Path, required=True)
    _model_args(p, presets=False)
    p.add_argument("--phase", choices=["mixture", "griffin-lim"], default="mixture")
    p.add_argument("--chunk-hops", type=int, default=1)
    p.add_argument("--max-speakers", type=int, default=2, help="video: speaker slots, one face each")
    p.add_argument("--av-offset-ms", type=float, default=0.0,
                   help="video: added to frame times (positive when the picture's clock runs early against the sound)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_separate)

    p = sub.add_parser("run", help="separate a video or a mixture with lip tracks through an exported bundle, "
                                   "with the runtime alone (no torch)")
    p.add_argument("bundle", type=Path, metavar="BUNDLE", help="an export: dist/android, dist/onnx or dist/ios")
    p.add_argument("mix", type=Path, metavar="INPUT", help="a video (.mp4 .mov .mkv .webm ...) or an audio file")
    p.add_argument("--lips", help="video: rendered (default) or crops; audio: lips.npz with lips uint8 [N, T, 88, 88], fps")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--key", type=Path, help="refuse the bundle unless its manifest is signed by this signing.pub")
    p.add_argument("--threads", type=int, help="runtime threads (default: the runtime's own choice)")
    p.add_argument("--held-state", action="store_true",
                   help="the runtime keeps the state tensors between calls (onnx, android; ios when exported --stateful)")
    p.add_argument("--av-offset-ms", type=float, default=0.0,
                   help="video: added to frame times (positive when the picture's clock runs early against the sound)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_run)

    from .data.cli import add_parser as add_data_parser

    add_data_parser(sub)
    from .export.cli import add_parsers as add_export_parsers
    from .quantize.cli import add_parsers as add_quantize_parsers

    add_export_parsers(sub)
    add_quantize_parsers(sub)
    return parser


def main(argv=None) -> int:
    from .quiet import quiet

    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = any(a in VERBOSE_FLAGS for a in argv)
    with quiet(verbose):
        args = build_parser().parse_args([a for a in argv if a not in VERBOSE_FLAGS])
        try:
            return int(args.func(args) or 0)
        except (ValueError, FileNotFoundError, OSError) as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            print(f"error: {msg}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            return 130


VERBOSE_FLAGS = ("-v", "--verbose")


if __name__ == "__main__":
    sys.exit(main())
