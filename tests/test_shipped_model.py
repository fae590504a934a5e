"""The shipped checkpoint loads, is the mobile size, and really separates by
lips on held-out mixtures (a few, so CI stays quick; the full figures are in
MODEL_CARD.md)."""

import pytest

from avsep_mobile import checkpoint
from avsep_mobile.data.mixtures import heldout_examples
from avsep_mobile.data.speech import build_eval_pool
from avsep_mobile.evaluate import evaluate
from avsep_mobile.info import count_params

MIN_SI_SNRI_DB = 5.0  # on 6 mixtures; the model card reports 50
MIN_DROP_WHEN_SWAPPED_DB = 5.0


def test_shipped_checkpoint_is_mobile_sized():
    assert checkpoint.SHIPPED.is_file(), "the shipped checkpoint is missing from the package"
    model, meta = checkpoint.load()
    assert 1e6 <= count_params(model) <= 3e6
    assert meta["steps"] > 0


@pytest.mark.slow
def test_shipped_checkpoint_separates_by_lips():
    model, _ = checkpoint.load()
    res = evaluate(model, heldout_examples(build_eval_pool(progress=False), count=6, speakers=2), progress=False)
    assert res["si_snri_db"] >= MIN_SI_SNRI_DB
    assert res["si_snri_db"] - res["si_snri_swapped_db"] >= MIN_DROP_WHEN_SWAPPED_DB
    assert res["follows_own_lips"] >= 0.8
