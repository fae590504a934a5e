"""`avsep verify DIR` re-runs the numbers (export/verify.py): it passes on a
fresh export of every target and fails on a changed weight behind a
re-hashed manifest, an edited test vector, a runtime that disagrees, and
any edit of a declared name, shape, dtype or config value."""

from __future__ import annotations

import copy
import json
import shutil
from xml.etree import ElementTree

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avsep_mobile.cli import main
from avsep_mobile.export import manifest_build, verify
from avsep_mobile.runtime import manifest


def _rehash(d) -> None:
    """Rewrite the manifest's file list to match the bundle as it now is."""
    m = json.loads((d / manifest.NAME).read_text())
    m["files"] = manifest.file_entries(d)
    manifest_build.write(d, m)


def _failed(rows) -> list[str]:
    return [r["check"] for r in rows if r["ok"] is False]


@pytest.fixture
def copy_of(tmp_path):
    def make(bundle):
        d = tmp_path / "copy"
        shutil.copytree(bundle[0], d)
        return d
    return make


@pytest.mark.parametrize("fixture", ["android_bundle", "onnx_bundle", "ios_bundle", "ios_stateful_bundle"])
def test_a_fresh_export_of_every_target_passes_every_check(fixture, request, tmp_path, capsys):
    out, _ = request.getfixturevalue(fixture)
    junit = tmp_path / "verify.xml"
    assert main(["verify", str(out), "--junit", str(junit)]) == 0
    text = capsys.readouterr().out
    rows = verify.check(out)
    names = [r["check"] for r in rows]
    assert names[0] == "hashes" and any(n.startswith("declarations:") for n in names) and "test vectors" in names
    numerics = [r for r in rows if r["check"].startswith("numerics:") and r["ok"] is not None]
    assert numerics and all(r["ok"] for r in numerics)
    if "ios" in fixture:  # an fp16 program: the reference evaluator in every corner of the band
        assert sum("reference evaluator" in r["check"] for r in numerics) == 4
    assert all(r["check"] in text for r in rows)  # the output says which checks ran
    cases = ElementTree.parse(junit).getroot().findall("testsuite/testcase")
    assert [c.get("name") for c in cases] == names and not ElementTree.parse(junit).getroot().findall("testsuite/testcase/failure")


def test_one_changed_weight_fails_even_with_the_manifest_rehashed(onnx_bundle, copy_of, tmp_path, capsys):
    import onnx
    from onnx import numpy_helper

    d = copy_of(onnx_bundle)
    path = d / "av_step.onnx"
    proto = onnx.load(str(path))
    bins = json.loads((d / manifest.NAME).read_text())["config"]["n_fft"] // 2 + 1
    init = next(t for t in proto.graph.initializer if len(t.dims) == 2 and t.dims[-1] == bins)  # the mask head, (D, bins)
    w = numpy_helper.to_array(init).copy()
    w[3, 40] += 0.5  # bin 40: a speech band
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(proto, str(path))
    _rehash(d)
    assert main(["verify", str(d), "--quick"]) == 0  # the hashes alone see nothing
    junit = tmp_path / "verify.xml"
    assert main(["verify", str(d), "--junit", str(junit)]) == 2
    assert _failed(verify.check(d)) == ["numerics: onnxruntime"]
    failure = ElementTree.parse(junit).getroot().find("testsuite/testcase/failure")
    assert failure is not None and "speakers" in failure.get("message") and "dB" in failure.get("message")


