"""`avsep bench DIR --profile`: where a step's time goes, per runtime.

Each step is replayed on the feeds of one float stream of the bundle's test
vectors (recorded once, states included, so every runtime sees the same
inputs and no call depends on the one before), and split into:

- bind: inputs handed to the runtime (LiteRT: resize + allocate + set_tensor,
  as its SignatureRunner does on every call; onnxruntime: io_binding of every
  input and output; torch: torch.from_numpy);
- run: the runtime's own compute (LiteRT invoke, onnxruntime
  run_with_iobinding, torch forward);
- read: outputs copied back (get_tensor, copy_outputs_to_cpu, .numpy());
- python: the rest of a call of the runner that `avsep bench` times
  (export.runners / streaming.TorchRunner): its call minus the three parts
  above (the wrapper's dict building, dtype checks, double reads); every part
  is a 10th percentile over the calls, op times are medians per op (a loaded
  machine's preemptions would dominate means).

Top ops come from the runtime's profiler: onnxruntime's per-node
`enable_profiling` JSON, torch.profiler's self CPU time. ai-edge-litert
2.3.0's Python Interpreter has no op profiler (libLiteRt.so's C API has one,
LiteRtCompiledModelGetProfiler behind the runtime option enable_profiling,
which the Python wrapper does not expose). For LiteRT the table lists the
ops of the step's subgraph by type (count) and the time of each torch module
(export.litert_modules: prefixes of the graph timed interleaved, Invoke only).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import NamedTuple

import numpy as np

from avsep_mobile.runtime import manifest
from avsep_mobile.runtime.replay import stream
from avsep_mobile.runtime.runners import Recording
from avsep_mobile.streaming import TorchRunner

from . import litert_modules, vectors

STEPS = ("av_step", "lip_step")
TOP = 8
TOP_MODULES = 12
LITERT_NO_PROFILER = ("ai-edge-litert's Python Interpreter exposes no op profiler (the C API's LiteRtCompiledModelGetProfiler "
                      "is not wrapped): ops listed by type and count; time per torch module from timed prefixes of the graph "
                      "(Invoke only, differences of p10 times)")


def record_feeds(model, speakers: int, chunk_hops: int, vec: dict, signatures: dict, threads: int = 1) -> dict[str, list[dict]]:
    """{step: [feeds of each call]} of the float model streaming test vectors."""
    rec = Recording(TorchRunner(model, speakers, chunk_hops, threads))
    stream(rec, vec, signatures)
    return rec.feeds


def _ms(xs) -> float:
    return round(1000 * statistics.median(xs), 4)


def _p10(xs) -> float:
    return round(1000 * (statistics.quantiles(xs, n=10)[0] if len(xs) >= 10 else min(xs)), 4)


def _measure(runner, step: str, calls: list[dict], repeats: int, split_call) -> tuple[list[float], dict[str, list[float]]]:
    """Alternately, per call: runner.run (what `avsep bench` times) and
    split_call(feeds) -> (bind, run, read) seconds, so both see the same load."""
    call, parts = [], {"bind": [], "run": [], "read": []}
    for _ in range(repeats):
        for feeds in calls:
            t0 = time.perf_counter()
            runner.run(step, feeds)
            call.append(time.perf_counter() - t0)
            for k, v in zip(parts, split_call(feeds)):
                parts[k].append(v)
    return call, parts


def _split(call: list[float], parts: dict[str, list[float]]) -> dict:
    """10th percentiles (the machine's quiet moments: medians on a loaded
    machine mostly measure the other processes), python = call - the parts."""
    split = {k: _p10(v) for k, v in parts.items()}
    split["python"] = round(_p10(call) - sum(split.values()), 4)
    return split


# ---------------------------------------------------------------- LiteRT


class LiteRTOp(NamedTuple):
    type: str  # builtin operator, e.g. CONV_2D
    input_type: str  # tensor type of its first input, e.g. INT8 ("" where it has none; likewise below)
    output_type: str
    output: str  # its first output tensor's name (carries the torch module scope)


def litert_ops(path, subgraph: int) -> list[LiteRTOp]:
    """One subgraph's ops in execution order, read from the flatbuffer."""
    from ai_edge_litert import schema_py_generated as schema

    ops = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    m = schema.Model.GetRootAs(Path(path).read_bytes(), 0)
    g, out = m.Subgraphs(subgraph), []
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        code = m.OperatorCodes(op.OpcodeIndex())
        first_in = op.Inputs(0) if op.InputsLength() else -1  # -1 also marks an omitted optional input
        first_out = g.Tensors(op.Outputs(0)) if op.OutputsLength() else None  # ASSIGN_VARIABLE writes none
        out.append(LiteRTOp(ops.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM"),
                            types[g.Tensors(first_in).Type()] if first_in >= 0 else "",
                            types[first_out.Type()] if first_out else "", first_out.Name().decode() if first_out else ""))
    return out


