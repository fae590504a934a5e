"""`avsep verify DIR`: what a bundle declares, checked against what it holds,
and its numbers run again on this machine.

Each check is a row {"check", "ok", "detail"} (ok None: skipped, with why):
- "hashes": the manifest's files and their sha256, its schema, the parity
  report passed at export (runtime/manifest.verify). `--quick` runs this
  alone: a look at the files, not at their numbers.
- "declarations: ...": every name, shape and dtype the manifest declares
  (signatures, io, model files, CoreML states) and the config and scalars it
  states, against the model files themselves: the metadata each exporter
  embeds in them (avsep.signatures, avsep.config, avsep.<scalar>) and the
  tensors they really take and give (the CoreML spec, the LiteRT signature
  runner, the ONNX graph). An app sizes its buffers from the manifest, so an
  edit of any of these fails here.
- "test vectors": the .bin files an app reads agree with vectors.npz.
- "numerics: <runtime>": the test vectors streamed through each runtime this
  machine has for the bundle (LiteRT, onnxruntime, CoreML on macOS, the
  reference evaluator, which for an fp16-compute program runs every corner
  of the device band), against the float outputs recorded at export, under
  the gate of the manifest's precision (thresholds.gate).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

from avsep_mobile.atomic import atomic_write_bytes
from avsep_mobile.runtime import manifest, signature
from avsep_mobile.runtime.replay import stream

from . import parity, thresholds

SCALARS = ("sample_rate", "hop_samples", "chunk_hops", "chunk_samples", "speakers", "crop_size", "lip_fps", "latency_ms",
           "output_delay_samples", "flush_hops")


def check(bundle_dir, quick: bool = False) -> list[dict]:
    """The rows of every check that ran, in order (quick: hashes only)."""
    rows = static_checks(bundle_dir, quick)
    if not quick:
        rows += _rows([("numerics", _numerics)], Path(bundle_dir), manifest.load(bundle_dir))
    return rows


def static_checks(bundle_dir, quick: bool = False) -> list[dict]:
    """Hashes, declarations and test vectors: everything but running the models."""
    bundle_dir = Path(bundle_dir)
    m = manifest.load(bundle_dir)  # not an avsep bundle at all: one-line ValueError
    steps = [("hashes", _hashes)] + ([] if quick else [("declarations", _declarations), ("test vectors", _vectors_agree)])
    return _rows(steps, bundle_dir, m)


def _rows(steps, bundle_dir: Path, m: dict) -> list[dict]:
    rows = []
    for name, fn in steps:
        t0 = time.perf_counter()
        try:
            result = fn(bundle_dir, m)
        except Exception as e:  # a damaged bundle or manifest fails the check, in one line
            result = [(name, False, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")]
        for check_name, ok, detail, *seconds in result:  # a check that times itself gives its seconds
            rows.append({"check": check_name, "ok": ok, "detail": detail,
                         "seconds": round(seconds[0] if seconds else time.perf_counter() - t0, 2)})
            t0 = time.perf_counter()
    return rows


def passed(rows: list[dict]) -> bool:
    return all(r["ok"] is not False for r in rows)


# ---------------------------------------------------------------- hashes


def _hashes(bundle_dir: Path, m: dict) -> list:
    problems = manifest.verify(bundle_dir)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return [("hashes", False, problems[0] + more)]
    return [("hashes", True, f"sha256 of {len(m['files'])} files match manifest.json; the parity report passed at export")]


# ---------------------------------------------------------------- declarations


def _expected_model_files(m: dict) -> dict:
    target = m["target"]
    if target == "android":
        from .tflite import MODEL_FILE

        return {s: MODEL_FILE for s in ("lip_step", "av_step")}
    if target == "onnx":
        from .onnx import model_file

        return {s: model_file(s) for s in ("lip_step", "av_step")}
    if target == "ios":
        from .coreml import model_files

        return model_files(*_ios_variant(m))
    raise ValueError(f"unknown target {target!r}")


def _ios_variant(m: dict) -> tuple[int, bool]:
    c = m["coreml"]
    return int(str(c["deployment_target"]).removeprefix("iOS")), c["stateful"] is True


def _embedded(bundle_dir: Path, m: dict, path: str) -> dict:
    """The metadata an exporter embedded in a model file."""
    p = bundle_dir / path
    if m["target"] == "android":
        from .tflite import read_metadata

        return {f"avsep.{k}" if not k.startswith("avsep.") else k: v for k, v in read_metadata(p).items()}
    if m["target"] == "onnx":
        from .onnx import read_metadata

        return read_metadata(p)
    from .coreml import read_spec

    return dict(read_spec(p).description.metadata.userDefined)


def _signature(step: str, js: dict) -> signature.StepSignature:
    def spec(t):
        return signature.TensorSpec(t["name"], tuple(t["shape"]), t["dtype"], t.get("init"), t.get("per_slot", False))

    return signature.StepSignature(step, *(tuple(spec(t) for t in js[k]) for k in ("inputs", "outputs", "states")))


def _tensors(bundle_dir: Path, m: dict, sigs: dict) -> list:
    """The model files' real inputs and outputs against the declared signatures."""
    target, files = m["target"], m["model_files"]
    out = []
    if target == "ios":
        from .coreml import check_structure, held_states

        ios, stateful = _ios_variant(m)
        rows = check_structure(bundle_dir, files, sigs, m["precision"], ios, stateful)
        bad = [f"{r['check']} ({r['detail']})" for r in rows if not r["ok"]]
        out.append(("declarations: model tensors", not bad, bad[0] if bad else f"{len(rows)} structural checks of the CoreML spec"))
        held = {step: [s.name for s in held_states(sig, stateful)] for step, sig in sigs.items()}
        states = m["coreml"].get("model_states")
        out.append(("declarations: CoreML states", states == held, f"manifest {states}, model {held}" if states != held else "as held"))
        return out
    for step, sig in sigs.items():
        real = _real_tensors(bundle_dir / files[step], target, step)
        want = {t.name: (list(t.shape), t.dtype) for t in sig.input_specs + sig.output_specs}
        wrong = [f"{n}: model {real.get(n)}, manifest {want.get(n)}" for n in sorted(set(real) | set(want)) if real.get(n) != want.get(n)]
        out.append((f"declarations: {step} tensors", not wrong, wrong[0] if wrong else f"{len(want)} names, shapes and dtypes as in the model file"))
    return out


