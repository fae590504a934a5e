"""Every common audio format and sample type in, and the hostile ones refused
in one line (docs/hostile_inputs.md lists what each does)."""

import os
import tracemalloc
from fractions import Fraction

import av
import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from avsep_mobile.audio import AudioError, BlockResampler, open_audio, read_audio

SR = 16000


def _tone(n=SR, sr=SR, f=440.0, amp=0.5):
    return (amp * np.sin(2 * np.pi * f * np.arange(n) / sr)).astype(np.float32)


def _one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert msg and "\n" not in msg, f"not a one-line message: {msg!r}"
    return msg


def _snr_db(y, x):
    n = min(len(x), len(y))
    return 10 * np.log10(np.sum(x[:n] ** 2) / (np.sum((y[:n] - x[:n]) ** 2) + 1e-20))


# lossless types must come back to within their step; lossy codecs to a usable SNR
WAV_TYPES = {"PCM_U8": 30, "PCM_16": 80, "PCM_24": 120, "PCM_32": 120, "FLOAT": 120, "DOUBLE": 120,
             "ULAW": 30, "ALAW": 30, "IMA_ADPCM": 20, "MS_ADPCM": 20}


@pytest.mark.parametrize("subtype", sorted(WAV_TYPES))
def test_every_wav_sample_type_reads_back(tmp_path, subtype):
    x = _tone()
    sf.write(tmp_path / "a.wav", x, SR, subtype=subtype)
    y, notes = read_audio(tmp_path / "a.wav")
    assert y.dtype == np.float32 and abs(len(y) - len(x)) <= 1024 and notes == []
    assert _snr_db(y, x) > WAV_TYPES[subtype], subtype


@pytest.mark.parametrize("fmt,subtype,ext,min_snr", [
    ("FLAC", "PCM_16", "flac", 80), ("FLAC", "PCM_24", "flac", 100), ("OGG", "VORBIS", "ogg", None),
    ("OGG", "OPUS", "opus", None), ("MP3", "MPEG_LAYER_III", "mp3", None), ("AIFF", "PCM_16", "aiff", 80)])