def test_an_edited_test_vector_fails(android_bundle, copy_of):
    d = copy_of(android_bundle)
    index = json.loads((d / "test_vectors" / "index.json").read_text())
    f = d / "test_vectors" / index["av_step"]["outputs"]["speakers"]["file"]
    a = np.fromfile(f, "<f4")
    a[len(a) // 2] += 0.25
    a.tofile(f)
    _rehash(d)
    assert set(_failed(verify.check(d))) == {"test vectors", "numerics: LiteRT runtime"}


def test_a_runtime_that_disagrees_fails(android_bundle, monkeypatch):
    class Off:
        """The bundle's LiteRT runner, its speakers off by a small offset."""

        def __init__(self, inner):
            self.inner, self.kind = inner, inner.kind

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def run(self, step, feeds):
            out = dict(self.inner.run(step, feeds))
            if "speakers" in out:
                out["speakers"] = out["speakers"] + np.float32(1e-3)
            return out

    real = verify.runners
    monkeypatch.setattr(verify, "runners", lambda d, m: [(n, Off(r), why) for n, r, why in real(d, m)])
    rows = verify.check(android_bundle[0])
    bad = [r for r in rows if r["ok"] is False]
    assert [r["check"] for r in bad] == ["numerics: LiteRT runtime"] and "speakers" in bad[0]["detail"]


# ---------------------------------------------------------------- the manifest, edited many ways


def _declared_paths(m: dict) -> list[tuple]:
    """Every path to a value an app reads: names, shapes, dtypes, state
    init/per-slot, io shapes/dtypes, config values, the scalars, model files,
    CoreML variant and states."""
    paths = []
    for step, s in m["signatures"].items():
        for kind in ("inputs", "outputs", "states"):
            for i, t in enumerate(s[kind]):
                paths += [("signatures", step, kind, i, k) for k in t]
    for key, t in m["io"].items():
        paths += [("io", key, "shape"), ("io", key, "dtype")]
    paths += [("config", k) for k in m["config"]]
    paths += [(k,) for k in verify.SCALARS + ("precision",)]
    paths += [("model_files", k) for k in m["model_files"]]
    if "coreml" in m:
        paths += [("coreml", "deployment_target"), ("coreml", "stateful")]
        paths += [("coreml", "model_states", step) for step in m["coreml"]["model_states"]]
    return paths


def _get(m, path):
    for k in path:
        m = m[k]
    return m


def _mutations(value) -> list:
    """Other values an edit could leave there (never the value itself)."""
    if isinstance(value, bool):
        return [not value, str(value), None]
    if isinstance(value, (int, float)):
        return [value + 1, value * 2 + 3, -value - 1, str(value), None]
    if isinstance(value, str):
        return [value + "x", value.upper() + "_", "", "float16" if value != "float16" else "int8", None]
    if isinstance(value, list):
        out = [value + [1], [], None]
        if value:
            out += [value[:-1], value[1:], [v + 1 if isinstance(v, int) else v for v in value], list(reversed(value)) + ["x"]]
        return out
    return [None, 1]


@st.composite
def _edit(draw, m):
    path = draw(st.sampled_from(_declared_paths(m)))
    old = _get(m, path)
    new = draw(st.sampled_from([v for v in _mutations(old) if v != old] + ["<delete>"]))
    return path, new


def _check_edit_is_refused(bundle, path, new, tmp_path):
    d = tmp_path / "edited"
    if not d.exists():
        shutil.copytree(bundle, d)
    m = json.loads((bundle / manifest.NAME).read_text())
    edited = copy.deepcopy(m)
    parent = _get(edited, path[:-1])
    if new == "<delete>":
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    (d / manifest.NAME).write_text(json.dumps(edited))
    try:
        rows = verify.static_checks(d)
    except ValueError:  # refused while loading: also a refusal
        return
    assert _failed(rows), f"edit {'/'.join(map(str, path))} -> {new!r} accepted"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_edit_of_a_declaration_is_refused(android_bundle, tmp_path, data):
    m = json.loads((android_bundle[0] / manifest.NAME).read_text())
    path, new = data.draw(_edit(m))
    _check_edit_is_refused(android_bundle[0], path, new, tmp_path)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_edit_of_an_ios_declaration_is_refused(ios_stateful_bundle, tmp_path, data):
    m = json.loads((ios_stateful_bundle[0] / manifest.NAME).read_text())
    path, new = data.draw(_edit(m))
    _check_edit_is_refused(ios_stateful_bundle[0], path, new, tmp_path)


def test_quick_keeps_the_hash_only_check(android_bundle, capsys):
    assert main(["verify", str(android_bundle[0]), "--quick"]) == 0
    out = capsys.readouterr().out
    assert "hashes" in out and "numerics" not in out and "declarations" not in out and "1 checks ran" in out
