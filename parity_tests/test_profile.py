"""`avsep bench --profile` (export/profile.py) on the tiny bundles: every
runtime reports its split and its ops, and the CLI prints the table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from avsep_mobile.export import profile

# a litert-torch tensor name: the module path that made it, each part package-qualified
LONG_NAME = ("avsep_mobile.export.steps.NamedStep/avsep_mobile.streaming.AVStep_step/avsep_mobile.model.FusionBlock_0/"
             "avsep_mobile.export.folds.FoldedOffsetAttention_a2v/torch.nn.modules.linear.Linear_q;3")


@pytest.mark.parametrize("target,kind", [("android", "tflite"), ("onnx", "onnx")])
def test_profile_splits_each_step_and_names_its_ops(target, kind, request):
    out, _ = request.getfixturevalue(f"{target}_bundle")
    r = profile.profile(out, repeats=1, max_calls=12)
    assert set(r["runtimes"]) == {kind, "torch"}
    for rt, steps in r["runtimes"].items():
        assert set(steps) == set(profile.STEPS)
        for p in steps.values():
            assert set(p["split_ms"]) >= {"bind", "run", "read", "python"}
            assert p["split_ms"]["run"] > 0 and p["op_count"] > 0 and p["ops"]
            assert p["inputs"] > 1 and p["bytes_in"] > 0 and p["bytes_out"] > 0
            if p["op_times"] is not None:  # a real op profiler: shares of the profiled op time
                assert 0 < sum(o["share"] for o in p["ops"]) <= 1.001
                assert all(o["ms"] >= 0 for o in p["ops"])
    litert = r["runtimes"].get("tflite")
    if litert:  # no op profiler in the Python API: the output says so, and times modules instead
        assert litert["av_step"]["op_times"] is None and "no op profiler" in litert["av_step"]["note"]
        labels = {m["module"] for m in litert["av_step"]["modules"]}
        assert any(label.endswith("/attn") for label in labels), labels
        assert all(m["ops"] > 0 for m in litert["av_step"]["modules"])


def test_shipped_tensor_names_are_compact_and_keep_their_module(android_bundle):
    """The .tflite as shipped drops the package qualifiers and the step wrapper
    from litert-torch's module-path tensor names (a sixth of a 4-bit file),
    and the module each name points at is the same."""
    from ai_edge_litert.tools import flatbuffer_utils

    from avsep_mobile.export import tflite
    from avsep_mobile.export.litert_modules import module_label

    assert tflite.compact_name(LONG_NAME) == "~/FusionBlock_0/FoldedOffsetAttention_a2v/Linear_q;3"
    assert module_label(tflite.compact_name(LONG_NAME)) == module_label(LONG_NAME)
    assert tflite.compact_name("serving_default_pcm:0") == "serving_default_pcm:0"  # not a module path: as it is
    step_code = "avsep_mobile.export.steps.NamedStep/avsep_mobile.streaming.AVStep_step;41"
    assert tflite.compact_name(step_code) == "~;41" and module_label("~;41") == module_label(step_code) == "(step)"
    out, _ = android_bundle
    m = flatbuffer_utils.convert_bytearray_to_object(bytearray((out / tflite.MODEL_FILE).read_bytes()))
    names = [t.name.decode() for g in m.subgraphs for t in g.tensors]
    assert any("/" in n for n in names) and not [n for n in names if "avsep_mobile." in n or "torch.nn." in n or "NamedStep" in n]


def test_module_labels_name_the_torch_module():
    from avsep_mobile.export.litert_modules import module_label

    assert module_label(LONG_NAME) == "FusionBlock0/a2v"  # the Linear is part of its attention
    assert module_label("avsep_mobile.export.steps.NamedStep/avsep_mobile.streaming.AVStep_step;41") == "(step)"
    assert module_label("step_ola_out_output") is None  # a signature output: joins the op before it


def test_graph_prefixes_keep_every_live_tensor(android_bundle):
    """A prefix keeps as outputs what later ops read (XNNPACK would drop the
    rest); the whole graph as a prefix computes the step's outputs exactly."""
    from ai_edge_litert.interpreter import Interpreter

    from avsep_mobile.export import litert_modules
    from avsep_mobile.runtime import manifest

    out, _ = android_bundle
    path = out / manifest.load(out)["model_files"]["av_step"]
    model, sig, runs = litert_modules.segments(path, "av_step")
    assert len(runs) > 5 and runs[0][1] == 0 and all(a[2] == b[1] for a, b in zip(runs, runs[1:]))
    ref = Interpreter(model_path=str(path)).get_signature_runner("av_step")
    feeds = {n: np.random.default_rng(0).standard_normal(d["shape"]).astype(np.float32) * 0.1
             for n, d in ref.get_input_details().items()}
    expect = ref(**feeds)
    full = Interpreter(model_content=litert_modules._prefix(model, sig, runs[-1][2]))
    got = full.get_signature_runner("av_step")(**feeds)
    out_tensor = {o.name.decode(): o.tensorIndex for o in model.signatureDefs[sig].outputs}
    by_index = {t: got[f"prefix_out{i}"] for i, t in enumerate(litert_modules._prefix_outputs(model, sig, runs[-1][2]))}
    for name, t in out_tensor.items():
        np.testing.assert_array_equal(by_index[t], expect[name])
    mid = Interpreter(model_content=litert_modules._prefix(model, sig, runs[len(runs) // 2][2]))
    assert len(mid.get_signature_runner("av_step")(**feeds)) > 1  # the live tensors at the cut


def test_bench_profile_cli_prints_table_and_json(onnx_bundle, capsys):
    from avsep_mobile.cli import main

    out, _ = onnx_bundle
    assert main(["bench", str(out), "--profile", "--repeats", "1"]) == 0
    text = capsys.readouterr().out
    assert "onnx av_step" in text and "torch lip_step" in text and "top ops" in text and "load average" in text
    assert main(["bench", str(out), "--profile", "--repeats", "1", "--json"]) == 0
    assert "onnx" in json.loads(capsys.readouterr().out)["runtimes"]
