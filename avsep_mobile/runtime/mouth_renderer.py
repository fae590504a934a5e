"""The mouth renderer: per-frame (opening, spread) in [0, 1] -> 88 x 88 mouth
crops. One renderer draws the training data (data/lips.py) and, at run time,
the mouths the bridge redraws from a face mesh (mouth_bridge.py), so a phone,
a browser and `avsep separate` all feed the model the same pixels.

Per-track nuisances come from the seed: skin tone, lighting gradient, a
constant audio-video lag of up to 40 ms, smooth head translation/rotation/
scale, lip thickness, and (training only) sensor noise.
"""

from __future__ import annotations

import math

import numpy as np

CROP = 88
MAX_LAG_S = 0.04


def _drift_params(rng: np.random.Generator, amp: float) -> tuple:
    """Smooth random motion: a few sinusoids of 0.05-0.6 Hz with random phases."""
    f = rng.uniform(0.05, 0.6, 3)
    ph = rng.uniform(0, 2 * np.pi, 3)
    a = rng.uniform(0.3, 1.0, 3)
    return f, ph, a, amp


def _drift(params: tuple, t: np.ndarray) -> np.ndarray:
    f, ph, a, amp = params
    return amp * (a[:, None] * np.sin(2 * np.pi * f[:, None] * t + ph[:, None])).sum(0) / a.sum()


def _smooth_inside(r: np.ndarray, edge: float) -> np.ndarray:
    """1 inside an implicit shape (r < 1), 0 outside, with an anti-aliased rim."""
    return np.clip((1.0 - r) / edge + 0.5, 0.0, 1.0)


