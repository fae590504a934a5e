"""Per-module time of a LiteRT step, by timing prefixes of its graph.

ai-edge-litert's Python Interpreter has no op profiler, so this measures one:
the step's subgraph keeps its ops in execution order, and litert-torch names
every tensor after the torch module that made it
("...AVStep_step/...FusionBlock_0/...FoldedOffsetAttention_a2v;3"). The op list
is cut wherever that module changes; each prefix (ops 0..k, with every tensor
that later ops read as an output, so nothing in it is dead) is loaded as its
own model, and all prefixes are timed interleaved, Invoke only, the same
feeds. A module's time is the 10th-percentile time of the prefix that ends
with it minus the one before.

What it costs to know: XNNPACK partitions each prefix on its own, so a
module's figure includes any partition boundary it creates; differences of
noisy times can be slightly negative on a busy machine (shown as measured).
"""

from __future__ import annotations

import copy
import re
import time
from collections import defaultdict

import numpy as np

LABEL_DEPTH = 3  # module path components kept: "audio/SelfAttentionBlock0/attn"
# leaf layers are reported as part of the module that holds them (an attention's q/kv/out)
LEAVES = {"Linear", "Conv1d", "Conv2d", "BatchNorm2d", "ReLU", "GELU", "AvgPool2d", "Softplus", "ScaledSoftplus", "TailExactSoftplus"}


STEP_ROOT = "~"  # what a shipped .tflite calls the step wrapper every module path starts with (tflite.compact_name)


def module_label(tensor_name: str, depth: int = LABEL_DEPTH) -> str | None:
    """'pkg.NamedStep/pkg.AVStep_step/pkg.model.FusionBlock_0/pkg.folds.FoldedOffsetAttention_a2v;3'
    -> 'FusionBlock0/a2v'; ops of the step's own code -> '(step)'; a name
    without a module path (a signature output's) -> None."""
    path = tensor_name.split(";")[0]
    if path == STEP_ROOT:  # a shipped file's name for the step's own code (tflite.compact_name)
        return "(step)"
    if "/" not in path:
        return None
    parts = []
    for comp in path.split("/"):
        cls_attr = comp.rsplit(".", 1)[-1]
        if comp == STEP_ROOT or "_" not in cls_attr or cls_attr.endswith("_step") or cls_attr.startswith("NamedStep"):
            continue
        cls, attr = cls_attr.split("_", 1)
        parts.append((cls, f"{cls}{attr}" if re.fullmatch(r"\d+", attr) else attr))
    while parts and parts[-1][0] in LEAVES:
        parts.pop()
    return "/".join(name for _, name in parts[:depth]) or "(step)"


def _load(buf: bytes):
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(buf)
    for b in model.buffers:  # large models keep tensor data after the flatbuffer: move it inline
        if b.offset and b.offset > 1:
            b.data = np.frombuffer(buf[b.offset : b.offset + b.size], np.uint8)
            b.offset = b.size = 0
    return model


def _prefix_outputs(model, sig_index: int, k: int) -> list[int]:
    """Tensors the first k ops make that later ops or the step's outputs read
    (signature output i of the prefix is "prefix_out{i}")."""
    full = model.subgraphs[model.signatureDefs[sig_index].subgraphIndex]
    read_later = {t for op in full.operators[k:] for t in op.inputs} | set(full.outputs)
    made = [t for op in full.operators[:k] for t in op.outputs]
    return [t for t in made if t in read_later] or [made[-1]]


def _prefix(model, sig_index: int, k: int) -> bytes:
    """The model with the step's subgraph cut after its first k ops. Every
    tensor those ops make that the rest of the graph (or the step's outputs)
    reads becomes an output: XNNPACK drops nodes whose results nobody reads,
    so a prefix with one output would time only that output's cone."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    m = copy.copy(model)
    m.subgraphs = list(model.subgraphs)
    m.signatureDefs = [copy.copy(s) for s in model.signatureDefs]
    sd = m.signatureDefs[sig_index]
    full = model.subgraphs[sd.subgraphIndex]
    g = m.subgraphs[sd.subgraphIndex] = copy.copy(full)
    g.operators = full.operators[:k]
    g.outputs = _prefix_outputs(model, sig_index, k)
    sd.outputs = []
    for i, t in enumerate(g.outputs):
        tm = schema.TensorMapT()
        tm.name, tm.tensorIndex = f"prefix_out{i}".encode(), t
        sd.outputs.append(tm)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(m))


def segments(path, step: str) -> tuple[object, int, list[tuple[str, int, int]]]:
    """(model, signature index, [(label, first op, end op)]) of the step's subgraph."""
    model = _load(open(path, "rb").read())
    sig_index = next(i for i, s in enumerate(model.signatureDefs) if s.signatureKey.decode() == step)
    g = model.subgraphs[model.signatureDefs[sig_index].subgraphIndex]
    labels, last = [], "(step)"
    for op in g.operators:  # an op whose output has no module path belongs with the one before
        last = module_label(g.tensors[op.outputs[0]].name.decode()) or last
        labels.append(last)
    runs, start = [], 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            runs.append((labels[start], start, i))
            start = i
    return model, sig_index, runs


def module_times(path, step: str, feeds: dict, threads: int = 1, rounds: int = 15, per_round: int = 10) -> list[dict]:
    """[{"module", "ops", "ms", "share"}] summed over each module's runs of
    ops, largest first; ms is a difference of 10th percentiles."""
    from ai_edge_litert.interpreter import Interpreter

    model, sig_index, runs = segments(path, step)
    invokes = []
    for _, _, end in runs:
        interp = Interpreter(model_content=_prefix(model, sig_index, end), num_threads=threads)
        sr = interp.get_signature_runner(step)
        sr(**{n: feeds[n] for n in sr.get_input_details()})
        invokes.append((interp, sr._subgraph_index))
    times = [[] for _ in invokes]
    for _ in range(rounds):
        for t, (interp, sub) in zip(times, invokes):
            w = interp._interpreter
            for _ in range(per_round):
                t0 = time.perf_counter()
                w.Invoke(sub)
                t.append(time.perf_counter() - t0)
    p10 = [float(np.percentile(t, 10)) for t in times]
    per, ops = defaultdict(float), defaultdict(int)
    for (label, start, end), before, after in zip(runs, [0.0] + p10[:-1], p10):
        per[label] += after - before
        ops[label] += end - start
    total = p10[-1] or 1e-9
    return [{"module": k, "ops": ops[k], "ms": round(1000 * v, 4), "share": round(v / total, 3)}
            for k, v in sorted(per.items(), key=lambda kv: -kv[1])]