def _real_tensors(path: Path, target: str, step: str) -> dict:
    """{name: (shape, dtype)} of every input and output of a step in a model file."""
    if target == "android":
        from ai_edge_litert.interpreter import Interpreter

        r = Interpreter(model_path=str(path)).get_signature_runner(step)
        details = {**r.get_input_details(), **r.get_output_details()}
        return {n: ([int(x) for x in d["shape"]], np.dtype(d["dtype"]).name) for n, d in details.items()}
    import onnx

    g = onnx.load(str(path), load_external_data=False).graph
    dtype = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.FLOAT16: "float16", onnx.TensorProto.INT64: "int64",
             onnx.TensorProto.INT32: "int32"}
    return {v.name: ([int(d.dim_value) for d in v.type.tensor_type.shape.dim], dtype.get(v.type.tensor_type.elem_type, "other"))
            for v in list(g.input) + list(g.output)}


def _canon(value) -> str:
    """JSON text with sorted keys: equal only where types are too (1, 1.0 and true differ)."""
    return json.dumps(value, sort_keys=True)


def _declarations(bundle_dir: Path, m: dict) -> list:
    out = []
    files = _expected_model_files(m)
    out.append(("declarations: model files", m["model_files"] == files,
                f"manifest {m['model_files']}, {m['target']} writes {files}" if m["model_files"] != files else ", ".join(sorted(set(files.values())))))
    if m["model_files"] != files:
        return out
    declared = m["signatures"]
    sigs = {step: _signature(step, declared[step]) for step in ("lip_step", "av_step")}
    if set(declared) != set(sigs):
        return out + [("declarations: signatures", False, f"steps {sorted(declared)}, expected lip_step and av_step")]
    problems = []
    for path in sorted(set(files.values())):
        meta = _embedded(bundle_dir, m, path)
        if "avsep.config" not in meta:
            problems.append(f"{path} carries no config (an older export): re-export the bundle")
            continue
        if _canon(json.loads(meta.get("avsep.signatures", "null"))) != _canon(declared):
            problems.append(f"signatures differ from those embedded in {path}")
        if _canon(json.loads(meta["avsep.config"])) != _canon(m["config"]):
            diff = sorted(k for k in set(m["config"]) | set(json.loads(meta["avsep.config"]))
                          if m["config"].get(k) != json.loads(meta["avsep.config"]).get(k))
            problems.append(f"config differs from {path}'s at {', '.join(map(str, diff)) or 'its keys'}")
        if meta.get("avsep.precision") != m["precision"]:
            problems.append(f"precision {m['precision']!r}, {path} says {meta.get('avsep.precision')!r}")
        for k in SCALARS:
            if meta.get(f"avsep.{k}") != json.dumps(m[k]):
                problems.append(f"{k} = {m[k]!r}, {path} says {meta.get(f'avsep.{k}')}")
        if m["target"] == "ios":
            ios, stateful = _ios_variant(m)
            if meta.get("avsep.stateful") != str(stateful) or meta.get("avsep.ios") != str(ios):
                problems.append(f"coreml {m['coreml']['deployment_target']} stateful {stateful}, {path} says iOS{meta.get('avsep.ios')} "
                                f"stateful {meta.get('avsep.stateful')}")
    out.append(("declarations: signatures, config, scalars", not problems,
                problems[0] if problems else f"as embedded in {', '.join(sorted(set(files.values())))}"))
    out += _tensors(bundle_dir, m, sigs)
    io = {f"{step}/{t['name']}": (list(t["shape"]), t["dtype"]) for step, s in declared.items() for t in s["inputs"] + s["outputs"]}
    got = {k: (v["shape"], v["dtype"]) for k, v in m["io"].items()}
    wrong = [f"{k}: io {got.get(k)}, signature {io.get(k)}" for k in sorted(set(io) | set(got)) if io.get(k) != got.get(k)]
    out.append(("declarations: io", not wrong, wrong[0] if wrong else f"{len(io)} data tensors as in the signatures"))
    return out


