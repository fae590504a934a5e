"""The flags `avsep train` and `avsep distill` share, one definition (argparse
only, no torch: the CLI builds its parser in a runtime-only install too): the
data mix (each a share or a chance within 0..1), where the data comes from
(--data, --pack), and how the run uses the machine (--workers, --minutes).
Each sets the TrainConfig field of the same meaning (avsep_mobile/train.py)."""

from __future__ import annotations

from pathlib import Path

# (flag, TrainConfig field, help)
DATA_MIX_FLAGS = (
    ("--voice-perturb", "voice_perturb",
     "chance per speaker that its voice is resampled and tilted into a new-sounding one (0 = off)"),
    ("--rooms", "room_share",
     "share of mixtures heard in a simulated reverberant room, the target being each speaker's "
     "direct path and first 50 ms of reflections (0 = dry only)"),
    ("--recorded", "recorded_share",
     "chance per speaker that its utterance is recorded human speech (klettres-data, asterisk "
     "prompts) instead of a synthesiser's (0 = synthesised only)"),
    ("--mouth-augment", "mouth_augment",
     "chance per mouth track that it moves by another rule, as a measured mouth does: level rule, "
     "smoothing, +-2 frames of lag, warps, held and dropped frames, a still mouth (0 = renderer's rule)"),
    ("--quiet", "quiet_share",
     "share of mixtures 12 to 36 dB quieter than the usual levels, a soft or distant talker down to about "
     "-50 dBFS RMS (0 = usual levels only)"),
    ("--data-share", "data_share", "with --data: the share of batches mixed from INDEX (1 = INDEX alone, no built-in pool)"),
)


def add_training_args(parser, **defaults: float) -> None:
    """The shared flags on `parser`; data-mix `defaults` by field name
    (voice_perturb=0.5, ...), 0 where not given (data_share: 0.5)."""
    defaults = {"data_share": 0.5, **defaults}
    for flag, field, text in DATA_MIX_FLAGS:
        parser.add_argument(flag, dest=field, metavar="P", type=float, default=defaults.get(field, 0.0), help=text)
    parser.add_argument("--data", type=Path, metavar="INDEX",
                        help="also mix the user's own clips, imported by `avsep data import DIR --out INDEX`")
    parser.add_argument("--pack", type=Path, metavar="DIR",
                        help="mix from a training pack (`avsep data pack DIR`) instead of the cache: nothing is synthesised, "
                             "so it runs where no speech synthesiser is installed (a GPU machine)")
    parser.add_argument("--workers", type=int, default=1,
                        help="data loader processes in all, split between the mixture streams (2 and 3 speakers, "
                             "pool and --data) by their share, at least one each; on a GPU machine, its cores less two")
    parser.add_argument("--minutes", type=float,
                        help="a wall-clock budget: the learning-rate schedule ends at --steps or after this many "
                             "minutes of training, whichever comes first, and the run saves and stops there")


def training_config(args) -> dict:
    """TrainConfig fields from the flags add_training_args made; ValueError
    (naming the flag) for a share outside 0..1 and the like. A --pack is
    checked where it is read (data/pack.py load_pack), before any training."""
    mix = {field: getattr(args, field) for _, field, _ in DATA_MIX_FLAGS}
    for flag, field, _ in DATA_MIX_FLAGS:
        if not 0 <= mix[field] <= 1:
            raise ValueError(f"{flag} is a share, within 0..1, got {mix[field]:g}")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if args.minutes is not None and args.minutes <= 0:
        raise ValueError(f"--minutes must be > 0, got {args.minutes:g}")
    return {**mix, "data_index": None if args.data is None else str(args.data),
            "pack": None if args.pack is None else str(args.pack), "workers": args.workers, "minutes": args.minutes}
