"""Labelled audio-visual mixtures: generated on the fly for training, held out
for evaluation, and stored on disk for users.

On-disk layout, one dir per mixture:

    DIR/<name>/mix.wav           16 kHz mono, the mixture
    DIR/<name>/s1.wav ... sN.wav 16 kHz mono, each clean speaker as heard in
                                 the mix (same length as mix.wav)
    DIR/<name>/lips.npz          lips: uint8 [N, T_video, 88, 88], mouth crop of
                                 speaker i per camera frame; fps: scalar float.
                                 Frame j is shown at j / fps seconds, and
                                 T_video = ceil(seconds * fps) (+-2 accepted).

Seeds: training draws example seeds below TRAIN_SEED_LIMIT; the held-out set
uses seeds from HELDOUT_SEED up, and its own utterance pool, so it never
repeats a training mixture or sentence.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.fft import next_fast_len
from scipy.signal import butter, lfilter, resample_poly

from ..atomic import atomic_dir
from ..audio import AudioError, read_wav, write_wav
from ..lips_file import read_lips
from .lips import render_lips
from .mouth_augment import render_augmented
from .rooms import draw_room, reverberate
from .speech import SAMPLE_RATE, Utterance

TRAIN_SEED_LIMIT = 10_000_000
HELDOUT_SEED = 10_000_000
PERTURB_FACTOR = (0.88, 1.12)  # voice perturbation: resampling factor (pitch, formants and tempo together)
PERTURB_TILT = (-0.6, 0.6)  # voice perturbation: first-order spectral tilt (duller .. brighter)
EQ_CENTRES_HZ = (150.0, 400.0, 1000.0, 2200.0, 4000.0, 6500.0)  # voice perturbation: smooth random EQ ...
EQ_RANGE_DB = 6.0  # ... of up to this many dB at each centre, interpolated over log frequency


@dataclass
class Example:
    mix: np.ndarray  # (n,) float32
    sources: np.ndarray  # (N, n) float32, mix = sources.sum(0) + noise (+ late reverberation in a room: data.rooms)
    lips: np.ndarray  # (N, T_video, 88, 88) uint8
    fps: float
    name: str


# ---------------------------------------------------------------- generation


def _pick(pool: list[Utterance], rng: np.random.Generator, speakers: int) -> list[Utterance]:
    chosen, voices = [], set()
    for i in rng.permutation(len(pool)):
        if pool[i].voice not in voices:
            chosen.append(pool[i])
            voices.add(pool[i].voice)
            if len(chosen) == speakers:
                return chosen
    raise ValueError(f"the utterance pool has {len(voices)} distinct voices, fewer than {speakers} speakers: use a bigger pool")


def _place(utt: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """The utterance (or a random crop of it) at a random offset in n samples."""
    out = np.zeros(n, np.float32)
    # mostly heavily overlapping: start within the first 15%, sometimes up to 50%
    start = int(rng.uniform(0, 0.15 if rng.random() < 0.8 else 0.5) * n)
    room = n - start
    if len(utt) > room:
        off = int(rng.integers(0, len(utt) - room + 1))
        out[start:] = utt[off : off + room]
    else:
        out[start : start + len(utt)] = utt
    return out


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unit-RMS white, pink or babble-like (speech-band, syllable-rate modulated) noise."""
    kind = rng.choice(["white", "pink", "babble"])
    w = rng.standard_normal(n)
    if kind == "pink":  # Paul Kellet's 1/f filter
        w = lfilter([0.049922035, -0.095993537, 0.050612699, -0.004408786], [1, -2.494956002, 2.017265875, -0.522189400], w)
    elif kind == "babble":
        b, a = butter(2, [150, 3500], btype="band", fs=SAMPLE_RATE)
        w = lfilter([1.0], [1.0, -0.7], lfilter(b, a, w))  # speech band, tilted toward the low formants
        t = np.arange(n) / SAMPLE_RATE
        w *= 1 + 0.5 * sum(np.sin(2 * np.pi * rng.uniform(2, 6) * t + rng.uniform(0, 6.3)) for _ in range(3)) / 3
    return (w / (np.sqrt(np.mean(w**2)) + 1e-12)).astype(np.float32)