def litert_signatures(path) -> dict[str, int]:
    """Signature name -> subgraph index of a .tflite."""
    from ai_edge_litert import schema_py_generated as schema

    m = schema.Model.GetRootAs(Path(path).read_bytes(), 0)
    return {m.SignatureDefs(i).SignatureKey().decode(): m.SignatureDefs(i).SubgraphIndex() for i in range(m.SignatureDefsLength())}


def _litert_op_counts(path: Path, subgraph: int) -> Counter:
    return Counter(op.type for op in litert_ops(path, subgraph))


def litert_step_op_counts(path, step: str) -> Counter:
    """Ops by type in one signature's subgraph of a .tflite."""
    return _litert_op_counts(Path(path), litert_signatures(path)[step])


def profile_litert(path, step: str, calls: list[dict], threads: int, repeats: int) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    from avsep_mobile.runtime.runners import TFLiteRunner

    runner = TFLiteRunner(path, threads)
    interp = Interpreter(model_path=str(path), num_threads=threads)
    sr = interp.get_signature_runner(step)
    sub, w = sr._subgraph_index, interp._interpreter
    ins = {n: d["index"] for n, d in sr.get_input_details().items()}
    outs = {n: d["index"] for n, d in sr.get_output_details().items()}

    def split_call(feeds):
        t0 = time.perf_counter()
        for n, i in ins.items():  # what SignatureRunner.__call__ does on every call
            w.ResizeInputTensor(i, np.array(feeds[n].shape, dtype=np.int32), False, sub)
        w.AllocateTensors(sub)
        for n, i in ins.items():
            w.SetTensor(i, feeds[n], sub)
        t1 = time.perf_counter()
        w.Invoke(sub)
        t2 = time.perf_counter()
        for i in outs.values():
            w.GetTensor(i, sub)
        return t1 - t0, t2 - t1, time.perf_counter() - t2

    call, parts = _measure(runner, step, calls, repeats, split_call)
    counts = _litert_op_counts(path, sub)
    modules = litert_modules.module_times(path, step, calls[len(calls) // 2], threads)
    return {"call_ms": _ms(call), "call_ms_p10": _p10(call), "split_ms": _split(call, parts),
            "ops": [{"op": k, "nodes": v} for k, v in counts.most_common(TOP)], "op_count": sum(counts.values()),
            "op_times": None, "note": LITERT_NO_PROFILER, "modules": modules[:TOP_MODULES],
            "inputs": len(ins), "outputs": len(outs), **_traffic(calls[0], runner.run(step, calls[0]))}


# ---------------------------------------------------------------- onnxruntime


def _ort_session(path, threads: int, profile_prefix=None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    opts.log_severity_level = 3
    if profile_prefix is not None:
        opts.enable_profiling, opts.profile_file_prefix = True, str(profile_prefix)
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def profile_onnx(path, step: str, calls: list[dict], threads: int, repeats: int) -> dict:
    from avsep_mobile.runtime.runners import ONNXRunner

    runner = ONNXRunner({step: path}, threads)
    sess = _ort_session(path, threads)
    in_names, out_names = [i.name for i in sess.get_inputs()], [o.name for o in sess.get_outputs()]

    def split_call(feeds):
        t0 = time.perf_counter()
        io = sess.io_binding()
        for n in in_names:
            io.bind_cpu_input(n, feeds[n])
        for n in out_names:
            io.bind_output(n)
        t1 = time.perf_counter()
        sess.run_with_iobinding(io)
        t2 = time.perf_counter()
        io.copy_outputs_to_cpu()
        return t1 - t0, t2 - t1, time.perf_counter() - t2

    call, parts = _measure(runner, step, calls, repeats, split_call)
    with tempfile.TemporaryDirectory() as tmp:
        prof = _ort_session(path, threads, Path(tmp) / "ort")
        for feeds in calls:
            prof.run(None, {n: feeds[n] for n in in_names})
        events = json.loads(Path(prof.end_profiling()).read_text())
    durs, nodes = defaultdict(list), defaultdict(set)
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            op = e.get("args", {}).get("op_name", "?")
            durs[op].append(e["dur"] / 1000)
            nodes[op].add(e["name"])
    ops = _robust_ops(durs, {k: len(v) for k, v in nodes.items()})
    return {"call_ms": _ms(call), "call_ms_p10": _p10(call), "split_ms": _split(call, parts), "ops": ops[:TOP],
            "op_count": sum(len(v) for v in nodes.values()), "op_times": "onnxruntime enable_profiling (median kernel time per node x nodes; the profiler adds a few us per node)",
            "inputs": len(in_names), "outputs": len(out_names), **_traffic(calls[0], runner.run(step, calls[0]))}


# ---------------------------------------------------------------- torch


def profile_torch(model, m: dict, step: str, calls: list[dict], threads: int, repeats: int) -> dict:
    import torch
    from torch.profiler import ProfilerActivity, profile

    runner = TorchRunner(model, m["speakers"], m["chunk_hops"], threads)
    module, names = runner.steps[step], runner.input_names(step)

    def split_call(feeds):
        t0 = time.perf_counter()
        args = [torch.from_numpy(feeds[n]) for n in names]
        t1 = time.perf_counter()
        outs = module(*args)
        t2 = time.perf_counter()
        [o.numpy() for o in outs]
        return t1 - t0, t2 - t1, time.perf_counter() - t2

    with torch.no_grad():
        call, parts = _measure(runner, step, calls, repeats, split_call)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for feeds in calls:
                module(*[torch.from_numpy(feeds[n]) for n in names])
    durs = defaultdict(list)
    for e in prof.events():
        if e.name.startswith("aten::"):
            durs[e.name].append(e.self_cpu_time_total / 1000)
    per_call = {k: round(len(v) / len(calls)) for k, v in durs.items()}
    ops = _robust_ops(durs, per_call)
    split = _split(call, parts)
    # forward time outside aten kernels: Python module code and the dispatcher
    split["forward_outside_ops"] = round(max(0.0, split["run"] - sum(o["ms"] for o in ops)), 4)
    return {"call_ms": _ms(call), "call_ms_p10": _p10(call), "split_ms": split, "ops": ops[:TOP],
            "op_count": sum(per_call.values()), "op_times": "torch.profiler self CPU time (median per op x ops per call)",
            "inputs": len(names), "outputs": len(runner.output_names(step)), **_traffic(calls[0], runner.run(step, calls[0]))}


def _robust_ops(durs: dict[str, list], per_call: dict[str, int]) -> list[dict]:
    """Per op type: median duration of one op (ms) x ops per call, sorted.
    Medians, not sums: on a loaded machine a few preempted ops would
    otherwise dominate."""
    ms = {k: statistics.median(v) * per_call[k] for k, v in durs.items() if per_call.get(k)}
    total = sum(ms.values()) or 1.0
    return [{"op": k, "ms": round(v, 4), "share": round(v / total, 3), "nodes": per_call[k]} for k, v in sorted(ms.items(), key=lambda kv: -kv[1])]


def _traffic(feeds: dict, outs: dict) -> dict:
    return {"bytes_in": int(sum(np.asarray(v).nbytes for v in feeds.values())), "bytes_out": int(sum(np.asarray(v).nbytes for v in outs.values()))}


# ---------------------------------------------------------------- all runtimes


def profile(bundle_dir, threads: int = 1, repeats: int = 2, max_calls: int = 200) -> dict:
    """Profile of each step on the bundle's runtime (when this machine runs
    it) and on float torch; {"runtimes": {kind: {step: {...}}}}."""
    import os

    from .bench import float_model

    bundle_dir = Path(bundle_dir)
    m = manifest.load(bundle_dir)
    vec = vectors.load_npz(bundle_dir / Path(m["test_vectors"]).parent / vectors.NPZ)
    model, weights = float_model(m)
    calls = {s: c[:max_calls] for s, c in record_feeds(model, m["speakers"], m["chunk_hops"], vec, m["signatures"], threads).items()}
    files = {s: bundle_dir / f for s, f in m["model_files"].items()}
    result = {"bundle": str(bundle_dir), "target": m["target"], "precision": m["precision"], "threads": threads, "repeats": repeats,
              "calls": {s: len(c) for s, c in calls.items()}, "hop_ms": 1000 * m["chunk_samples"] / m["sample_rate"],
              "load_avg": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(), "runtimes": {}}
    if m["target"] == "android":
        result["runtimes"]["tflite"] = {s: profile_litert(files[s], s, calls[s], threads, repeats) for s in STEPS}
    elif m["target"] == "onnx":
        result["runtimes"]["onnx"] = {s: profile_onnx(files[s], s, calls[s], threads, repeats) for s in STEPS}
    else:
        result["skipped"] = f"{m['target']} models are not profiled on this machine (CoreML prediction needs macOS)"
    result["runtimes"]["torch"] = {s: {**profile_torch(model, m, s, calls[s], threads, repeats), "weights": weights} for s in STEPS}
    result["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def format_profile(r: dict) -> str:
    lines = [f"{r['bundle']} ({r['target']} {r['precision']}), {r['threads']} thread(s), calls {r['calls']} x {r['repeats']}, "
             f"load average {r['load_avg'][0]:.1f} -> {r['load_avg_end'][0]:.1f} on {r['cpus']} CPUs (times on a busy machine are noisy)"]
    if "skipped" in r:
        lines.append(f"  {r['skipped']}")
    for kind, steps in r["runtimes"].items():
        for step, p in steps.items():
            s = p["split_ms"]
            lines.append(f"\n  {kind} {step}: {p['call_ms']:.3f} ms/call (p10 {p['call_ms_p10']:.3f}), {p['op_count']} ops, "
                         f"{p['inputs']} inputs / {p['outputs']} outputs, {p['bytes_in'] / 1024:.0f} KB in / {p['bytes_out'] / 1024:.0f} KB out")
            p10 = p["call_ms_p10"] or 1e-9
            lines.append("    p10 split: " + "  ".join(f"{k} {v:.3f} ms ({100 * v / p10:.0f}%)" for k, v in s.items()))
            if p["op_times"] is None:
                lines.append(f"    {p['note']}")
                lines.append("    " + ", ".join(f"{o['op']} x{o['nodes']}" for o in p["ops"]))
                if p.get("modules"):
                    lines.append("    top modules (Invoke time of the graph up to and including each, minus the one before):")
                    lines += [f"      {o['module']:36s} {o['ms']:.4f} ms  {100 * o['share']:4.1f}%  {o['ops']} ops"
                              for o in p["modules"]]
            else:
                lines.append(f"    top ops ({p['op_times']}):")
                lines += [f"      {o['op']:28s} {o['ms']:.4f} ms  {100 * o['share']:4.1f}%  x{o['nodes']}" for o in p["ops"]]
    return "\n".join(lines)
