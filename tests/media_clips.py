"""Real test clips made here, nothing downloaded: the astronaut photograph that
ships in scikit-image's wheel (a real face, avsep_mobile.data.talking_face),
its mouth opened frame by frame with the level of synthesised speech
(espeak-ng), muxed with that speech into an MP4 (H.264 + AAC) by PyAV. Two
faces side by side with two voices mixed give a clip to separate. The
decoder, detector, face mesh, tracker and bridge all run on these for real."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from avsep_mobile.data.lips import speech_features
from avsep_mobile.data.speech import synthesise_pool
from avsep_mobile.data.talking_face import MAX_OPEN_PX, face_image, open_mouth

SR = 16000


def speech(seconds: float, seed: int = 0, voices: int = 1) -> list[np.ndarray]:
    """`voices` tracks of synthesised speech from distinct voices, each
    `seconds` long (utterances of one voice, looped), peak 0.9."""
    pool = synthesise_pool(12, seed, progress=False, workers=2)
    by_voice: dict[str, list[np.ndarray]] = {}
    for u in pool:
        by_voice.setdefault(u.voice, []).append(u.audio)
    n = int(seconds * SR)
    out = []
    for utts in list(by_voice.values())[:voices]:
        gap = np.zeros(int(0.15 * SR), np.float32)
        one = np.concatenate([np.concatenate([u, gap]) for u in utts])
        out.append(np.resize(one, n).astype(np.float32))  # np.resize repeats to length
    assert len(out) == voices, "the pool holds fewer voices than asked"
    return out


def gaps(track: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Mouth gap in pixels at the frame times, from the speech level (the
    rule behind the rendered training lips)."""
    opening, _ = speech_features(track, SR, times)
    return MAX_OPEN_PX * opening


def write_clip(path, tracks: list[np.ndarray], mix: np.ndarray | None = None, fps: float = 25.0,
               frame_times: np.ndarray | None = None, codec: str = "libx264", audio: bool = True,
               video: bool = True, faces_present=None) -> Path:
    """Faces side by side, face i speaking tracks[i]; the audio is `mix`
    (default: the sum of the tracks). frame_times (s) gives a variable frame
    rate; faces_present(i, t) -> bool blanks a face (grey) when False."""
    path = Path(path)
    mix = np.sum(tracks, axis=0) if mix is None else mix
    n = len(mix)
    if frame_times is None:
        frame_times = np.arange(int(n / SR * fps)) / fps
    face = face_image()
    opened = [gaps(tr, frame_times) for tr in tracks]
    tb = Fraction(1, 1000)  # ms timestamps carry any frame rate, variable included
    with av.open(str(path), "w") as c:
        if video:
            vs = c.add_stream(codec, rate=int(round(fps)))
            vs.width, vs.height, vs.pix_fmt = face.shape[1] * len(tracks), face.shape[0], "yuv420p"
            vs.time_base = tb
            vs.codec_context.time_base = tb
            if codec == "libx264":
                vs.options = {"preset": "ultrafast", "crf": "18"}
        if audio:
            aus = c.add_stream("aac", rate=SR)
            aus.layout = "mono"
        if video:
            for k, t in enumerate(frame_times):
                parts = []
                for i in range(len(tracks)):
                    present = faces_present is None or faces_present(i, t)
                    parts.append(open_mouth(face, opened[i][k]) if present else np.full_like(face, 128))
                frame = av.VideoFrame.from_ndarray(np.concatenate(parts, axis=1), format="rgb24")
                frame.pts, frame.time_base = int(round(t * 1000)), tb
                for pkt in vs.encode(frame):
                    c.mux(pkt)
            for pkt in vs.encode():
                c.mux(pkt)
        if audio:
            pcm = np.round(np.clip(mix, -1, 1) * 32767).astype(np.int16)
            step = 1024
            for k in range(0, n, step):
                frame = av.AudioFrame.from_ndarray(pcm[None, k : k + step], format="s16", layout="mono")
                frame.sample_rate, frame.pts = SR, k
                for pkt in aus.encode(frame):
                    c.mux(pkt)
            for pkt in aus.encode():
                c.mux(pkt)
    return path
