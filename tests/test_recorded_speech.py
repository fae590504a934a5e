"""Recorded human speech (data/recorded.py): real voices strung into
utterances, split by speaker so the held-out ones are never trained on."""

import numpy as np
import pytest

from avsep_mobile.data.mixtures import make_example
from avsep_mobile.data.recorded import (ASTERISK_ROOT, HELDOUT_SPEAKERS, KLETTRES_ROOT, MAX_UTTERANCE_S,
                                        build_heldout_recorded_pool, family_speakers, installed_speakers)
from avsep_mobile.data.speech import MIN_SECONDS, build_pool

PAUSE_S = 0.1  # a klettres phrase has pauses between its words at least this long
SILENCE_RMS = 1e-3  # per 10 ms, on utterances peaking at 0.9

needs_klettres = pytest.mark.skipif(not KLETTRES_ROOT.is_dir(), reason="Debian's klettres-data is not installed (setup.sh installs it)")


@needs_klettres
def test_training_and_heldout_speakers_are_disjoint_and_only_the_named_sources_are_read():
    train, held = family_speakers("train"), family_speakers("heldout")
    assert not set(train) & set(held)
    assert set(held) <= set(HELDOUT_SPEAKERS) and len(held) >= 2 and len(train) >= 10
    for clips in installed_speakers().values():
        # ktuberling-data and gcompris-qt-data (reserved for independent evaluation) are never touched
        assert all(p.is_relative_to(KLETTRES_ROOT) or p.is_relative_to(ASTERISK_ROOT) for p in clips)


@pytest.fixture(scope="module")
def heldout(tmp_path_factory):
    return build_heldout_recorded_pool(tmp_path_factory.mktemp("recorded"), count=10, progress=False)


def _longest_pause_s(x: np.ndarray) -> float:
    frames = x[: len(x) // 160 * 160].reshape(-1, 160)
    quiet = np.sqrt(np.mean(frames**2, axis=1)) < SILENCE_RMS
    best = run = 0
    for q in quiet:
        run = run + 1 if q else 0
        best = max(best, run)
    return best / 100


@needs_klettres
def test_utterances_are_phrases_of_one_heldout_speaker(heldout):
    assert {u.voice for u in heldout} <= set(HELDOUT_SPEAKERS) and len({u.voice for u in heldout}) >= 2
    for u in heldout:
        assert u.audio.dtype == np.float32 and MIN_SECONDS * 16000 <= len(u.audio) <= MAX_UTTERANCE_S * 16000
        assert 0.85 <= np.abs(u.audio).max() <= 0.91
        if u.voice.startswith("klettres:"):  # letters and syllables strung with pauses between words
            assert _longest_pause_s(u.audio) >= PAUSE_S


@needs_klettres
def test_recorded_share_one_draws_other_voices_and_zero_changes_nothing(heldout, tmp_path):
    synth = build_pool(tmp_path, 6, 0, progress=False)
    plain = make_example(synth, 8, 2, 2.0)
    none = make_example(synth, 8, 2, 2.0, recorded=heldout, recorded_share=0.0)
    np.testing.assert_array_equal(plain.mix, none.mix)
    real = make_example(synth, 8, 2, 2.0, recorded=heldout, recorded_share=1.0)
    assert not np.allclose(real.sources, plain.sources, atol=1e-3)
    np.testing.assert_array_equal(real.mix, make_example(synth, 8, 2, 2.0, recorded=heldout, recorded_share=1.0).mix)
