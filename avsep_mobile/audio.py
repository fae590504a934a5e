"""The one audio I/O module: any common audio file, or the audio track of a
video, in as float32 mono at the model rate, block by block in constant
memory; WAV out as 16-bit PCM; one-line errors a user can act on.

Files libsndfile reads (WAV of every sample type, FLAC, OGG/Vorbis/Opus, MP3,
AIFF, ...) go through soundfile; anything else (the audio track of MP4, MOV,
MKV, WebM, M4A/AAC) through PyAV's bundled FFmpeg, so no system ffmpeg is
needed. The rules are the same on both paths: channels are averaged to mono
(with a note), other rates resampled (with a note), NaN/Inf refused, float
samples beyond full scale scaled down to it, an empty or truncated file refused.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from math import ceil, gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from .atomic import atomic_write_bytes

BLOCK_SECONDS = 10.0  # read size: an hour-long file never sits in memory whole
CLIP_SHARE = 1e-3  # a note when more than this share of samples sit at full scale


class AudioError(ValueError):
    """Bad audio input; the message is one line that says what to do."""


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


class BlockResampler:
    """scipy's resample_poly applied block by block, equal to resampling the
    whole signal at once: each block is filtered with enough real neighbours
    on both sides that the zero padding at its edges never reaches its output.

    Blocks start at multiples of the reduced `down` factor, so every block's
    output starts at a whole output sample."""

    def __init__(self, rate_in: int, rate_out: int):
        g = gcd(int(rate_in), int(rate_out))
        self.up, self.down = int(rate_out) // g, int(rate_in) // g
        # resample_poly's filter spans 10 * max(up, down) upsampled taps each side
        reach = ceil(10 * max(self.up, self.down) / self.up) + 1  # in input samples
        self.pad = self.down * ceil(reach / self.down)
        self.buf = np.zeros(0, np.float32)
        self.done = 0  # input samples whose output has been emitted
        self.kept = 0  # input samples before `done` still in buf (left context)
        self.total_in = 0

    def _run(self, seg: np.ndarray, skip: int, take: int | None) -> np.ndarray:
        y = resample_poly(seg, self.up, self.down).astype(np.float32)
        start = skip * self.up // self.down
        return y[start:] if take is None else y[start : start + take]

    def push(self, x: np.ndarray, block: int) -> Iterator[np.ndarray]:
        self.buf = np.concatenate([self.buf, x])
        self.total_in += len(x)
        block = self.down * max(1, block // self.down)
        while len(self.buf) - self.kept >= block + self.pad:
            seg = self.buf[: self.kept + block + self.pad]
            yield self._run(seg, self.kept, block * self.up // self.down)
            self.done += block
            drop = max(0, self.kept + block - self.pad)
            self.buf, self.kept = self.buf[drop:], self.kept + block - drop

    def flush(self) -> np.ndarray:
        n_out = -(-self.total_in * self.up // self.down)
        emitted = self.done * self.up // self.down
        if self.total_in == 0 or n_out <= emitted:
            return np.zeros(0, np.float32)
        return self._run(self.buf, self.kept, n_out - emitted)


@dataclass
class AudioSource:
    """An opened audio file or track. `blocks()` yields (n,) float32 mono
    blocks at `sample_rate`; `notes` says what was changed (it grows while
    reading when something is found on the way, e.g. clipping)."""

    path: Path
    native_rate: int
    channels: int
    frames: int | None  # native sample frames when the container says, else None
    sample_rate: int
    start_s: float = 0.0  # time of the first sample on the container's clock
    notes: list[str] = field(default_factory=list)
    _scale: float = 1.0
    _reader: object = None

    @property
    def duration_s(self) -> float | None:
        return None if self.frames is None else self.frames / self.native_rate

    def blocks(self, seconds: float = BLOCK_SECONDS) -> Iterator[np.ndarray]:
        block = max(1, int(seconds * self.native_rate))
        rs = BlockResampler(self.native_rate, self.sample_rate) if self.native_rate != self.sample_rate else None
        n, clipped, got = 0, 0, False
        for x in self._reader(block):
            if not np.all(np.isfinite(x)):
                raise AudioError(f"{self.path}: the audio contains NaN or Inf samples: re-export it from its source")
            got = True
            x = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
            x = (x * self._scale).astype(np.float32) if self._scale != 1.0 else x.astype(np.float32)
            n += len(x)
            clipped += int(np.count_nonzero(np.abs(x) >= 0.999))
            if np.max(np.abs(x), initial=0.0) > 1.0:  # decoded lossy audio can overshoot
                x = np.clip(x, -1.0, 1.0)
            if rs is None:
                yield x
            else:
                for y in rs.push(x, block):
                    yield np.clip(y, -1.0, 1.0)  # the filter's ringing can overshoot full scale
        if not got or n == 0:
            raise AudioError(f"{self.path}: the file holds no audio samples: record or export it again")
        if self.frames and n < self.frames - max(0.02 * self.frames, 0.1 * self.native_rate):
            raise AudioError(f"{self.path}: truncated file (the audio stops at {n / self.native_rate:.1f} s, its header says "
                             f"{self.frames / self.native_rate:.1f} s): re-export or re-download it")
        if rs is not None:
            y = rs.flush()
            if len(y):
                yield np.clip(y, -1.0, 1.0)
        if clipped > CLIP_SHARE * n:
            self.notes.append(f"{100 * clipped / n:.1f}% of samples sit at full scale: the recording clips")


# ---------------------------------------------------------------- libsndfile




def _open_sndfile(path: Path, sample_rate: int) -> AudioSource:
    with sf.SoundFile(path) as f:
        info, rate, channels, frames, subtype = f.extra_info, f.samplerate, f.channels, f.frames, f.subtype
    # libsndfile reads what is there and only logs a header that promises more
    if re.search(r"^data\s*:.*\(should be \d+\)", info, re.M):
        raise AudioError(f"{path}: truncated file (the data stops before its header says): "
                         "re-export it, or rewrite the header with `sox in.wav out.wav`")
    if frames <= 0:
        raise AudioError(f"{path}: the file holds no audio samples: record or export it again")
    src = AudioSource(path, rate, channels, frames, sample_rate)

    def reader(block: int):
        try:
            with sf.SoundFile(path) as f:
                for x in f.blocks(blocksize=block, dtype="float32", always_2d=True):
                    yield x
        except sf.LibsndfileError as e:
            raise AudioError(f"{path}: decoding failed part way ({_first_line(e)}): the file is damaged; re-export it") from None

    src._reader = reader
    if subtype in ("FLOAT", "DOUBLE"):  # only float PCM can exceed full scale: find its peak first
        peak = 0.0
        for x in reader(int(BLOCK_SECONDS * rate)):
            if not np.all(np.isfinite(x)):
                raise AudioError(f"{path}: the audio contains NaN or Inf samples: re-export it from its source")
            peak = max(peak, float(np.max(np.abs(x.mean(axis=1)))))  # the peak of the mono downmix
        if peak > 1.0:
            src._scale = 1.0 / peak
            src.notes.append(f"float samples peaked at {peak:.2f}; scaled to 1.0")
    return src


# ---------------------------------------------------------------- PyAV (video containers, AAC, ...)


def _open_av(path: Path, sample_rate: int, why: str) -> AudioSource:
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                kind = "a video file" if c.streams.video else "a media file"
                raise AudioError(f"{path}: {kind} with no audio track: use a recording with sound")
            st = c.streams.audio[0]
            rate, channels = st.codec_context.sample_rate, st.codec_context.channels
            frames = int(st.duration * st.time_base * rate) if st.duration else None
            start = float(st.start_time * st.time_base) if st.start_time is not None else 0.0
    except AudioError:
        raise
    except (av.FFmpegError, UnicodeDecodeError, ValueError, IndexError) as e:
        raise AudioError(f"{path}: not a readable audio or video file ({why}; {_first_line(e)}): "
                         "convert it, e.g. to WAV or FLAC") from None
    if not rate or not channels:
        raise AudioError(f"{path}: the audio track has no sample rate or channels: re-export the file")
    src = AudioSource(path, rate, channels, frames, sample_rate, start_s=start)

    def reader(block: int):
        # Broadcast and podcast streams change channel layout mid-file: each
        # decoded frame is downmixed to mono on its own (planar float keeps the
        # channels apart), and a layout change gets a resampler of its own.
        rs, layout = None, None
        pending, size = [], 0
        try:
            with av.open(str(path)) as c:
                for frame in c.decode(c.streams.audio[0]):
                    if frame.layout.name != layout:
                        if layout is not None:
                            src.frames = None  # the header's length was estimated from the first layout's bit rate
                            src.notes.append(f"the channel layout changes mid-stream ({layout} -> {frame.layout.name}): "
                                             "each part downmixed to mono")
                        rs, layout = av.AudioResampler(format="fltp", rate=rate), frame.layout.name
                    for out in rs.resample(frame):
                        x = out.to_ndarray().mean(axis=0, keepdims=True).T  # (n, 1)
                        pending.append(x)
                        size += len(x)
                        if size >= block:
                            yield np.concatenate(pending)
                            pending, size = [], 0
        except av.FFmpegError as e:
            raise AudioError(f"{path}: decoding the audio failed part way ({_first_line(e)}): the file is damaged; re-export it") from None
        if pending:
            yield np.concatenate(pending)

    src._reader = reader
    return src


# ---------------------------------------------------------------- public


def open_audio(path, sample_rate: int = 16000) -> AudioSource:
    """Open any audio file or the audio track of a video for block reading."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file: check the path")
    try:
        if path.suffix.lower() == ".mp3":  # libsndfile's MP3 reader returns garbage past a cut; FFmpeg's stops
            src = _open_av(path, sample_rate, "MP3")
        else:
            src = _open_sndfile(path, sample_rate)
    except sf.LibsndfileError as e:
        if path.stat().st_size == 0:
            raise AudioError(f"{path}: the file is empty (0 bytes): record or export it again") from None
        # a format libsndfile knows but cannot parse is damaged; one it does not know may be a video or AAC
        if "not recognised" not in str(e) or path.suffix.lower() in (".wav", ".flac", ".ogg"):
            kind = "WAV" if path.suffix.lower() == ".wav" else "audio"
            raise AudioError(f"{path}: not a readable {kind} file (libsndfile: {_first_line(e).split(': ', 1)[-1]}): "
                             "re-export it, or convert it, e.g. `sox in.any -b 16 out.wav`") from None
        src = _open_av(path, sample_rate, "libsndfile does not know it")
    if src.channels > 1:
        src.notes.append(f"downmixed {src.channels} channels to mono")
    if src.native_rate != sample_rate:
        src.notes.append(f"resampled {src.native_rate} Hz -> {sample_rate} Hz")
    return src


