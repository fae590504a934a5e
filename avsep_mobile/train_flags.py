"""The training-data mix flags, one definition for `avsep train` and `avsep
distill` (argparse only, no torch: the CLI builds its parser in a runtime-only
install too). Each flag is a share or a chance within 0..1 and sets the
TrainConfig field of the same meaning (avsep_mobile/train.py)."""

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
    ("--data-share", "data_share", "with --data: the share of batches mixed from INDEX (1 = INDEX alone, no built-in pool)"),
)


def add_data_mix_args(parser, **defaults: float) -> None:
    """The data-mix flags and --data INDEX on `parser`; `defaults` by field
    name (voice_perturb=0.5, ...), 0 where not given (data_share: 0.5)."""
    for flag, field, text in DATA_MIX_FLAGS:
        parser.add_argument(flag, dest=field, metavar="P", type=float, default=defaults.get(field, 0.5 if field == "data_share" else 0.0),
                            help=text)
    parser.add_argument("--data", type=Path, metavar="INDEX",
                        help="also mix the user's own clips, imported by `avsep data import DIR --out INDEX`")


def data_mix_config(args) -> dict:
    """TrainConfig fields from the flags add_data_mix_args made; ValueError
    (naming the flag) for a share outside 0..1."""
    mix = {field: getattr(args, field) for _, field, _ in DATA_MIX_FLAGS}
    for flag, field, _ in DATA_MIX_FLAGS:
        if not 0 <= mix[field] <= 1:
            raise ValueError(f"{flag} is a share, within 0..1, got {mix[field]:g}")
    return {**mix, "data_index": None if args.data is None else str(args.data)}
