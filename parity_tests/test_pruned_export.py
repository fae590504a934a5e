"""A structurally pruned model is a smaller dense config that exports to every
target like any other."""

from __future__ import annotations

import json

import pytest
import torch

from avsep_mobile.export import bundle
from avsep_mobile.info import model_info
from avsep_mobile.quantize.prune import measure_importance, shrink


@pytest.fixture(scope="module")
def pruned_tiny(tiny_model):
    g = torch.Generator().manual_seed(0)
    batch = {"mix": 0.1 * torch.randn(2, 16000, generator=g), "lips": torch.randint(0, 256, (2, 2, 26, 88, 88), dtype=torch.uint8, generator=g),
             "fps": torch.tensor([25.0, 25.0])}
    return shrink(tiny_model, measure_importance(tiny_model, batch), 0.5)


@pytest.mark.parametrize("target,precision", [("android", "fp32"), ("onnx", "fp32"), ("ios", "fp16")])
def test_pruned_model_exports_and_passes(pruned_tiny, tiny_model, target, precision, tmp_path):
    small, full = model_info(pruned_tiny), model_info(tiny_model)
    assert small["parameters"]["total"] < full["parameters"]["total"]
    assert small["macs_per_second"]["total"] < full["macs_per_second"]["total"]
    report = bundle.export(target, pruned_tiny, tmp_path / target, precision=precision, progress=False)
    assert report["passed"], report
    m = json.loads((tmp_path / target / "manifest.json").read_text())
    assert m["config"]["n_heads"] == pruned_tiny.cfg.n_heads and m["config"]["ffn_dim"] == pruned_tiny.cfg.ffn_dim
    kv = [s for s in m["signatures"]["av_step"]["states"] if s["name"] == "audio_attn0"][0]
    assert kv["shape"][1] * kv["shape"][-1] == 2 * pruned_tiny.cfg.attn_dim  # the caches shrink with the heads (N, 2H, W, dh)


def test_magnitude_pruned_model_uses_coreml_sparse_weights(tiny_model, tmp_path):
    import copy

    from avsep_mobile.export import coreml
    from avsep_mobile.quantize.prune import magnitude_prune

    sparse = magnitude_prune(copy.deepcopy(tiny_model), 0.6)
    report = bundle.export("ios", sparse, tmp_path / "ios", precision="fp16", progress=False)
    assert report["passed"], report
    spec = (tmp_path / "ios" / coreml.SPLIT_FILES["av_step"] / "Data" / "com.apple.CoreML" / "model.mlmodel").read_bytes()
    assert b"constexpr_sparse_to_dense" in spec
