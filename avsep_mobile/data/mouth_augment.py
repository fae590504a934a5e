"""Mouth tracks that differ from the renderer's own rule the way a measured
mouth does.

At run time the mouth the model sees is measured by a face mesh and redrawn
by the bridge (runtime/mouth_bridge.py); in training it comes from
data/lips.py's speech -> mouth rule, exactly. A measured mouth differs from
that rule, so training draws, per track, a MouthRule:
  level rule   the renderer's dB rule with another range and loud point, a
               linear amplitude rule (a jaw that follows amplitude) with a
               power law, or a dB rule over the formant band only
  smoothing    none, or a gaussian of 10-80 ms
  lag          -2..+2 camera frames on top of the renderer's own lag
  warp         gamma, sigmoid or affine-and-clip maps of the opening
  rest         in REST_SHARE of tracks a closed mouth does not read as the
               least open one: the opening dips to 0 a little above closed
               and reads rest_open at rest, as the face mesh reads the
               talking face (gap/width 0.170 closed, 0.138 a twentieth open):
               a face's rest shape need not be its least open reading
  spread       the spectral-centroid shape kept only partly (a face mesh
               measures width, which follows the spectrum loosely), and in
               SHAPELESS_SHARE of tracks not at all (a jaw that only drops:
               the bridge measures a steady width, spread 0.5 throughout)
  camera       held frames (a repeated frame), dropped runs of 1-5 frames
               (the face was lost: the crop holds), an occasional still
               mouth, and the bridge's noise-free rendering half the time
EVAL_RULE is none of these (asymmetric jaw inertia and a cube-root
opening): `avsep eval` drives mouths with it to measure the lips path on a
rule the model never trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..runtime.mouth_renderer import MouthRenderer
from .lips import video_frames

HOP_S = 0.01  # analysis rate of every rule, as data/lips.py's
BAND_HZ = (300.0, 3000.0)  # the formant band of the "band" level rule
STILL_SHARE = 0.05  # tracks with a still mouth
# Tracks whose width says nothing. benchmarks/camera_gap.py on the default before it was trained with
# them (20 recorded-speech mixtures): a steady width cost 1.65 dB of the camera set's 3.9
SHAPELESS_SHARE = 0.4
# Tracks whose closed mouth reads a little open. camera_gap.py's mesh curve on the default: the talking face's
# static reading curve, that dip included, is 0.63 of the face mesh's 0.78 dB
REST_SHARE = 0.3


@dataclass(frozen=True)
class MouthRule:
    level: str  # "db", "linear" or "band"
    range_db: float  # db/band: levels this far below the loud point keep the mouth closed
    loud_pct: float  # the level percentile that opens the mouth fully
    power: float  # linear: opening = (amplitude / loud) ** power
    smooth_s: float  # gaussian sigma of the opening and shape (0: none)
    lag_frames: int
    warp: str  # "gamma", "sigmoid" or "affine"
    warp_a: float
    warp_b: float
    spread_keep: float  # share of the centroid rule's spread that survives
    hold: float  # chance per frame that the camera repeats the previous frame
    drop: float  # chance per frame that a run of 1-5 frames is lost
    still: bool
    noise: bool  # sensor noise and flicker (the bridge draws noise-free)
    rest_open: float = 0.0  # the opening a closed mouth reads as (0: closed reads closed)
    rest_dip: float = 0.1  # the true opening that reads as 0 when rest_open > 0


def draw_rule(rng: np.random.Generator) -> MouthRule:
    level = str(rng.choice(["db", "linear", "band"], p=[0.4, 0.35, 0.25]))
    warp = str(rng.choice(["gamma", "sigmoid", "affine"]))
    a, b = {"gamma": (rng.uniform(0.5, 2.0), 0.0), "sigmoid": (rng.uniform(4.0, 10.0), rng.uniform(0.3, 0.6)),
            "affine": (rng.uniform(0.6, 1.3), rng.uniform(-0.1, 0.2))}[warp]
    return MouthRule(level, float(rng.uniform(18.0, 45.0)), float(rng.uniform(90.0, 99.5)), float(rng.uniform(0.5, 1.0)),
                     0.0 if rng.random() < 0.3 else float(rng.uniform(0.01, 0.08)), int(rng.integers(-2, 3)), warp,
                     float(a), float(b), 0.0 if rng.random() < SHAPELESS_SHARE else float(rng.uniform(0.0, 1.0)), float(rng.uniform(0.0, 0.1)),
                     float(rng.uniform(0.0, 0.05)), bool(rng.random() < STILL_SHARE), bool(rng.random() < 0.5),
                     # drawn last: every earlier draw stays what it was before rest readings existed
                     *((float(rng.uniform(0.1, 0.35)), float(rng.uniform(0.05, 0.3))) if rng.random() < REST_SHARE else ()))


def _power_frames(speech: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Power spectra of 40 ms Hann windows every HOP_S, (n, bins), and the bin frequencies."""
    hop = max(1, int(round(HOP_S * sample_rate)))
    win = 4 * hop
    x = np.pad(np.asarray(speech, np.float32), (win // 2, win))
    n = max(1, (len(x) - win) // hop)
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[: n * hop : hop] * np.hanning(win).astype(np.float32)
    return np.abs(np.fft.rfft(frames, axis=1)) ** 2, np.fft.rfftfreq(win, 1 / sample_rate)


def _gauss(x: np.ndarray, sigma_hops: float) -> np.ndarray:
    if sigma_hops < 0.5:
        return x
    r = int(math.ceil(3 * sigma_hops))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma_hops) ** 2)
    return np.convolve(np.pad(x, r, mode="edge"), k / k.sum(), "valid")


def _warp(o: np.ndarray, rule: MouthRule) -> np.ndarray:
    if rule.warp == "gamma":
        return o**rule.warp_a
    if rule.warp == "sigmoid":
        lo, hi = (1 / (1 + np.exp(-rule.warp_a * (v - rule.warp_b))) for v in (0.0, 1.0))
        return (1 / (1 + np.exp(-rule.warp_a * (o - rule.warp_b))) - lo) / (hi - lo)
    return np.clip(rule.warp_a * o + rule.warp_b, 0.0, 1.0)


def _rest_reading(o: np.ndarray, rule: MouthRule) -> np.ndarray:
    """A V near closed: rest_open at 0, 0 at rest_dip, then linear up to 1 at 1."""
    if rule.rest_open <= 0:
        return o
    d = rule.rest_dip
    return np.where(o < d, rule.rest_open * (1 - o / d), (o - d) / (1 - d))


def rule_features(speech: np.ndarray, sample_rate: int, times: np.ndarray, rule: MouthRule) -> tuple[np.ndarray, np.ndarray]:
    """(opening, spread) in [0, 1] at `times` (s) by `rule`, before the camera's artefacts."""
    power, freqs = _power_frames(speech, sample_rate)
    band = (freqs >= BAND_HZ[0]) & (freqs <= BAND_HZ[1])
    p = power[:, band].mean(axis=1) if rule.level == "band" else power.mean(axis=1)
    if rule.level == "linear":
        amp = np.sqrt(p)
        loud = np.percentile(amp, rule.loud_pct)
        opening = np.clip(amp / max(loud, 1e-9), 0.0, 1.0) ** rule.power if loud > 1e-5 else np.zeros_like(amp)
    else:
        level = 10 * np.log10(p + 1e-10)
        loud = np.percentile(level, rule.loud_pct)
        opening = np.clip((level - loud + rule.range_db) / rule.range_db, 0.0, 1.0) if loud > -80 else np.zeros_like(level)
    centroid = (power * freqs).sum(axis=1) / (power.sum(axis=1) + 1e-10)
    spread = np.clip(np.log(np.maximum(centroid, 1.0) / 300.0) / math.log(10.0), 0.0, 1.0)
    spread = 0.5 + rule.spread_keep * (np.where(opening > 0.05, spread, 0.5) - 0.5)
    sigma = rule.smooth_s / HOP_S
    opening, spread = np.clip(_rest_reading(_warp(_gauss(opening, sigma), rule), rule), 0.0, 1.0), _gauss(spread, sigma)
    t = np.arange(len(opening)) * HOP_S
    return np.interp(times, t, opening), np.interp(times, t, spread)


def camera_artefacts(opening: np.ndarray, spread: np.ndarray, rule: MouthRule,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame tracks with held frames, dropped runs (the last crop holds) and a still mouth."""
    o, s = opening.copy(), spread.copy()
    if rule.still:
        o = np.clip(rng.uniform(0.0, 0.15) + 0.01 * rng.standard_normal(len(o)), 0.0, 1.0)
        return o, np.full_like(s, 0.5)
    k = 1
    while k < len(o):
        if rng.random() < rule.drop:
            run = int(rng.integers(1, 6))
            o[k : k + run], s[k : k + run] = o[k - 1], s[k - 1]
            k += run
            continue
        if rng.random() < rule.hold:
            o[k], s[k] = o[k - 1], s[k - 1]
        k += 1
    return o, s


def render_augmented(speech: np.ndarray, sample_rate: int, fps: float, seed: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 (T_video, 88, 88) like data.lips.render_lips(speech, sample_rate,
    fps, seed) (same face, light and head motion), the mouth moved by a rule
    drawn from rng."""
    rule = draw_rule(rng)
    n_frames = video_frames(len(speech), fps, sample_rate)
    renderer = MouthRenderer(seed, noise=rule.noise)
    t = np.arange(n_frames) / fps
    opening, spread = rule_features(speech, sample_rate, t + renderer.lag + rule.lag_frames / fps, rule)
    opening, spread = camera_artefacts(opening, spread, rule, rng)
    return renderer.frames(opening, spread, t)


# ---------------------------------------------------------------- the eval rule (never trained on)

EVAL_ATTACK_S, EVAL_RELEASE_S = 0.015, 0.15  # a jaw that opens fast and closes slowly


def _follow(x: np.ndarray, attack_s: float, release_s: float) -> np.ndarray:
    """x (one value per HOP_S) through a one-pole follower that rises with
    time constant attack_s and falls with release_s."""
    up, down = 1 - math.exp(-HOP_S / attack_s), 1 - math.exp(-HOP_S / release_s)
    out, e = np.zeros_like(x), 0.0
    for i, a in enumerate(x):
        e += (up if a > e else down) * (a - e)
        out[i] = e
    return out


def eval_rule_opening(speech: np.ndarray, sample_rate: int, times: np.ndarray,
                      inertia: bool = True, cube_root: bool = True) -> np.ndarray:
    """Opening in [0, 1] at `times` (s): the amplitude through an attack/release
    follower (jaw inertia), over its 95th percentile, cube root. No training
    rule is asymmetric in time or this compressive (training powers >= 0.5).
    inertia / cube_root False leave that half out (benchmarks/camera_gap.py
    splits what the rule costs between them)."""
    power, _ = _power_frames(speech, sample_rate)
    amp = np.sqrt(power.mean(axis=1))
    env = _follow(amp, EVAL_ATTACK_S, EVAL_RELEASE_S) if inertia else amp
    loud = np.percentile(env, 95)
    opening = np.clip(env / loud, 0.0, 1.0) if loud > 1e-5 else np.zeros_like(env)
    opening = np.cbrt(opening) if cube_root else opening
    return np.interp(times, np.arange(len(opening)) * HOP_S, opening)