class MouthRenderer:
    """Draws mouth crops from per-frame (opening, spread) in [0, 1]: the one
    renderer behind the training data and the landmark bridge for real video.

    The per-track nuisances are drawn from the seed once; call `frames` with
    consecutive stretches of a track (frame times in seconds) to render it in
    pieces: head motion is a function of time, so pieces join smoothly.
    """

    def __init__(self, seed: int = 0, noise: bool = True):
        rng = np.random.default_rng([seed, 0x11b5])
        self.lag = rng.uniform(-MAX_LAG_S, MAX_LAG_S)  # used by render_lips; drawn first to keep the seed's sequence
        self.up_th, self.lo_th = rng.uniform(5.0, 8.0), rng.uniform(6.5, 10.0)  # lip thickness
        self._cx, self._cy = _drift_params(rng, 4.0), _drift_params(rng, 3.0)
        self._rot = _drift_params(rng, math.radians(8.0))
        self._scale0 = rng.uniform(0.9, 1.1)
        self._scale = _drift_params(rng, 0.05)
        self.skin = rng.uniform(95, 205)
        self.lip_tone = self.skin * rng.uniform(0.6, 0.78)
        self._ang, self._grad = rng.uniform(0, 2 * np.pi), rng.uniform(0.05, 0.3)
        self._noise_amp = None  # drawn on the first call, after its noise (the seed's order)
        self._rng = rng
        # noise=False: no per-frame flicker and no sensor noise, so a frame is a
        # pure function of (params, opening, spread, t) that an app can redraw
        self.noise = noise

    def params(self) -> dict:
        """The track's nuisances as plain numbers (JSON), all the noise-free
        renderer needs: from_params(params()) draws the same frames."""
        drift = lambda d: {"freq": d[0].tolist(), "phase": d[1].tolist(), "weight": d[2].tolist(), "amp": float(d[3])}  # noqa: E731
        return {"upper_lip": self.up_th, "lower_lip": self.lo_th, "cx": drift(self._cx), "cy": drift(self._cy),
                "rot": drift(self._rot), "scale0": self._scale0, "scale": drift(self._scale), "skin": self.skin,
                "lip_tone": self.lip_tone, "light_angle": self._ang, "light_gradient": self._grad}

    @classmethod
    def from_params(cls, p: dict) -> MouthRenderer:
        """A noise-free renderer from params(); Python floats stay Python
        floats, so the float32 maths is the same as the seeded renderer's."""
        r = cls(0, noise=False)
        drift = lambda d: (np.array(d["freq"], np.float64), np.array(d["phase"], np.float64),  # noqa: E731
                           np.array(d["weight"], np.float64), float(d["amp"]))
        r.up_th, r.lo_th = float(p["upper_lip"]), float(p["lower_lip"])
        r._cx, r._cy, r._rot, r._scale = drift(p["cx"]), drift(p["cy"]), drift(p["rot"]), drift(p["scale"])
        r._scale0, r.skin, r.lip_tone = float(p["scale0"]), float(p["skin"]), float(p["lip_tone"])
        r._ang, r._grad = float(p["light_angle"]), float(p["light_gradient"])
        return r

    def frames(self, opening: np.ndarray, spread: np.ndarray, t: np.ndarray) -> np.ndarray:
        """uint8 (T, 88, 88) for opening, spread, t of shape (T,)."""
        rng, n_frames = self._rng, len(t)
        opening, spread, t = (np.asarray(v, np.float64) for v in (opening, spread, t))
        # mouth geometry in crop pixels, (T,) each
        half_w = 25.0 + 8.0 * (spread - 0.5) - 4.0 * opening * (1 - spread)  # rounded + open -> narrower
        open_h = 1.0 + 24.0 * opening ** 0.8  # inner gap height

        # head motion
        cx = CROP / 2 + _drift(self._cx, t)
        cy = CROP / 2 + 2 + _drift(self._cy, t)
        rot = _drift(self._rot, t)
        scale = self._scale0 * (1 + _drift(self._scale, t))

        yy, xx = np.mgrid[0:CROP, 0:CROP].astype(np.float32)
        dx = xx[None] - np.float32(cx)[:, None, None]  # (T, 88, 88)
        dy = yy[None] - np.float32(cy)[:, None, None]
        c, s = (np.float32(f(rot))[:, None, None] for f in (np.cos, np.sin))
        inv = np.float32(1 / scale)[:, None, None]
        u = (c * dx + s * dy) * inv  # mouth frame: u along the lips, v down
        v = (-s * dx + c * dy) * inv
        hw, oh = np.float32(half_w)[:, None, None], np.float32(open_h)[:, None, None] / 2

        # inner gap: top and bottom half-ellipses; lips: a taller, wider ellipse around it
        inner_b = np.where(v < 0, oh, oh * 1.15)
        inner = _smooth_inside(np.sqrt((u / (0.88 * hw)) ** 2 + (v / inner_b) ** 2), 0.08)
        outer_b = np.where(v < 0, oh + self.up_th, oh + self.lo_th)
        # a Cupid's bow: the upper lip dips slightly at the middle
        bow = np.where(v < 0, 1.0 + 0.12 * np.exp(-((u / (0.25 * hw)) ** 2)), 1.0)
        lips = _smooth_inside(np.sqrt(((u / (1.06 * hw)) ** 2) + (v * bow / outer_b) ** 2), 0.12)

        skin, lip_tone = self.skin, self.lip_tone
        img = np.full((n_frames, CROP, CROP), skin, np.float32)
        img += -10.0 * np.exp(-((dy - 30) / 18.0) ** 2)  # chin shadow
        img = img * (1 - lips) + lip_tone * lips
        # inside: dark cavity, upper teeth showing below the upper lip, tongue at the bottom
        cavity = 25.0 + 10.0 * np.clip(v / np.maximum(oh, 1), -1, 1)
        teeth_h = np.minimum(0.7 * oh, 4.0)  # a band under the upper lip, at most 4 px
        teeth = np.clip((teeth_h - oh - v) + 0.5, 0, 1) * _smooth_inside(np.abs(u) / (0.7 * hw), 0.2)
        teeth *= np.clip((oh - 2.0) / 3.0, 0, 1)  # hidden until the mouth is open enough
        tongue = _smooth_inside(np.sqrt((u / (0.55 * hw)) ** 2 + ((v - oh) / (0.6 * oh + 1e-3)) ** 2), 0.2)
        tongue *= np.clip((oh - 4.0) / 4.0, 0, 1)
        inside = cavity * (1 - teeth) + 215.0 * teeth
        inside = inside * (1 - tongue) + lip_tone * 0.75 * tongue
        img = img * (1 - inner) + inside * inner

        # lighting: a linear gradient in a random direction, and per-frame flicker
        ang = self._ang
        grad = 1 + self._grad * ((xx - CROP / 2) * np.cos(ang) + (yy - CROP / 2) * np.sin(ang)) / CROP
        if not self.noise:
            img *= grad[None]  # float64 grad: the product is rounded to float32 once
            return np.clip(img, 0, 255).round().astype(np.uint8)
        img *= grad[None] * (1 + 0.02 * rng.standard_normal(n_frames))[:, None, None]
        noise = rng.standard_normal(img.shape, dtype=np.float32)
        if self._noise_amp is None:
            self._noise_amp = rng.uniform(1.5, 6.0)
        img += noise * self._noise_amp  # sensor noise
        return np.clip(img, 0, 255).round().astype(np.uint8)
