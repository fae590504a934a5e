"""CoreML: structure on every platform; numerics only where prediction exists."""

from __future__ import annotations

import json
import sys

import pytest

from avsep_mobile import signature, streaming
from avsep_mobile.metrics import psnr_db
from avsep_mobile.export import coreml, manifest, runners, thresholds, vectors


def test_coreml_structure_matches_signature(ios_bundle, tiny_model):
    out, report = ios_bundle
    assert report["passed"], [c for c in report["structure"] if not c["ok"]]
    sigs = signature.signatures(tiny_model, 2, 1)
    for step, sig in sigs.items():
        spec = coreml.read_spec(out / coreml.SPLIT_FILES[step])
        assert spec.specificationVersion == coreml.SPEC_VERSION[17]
        assert [t.name for t in spec.description.input] == sig.input_names
        assert [t.name for t in spec.description.output] == sig.output_names
        assert json.loads(spec.description.metadata.userDefined["avsep.signatures"])[step] == sig.to_json()
    m = manifest.load(out)
    assert m["precision"] == "fp16" and m["coreml"]["deployment_target"] == "iOS17"


def test_coreml_stateful_is_one_multifunction_package(ios_stateful_bundle, tiny_model):
    out, report = ios_stateful_bundle
    assert report["passed"], [c for c in report["structure"] if not c["ok"]]
    spec = coreml.read_spec(out / coreml.MULTI_FILE)
    assert spec.specificationVersion == coreml.SPEC_VERSION[18]
    funcs = {f.name: f for f in spec.description.functions}
    assert set(funcs) == {"lip_step", "av_step"}
    av = signature.av_step(tiny_model, 2, 1)
    assert [t.name for t in funcs["av_step"].input] == ["pcm", "lip_emb", "active", "stft_in", "ola"]
    assert sorted(s.name for s in funcs["av_step"].state) == sorted(s.name for s in av.states if s.name not in coreml.EXPLICIT_STATES)
    assert manifest.load(out)["model_files"] == {"lip_step": coreml.MULTI_FILE, "av_step": coreml.MULTI_FILE}


@pytest.mark.skipif(sys.platform != "darwin", reason="CoreML prediction exists only on macOS")
@pytest.mark.parametrize("bundle", ["ios_bundle", "ios_stateful_bundle"])
def test_coreml_matches_torch_on_macos(bundle, request):
    out, report = request.getfixturevalue(bundle)
    m = manifest.load(out)
    runner = runners.for_bundle(out, m)
    ref = vectors.load_npz(out / "test_vectors" / vectors.NPZ)
    got = streaming.stream(runner, ref, m["signatures"])
    for key in ("av_step/speakers", "av_step/residual", "lip_step/lip_emb"):
        assert psnr_db(ref[key], got[key]) >= thresholds.FP16_MIN_PSNR_DB, key
