"""Each target is exported once per session (tiny preset, random weights)."""

from __future__ import annotations

import pytest
import torch

from avsep_mobile.model import AVSep, preset
from avsep_mobile.export import bundle


@pytest.fixture(scope="session")
def tiny_model():
    torch.manual_seed(0)
    return AVSep(preset("tiny")).eval()


def _export(tmp_path_factory, model, target, **kw):
    out = tmp_path_factory.mktemp(target) / "bundle"
    report = bundle.export(target, model, out, checkpoint=bundle.checkpoint_info(None, "tiny"), progress=False, **kw)
    return out, report


@pytest.fixture(scope="session")
def android_bundle(tmp_path_factory, tiny_model):
    return _export(tmp_path_factory, tiny_model, "android", precision="fp32")


@pytest.fixture(scope="session")
def onnx_bundle(tmp_path_factory, tiny_model):
    return _export(tmp_path_factory, tiny_model, "onnx", precision="fp32")


@pytest.fixture(scope="session")
def ios_bundle(tmp_path_factory, tiny_model):
    return _export(tmp_path_factory, tiny_model, "ios", precision="fp16")


@pytest.fixture(scope="session")
def ios_stateful_bundle(tmp_path_factory, tiny_model):
    return _export(tmp_path_factory, tiny_model, "ios", precision="fp16", stateful=True)
