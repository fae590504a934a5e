"""Mouth tracks moved by rules other than the renderer's (data/mouth_augment.py),
and the camera path `avsep eval` measures a held-out rule through (data/talking_face.py)."""

import numpy as np
import pytest

from avsep_mobile.data.lips import render_lips
from avsep_mobile.data.mixtures import make_example
from avsep_mobile.data.mouth_augment import (HOP_S, MouthRule, camera_artefacts, draw_rule, eval_rule_opening,
                                             render_augmented, rule_features)
from avsep_mobile.data.speech import build_pool

MIN_CAMERA_RULE_CORR = 0.8  # open-mouth area of the camera path's crops vs the rule's opening


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    return build_pool(tmp_path_factory.mktemp("speech_cache"), 6, 0, progress=False)


def _rule(**kw) -> MouthRule:
    base = dict(level="db", range_db=30.0, loud_pct=98.0, power=1.0, smooth_s=0.0, lag_frames=0, warp="gamma",
                warp_a=1.0, warp_b=0.0, spread_keep=1.0, hold=0.0, drop=0.0, still=False, noise=False)
    return MouthRule(**{**base, **kw})


def test_rules_are_seeded_and_cover_every_kind():
    rules = [draw_rule(np.random.default_rng([7, i])) for i in range(300)]
    assert rules[:5] == [draw_rule(np.random.default_rng([7, i])) for i in range(5)]
    assert {r.level for r in rules} == {"db", "linear", "band"} and {r.warp for r in rules} == {"gamma", "sigmoid", "affine"}
    assert {r.lag_frames for r in rules} == {-2, -1, 0, 1, 2}
    assert any(r.still for r in rules) and any(r.noise for r in rules) and not all(r.noise for r in rules)
    shapeless = sum(r.spread_keep == 0.0 for r in rules) / len(rules)  # a jaw that only drops: steady width
    assert 0.3 < shapeless < 0.5 and any(0.0 < r.spread_keep < 1.0 for r in rules)
    rest = sum(r.rest_open > 0 for r in rules) / len(rules)  # a closed mouth that reads a little open
    assert 0.2 < rest < 0.4


def test_a_rest_reading_opens_a_closed_mouth_and_dips_just_above_it(pool):
    x, fps = pool[0].audio, 25.0
    t = np.arange(int(len(x) / 16000 * fps)) / fps
    plain, _ = rule_features(x, 16000, t, _rule())
    rest, _ = rule_features(x, 16000, t, _rule(rest_open=0.25, rest_dip=0.2))
    closed, dip, open_ = plain == 0, np.abs(plain - 0.2) < 0.02, plain == 1
    assert closed.any() and dip.any() and open_.any()
    np.testing.assert_allclose(rest[closed], 0.25)
    assert rest[dip].max() < 0.03 and np.all(rest[open_] == 1.0)


def test_a_shapeless_rule_keeps_the_neutral_width(pool):
    x, fps = pool[0].audio, 25.0
    t = np.arange(int(len(x) / 16000 * fps)) / fps
    opening, spread = rule_features(x, 16000, t, _rule(spread_keep=0.0))
    _, shaped = rule_features(x, 16000, t, _rule())
    assert np.ptp(opening) > 0.5 and np.ptp(shaped) > 0.1
    np.testing.assert_array_equal(spread, 0.5)


def test_camera_artefacts_only_hold_earlier_frames_or_go_still():
    rng = np.random.default_rng(0)
    o, s = np.linspace(0, 1, 200), np.linspace(0.2, 0.8, 200)
    ho, hs = camera_artefacts(o, s, _rule(hold=0.3, drop=0.05), rng)
    held = ho != o
    assert held.any() and not held[0]
    for k in np.flatnonzero(held):  # a held or dropped frame shows an earlier frame's mouth
        assert ho[k] == ho[k - 1] and hs[k] == hs[k - 1]
    still, shape = camera_artefacts(o, s, _rule(still=True), rng)
    assert np.ptp(still) < 0.1 and np.all(shape == 0.5)


def test_lag_moves_the_track_by_whole_frames(pool):
    x, fps = pool[0].audio, 25.0
    t = np.arange(int(len(x) / 16000 * fps)) / fps
    now, _ = rule_features(x, 16000, t, _rule())
    later, _ = rule_features(x, 16000, t + 2 / fps, _rule())  # what render_augmented does for lag_frames=2
    np.testing.assert_allclose(later[:-2], now[2:], atol=1e-9)


def test_augmented_tracks_keep_the_face_and_move_the_mouth(pool):
    x = pool[1].audio
    plain = render_lips(x, 16000, 25.0, seed=3)
    aug = render_augmented(x, 16000, 25.0, 3, np.random.default_rng(1))
    again = render_augmented(x, 16000, 25.0, 3, np.random.default_rng(1))
    np.testing.assert_array_equal(aug, again)
    assert aug.shape == plain.shape and aug.dtype == np.uint8 and not np.array_equal(aug, plain)


def test_mouth_augment_changes_the_lips_and_nothing_else(pool):
    plain = make_example(pool, 6, 2, 2.0)
    off = make_example(pool, 6, 2, 2.0, mouth_augment=0.0)
    on = make_example(pool, 6, 2, 2.0, mouth_augment=1.0)
    np.testing.assert_array_equal(off.lips, plain.lips)
    np.testing.assert_array_equal(on.mix, plain.mix)
    np.testing.assert_array_equal(on.sources, plain.sources)
    assert not np.array_equal(on.lips, plain.lips)


def test_eval_rule_opens_faster_than_it_closes():
    """The held-out rule's jaw has inertia, asymmetric in time (no training rule is)."""
    sr = 16000
    burst = np.zeros(2 * sr)
    burst[sr // 2 : sr] = np.sin(2 * np.pi * 200 * np.arange(sr // 2) / sr)  # on at 0.5 s, off at 1.0 s
    t = np.arange(0, 2, HOP_S)
    o = eval_rule_opening(burst, sr, t)
    rise = t[np.argmax(o > 0.5)] - 0.5  # from the burst's start to half open
    fall = t[np.argmax((o < 0.5) & (t > 1.0))] - 1.0  # from its end to half closed
    assert rise <= 0.05 and fall >= 0.2  # tens of ms to open, hundreds to close

    # each half left out on its own: no follower closes as fast as it opens; no cube root opens less
    still = eval_rule_opening(burst, sr, t, inertia=False)
    assert t[np.argmax((still < 0.5) & (t > 1.0))] - 1.0 <= 0.05
    linear = eval_rule_opening(burst, sr, t, cube_root=False)
    assert np.allclose(linear ** (1 / 3), o, atol=1e-6)


def test_camera_path_follows_the_rule(pool):
    """The talking face's jaw, moved by the eval rule, through detector, mesh and bridge."""
    from avsep_mobile.data.talking_face import camera_lips

    x = pool[2].audio[: 2 * 16000]
    t = np.arange(50) / 25.0
    o = eval_rule_opening(x, 16000, t)
    crops = camera_lips(o, t, slot=1).astype(np.float32)
    med = np.median(crops.reshape(len(crops), -1), axis=1)
    area = (crops < 0.45 * med[:, None, None]).sum(axis=(1, 2))  # the rendered mouth's dark cavity
    assert np.corrcoef(area, o)[0, 1] > MIN_CAMERA_RULE_CORR
