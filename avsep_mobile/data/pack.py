"""A training pack: the synthesised and the recorded utterance pools in one
folder, Opus-coded, small enough to carry to a machine that has a GPU but no
speech synthesisers, no klettres-data and no network (`avsep data pack OUT`
here, `avsep train --pack OUT` there).

    OUT/pack.json        what is inside: each pool's key, size, hours, kbps
    OUT/speech/          the training pool (speech.Pool: audio.opus, index.npz, meta.json)
    OUT/recorded/        the recorded-speech pool, training speakers only (optional)

Every mixture, room and mouth track is still drawn on the fly from these
pools, as from the cache. The targets are the decoded audio, so the model
learns from exactly what it hears; Opus at about 15 kbps keeps speech's
waveform to about 13 dB SNR (a phase-free codec's figure, not its sound)."""

from __future__ import annotations

import json
from pathlib import Path

from ..atomic import atomic_dir
from .speech import Pool

PACK_VERSION = 1
DEFAULT_OPUS_LEVEL = 0.96  # libsndfile's compression level: about 15 kbps for this project's speech


def write_pack(out, pool_size: int, pool_seed: int = 0, recorded_size: int = 0, opus_level: float = DEFAULT_OPUS_LEVEL,
               cache_dir=None, progress: bool = True) -> dict:
    """Build (or load from the cache) the pools and write them, coded, to
    out (atomically: a stopped run leaves no pack). Returns pack.json's content."""
    from .recorded import build_recorded_pool
    from .speech import build_pool

    out = Path(out)
    if not 0 <= opus_level <= 1:  # checked before minutes of synthesis
        raise ValueError(f"--opus-level is libsndfile's compression level, within 0..1, got {opus_level:g}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file: pass a directory for the pack")
    pools = {"speech": build_pool(cache_dir, pool_size, pool_seed, progress=progress)}
    if recorded_size > 0:
        pools["recorded"] = build_recorded_pool(cache_dir, recorded_size, pool_seed, progress=progress)
    info = {"version": PACK_VERSION, "opus_level": opus_level, "pools": {}}
    with atomic_dir(out) as tmp:
        for name, pool in pools.items():
            (tmp / name).mkdir()
            pool.save(tmp / name, opus_level=opus_level)
            size = (tmp / name / "audio.opus").stat().st_size
            info["pools"][name] = {"utterances": len(pool), "hours": round(pool.seconds() / 3600, 3),
                                   "kbps": round(size * 8 / pool.seconds() / 1000, 1), "bytes": size,
                                   "key": {k: v for k, v in pool.meta.items() if k != "build_seconds"}}
        (tmp / "pack.json").write_text(json.dumps(info, indent=1))
    return info


def load_pack(d, recorded: bool) -> tuple[Pool, Pool | None]:
    """(speech pool, recorded pool or None) of a pack; a one-line ValueError
    when d is not a pack or lacks the recorded pool that `recorded` asks for."""
    d = Path(d)
    if not (d / "pack.json").is_file():
        raise ValueError(f"{d} is not a training pack (no pack.json): make one with `avsep data pack {d}`")
    if recorded and not (d / "recorded" / "index.npz").is_file():
        raise ValueError(f"{d} holds no recorded-speech pool: pass --recorded 0, or pack one with --recorded-pool N")
    return Pool.load(d / "speech"), Pool.load(d / "recorded") if recorded else None
