"""Reverberant rooms (data/rooms.py): the target is each speaker's direct path
and early reflections, exactly; a room is a pure function of its seed."""

import numpy as np
import pytest
from scipy.signal import fftconvolve

from avsep_mobile.data.mixtures import make_example
from avsep_mobile.data.rooms import DIMS_M, RT60_S, direct_index, draw_room, early_samples, impulse_responses, reverberate
from avsep_mobile.data.speech import build_pool

IMPULSE_AT = 2000  # samples into the dry track
SILENT = 1e-7  # below float32 rounding of unit-scale signals: nothing there
MIN_LATE_SHARE_DB = -40.0  # the reverberant response still carries this much energy after the early window


def impulses(speakers: int, n: int = 24000) -> np.ndarray:
    dry = np.zeros((speakers, n))
    dry[:, IMPULSE_AT] = 1.0
    return dry


@pytest.mark.parametrize("seed", [0, 7])
def test_target_is_the_direct_path_and_early_reflections_only(seed):
    room = draw_room(np.random.default_rng(seed), 3)
    wet, target = reverberate(room, impulses(3), seed)
    for s, h in enumerate(impulse_responses(room, seed)):
        d = direct_index(room, s)
        # an impulse through the rule: the response's taps up to direct + EARLY_MS, direct path at the impulse
        want = np.zeros(wet.shape[1])
        taps = h[: d + early_samples()]
        want[IMPULSE_AT - d : IMPULSE_AT - d + len(taps)] = taps
        np.testing.assert_allclose(target[s], want, atol=SILENT)
        assert np.argmax(np.abs(target[s])) == IMPULSE_AT
        assert np.all(np.abs(target[s][IMPULSE_AT + early_samples():]) < SILENT)
        # the mixture's copy is the whole response, late tail included
        late = wet[s][IMPULSE_AT + early_samples():]
        assert 10 * np.log10(np.sum(late**2) / np.sum(wet[s] ** 2)) > MIN_LATE_SHARE_DB
        np.testing.assert_allclose(wet[s][: IMPULSE_AT + early_samples()], target[s][: IMPULSE_AT + early_samples()],
                                   atol=SILENT)


def test_speech_through_a_room_is_the_convolution_with_its_responses():
    room = draw_room(np.random.default_rng(3), 2)
    dry = np.random.default_rng(0).standard_normal((2, 8000))
    wet, target = reverberate(room, dry, 3)
    for s, h in enumerate(impulse_responses(room, 3)):
        d = direct_index(room, s)
        np.testing.assert_allclose(wet[s], fftconvolve(dry[s], h)[d : d + 8000], atol=1e-4)
        np.testing.assert_allclose(target[s], fftconvolve(dry[s], h[: d + early_samples()])[d : d + 8000], atol=1e-4)


def test_the_same_seed_gives_the_same_room():
    a, b, c = (draw_room(np.random.default_rng(s), 2) for s in (11, 11, 12))
    assert a == b and a != c
    for ha, hb in zip(impulse_responses(a, 11), impulse_responses(b, 11)):
        np.testing.assert_array_equal(ha, hb)
    assert all(lo <= d <= hi for d, (lo, hi) in zip(a.dims, DIMS_M)) and RT60_S[0] <= a.rt60 <= RT60_S[1]
    assert all(np.all(np.array(p) > 0) and np.all(np.array(p) < a.dims) for p in a.speakers)


def test_room_share_is_seeded_and_zero_leaves_mixtures_as_they_were(tmp_path):
    pool = build_pool(tmp_path, 6, 0, progress=False)
    before, dry, wet, again = (make_example(pool, 4, 2, 2.0, **kw) for kw in ({}, {"room": 0.0}, {"room": 1.0}, {"room": 1.0}))
    np.testing.assert_array_equal(before.mix, dry.mix)
    np.testing.assert_array_equal(wet.mix, again.mix)
    np.testing.assert_array_equal(wet.sources, again.sources)
    assert not np.allclose(wet.sources, dry.sources, atol=1e-3)
