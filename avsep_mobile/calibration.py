"""The calibration set shipped inside the package, so int8 exports and their
task gate run with only the Python dependencies installed (no speech
synthesiser on the machine).

What ships, in avsep_mobile/calibration_set/ (made here once with espeak-ng
by `python -m avsep_mobile.calibration DIR`):

    calibration.flac  16 kHz mono 16-bit FLAC: the calibration utterances, back to back
    gate.flac         the same, for the int8 task gate
    index.json        {"sample_rate", "seed", "splits": {split: [{"voice", "text", "samples"}]}}

The two splits share no voice and no sentence, so the gate never scores
mixtures the quantizer was calibrated on. Mixtures are made from the
utterances at run time by data.mixtures.make_example (noise, gains and the
mouth tracks of data.lips), seeded, so every machine gets the same ones.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

from .data.speech import SAMPLE_RATE, Utterance

SET_DIR = Path(__file__).parent / "calibration_set"
SPLITS = ("calibration", "gate")
# voices per split: mixtures draw distinct voices, so a split serves up to this many speakers
VOICES = {"calibration": 4, "gate": 6}
UTTERANCES_PER_VOICE = 2
# mixture seeds: calibration in the training range, the gate in the held-out range
CALIB_SEED = 777_000
GATE_SEED = 10_000_000
SET_SEED = 424_242  # sentences of the shipped set: neither the training (0) nor the eval pool's seed


class CalibrationSetError(ValueError):
    pass


def _read_flac(path: Path) -> np.ndarray:
    import soundfile

    try:
        pcm, rate = soundfile.read(path, dtype="int16", always_2d=False)
    except (RuntimeError, OSError) as e:  # libsndfile reports a damaged file as RuntimeError
        raise CalibrationSetError(f"{path}: unreadable ({e}): reinstall avsep-mobile") from None
    if rate != SAMPLE_RATE or pcm.ndim != 1:
        raise CalibrationSetError(f"{path}: expected 16 kHz mono, got {rate} Hz {pcm.shape}: reinstall avsep-mobile")
    return pcm


@lru_cache(maxsize=None)
def _split(split: str, set_dir: Path = SET_DIR) -> tuple[Utterance, ...]:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: {' or '.join(SPLITS)}")
    index_path = set_dir / "index.json"
    if not index_path.is_file():
        raise CalibrationSetError(f"{index_path} is missing: the package is incomplete, reinstall avsep-mobile")
    entries = json.loads(index_path.read_text())["splits"][split]
    pcm = _read_flac(set_dir / f"{split}.flac")
    lengths = [e["samples"] for e in entries]
    if sum(lengths) != len(pcm):
        raise CalibrationSetError(f"{set_dir / split}.flac holds {len(pcm)} samples, index.json says {sum(lengths)}: reinstall avsep-mobile")
    # int16 / 32767: the scale data.speech uses, so these equal freshly synthesised utterances
    audio = (pcm / 32767).astype(np.float32)
    parts = np.split(audio, np.cumsum(lengths)[:-1])
    return tuple(Utterance(a, e["voice"], e["text"]) for a, e in zip(parts, entries))


def utterances(split: str) -> list[Utterance]:
    """The shipped utterances of one split ("calibration" or "gate")."""
    return list(_split(split))


def _examples(split: str, seed: int, count: int, speakers: int, seconds: float) -> list:
    from .data.mixtures import make_example

    if count < 1:
        raise ValueError(f"mixture count must be at least 1, got {count}")
    if not 1 <= speakers <= VOICES[split]:
        raise ValueError(f"the shipped {split} set mixes at most {VOICES[split]} speakers, got {speakers}: "
                         "pass your own mixtures with --calib-data (write them with `avsep data make --speakers N`)")
    pool = utterances(split)
    return [make_example(pool, seed + i, speakers, seconds) for i in range(count)]


def calibration_examples(count: int = 4, speakers: int = 2, seconds: float = 3.0) -> list:
    """Labelled mixtures (data.mixtures.Example) for int8 calibration."""
    return _examples("calibration", CALIB_SEED, count, speakers, seconds)


def gate_examples(count: int = 12, speakers: int = 2, seconds: float = 4.0) -> list:
    """Held-out labelled mixtures for the int8 task gate (no voice or sentence
    of the calibration split)."""
    return _examples("gate", GATE_SEED, count, speakers, seconds)


# ---------------------------------------------------------------- making the set (needs espeak-ng)


def write_set(out_dir) -> Path:
    """Synthesise the set with espeak-ng into out_dir (replaced atomically)."""
    import soundfile

    from .atomic import atomic_dir
    from .data import speech

    rng = np.random.default_rng([SET_SEED, 0x5eec4])
    # plain espeak-ng voices only: mbrola and festival voices are optional on a build machine
    voices, _ = speech._speakers(rng, sum(VOICES.values()), "train", {"festival": [], "mbrola": [], "flite": []})
    speech._check_engines(voices)
    index = {"sample_rate": SAMPLE_RATE, "seed": SET_SEED, "splits": {}}
    with atomic_dir(Path(out_dir)) as tmp:
        start = 0
        for split in SPLITS:
            chosen, start = voices[start : start + VOICES[split]], start + VOICES[split]
            utts = [speech._make_utterance(spk, SET_SEED, k * UTTERANCES_PER_VOICE + j + 1000 * SPLITS.index(split))
                    for k, spk in enumerate(chosen) for j in range(UTTERANCES_PER_VOICE)]
            pcm = np.concatenate([np.round(u.audio * 32767).astype(np.int16) for u in utts])
            soundfile.write(tmp / f"{split}.flac", pcm, SAMPLE_RATE, format="FLAC", subtype="PCM_16", compression_level=1.0)
            index["splits"][split] = [{"voice": u.voice, "text": u.text, "samples": len(u.audio)} for u in utts]
        (tmp / "index.json").write_text(json.dumps(index, indent=1, ensure_ascii=False) + "\n")
    return Path(out_dir)


if __name__ == "__main__":
    print(f"wrote {write_set(sys.argv[1] if len(sys.argv) > 1 else SET_DIR)}")