# ---------------------------------------------------------------- numerics


def _vector_dir(bundle_dir: Path, m: dict) -> Path:
    return bundle_dir / Path(m["test_vectors"]).parent


def _vectors_agree(bundle_dir: Path, m: dict) -> list:
    from .vectors import NPZ, load_bins, load_npz

    d = _vector_dir(bundle_dir, m)
    bins, npz = load_bins(d), load_npz(d / NPZ)
    wrong = [k for k in sorted(set(bins) | set(npz)) if k not in bins or k not in npz or not np.array_equal(bins[k], npz[k])]
    return [("test vectors", not wrong, f"{wrong[0]} differs between the .bin files and {NPZ}" if wrong else f"{len(bins)} tensors, .bin = {NPZ}")]


def runners(bundle_dir: Path, m: dict) -> list:
    """[(runtime name, runner or None, why not)] for every runtime this machine has for the bundle."""
    from avsep_mobile.runtime import runners as rt
    from avsep_mobile.runtime.coreml_eval import BAND, Device, EvaluatorRunner, numerics_by

    files = {step: bundle_dir / f for step, f in m["model_files"].items()}
    target = m["target"]
    if target in ("android", "onnx"):
        name = numerics_by("tflite" if target == "android" else "onnx")
        try:
            return [(name, rt.for_bundle(bundle_dir, m, threads=1), "")]
        except ImportError as e:
            return [(name, None, f"not installed ({e.name})")]
    out = []
    if sys.platform == "darwin":
        out.append((numerics_by("coreml"), rt.CoreMLRunner(files), ""))
    else:
        out.append((numerics_by("coreml"), None, "CoreML prediction needs macOS"))
    corners = [Device()] if m["precision"] == "fp32" else list(BAND)
    for d in corners:
        out.append((f"{numerics_by('coreml-evaluator')} ({d.name})", EvaluatorRunner(files, device=d), ""))
    return out


def _numerics(bundle_dir: Path, m: dict) -> list:
    from .vectors import load_bins

    ref = load_bins(_vector_dir(bundle_dir, m))
    metric, minimum = thresholds.gate(m["precision"])
    out = []
    for name, runner, why in runners(bundle_dir, m):
        if runner is None:
            out.append((f"numerics: {name}", None, f"skipped: {why}", 0.0))
            continue
        t0 = time.perf_counter()
        try:
            got = stream(runner, ref, m["signatures"])
            r = parity.compare(ref, got, m["precision"], m["sample_rate"])
        except Exception as e:  # a model that no longer runs on these inputs
            out.append((f"numerics: {name}", False, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                        time.perf_counter() - t0))
            continue
        figures = ", ".join(f"{k} {r['outputs'][k][metric]:.1f}" for k in thresholds.GATED_OUTPUTS)
        out.append((f"numerics: {name}", r["passed"], f"{figures} dB {metric} vs the recorded float outputs (gate >= {minimum:g} dB)",
                    time.perf_counter() - t0))
    return out


# ---------------------------------------------------------------- reports


def format_rows(bundle_dir, rows: list[dict]) -> str:
    mark = {True: "PASS", False: "FAIL", None: "SKIP"}
    lines = [f"{mark[r['ok']]}  {r['check']}: {r['detail']}" for r in rows]
    ran = sum(r["ok"] is not None for r in rows)
    lines.append(f"{bundle_dir}: {'verified' if passed(rows) else 'REFUSED'} ({ran} checks ran, "
                 f"{sum(r['ok'] is False for r in rows)} failed, {sum(r['ok'] is None for r in rows)} skipped)")
    return "\n".join(lines)


def junit_xml(bundle_dir, rows: list[dict], target: str) -> bytes:
    """JUnit XML: one test case per check and runtime, failures with their figures."""
    suite = ElementTree.Element("testsuite", name=f"avsep verify {bundle_dir}", tests=str(len(rows)),
                                failures=str(sum(r["ok"] is False for r in rows)), skipped=str(sum(r["ok"] is None for r in rows)),
                                time=f"{sum(r['seconds'] for r in rows):.2f}")
    for r in rows:
        case = ElementTree.SubElement(suite, "testcase", classname=f"avsep.verify.{target}", name=r["check"], time=f"{r['seconds']:.2f}")
        if r["ok"] is False:
            ElementTree.SubElement(case, "failure", message=r["detail"]).text = r["detail"]
        elif r["ok"] is None:
            ElementTree.SubElement(case, "skipped", message=r["detail"])
    root = ElementTree.Element("testsuites")
    root.append(suite)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def write_junit(path, bundle_dir, rows: list[dict], target: str) -> None:
    atomic_write_bytes(Path(path), junit_xml(bundle_dir, rows, target))