def read_audio(path, sample_rate: int = 16000) -> tuple[np.ndarray, list[str]]:
    """(n,) float32 in [-1, 1] at sample_rate, and notes on what was changed."""
    src = open_audio(path, sample_rate)
    x = np.concatenate(list(src.blocks()))
    return np.ascontiguousarray(x, dtype=np.float32), src.notes


read_wav = read_audio  # the older name; every format is read now


def write_wav(path, x: np.ndarray, sample_rate: int = 16000) -> None:
    """Write (n,) float audio as mono 16-bit PCM, clipping to [-1, 1]."""
    x = np.asarray(x)
    if x.ndim != 1:
        raise AudioError(f"write_wav wants mono (n,) audio, got shape {x.shape}: write each channel separately")
    if not np.all(np.isfinite(x)):
        raise AudioError(f"refusing to write {path}: the audio contains NaN or Inf")
    pcm = np.round(np.clip(x.astype(np.float64), -1.0, 1.0) * 32767.0).astype(np.int16)
    buf = io.BytesIO()
    sf.write(buf, pcm, int(sample_rate), format="WAV", subtype="PCM_16")
    atomic_write_bytes(path, buf.getvalue())


class WavWriter:
    """Mono 16-bit PCM written block by block (an hour of output never sits in
    memory); use it inside an atomic_dir so a failed run leaves nothing."""

    def __init__(self, path, sample_rate: int = 16000):
        self._f = sf.SoundFile(path, "w", samplerate=int(sample_rate), channels=1, format="WAV", subtype="PCM_16")
        self.frames = 0

    def write(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float64)
        if not np.all(np.isfinite(x)):
            raise AudioError(f"refusing to write {self._f.name}: the audio contains NaN or Inf")
        self._f.write(np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16))
        self.frames += len(x)

    def close(self) -> None:
        self._f.close()
