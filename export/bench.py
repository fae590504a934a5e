"""`avsep bench DIR`: real-time factor (processing time / audio time) of each
step and of the whole stream, replaying the bundle's test vectors, for every
model in DIR this machine can run, beside the float PyTorch steps; and the
memory of one stream: the runtime's peak resident memory, measured in a child
process that loads only the runtime (export/stream_memory.py), and the state
bytes per speaker slot, from the signature."""

from __future__ import annotations

import itertools
import platform
import resource
import statistics
import time
from pathlib import Path

import psutil

from avsep_mobile.model import AVSep, ModelConfig
from avsep_mobile.runtime import manifest, runners
from avsep_mobile.runtime.coreml_eval import KIND
from avsep_mobile.runtime.replay import stream
from avsep_mobile.runtime.runners import Recording
from avsep_mobile.streaming import TorchRunner

from . import stream_memory, vectors

HELD_STATE_TARGETS = ("android", "onnx")  # an ios bundle holds its states when exported --stateful


def float_model(m: dict) -> tuple[AVSep, str]:
    """The bundle's float model: the shipped checkpoint when the manifest's
    sha256 is its sha256, else random weights of the same config (the same speed)."""
    from avsep_mobile import checkpoint

    ck = m.get("checkpoint") or {}
    p = checkpoint.SHIPPED
    if ck.get("sha256") and p.is_file() and manifest.sha256_file(p) == ck["sha256"]:
        return checkpoint.load(p)[0], "checkpoint"
    return AVSep(ModelConfig.from_dict(m["config"])).eval(), "random weights, same config"


def _measure(runner, vec: dict, sigs: dict, audio_s: float, repeats: int) -> dict:
    timed = Recording(runner, keep_feeds=False)
    stream(timed, vec, sigs)  # warm-up
    rtf = {"av_step": [], "lip_step": [], "stream": []}
    step_ms = {"av_step": [], "lip_step": []}
    every_call = {"av_step": [], "lip_step": []}
    for _ in range(repeats):
        timed.times = {}
        t0 = time.perf_counter()
        stream(timed, vec, sigs)
        rtf["stream"].append((time.perf_counter() - t0) / audio_s)
        for step in step_ms:
            rtf[step].append(sum(timed.times[step]) / audio_s)
            step_ms[step].append(1000 * statistics.median(timed.times[step]))
            every_call[step] += timed.times[step]
    # the 10th percentile of every call: steadier than the median on a shared machine
    p10 = {k: statistics.quantiles(v, n=10)[0] for k, v in every_call.items()}
    calls = {k: len(timed.times[k]) for k in step_ms}
    return {
        "rtf": {k: round(statistics.median(v), 5) for k, v in rtf.items()},
        # stream RTF from the p10 call times: what the model costs when the machine is not busy elsewhere
        "rtf_p10": round(sum(p10[k] * calls[k] for k in calls) / audio_s, 5),
        "step_ms": {k: round(statistics.median(v), 4) for k, v in step_ms.items()},
        "step_ms_p10": {k: round(1000 * v, 4) for k, v in p10.items()},
        "calls": calls,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
    }


def bench(bundle_dir, threads: int = 1, repeats: int = 3) -> dict:
    bundle_dir = Path(bundle_dir)
    m = manifest.load(bundle_dir)
    vec = vectors.load_npz(bundle_dir / Path(m["test_vectors"]).parent / vectors.NPZ)
    sigs = m["signatures"]
    audio_s = vec["av_step/pcm"].shape[0] * m["chunk_samples"] / m["sample_rate"]
    result = {"bundle": str(bundle_dir), "target": m["target"], "precision": m["precision"], "threads": threads,
              "repeats": repeats, "audio_seconds": audio_s, "host": f"{platform.system()} {platform.machine()} {platform.processor()}".strip(),
              "models": {}}
    result["state_bytes"] = stream_memory.state_bytes(sigs)
    exported = runners.for_bundle(bundle_dir, m, threads)
    if exported is None:
        result["skipped"] = f"{m['target']} models cannot run on {platform.system()}"
    else:
        result["models"][exported.kind] = _measure(exported, vec, sigs, audio_s, repeats)
        if m["target"] in HELD_STATE_TARGETS:  # the same model with its states held by the runtime (runners' held_state)
            held = runners.for_bundle(bundle_dir, m, threads, held_state=True)
            result["models"][f"{exported.kind} held state"] = _measure(held, vec, sigs, audio_s, repeats)
        result["memory"] = stream_memory.measure(bundle_dir, threads)
        if exported.kind == KIND:
            result["note"] = (f"{KIND}: the CoreML reference evaluator's time (NumPy on this {platform.system()} host), "
                              "not a device figure: run the sample app's benchmark on an iPhone/Mac for CoreML speed")
    model, weights = float_model(m)
    torch_runner = TorchRunner(model, m["speakers"], m["chunk_hops"], threads)
    result["models"]["torch"] = {**_measure(torch_runner, vec, sigs, audio_s, repeats), "weights": weights}
    return result


