"""Readers that take what real files do: corrupted WAV, FLAC, OGG and MP3
files are either read (finite mono float32) or refused in one line that says
what to do, never a traceback from a library; an MP3 whose channel count
changes mid-stream (as broadcast and podcast streams do) is downmixed frame by
frame."""

import io

import numpy as np
import pytest
import soundfile as sf

from avsep_mobile.audio import AudioError, read_audio

FORMATS = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS"), "mp3": ("MP3", "MPEG_LAYER_III")}


def _encode(x: np.ndarray, suffix: str, rate: int = 16000) -> bytes:
    fmt, sub = FORMATS[suffix]
    b = io.BytesIO()
    sf.write(b, x, rate, format=fmt, subtype=sub)
    return b.getvalue()


def _speechish(seconds: float, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    x = 0.3 * np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(len(t))
    return np.stack([x * (1 - 0.3 * c) for c in range(channels)], 1).astype(np.float32) if channels > 1 else x.astype(np.float32)


def _corrupt(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    kind = rng.integers(4)
    if kind == 0:  # truncated anywhere, the header included
        return bytes(b[: rng.integers(0, len(b))])
    if kind == 1:  # random bytes flipped
        for i in rng.integers(0, len(b), rng.integers(1, 20)):
            b[i] ^= int(rng.integers(1, 256))
    elif kind == 2:  # a run of bytes overwritten
        i = int(rng.integers(0, len(b)))
        b[i : i + 64] = rng.integers(0, 256, min(64, len(b) - i), dtype=np.uint8).tobytes()
    else:  # the header damaged
        for i in rng.integers(0, min(64, len(b)), 4):
            b[i] = int(rng.integers(0, 256))
    return bytes(b)


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_corrupted_files_are_read_or_refused_in_one_line(suffix, tmp_path):
    rng = np.random.default_rng(sum(map(ord, suffix)))
    clean = _encode(_speechish(1.0, 2, 0), suffix)
    outcomes = {"read": 0, "refused": 0}
    for i in range(50):
        path = tmp_path / f"c{i}.{suffix}"
        path.write_bytes(_corrupt(clean, rng))
        try:
            x, _ = read_audio(path)
        except AudioError as e:  # what the CLI prints as its one line
            msg = str(e)
            assert "\n" not in msg and str(path) in msg and ":" in msg, msg
            outcomes["refused"] += 1
            continue
        assert x.dtype == np.float32 and x.ndim == 1 and np.isfinite(x).all() and np.abs(x).max() <= 1.0
        outcomes["read"] += 1
    assert outcomes["read"] + outcomes["refused"] == 50


def test_an_mp3_whose_channel_count_changes_mid_stream_is_downmixed(tmp_path):
    # MP3 frames are self-contained: two streams back to back are one valid
    # stream whose frames go from mono to stereo
    mono, stereo = _speechish(1.0, 1, 1), _speechish(1.0, 2, 2)
    path = tmp_path / "changes.mp3"
    path.write_bytes(_encode(mono, "mp3") + _encode(stereo, "mp3"))
    x, notes = read_audio(path)
    assert x.ndim == 1 and np.isfinite(x).all()
    assert abs(len(x) - 32000) < 3000, len(x)  # both parts, give or take the encoder's padding
    assert any("channel layout changes mid-stream" in n for n in notes), notes