def test_compressed_formats_read_back(tmp_path, fmt, subtype, ext, min_snr):
    x = _tone(3 * SR)
    sf.write(tmp_path / f"a.{ext}", x, SR, format=fmt, subtype=subtype)
    y, _ = read_audio(tmp_path / f"a.{ext}")
    assert abs(len(y) - len(x)) < 0.05 * SR
    if min_snr is not None:
        assert _snr_db(y, x) > min_snr
    else:  # lossy codecs shift phase a little: the tone is still there, at its level
        mid = slice(SR // 2, 2 * SR)
        assert np.argmax(np.abs(np.fft.rfft(y[mid]))) * SR / len(y[mid]) == pytest.approx(440, abs=2)
        assert np.sqrt(np.mean(y[mid] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


def test_aac_in_m4a_reads_through_pyav(tmp_path):
    x = _tone(2 * SR)
    with av.open(str(tmp_path / "a.m4a"), "w") as c:
        st = c.add_stream("aac", rate=SR)
        st.layout = "mono"
        pcm = np.round(x * 32767).astype(np.int16)
        for k in range(0, len(pcm), 1024):
            f = av.AudioFrame.from_ndarray(pcm[None, k : k + 1024], format="s16", layout="mono")
            f.sample_rate, f.pts, f.time_base = SR, k, Fraction(1, SR)
            for p in st.encode(f):
                c.mux(p)
        for p in st.encode():
            c.mux(p)
    y, _ = read_audio(tmp_path / "a.m4a")
    assert abs(len(y) - len(x)) <= 2048
    assert np.sqrt(np.mean(y[SR // 2 : SR] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 32000, 44100, 48000, 96000])
def test_every_rate_is_resampled_to_16k(tmp_path, rate):
    sf.write(tmp_path / "a.wav", _tone(rate, rate), rate, subtype="PCM_16")
    y, notes = read_audio(tmp_path / "a.wav")
    assert notes == [f"resampled {rate} Hz -> 16000 Hz"] and len(y) == SR
    assert np.argmax(np.abs(np.fft.rfft(y))) == 440


@pytest.mark.parametrize("rate_in,piece,block", [(44100, 441, 441), (44100, 5000, 8820), (22050, 20000, 4410),
                                                  (48000, 7, 4800), (8000, 777, 1000), (44101, 1000, 10)])
def test_block_resampling_equals_whole_file_resampling(rate_in, piece, block):
    """Input in pieces of any size, output in blocks: the whole-file result."""
    x = np.random.default_rng(0).standard_normal(int(2.3 * rate_in)).astype(np.float32) * 0.1
    rs, parts = BlockResampler(rate_in, SR), []
    for k in range(0, len(x), piece):
        parts += list(rs.push(x[k : k + piece], block))
    parts.append(rs.flush())
    y = np.concatenate(parts)
    ref = resample_poly(x, rs.up, rs.down)
    assert len(y) == len(ref)
    np.testing.assert_allclose(y, ref, atol=1e-6)


@pytest.mark.parametrize("channels", [2, 6])
def test_multichannel_is_downmixed_with_a_note(tmp_path, channels):
    x = _tone()
    data = np.stack([x] + [0 * x] * (channels - 1), axis=1)
    sf.write(tmp_path / "m.flac", data, SR)
    y, notes = read_audio(tmp_path / "m.flac")
    assert notes == [f"downmixed {channels} channels to mono"]
    assert np.max(np.abs(y - x / channels)) < 2e-4


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_is_refused_even_late_in_the_file(tmp_path, bad):
    x = np.tile(_tone(), 3)
    x[-5] = bad
    sf.write(tmp_path / "bad.wav", x, SR, subtype="DOUBLE")
    with pytest.raises(AudioError) as e:
        read_audio(tmp_path / "bad.wav")
    assert "NaN or Inf" in _one_line(e)


def test_silence_reads_as_silence(tmp_path):
    sf.write(tmp_path / "s.wav", np.zeros(SR, np.int16), SR)
    y, notes = read_audio(tmp_path / "s.wav")
    assert notes == [] and len(y) == SR and not np.any(y)


def test_clipped_recording_reads_with_a_note(tmp_path):
    x = np.clip(3 * _tone(), -1, 1)  # a tone driven into the rails
    sf.write(tmp_path / "c.wav", x, SR, subtype="PCM_16")
    y, notes = read_audio(tmp_path / "c.wav")
    assert len(notes) == 1 and "full scale" in notes[0] and "clips" in notes[0]
    assert np.max(np.abs(y)) <= 1.0


def test_loud_float_is_scaled_to_full_scale(tmp_path):
    sf.write(tmp_path / "f.wav", 4 * _tone(), SR, subtype="FLOAT")
    y, notes = read_audio(tmp_path / "f.wav")
    assert notes[0] == "float samples peaked at 2.00; scaled to 1.0"
    assert np.max(np.abs(y)) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("n,rate", [(1, SR), (3, SR), (5, 44100)])
def test_a_few_samples_are_read(tmp_path, n, rate):
    sf.write(tmp_path / "few.wav", np.full(n, 0.25, np.float32), rate, subtype="PCM_16")
    y, _ = read_audio(tmp_path / "few.wav")
    assert len(y) == -(-n * SR // rate)


@pytest.mark.parametrize("name,content,says", [
    ("empty.flac", b"", "empty"), ("empty.mp4", b"", "empty"),
    ("junk.flac", os.urandom(4000), "not a readable audio file"),
    ("junk.mp3", os.urandom(4000), "not a readable audio or video file"),
    ("junk.mp4", os.urandom(4000), "not a readable audio or video file"),
    ("text.ogg", b"hello, I am not audio\n" * 50, "not a readable audio file")])
def test_empty_or_corrupt_files_are_refused(tmp_path, name, content, says):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(AudioError) as e:
        read_audio(tmp_path / name)
    assert says in _one_line(e)


@pytest.mark.parametrize("ext,fmt,subtype,says", [("flac", "FLAC", "PCM_16", "damaged"), ("mp3", "MP3", "MPEG_LAYER_III", "truncated"),
                                                  ("wav", "WAV", "PCM_16", "truncated")])
def test_truncated_files_are_refused(tmp_path, ext, fmt, subtype, says):
    sf.write(tmp_path / f"a.{ext}", np.tile(_tone(), 3), SR, format=fmt, subtype=subtype)
    data = (tmp_path / f"a.{ext}").read_bytes()
    (tmp_path / f"cut.{ext}").write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError) as e:
        read_audio(tmp_path / f"cut.{ext}")
    assert says in _one_line(e)


def test_paths_with_spaces_and_non_ascii(tmp_path):
    d = tmp_path / "my recordings é ü 日本"
    d.mkdir()
    sf.write(d / "take 1 – ça.flac", _tone(), SR)
    y, _ = read_audio(d / "take 1 – ça.flac")
    assert len(y) == SR


def test_an_hour_streams_in_constant_memory(tmp_path):
    """One hour at 8 kHz (resampled on the way) read block by block: the
    blocks never hold more than a few seconds, whatever the file's length."""
    rate, seconds = 8000, 3600
    with sf.SoundFile(tmp_path / "hour.wav", "w", rate, 1, subtype="PCM_16") as f:
        minute = np.round(_tone(60 * rate, rate, 300.0, 0.3) * 32767).astype(np.int16)
        for _ in range(seconds // 60):
            f.write(minute)
    src = open_audio(tmp_path / "hour.wav")
    tracemalloc.start()
    n = 0
    for block in src.blocks():
        n += len(block)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert n == seconds * SR
    whole = seconds * SR * 4  # the float32 file at 16 kHz: 230 MB
    assert peak < 16e6 < whole, f"peak {peak / 1e6:.1f} MB while streaming"
