"""The shipped checkpoint loads, is the mobile size, and really separates by
lips on held-out mixtures (a few, so CI stays quick; the full figures are in
MODEL_CARD.md)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from avsep_mobile import checkpoint
from avsep_mobile.data.mixtures import heldout_examples
from avsep_mobile.data.speech import build_eval_pool
from avsep_mobile.evaluate import evaluate
from avsep_mobile.info import count_params
from avsep_mobile.metrics import snr_db
from avsep_mobile.pipeline import separate

MIN_SI_SNRI_DB = 5.0  # on 6 mixtures; the model card reports 50
MIN_DROP_WHEN_SWAPPED_DB = 5.0
SHIPPED_NAMES = ("mobile", "mobile_pruned", "mobile_fast", "mobile_fast_10ms", "mobile_lean")  # checkpoints/<name>.pt
SAME_OUTPUT_DB = 100.0  # float32 rounding only (thread count changes summation order)


def test_shipped_checkpoint_is_mobile_sized():
    assert checkpoint.SHIPPED.is_file(), "the shipped checkpoint is missing from the package"
    model, meta = checkpoint.load()
    assert 0.5e6 <= count_params(model) <= 3e6
    assert meta["steps"] > 0


@pytest.mark.slow
def test_shipped_checkpoint_separates_by_lips():
    model, _ = checkpoint.load()
    res = evaluate(model, heldout_examples(build_eval_pool(progress=False), count=6, speakers=2), progress=False)
    assert res["si_snri_db"] >= MIN_SI_SNRI_DB
    assert res["si_snri_db"] - res["si_snri_swapped_db"] >= MIN_DROP_WHEN_SWAPPED_DB
    assert res["follows_own_lips"] >= 0.8


def _reference_inputs():
    """The input the committed reference outputs were made from (seeded)."""
    rng = np.random.default_rng(5)
    t = np.arange(6400) / 16000
    mix = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 4 * t)) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    return mix, rng.integers(0, 256, (2, 10, 88, 88)).astype(np.uint8)


@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_shipped_outputs_unchanged(name, tmp_path):
    """tests/data/shipped_outputs.npz holds each shipped checkpoint's output as
    it was shipped (regenerate it only with a new checkpoint:
    `python3 tests/test_shipped_model.py`), so a change to the model code that
    moves a shipped model's outputs fails here. A checkpoint that still carries
    the last fusion block's unused video branch (older files) gives the same
    outputs: the dropped keys are ignored on load."""
    ref = np.load(Path(__file__).parent / "data" / "shipped_outputs.npz")[f"{name}.speakers"]
    mix, lips = _reference_inputs()
    path = checkpoint.SHIPPED.with_name(f"{name}.pt")
    model, _ = checkpoint.load(path)
    assert snr_db(ref, separate(model, mix, lips, 25.0)["speakers"]) >= SAME_OUTPUT_DB

    last = model.cfg.fusion_layers - 1
    old = checkpoint.load_raw(path)
    d = model.cfg.d_model
    dead = {f"fusion.{last}.v2a.q.weight": torch.randn(d, d), f"fusion.{last}.ffn_v.1.weight": torch.randn(2 * d, d)}
    old["state_dict"] = {**old["state_dict"], **dead}
    torch.save(old, tmp_path / "old.pt")
    legacy, _ = checkpoint.load(tmp_path / "old.pt")
    assert snr_db(ref, separate(legacy, mix, lips, 25.0)["speakers"]) >= SAME_OUTPUT_DB


if __name__ == "__main__":  # adds the shipped checkpoints missing from tests/data/shipped_outputs.npz (a new one: delete its key first)
    mix, lips = _reference_inputs()
    path = Path(__file__).parent / "data" / "shipped_outputs.npz"
    out = dict(np.load(path)) if path.is_file() else {}
    out.update({f"{n}.speakers": separate(checkpoint.load(checkpoint.SHIPPED.with_name(f"{n}.pt"))[0], mix, lips, 25.0)["speakers"]
                for n in SHIPPED_NAMES if f"{n}.speakers" not in out})
    np.savez_compressed(path, **out)
