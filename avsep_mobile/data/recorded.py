"""Recorded human speech: clips that people recorded for language-learning
and telephone software (Debian packages), strung into utterances.

Sources, each speaker one voice id:
  klettres-data (GPL-2+)   letters and syllables read by a native speaker per
                           language, ~20 languages: voice "klettres:<lang>"
  asterisk-core-sounds-*-g722 (CC-BY-SA-3.0 / CC-BY-3.0)  telephone prompts,
                           whole phrases, 16 kHz G.722: voice "asterisk:<name>"
                           (Allison reads both en_US and es_MX: one voice)
Debian's ktuberling-data and gcompris-qt-data hold recordings too; they are
reserved for independent evaluation and never read here.

Utterances: klettres clips are grouped into words of 1-3 clips (20-80 ms
apart) and words into a phrase (120-350 ms apart, sometimes a 0.4-0.7 s
breath), each clip at its own level within +-3 dB, as read speech runs;
asterisk prompts are joined 1-3 at a time with 0.2-0.6 s between them.

Split by speaker: HELDOUT_SPEAKERS never enter a training pool; `avsep eval`
mixes them alone (its recorded-speech set), so every voice there is unseen.
Pools are cached like the synthesised ones (speech.cached_pool); the key holds
the installed speakers and their clip counts.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..audio import AudioError, read_audio
from . import speech
from .speech import EVAL_POOL_SEED, MIN_SECONDS, SAMPLE_RATE, Pool, Utterance, cached_pool, trim_silence

RECORDED_VERSION = 1  # bump when utterance making changes, so old caches are not reused
KLETTRES_ROOT = Path("/usr/share/klettres")
ASTERISK_ROOT = Path("/usr/share/asterisk/sounds")
ASTERISK_VOICE_DIR = re.compile(r"[a-z]{2}_[A-Z]{2}_[fm]_(\w+)")  # en_US_f_Allison; en, en_US are links to it
PACKAGES = ("klettres-data", "asterisk-core-sounds-en-g722", "asterisk-core-sounds-es-g722",
            "asterisk-core-sounds-fr-g722", "asterisk-core-sounds-it-g722", "asterisk-core-sounds-ru-g722")
# four klettres languages and one asterisk speaker: unseen people reading four languages
HELDOUT_SPEAKERS = ("klettres:en_GB", "klettres:fr", "klettres:it", "klettres:ru", "asterisk:June")
RECORDED_POOL_SIZE = 3000
MAX_UTTERANCE_S = 6.0
MIN_CLIP_S = 0.12  # shorter after trimming: a click, not a syllable
CLIP_LEVEL_DB = 3.0


def installed_speakers() -> dict[str, list[Path]]:
    """voice id -> its clips, for every recorded speaker this machine has."""
    found: dict[str, list[Path]] = {}
    if KLETTRES_ROOT.is_dir():
        for lang in sorted(p for p in KLETTRES_ROOT.iterdir() if p.is_dir()):
            clips = sorted(lang.glob("*/*.ogg"))
            if clips:
                found[f"klettres:{lang.name}"] = clips
    if ASTERISK_ROOT.is_dir():
        for d in sorted(ASTERISK_ROOT.iterdir()):
            m = ASTERISK_VOICE_DIR.fullmatch(d.name)
            if m and d.is_dir() and not d.is_symlink():
                clips = sorted(p for p in d.rglob("*.g722") if "silence" not in p.parts)
                found.setdefault(f"asterisk:{m.group(1)}", []).extend(clips)
    return found


def family_speakers(family: str) -> dict[str, list[Path]]:
    if family not in ("train", "heldout"):
        raise ValueError(f"recorded family must be 'train' or 'heldout', got {family!r}")
    speakers = installed_speakers()
    if not any(v.startswith("klettres:") for v in speakers):
        raise FileNotFoundError("recorded speech (training, `avsep eval`'s recorded set) needs Debian's klettres-data: "
                                "`sudo apt-get install klettres-data` (setup.sh does)")
    held = family == "heldout"
    return {v: clips for v, clips in speakers.items() if (v in HELDOUT_SPEAKERS) == held}


def _clip(path: Path) -> np.ndarray:
    """The clip trimmed of silence; empty when the file is unreadable (the packages hold a few empty ones)."""
    try:
        x, _ = read_audio(path, SAMPLE_RATE)
    except AudioError:
        return np.zeros(0, np.float32)
    return trim_silence(x, max_gap_s=0.3, keep_gap_s=0.2)


def _level(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rms = np.sqrt(np.mean(x**2)) + 1e-9
    return x * (0.1 / rms * 10 ** (rng.uniform(-CLIP_LEVEL_DB, CLIP_LEVEL_DB) / 20))


def _phrase(voice: str, clips: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Clips of one speaker strung into an utterance with pauses."""
    pause = lambda lo, hi: np.zeros(int(rng.uniform(lo, hi) * SAMPLE_RATE), np.float32)  # noqa: E731
    parts: list[np.ndarray] = []
    if voice.startswith("asterisk:"):
        for k in range(int(rng.integers(1, 4))):
            parts += [pause(0.2, 0.6)] if k else []
            parts.append(_level(clips[rng.integers(len(clips))], rng))
    else:
        for w in range(int(rng.integers(3, 8))):  # words
            if w:
                parts.append(pause(0.4, 0.7) if rng.random() < 0.15 else pause(0.12, 0.35))
            for c in range(int(rng.integers(1, 4))):  # clips per word
                parts += [pause(0.02, 0.08)] if c else []
                parts.append(_level(clips[rng.integers(len(clips))], rng))
    x = np.concatenate(parts)[: int(MAX_UTTERANCE_S * SAMPLE_RATE)]
    return x.astype(np.float32)


def make_utterances(count: int, seed: int, family: str = "train", progress: bool = True) -> list[Utterance]:
    from tqdm import tqdm

    speakers = family_speakers(family)
    voices = sorted(speakers)
    clips = {}
    for v in tqdm(voices, desc=f"read recorded speech ({family})", disable=not progress, dynamic_ncols=True):
        clips[v] = [c for c in (_clip(p) for p in speakers[v]) if len(c) >= MIN_CLIP_S * SAMPLE_RATE]
    voices = [v for v in voices if clips[v]]
    out = []
    rng = np.random.default_rng([seed, 0x4ec0])
    while len(out) < count:
        v = voices[rng.integers(len(voices))]
        x = _phrase(v, clips[v], rng)
        if len(x) < MIN_SECONDS * SAMPLE_RATE:
            continue
        pcm = np.round(0.9 * x / np.max(np.abs(x)) * 32767)  # quantised as the cache stores it
        out.append(Utterance((pcm / 32767).astype(np.float32), v, f"{v} #{len(out)}"))
    return out


def build_recorded_pool(cache_dir=None, count: int = RECORDED_POOL_SIZE, seed: int = 0, family: str = "train",
                        progress: bool = True) -> Pool:
    """count recorded-speech utterances of a family, built once into the cache."""
    speakers = family_speakers(family)
    key = {"kind": "recorded", "version": RECORDED_VERSION, "count": count, "seed": seed, "family": family,
           "speakers": {v: len(c) for v, c in speakers.items()}}
    return cached_pool(cache_dir, key, lambda: make_utterances(count, seed, family, progress))


def build_heldout_recorded_pool(cache_dir=None, count: int | None = None, progress: bool = True) -> Pool:
    """Recorded speakers no training pool contains."""
    return build_recorded_pool(cache_dir, count or speech.EVAL_POOL_SIZE, EVAL_POOL_SEED, "heldout", progress)
