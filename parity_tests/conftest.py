"""Each target is exported once per session (the tiny_model of the root conftest)."""

from __future__ import annotations

import pytest
from tiny_data import tiny_calibration

from avsep_mobile.export import bundle


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


@pytest.fixture(scope="session")
def android_int8_bundle(tmp_path_factory, tiny_model):
    """The android default int8 scheme (dynamic), without the task gate (tiny is untrained)."""
    return _export(tmp_path_factory, tiny_model, "android", precision="int8", int8_scheme="dynamic", gate_mixtures=0,
                   calib_examples=tiny_calibration(tiny_model))


@pytest.fixture(scope="session")
def onnx_int8_bundle(tmp_path_factory, tiny_model):
    return _export(tmp_path_factory, tiny_model, "onnx", precision="int8", gate_mixtures=0, calib_examples=tiny_calibration(tiny_model))