def perturb_voice(audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A new-sounding speaker from an utterance, and the factor used.

    Played back `factor` times faster: pitch and formants rise and the speech
    quickens together, as from a shorter vocal tract (the vocal-tract-length
    perturbation of ASR training), with a proper low-pass (polyphase
    resampling, no aliasing). Then a first-order tilt, a brighter or duller
    microphone, and a smooth random EQ, a different vocal-tract colour or
    room (random_eq). Peak 0.9 like the pool's utterances."""
    up = 50
    down = int(round(up * rng.uniform(*PERTURB_FACTOR)))
    y = resample_poly(audio.astype(np.float64), up, down)
    y = lfilter([1.0, -rng.uniform(*PERTURB_TILT)], [1.0], y)
    y, _ = random_eq(y, rng)
    return (y * (0.9 / max(float(np.abs(y).max()), 1e-9))).astype(np.float32), down / up


def random_eq(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """x through a zero-phase filter whose gain is drawn in [-EQ_RANGE_DB,
    EQ_RANGE_DB] at each of EQ_CENTRES_HZ and interpolated between them over
    log frequency; returns (filtered, gains_db)."""
    gains_db = rng.uniform(-EQ_RANGE_DB, EQ_RANGE_DB, len(EQ_CENTRES_HZ))
    # padding keeps the circular convolution's wrap out of the signal; a length of small
    # factors keeps the FFT fast (an utterance's own length made it 6x slower)
    n = next_fast_len(len(x) + 1024, real=True)
    freqs = np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE), 1.0)
    gain = 10 ** (np.interp(np.log(freqs), np.log(EQ_CENTRES_HZ), gains_db) / 20)
    return np.fft.irfft(np.fft.rfft(x, n) * gain, n)[: len(x)], gains_db


def _active_rms(x: np.ndarray) -> float:
    """RMS over the samples that carry speech, so short utterances are not boosted."""
    return float(np.sqrt(np.mean(x[np.abs(x) > 1e-4] ** 2))) if np.any(np.abs(x) > 1e-4) else 0.0


# a mixture's overall level (dB on the sources' -20 dBFS): quiet to loud recordings; `quiet`
# draws from the second range, a soft or distant talker down to about -50 dBFS RMS (the device
# band's quiet gate is -45: export/levels.py), which the first range never reaches
LEVEL_DB = (-12.0, 6.0)
QUIET_LEVEL_DB = (-36.0, -12.0)


