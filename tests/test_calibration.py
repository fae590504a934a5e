"""The calibration set shipped in the package: int8 calibration and its task
gate need no speech synthesiser; synthesis says how to install one."""

import numpy as np
import pytest

from avsep_mobile import calibration
from avsep_mobile.data import speech


@pytest.fixture
def no_synthesiser(monkeypatch, tmp_path):
    """A PATH with no espeak-ng or text2wave on it (as on a fresh Mac)."""
    monkeypatch.setenv("PATH", str(tmp_path))
    assert speech.shutil.which("espeak-ng") is None


def test_shipped_splits_share_no_voice_or_sentence():
    cal, gate = calibration.utterances("calibration"), calibration.utterances("gate")
    assert {u.voice for u in cal}.isdisjoint({u.voice for u in gate})
    assert {u.text for u in cal}.isdisjoint({u.text for u in gate})
    assert len({u.voice for u in cal}) == calibration.VOICES["calibration"]
    assert len({u.voice for u in gate}) == calibration.VOICES["gate"]
    for u in cal + gate:
        assert u.audio.dtype == np.float32 and 0.5 < np.abs(u.audio).max() <= 1.0 and len(u.audio) > 8000


def test_calibration_and_gate_mixtures_need_no_synthesiser(no_synthesiser):
    from avsep_mobile.quantize.int8 import calibration_examples

    cal = calibration_examples(count=2, seconds=1.0)
    gate = calibration.gate_examples(count=2, speakers=3, seconds=1.0)
    assert [ex.lips.shape[:2] for ex in cal] == [(2, 25)] * 2
    assert [ex.sources.shape for ex in gate] == [(3, 16000)] * 2
    for ex in cal + gate:
        assert ex.lips.dtype == np.uint8
        speech_ = ex.sources.sum(0)  # the mix is the sources plus noise at >= 10 dB SNR
        assert np.sum((ex.mix - speech_) ** 2) < 0.5 * np.sum(speech_**2)
    # seeded: every machine calibrates on the same mixtures
    assert np.array_equal(calibration_examples(count=1, seconds=1.0)[0].mix, cal[0].mix)


def test_too_many_speakers_for_the_shipped_set_is_one_line():
    with pytest.raises(ValueError, match="at most 4 speakers.*--calib-data"):
        calibration.calibration_examples(count=1, speakers=5)


def test_synthesis_without_espeak_says_how_to_install(no_synthesiser, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"apt-get install espeak-ng.*brew install espeak-ng") as e:
        speech.build_pool(tmp_path / "cache", count=2, seed=5, progress=False)
    assert "\n" not in str(e.value)
