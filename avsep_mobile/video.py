"""Video frames with their timestamps, decoded by PyAV's bundled FFmpeg (no
system ffmpeg, no network). Timestamps come from each frame's own pts, so a
variable-frame-rate phone recording keeps its true timing; they are given on
the audio track's clock (seconds after the first audio sample), which is the
clock the separation schedule runs on. The audio track itself is read by
avsep_mobile.audio."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi")


class VideoError(ValueError):
    """Bad video input; the message is one line that says what to do."""


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    fps: float = 0.0  # the container's average rate; frames carry their own times
    frames: int | None = None  # when the container says
    audio_start_s: float = 0.0  # the audio clock's zero on the container clock


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def is_video_path(path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def probe(path) -> MediaInfo:
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such file: check the path")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: the file is empty (0 bytes): record or export it again")
    try:
        with av.open(str(path)) as c:
            v = c.streams.video[0] if c.streams.video else None
            a = c.streams.audio[0] if c.streams.audio else None
            audio_start = float(a.start_time * a.time_base) if a is not None and a.start_time is not None else 0.0
            if v is None:
                return MediaInfo(path, False, a is not None, audio_start_s=audio_start)
            fps = float(v.average_rate) if v.average_rate else 0.0
            return MediaInfo(path, True, a is not None, v.codec_context.width, v.codec_context.height, fps,
                             v.frames or None, audio_start)
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise VideoError(f"{path}: not a readable video file ({_first_line(e)}): the file is damaged or not a video; "
                         "re-export it as MP4 (H.264 + AAC)") from None


@dataclass(frozen=True)
class Frame:
    index: int
    t: float  # seconds on the audio clock
    rgb: np.ndarray  # (H, W, 3) uint8


def frames(path, audio_start_s: float = 0.0, offset_s: float = 0.0) -> Iterator[Frame]:
    """Decoded frames in presentation order. offset_s > 0 means the picture
    runs late relative to the sound (its frames are moved earlier by offset_s).
    Frames whose timestamp is missing or not after the previous one's (broken
    or duplicated pts) take the previous time plus one average frame period."""
    path = Path(path)
    try:
        with av.open(str(path)) as c:
            st = c.streams.video[0]
            st.thread_type = "AUTO"
            period = 1.0 / float(st.average_rate) if st.average_rate else 1.0 / 25.0
            last = None
            for i, f in enumerate(c.decode(st)):
                t = float(f.pts * f.time_base) if f.pts is not None and f.time_base is not None else None
                if t is None or (last is not None and t <= last):
                    t = (last if last is not None else 0.0) + period
                last = t
                yield Frame(i, t - audio_start_s - offset_s, f.to_ndarray(format="rgb24"))
    except av.FFmpegError as e:
        raise VideoError(f"{path}: decoding the video failed part way ({_first_line(e)}): the file is damaged; re-export it") from None
