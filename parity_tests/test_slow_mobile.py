"""The on-device-sized model (the shipped checkpoint if present, else the
mobile preset with random weights) exports to android and onnx and passes."""

from __future__ import annotations

import pytest

from avsep_mobile import checkpoint
from avsep_mobile.export import bundle
from avsep_mobile.runtime import manifest


@pytest.mark.slow
@pytest.mark.parametrize("target, precision", [("android", None), ("android", "fp32"), ("onnx", None)])
def test_mobile_export_passes_parity(target, precision, tmp_path):
    """Each target's default, and LiteRT fp32 (its 60 dB gate caught the
    converted softplus losing the mask tails: export.folds softplus_tail)."""
    shipped = checkpoint.SHIPPED.is_file()
    model, _ = checkpoint.load(None, None if shipped else "mobile")
    info = bundle.checkpoint_info(None, None if shipped else "mobile")
    kwargs = {} if precision is None else {"precision": precision}
    report = bundle.export(target, model, tmp_path / target, checkpoint=info, progress=False, **kwargs)
    assert report["passed"], report
    assert manifest.verify(tmp_path / target) == []


@pytest.mark.slow
def test_tflite_fp16_weights_pass_the_fp16_gate(tiny_model, tmp_path):
    """fp16 weights are stored after the flatbuffer (buffer offsets): the metadata
    rewrite must keep them readable."""
    from avsep_mobile.export import tflite

    report = bundle.export("android", tiny_model, tmp_path / "fp16", precision="fp16", progress=False)
    assert report["passed"], report
    assert tflite.read_metadata(tmp_path / "fp16" / tflite.MODEL_FILE)["avsep.precision"] == "fp16"


@pytest.mark.slow
def test_shipped_android_fp16_holds_across_the_gpu_band(tmp_path):
    """The shipped checkpoint's Android fp16 export (3 s of test vectors): the
    LiteRT CPU runtime and its float graph on a GPU delegate in every corner
    of the band (export/gpu_band.py), speakers and lip_emb at or above the
    fp16 gate at quiet, normal and loud levels; nothing NaN under flush."""
    import math

    from avsep_mobile.export import band, levels, thresholds
    from avsep_mobile.runtime.coreml_eval import BAND

    if not checkpoint.SHIPPED.is_file():
        pytest.skip("no shipped checkpoint")
    model, _ = checkpoint.load()
    report = bundle.export("android", model, tmp_path / "fp16", precision="fp16",
                           checkpoint=bundle.checkpoint_info(None, None), progress=False)
    rows = report["band"]["levels"]
    assert set(rows) == set(levels.GATE_LEVELS)
    assert all(set(v["corners"]) == {band.RUNTIME} | {band.GPU + d.name for d in BAND} for v in rows.values())
    figures = [f[k] for v in rows.values() for f in v["corners"].values() for k in thresholds.GATED_OUTPUTS]
    assert all(math.isfinite(x) for x in figures), band.table(report["band"])
    assert report["band"]["worst"]["db"] >= thresholds.FP16_MIN_PSNR_DB, band.table(report["band"])
    assert report["passed"], report["failed"]
