"""PESQ (wideband) and extended STOI: the perceptual scores `avsep eval` reports beside SI-SNRi."""

import json

import numpy as np
import pytest

from avsep_mobile import evaluate
from avsep_mobile.cli import main
from avsep_mobile.data.mixtures import make_example, write_example
from avsep_mobile.data.speech import build_pool
from avsep_mobile.metrics import ESTOI_MAX, PESQ_WB_MAX, estoi, pesq_wb

TOP_PESQ_SLACK = 0.01  # the package's own float rounding at the top of the scale
TOP_ESTOI_SLACK = 1e-6
MIN_MIXTURE_GAP_PESQ = 0.5  # two overlapping talkers sound far from one clean one ...
MIN_MIXTURE_GAP_ESTOI = 0.1  # ... and are far less intelligible


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    pool = build_pool(tmp_path_factory.mktemp("speech_cache"), 6, 0, progress=False)
    return make_example(pool, seed=5, speakers=2, seconds=3.0)


def test_clean_reference_scores_the_top_and_the_mixture_lower(example):
    ref, mix = example.sources[0], example.mix
    assert pesq_wb(ref, ref) >= PESQ_WB_MAX - TOP_PESQ_SLACK
    assert estoi(ref, ref) >= ESTOI_MAX - TOP_ESTOI_SLACK
    assert pesq_wb(ref, mix) <= PESQ_WB_MAX - MIN_MIXTURE_GAP_PESQ
    assert estoi(ref, mix) <= ESTOI_MAX - MIN_MIXTURE_GAP_ESTOI


def test_silent_reference_has_no_pesq():
    assert np.isnan(pesq_wb(np.zeros(16000), np.zeros(16000)))


def test_eval_json_scores_an_oracle_at_the_top_and_reports_the_mixture(tmp_path, example, capsys, monkeypatch):
    """`avsep eval --json` on a mixture dir, with the separation replaced by the
    clean references: every slot at the top of both scales, the mixture lower."""
    ex = write_example(tmp_path / "mixes", example)
    monkeypatch.setattr(evaluate, "separate", lambda model, mix, lips, fps: {
        "speakers": example.sources.copy(), "residual": np.zeros_like(mix)})
    assert main(["eval", "--preset", "tiny", "--data", str(ex.parent), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)["data"]
    assert res["pesq_wb"] >= PESQ_WB_MAX - TOP_PESQ_SLACK and res["estoi"] >= ESTOI_MAX - TOP_ESTOI_SLACK
    assert res["pesq_wb_mixture"] <= res["pesq_wb"] - MIN_MIXTURE_GAP_PESQ
    assert res["estoi_mixture"] <= res["estoi"] - MIN_MIXTURE_GAP_ESTOI