def format_bench(r: dict) -> str:
    lines = [f"{r['bundle']} ({r['target']} {r['precision']}), {r['threads']} thread(s), median of {r['repeats']} x {r['audio_seconds']:.2f} s"]
    if "skipped" in r:
        lines.append(f"  {r['skipped']}")
    if "note" in r:
        lines.append(f"  note: {r['note']}")
    for kind, v in r["models"].items():
        lines.append(f"  {kind:7s} RTF stream {v['rtf']['stream']:.4f}  av_step {v['rtf']['av_step']:.4f} ({v['step_ms']['av_step']:.3f} ms/call, p10 {v['step_ms_p10']['av_step']:.3f})"
                     f"  lip_step {v['rtf']['lip_step']:.4f} ({v['step_ms']['lip_step']:.3f} ms/call)  this process's peak RSS {v['peak_rss_mb']:.0f} MB")
    mem = r.get("memory")
    if mem is not None and "skipped" not in mem:
        who = "its runtime library loads torch" if mem["torch_imported"] else "no torch"
        lines.append(f"  memory per stream ({mem['runtime']}, a child process, {who}): peak RSS {mem['peak_rss_mb']:.1f} MB, "
                     f"{mem['stream_mb']:.1f} MB over Python + numpy + the runtime library ({mem['baseline_rss_mb']:.1f} MB)")
    st = r["state_bytes"]
    lines.append(f"  state: {st['per_slot'] / 1024:.1f} KiB per speaker slot, {st['shared'] / 1024:.1f} KiB shared, "
                 f"{st['total'] / 1024:.1f} KiB in all (bound in and out on every call of explicit state)")
    return "\n".join(lines)


def add_interleaved_args(ap, dirs: bool = True, per_round: int = 20) -> None:
    """The benchmarks' common arguments: bundle dirs (where `dirs`), interleaved
    rounds of `per_round` calls, a JSON file."""
    if dirs:
        ap.add_argument("dirs", type=Path, nargs="+")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--per-round", type=int, default=per_round)
    ap.add_argument("--json", type=Path)


def step_calls(prefix: str, runner, feeds: dict) -> dict:
    """{"<prefix>/<step>": a call of that step on its next recorded feeds,
    cycled}, for interleaved(); feeds: {step: [feeds of each call]}."""
    calls = {}
    for step in ("av_step", "lip_step"):
        it = itertools.cycle(feeds[step])
        calls[f"{prefix}/{step}"] = lambda step=step, it=it: runner.run(step, next(it))
    return calls


def interleaved(calls: dict, rounds: int = 30, per_round: int = 20) -> dict[str, dict]:
    """Time several callables in the same run, alternating: each round calls
    every one `per_round` times, in a rotated order, so machine load falls on
    all of them alike. calls: {name: callable()}. Returns {name: {"median_ms",
    "p10_ms", "n"}} over every call."""
    names = list(calls)
    times = {n: [] for n in names}
    for n in names:  # warm-up
        calls[n]()
    for r in range(rounds):
        for n in names[r % len(names):] + names[: r % len(names)]:
            fn = calls[n]
            for _ in range(per_round):
                t0 = time.perf_counter()
                fn()
                times[n].append(time.perf_counter() - t0)
    return {n: {"median_ms": round(1000 * statistics.median(v), 4), "p10_ms": round(1000 * statistics.quantiles(v, n=10)[0], 4), "n": len(v)}
            for n, v in times.items()}
