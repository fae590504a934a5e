import os

import numpy as np
import pytest
from scipy.io import wavfile

from avsep_mobile.atomic import atomic_dir, atomic_write_bytes
from avsep_mobile.audio import AudioError, read_wav, write_wav

PCM16_STEP = 1 / 32767


def _tone(n=16000, sr=16000, f=440.0):
    return (0.5 * np.sin(2 * np.pi * f * np.arange(n) / sr)).astype(np.float32)


def _one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert msg and "\n" not in msg, f"not a one-line message: {msg!r}"
    return msg


def test_write_then_read_matches_within_pcm16_step(tmp_path):
    x = _tone()
    write_wav(tmp_path / "a.wav", x)
    y, notes = read_wav(tmp_path / "a.wav")
    assert notes == [] and y.dtype == np.float32 and y.shape == x.shape
    assert np.max(np.abs(y - x)) <= PCM16_STEP


def test_write_clips_to_full_scale(tmp_path):
    write_wav(tmp_path / "a.wav", np.array([2.0, -3.0, 0.25], np.float32))
    _, pcm = wavfile.read(tmp_path / "a.wav")
    assert pcm.dtype == np.int16 and list(pcm) == [32767, -32767, 8192]


@pytest.mark.parametrize("dtype,scale", [(np.int16, 32768), (np.int32, 2**31), (np.float32, 1.0)])
def test_read_supports_int16_int32_float32(tmp_path, dtype, scale):
    x = _tone()
    wavfile.write(tmp_path / "a.wav", 16000, (x * (scale - 1)).astype(dtype) if scale > 1 else x)
    y, notes = read_wav(tmp_path / "a.wav")
    assert notes == [] and y.dtype == np.float32
    assert np.max(np.abs(y - x)) < 1e-4


def test_stereo_is_downmixed_with_a_note(tmp_path):
    x = _tone()
    wavfile.write(tmp_path / "st.wav", 16000, np.stack([x, 0 * x], axis=1))
    y, notes = read_wav(tmp_path / "st.wav")
    assert y.ndim == 1 and np.allclose(y, x / 2, atol=1e-6)
    assert notes == ["downmixed 2 channels to mono"]


def test_other_rates_are_resampled_with_a_note(tmp_path):
    x = (_tone(44100, 44100) * 32767).astype(np.int16)
    wavfile.write(tmp_path / "cd.wav", 44100, x)
    y, notes = read_wav(tmp_path / "cd.wav")
    assert notes == ["resampled 44100 Hz -> 16000 Hz"]
    assert len(y) == 16000
    # still a 440 Hz tone after resampling
    assert np.argmax(np.abs(np.fft.rfft(y))) == 440


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_samples_are_refused(tmp_path, bad):
    x = _tone()
    x[100] = bad
    wavfile.write(tmp_path / "bad.wav", 16000, x)
    with pytest.raises(AudioError) as e:
        read_wav(tmp_path / "bad.wav")
    assert "NaN or Inf" in _one_line(e)


def test_empty_audio_is_refused(tmp_path):
    wavfile.write(tmp_path / "empty.wav", 16000, np.zeros(0, np.int16))
    with pytest.raises(AudioError) as e:
        read_wav(tmp_path / "empty.wav")
    assert "no audio" in _one_line(e)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(AudioError) as e:
        read_wav(tmp_path / "nope.wav")
    assert "no such file" in _one_line(e)


@pytest.mark.parametrize("cut,says", [(10, "not a readable WAV"), (30, "not a readable WAV"), (1001, "truncated")])
def test_truncated_file_is_refused(tmp_path, cut, says):
    """Cut inside the RIFF header, inside the fmt chunk, inside the samples."""
    write_wav(tmp_path / "a.wav", _tone())
    (tmp_path / "cut.wav").write_bytes((tmp_path / "a.wav").read_bytes()[:cut])
    with pytest.raises(AudioError) as e:
        read_wav(tmp_path / "cut.wav")
    assert says in _one_line(e)


def test_a_text_file_is_not_a_wav(tmp_path):
    (tmp_path / "notes.wav").write_text("hello, I am not audio\n" * 10)
    with pytest.raises(AudioError) as e:
        read_wav(tmp_path / "notes.wav")
    assert "not a readable WAV" in _one_line(e)


def test_failed_write_wav_leaves_nothing(tmp_path):
    x = _tone()
    x[5] = np.nan
    with pytest.raises(AudioError):
        write_wav(tmp_path / "out.wav", x)
    assert os.listdir(tmp_path) == []


def test_atomic_write_keeps_old_file_and_no_temp_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "model.bin"
    atomic_write_bytes(target, b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.bin"]


def test_atomic_write_replaces_and_creates_parents(tmp_path):
    target = tmp_path / "a" / "b" / "f.bin"
    atomic_write_bytes(target, b"1")
    atomic_write_bytes(target, b"22")
    assert target.read_bytes() == b"22" and os.listdir(target.parent) == ["f.bin"]


def test_atomic_dir_replaces_old_dir_on_success(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old run")
    with atomic_dir(out) as tmp:
        assert tmp.parent == tmp_path and tmp != out
        (tmp / "fresh.txt").write_text("new run")
    assert os.listdir(out) == ["fresh.txt"]
    assert os.listdir(tmp_path) == ["out"]


def test_atomic_dir_keeps_old_dir_and_no_temp_on_failure(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "kept.txt").write_text("old run")
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "half.txt").write_text("half written")
            raise RuntimeError("crash mid-write")
    assert os.listdir(out) == ["kept.txt"]
    assert os.listdir(tmp_path) == ["out"]


def test_atomic_dir_creates_nothing_on_failure(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "new"):
            raise RuntimeError("crash")
    assert os.listdir(tmp_path) == []