def make_example(pool: list[Utterance], seed: int, speakers: int = 2, seconds: float = 4.0,
                 fps: float | None = 25.0, perturb: float = 0.0, room: float = 0.0, recorded=None,
                 recorded_share: float = 0.0, mouth_augment: float = 0.0, quiet: float = 0.0) -> Example:
    """A mixture of `speakers` distinct voices; fps None draws 25 or 30.
    perturb: the chance that each speaker's voice is perturbed (training
    only); room: the chance that the mixture is heard in a reverberant room
    (data.rooms: the sources are then each speaker's direct path and early
    reflections, the mix holds the whole room); recorded_share: the chance
    that each speaker's utterance comes from `recorded` (a pool of recorded
    human speech, data.recorded) instead of `pool`, voices still distinct;
    mouth_augment: the chance that each mouth track moves by a rule drawn
    from data.mouth_augment instead of the renderer's own (the face, light
    and head motion stay); quiet: the chance that the mixture's overall
    level is drawn from QUIET_LEVEL_DB instead of LEVEL_DB. Each draws from
    its own generator: at 0 the mixture is exactly as without it."""
    if speakers < 1:
        raise ValueError(f"speakers must be at least 1, got {speakers}")
    rng = np.random.default_rng([seed, 0x313])
    n = int(round(seconds * SAMPLE_RATE))
    if fps is None:
        fps = float(rng.choice([25.0, 30.0], p=[0.7, 0.3]))
    voices = [u.audio for u in _pick(pool, rng, speakers)]
    if recorded is not None and recorded_share > 0:
        hrng = np.random.default_rng([seed, 0x4ec])
        swap = [i for i in range(speakers) if hrng.random() < recorded_share]
        for i, u in zip(swap, _pick(recorded, hrng, len(swap)) if swap else []):
            voices[i] = u.audio
    if perturb > 0:  # its own generator, so every other draw stays as without perturbation
        vrng = np.random.default_rng([seed, 0x7e7])
        voices = [perturb_voice(a, vrng)[0] if vrng.random() < perturb else a for a in voices]
    sources = np.stack([_place(a, n, rng) for a in voices])
    heard = None  # what reaches the microphone, where that is not the sources themselves
    if room > 0:
        rrng = np.random.default_rng([seed, 0x400d])
        if rrng.random() < room:
            heard, sources = reverberate(draw_room(rrng, speakers), sources, seed)
    rms = np.array([_active_rms(s) for s in sources])
    gains_db = rng.uniform(-5, 5, speakers)
    level = (10 ** (gains_db / 20) / np.maximum(rms, 1e-6))[:, None] * 0.1
    sources *= level
    if heard is not None:
        heard *= level
    speech = (sources if heard is None else heard).sum(0)
    noise = np.zeros(n, np.float32)
    if rng.random() < 0.7:
        snr_db = rng.uniform(10, 30)
        noise = _noise(rng, n) * _active_rms(speech) * 10 ** (-snr_db / 20)
    gain = 10 ** (rng.uniform(*LEVEL_DB) / 20)
    if quiet > 0:
        qrng = np.random.default_rng([seed, 0x9e7])
        if qrng.random() < quiet:
            gain = 10 ** (qrng.uniform(*QUIET_LEVEL_DB) / 20)
    sources, noise = sources * gain, noise * gain
    mix = (sources if heard is None else heard * gain).sum(0) + noise
    peak = max(np.abs(mix).max(), np.abs(sources).max())
    if peak > 0.99:  # scale everything, so mix == sum(what is heard) + noise still holds
        sources, noise, mix = sources * (0.99 / peak), noise * (0.99 / peak), mix * (0.99 / peak)
    faces = [int(rng.integers(2**31)) for _ in sources]
    mrng = np.random.default_rng([seed, 0x1175])
    lips = np.stack([render_augmented(s, SAMPLE_RATE, fps, face, mrng) if mouth_augment > 0 and mrng.random() < mouth_augment
                     else render_lips(s, SAMPLE_RATE, fps, seed=face) for s, face in zip(sources, faces)])
    return Example(mix.astype(np.float32), sources.astype(np.float32), lips, float(fps), f"seed_{seed}")


def scaled(ex: Example, g: float) -> Example:
    """The same mixture g times as loud (its sources with it)."""
    return Example((ex.mix * g).astype(np.float32), (ex.sources * g).astype(np.float32), ex.lips, ex.fps, ex.name)


def heldout_examples(pool: list[Utterance], count: int = 50, speakers: int = 2, seconds: float = 4.0,
                     fps: float = 25.0, room: float = 0.0) -> list[Example]:
    """The evaluation set: seeds HELDOUT_SEED + i, which training never draws.
    Pass build_eval_pool() so the sentences are unseen too; room=1 puts every
    mixture in its own room (rooms training never drew: their seeds are unseen)."""
    return [make_example(pool, HELDOUT_SEED + i, speakers, seconds, fps, room=room) for i in range(count)]


# ---------------------------------------------------------------- disk


def write_example(root, ex: Example) -> Path:
    """Write ex to root/ex.name all at once (an existing one is replaced)."""
    final = Path(root) / ex.name
    with atomic_dir(final) as tmp:
        write_wav(tmp / "mix.wav", ex.mix)
        for i, s in enumerate(ex.sources):
            write_wav(tmp / f"s{i + 1}.wav", s)
        buf = io.BytesIO()
        np.savez_compressed(buf, lips=ex.lips, fps=np.float64(ex.fps))
        (tmp / "lips.npz").write_bytes(buf.getvalue())
    return final


