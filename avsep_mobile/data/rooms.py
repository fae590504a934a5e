"""Reverberant rooms: each speaker at its own spot in a seeded shoebox room,
heard at one microphone.

A room is drawn from a generator (dimensions, reverberation time, the
microphone and one position per speaker); its impulse responses come from
pyroomacoustics' image-source model up to ISM_ORDER reflections, which is
exact for every path that arrives within the early window (below), and a
late tail of noise decaying at the room's RT60 from the end of that window,
matched in level to the image-source response just before it. The
image-source model at the full order a long RT60 needs costs seconds per
room (too slow for on-the-fly training mixtures); the tail is never part of
a target, so only its level and decay matter.

What a speaker's target is (the rule): the dry speech through the direct
path and the reflections that arrive within EARLY_MS after it, i.e. the
impulse response's taps up to direct + EARLY_MS; the mixture holds the whole
response. Each response is shifted so its direct path lands at time 0: a
speaker's target stays in step with its lips, as a camera beside the
microphone sees them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

SAMPLE_RATE = 16000
SOUND_SPEED = 343.0  # m/s, pyroomacoustics' own constant
# Reflections within ~50 ms of the direct sound fuse with it for a listener and
# add to intelligibility (the 50 ms early/late boundary of the speech clarity
# index C50, ISO 3382-1); later ones smear syllables into each other. So the
# target keeps the first 50 ms and the model learns to remove the rest, rather
# than to undo the room's colouring, which no listener asks for.
EARLY_MS = 50.0
ISM_ORDER = 12  # reflections: with walls >= 2.5 m apart every path arriving within the early window is included
FRAC_DELAY_TAPS = 81  # pyroomacoustics' fractional-delay filter: a direct path spans +-40 taps around its arrival
DIMS_M = ((3.0, 9.0), (3.0, 7.0), (2.5, 3.5))  # length, width, height
RT60_S = (0.2, 0.8)  # living rooms and offices to a large hard-walled room
SPEAKER_DISTANCE_M = (0.5, 2.5)  # from the microphone (a phone on a table or in a hand)
MIC_HEIGHT_M, SPEAKER_HEIGHT_M = (0.8, 1.6), (1.1, 1.9)
WALL_MARGIN_M = 0.4


@dataclass(frozen=True)
class Room:
    dims: tuple[float, float, float]  # metres
    rt60: float  # seconds
    mic: tuple[float, float, float]
    speakers: tuple[tuple[float, float, float], ...]  # one position per speaker


def draw_room(rng: np.random.Generator, speakers: int) -> Room:
    """A shoebox room, a microphone and `speakers` positions, all from rng."""
    dims = np.array([rng.uniform(*r) for r in DIMS_M])
    rt60 = float(rng.uniform(*RT60_S))
    mic = np.array([rng.uniform(WALL_MARGIN_M + 0.3, d - WALL_MARGIN_M - 0.3) for d in dims[:2]]
                   + [rng.uniform(*MIC_HEIGHT_M)])
    lo, hi = np.full(3, WALL_MARGIN_M), dims - WALL_MARGIN_M
    positions = []
    for _ in range(speakers):
        for _ in range(100):  # a spot inside the room; the room is big enough that this ends fast
            dist, az = rng.uniform(*SPEAKER_DISTANCE_M), rng.uniform(0, 2 * np.pi)
            p = np.array([mic[0] + dist * np.cos(az), mic[1] + dist * np.sin(az), rng.uniform(*SPEAKER_HEIGHT_M)])
            if np.all(p >= lo) and np.all(p <= hi):
                break
        positions.append(tuple(float(v) for v in np.clip(p, lo, hi)))
    return Room(tuple(float(v) for v in dims), rt60, tuple(float(v) for v in mic), tuple(positions))


def direct_index(room: Room, speaker: int) -> int:
    """The tap of speaker's direct path in pyroomacoustics' response (its
    fractional-delay filter centres each arrival FRAC_DELAY_TAPS // 2 late)."""
    dist = float(np.linalg.norm(np.subtract(room.speakers[speaker], room.mic)))
    return int(round(dist / SOUND_SPEED * SAMPLE_RATE)) + FRAC_DELAY_TAPS // 2


def early_samples() -> int:
    return int(round(EARLY_MS / 1000 * SAMPLE_RATE))


def impulse_responses(room: Room, seed: int = 0) -> list[np.ndarray]:
    """One response per speaker at the microphone: image sources up to
    direct + EARLY_MS, then a tail decaying at RT60 (its noise from seed)."""
    import pyroomacoustics as pra

    absorption, _ = pra.inverse_sabine(room.rt60, room.dims)
    shoebox = pra.ShoeBox(list(room.dims), fs=SAMPLE_RATE, materials=pra.Material(absorption), max_order=ISM_ORDER,
                          air_absorption=False, use_rand_ism=False)
    for p in room.speakers:
        shoebox.add_source(list(p))
    shoebox.add_microphone(list(room.mic))
    shoebox.compute_rir()
    rng = np.random.default_rng([seed, 0x7a11])
    out = []
    for s in range(len(room.speakers)):
        ism = np.asarray(shoebox.rir[0][s], np.float64)
        cut = direct_index(room, s) + early_samples()
        n_tail = int(1.5 * room.rt60 * SAMPLE_RATE)  # down 90 dB by its end
        window = ism[max(cut - early_samples() // 2, 0) : cut]  # the last 25 ms of the early part sets the tail's level
        level = np.sqrt(np.mean(window**2)) if window.size else 0.0
        decay = 10 ** (-3.0 * np.arange(n_tail) / (room.rt60 * SAMPLE_RATE))  # -60 dB at t = RT60
        h = np.zeros(cut + n_tail)
        h[: min(cut, len(ism))] = ism[:cut]
        h[cut:] = level * decay * rng.standard_normal(n_tail)
        out.append(h)
    return out


def reverberate(room: Room, dry: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """dry (N, n) speech of the room's N speakers -> (reverberant, target), both
    (N, n) float32: the whole response, and its taps up to direct + EARLY_MS.
    Both are shifted so the direct path arrives at the dry signal's time."""
    assert dry.ndim == 2 and dry.shape[0] == len(room.speakers), \
        f"dry must be (speakers={len(room.speakers)}, n), got {dry.shape}"
    n = dry.shape[1]
    wet, target = np.zeros(dry.shape, np.float32), np.zeros(dry.shape, np.float32)
    for s, h in enumerate(impulse_responses(room, seed)):
        d = direct_index(room, s)
        early = h[: d + early_samples()]
        wet[s] = fftconvolve(dry[s], h)[d : d + n]
        target[s] = fftconvolve(dry[s], early)[d : d + n]
    return wet, target
