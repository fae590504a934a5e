"""manifest.json holds only portable facts, conforms to the schema shipped in
the package, and `avsep verify` refuses one that does not."""

import json
import shutil
from pathlib import Path

from avsep_mobile.export import bundle
from avsep_mobile.runtime import manifest


def _strings(x):
    if isinstance(x, dict):
        for k, v in x.items():
            yield k
            yield from _strings(v)
    elif isinstance(x, list):
        for v in x:
            yield from _strings(v)
    elif isinstance(x, str):
        yield x


def test_manifest_conforms_and_is_portable(onnx_bundle):
    out, _ = onnx_bundle
    m = manifest.load(out)
    assert manifest.schema_problems(m) == []
    # nothing about the exporting machine: no absolute path, no home or temp dir
    for s in _strings(m):
        assert not Path(s).is_absolute() and str(Path.home()) not in s and str(out) not in s, s
    assert m["checkpoint"] == {"name": None, "sha256": None, "preset": "tiny"}
    crops = m["io"]["lip_step/crops"]
    assert crops["range"] == [0.0, 1.0] and crops["grayscale"] and crops["mouth_centred"]
    assert crops["shape"] == [m["speakers"], 1, m["crop_size"], m["crop_size"]]
    assert m["io"]["av_step/pcm"]["shape"] == [1, m["chunk_samples"]]
    states = [s for sig in m["signatures"].values() for s in sig["states"]]
    assert {s["per_slot"] for s in states} == {True, False}  # slot rows and shared history both exist
    assert m["lip_fps"] > 0 and m["flush_hops"] >= 0


def test_checkpoint_is_recorded_by_name_and_sha256(tmp_path):
    ck = tmp_path / "deep" / "dir" / "mine.pt"
    ck.parent.mkdir(parents=True)
    ck.write_bytes(b"weights")
    info = bundle.checkpoint_info(ck, None)
    assert info == {"name": "mine.pt", "sha256": manifest.sha256_file(ck)}


def test_verify_refuses_a_manifest_that_breaks_the_schema(onnx_bundle, tmp_path):
    out, _ = onnx_bundle
    copy = tmp_path / "bundle"
    shutil.copytree(out, copy)
    m = json.loads((copy / manifest.NAME).read_text())
    m["checkpoint"]["path"] = "/home/someone/mobile.pt"  # not portable
    del m["signatures"]["av_step"]["states"][0]["per_slot"]
    m["io"]["lip_step/crops"]["range"] = [0, 255]
    (copy / manifest.NAME).write_text(json.dumps(m))
    problems = manifest.verify(copy)
    assert any("checkpoint" in p and "path" in p for p in problems), problems
    assert any("per_slot" in p for p in problems), problems
    assert any("lip_step/crops/range" in p for p in problems), problems


def test_bundle_carries_the_mouth_bridge_of_avsep_separate(onnx_bundle):
    """mouth_bridge.json is listed with its sha256, and its params redraw the frames
    `avsep separate`'s bridge draws for each slot."""
    import numpy as np

    from avsep_mobile.runtime import mouth_bridge
    from avsep_mobile.runtime.mouth_renderer import MouthRenderer

    out, _ = onnx_bundle
    m = manifest.load(out)
    assert m["files"][m["bridge"]]["sha256"] == manifest.sha256_file(out / m["bridge"])
    cfg = json.loads((out / m["bridge"]).read_text())
    assert cfg["format"] == mouth_bridge.FORMAT and cfg["crop_size"] == m["crop_size"] and len(cfg["slots"]) == m["speakers"]
    t = np.array([0.0, 0.04, 7.5])
    for s, slot in enumerate(cfg["slots"]):
        desktop = mouth_bridge.MouthBridge(seed=mouth_bridge.slot_seed(s)).renderer
        app = MouthRenderer.from_params(slot["renderer"])
        assert np.array_equal(app.frames([0.0, 0.5, 1.0], [0.5, 0.2, 0.9], t), desktop.frames([0.0, 0.5, 1.0], [0.5, 0.2, 0.9], t))