def _source_paths(d: Path) -> list[Path]:
    found = {int(m.group(1)): p for p in d.iterdir() if (m := re.fullmatch(r"s(\d+)\.wav", p.name))}
    if not found:
        raise AudioError(f"{d}: no s1.wav: each mixture dir needs its clean speakers s1.wav ... sN.wav")
    missing = [i for i in range(1, max(found) + 1) if i not in found]
    if missing:
        raise AudioError(f"{d}: s{missing[0]}.wav is missing: sources must be numbered s1.wav ... s{max(found)}.wav")
    return [found[i] for i in sorted(found)]


def read_example(d) -> Example:
    d = Path(d)
    if not (d / "mix.wav").is_file():
        raise AudioError(f"{d}: no mix.wav: a mixture dir holds mix.wav, s1.wav ... sN.wav and lips.npz")
    mix, _ = read_wav(d / "mix.wav")
    sources = []
    for p in _source_paths(d):
        s, _ = read_wav(p)
        if len(s) != len(mix):
            raise AudioError(f"{p}: {len(s)} samples but mix.wav has {len(mix)}: sources must match the mix sample for sample")
        sources.append(s)
    lips, fps = read_lips(d / "lips.npz", n_samples=len(mix), speakers=len(sources))
    return Example(mix, np.stack(sources), lips, fps, d.name)


def list_examples(root) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / "mix.wav").is_file())


# ---------------------------------------------------------------- torch datasets


def _as_tensors(ex: Example) -> dict:
    return {"mix": torch.from_numpy(ex.mix), "sources": torch.from_numpy(ex.sources),
            "lips": torch.from_numpy(np.ascontiguousarray(ex.lips)), "fps": ex.fps}


class MixtureStream(torch.utils.data.IterableDataset):
    """Endless training mixtures of fixed length and fps (so batches stack).

    Example k of worker w on rank r uses seed base_seed + (k * workers + w) *
    world_size + r, folded below TRAIN_SEED_LIMIT, so no two ranks or workers
    repeat each other and none touches the held-out seeds."""

    def __init__(self, pool: list[Utterance], seconds: float = 2.5, speakers: int = 2, base_seed: int = 0,
                 rank: int = 0, world_size: int = 1, fps: float = 25.0, perturb: float = 0.0, room: float = 0.0,
                 recorded=None, recorded_share: float = 0.0, mouth_augment: float = 0.0, quiet: float = 0.0):
        super().__init__()
        self.pool, self.seconds, self.speakers, self.fps, self.perturb = pool, seconds, speakers, fps, perturb
        self.room, self.recorded, self.recorded_share, self.mouth_augment = room, recorded, recorded_share, mouth_augment
        self.quiet = quiet
        self.base_seed, self.rank, self.world_size = base_seed, rank, world_size

    def seeds(self):
        info = torch.utils.data.get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        k = 0
        while True:
            yield (self.base_seed + (k * workers + worker) * self.world_size + self.rank) % TRAIN_SEED_LIMIT
            k += 1

    def __iter__(self):
        for seed in self.seeds():
            yield _as_tensors(make_example(self.pool, seed, self.speakers, self.seconds, self.fps, self.perturb, self.room,
                                           self.recorded, self.recorded_share, self.mouth_augment, self.quiet))


class ExampleDirDataset(torch.utils.data.Dataset):
    """Mixtures from a user DIR in the on-disk layout, as MixtureStream's dicts."""

    def __init__(self, root):
        self.paths = list_examples(root)
        if not self.paths:
            raise ValueError(f"{root} holds no mixtures (DIR/<name>/mix.wav): make some with `avsep data make`")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict:
        return _as_tensors(read_example(self.paths[i]))
