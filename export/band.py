"""The gate across levels and the device band (DESIGN.md §6).

Every export's runner streams the test vectors at each gate level
(export/levels.py: quiet -45 dBFS RMS, the vectors as recorded, loud with
peaks near 0 dBFS), each compared with float torch streamed at the same
level, under the export's gate (thresholds.gate); the export passes only
where every level does.

An fp16-compute CoreML program (ios fp16 and the int8 packages, which
compute in fp16) is streamed through every corner of the band at every
level: the reference evaluator in each coreml_eval.BAND corner (subnormals
kept or flushed, fp32 or fp16 accumulation). The gate holds at the worst
corner; the report lists each.

The Android fp16 export (a TFLite file with fp16 weights) is gated twice:
as LiteRT's CPU kernels run it (float32 compute, "the runtime" corner), and
as a GPU delegate at fp16 precision may: its float graph streamed through
export/gpu_band.py in each BAND corner ("GPU delegate: ..." corners), every
op's inputs and outputs in fp16 with no fp32 islands. The gate holds at the
worst of the five.
"""

from __future__ import annotations

from avsep_mobile.runtime.coreml_eval import BAND, KIND, Device, EvaluatorRunner
from avsep_mobile.runtime.replay import stream
from avsep_mobile.runtime.runners import TFLiteRunner

from . import levels, parity, thresholds
from .gpu_band import GpuFp16Runner

RUNTIME = "the runtime"  # the one corner of a runner that is not the evaluator
GPU = "GPU delegate: "  # the prefix of the Android fp16 export's simulated corners


def corners(runner, precision: str, model, speakers: int, chunk_hops: int) -> dict:
    """{corner name: runner} the gate streams at each level."""
    if runner.kind == TFLiteRunner.kind and precision == "fp16":
        return {RUNTIME: runner, **{GPU + d.name: GpuFp16Runner(model, speakers, chunk_hops, d) for d in BAND}}
    if runner.kind != KIND or precision == "fp32" or runner.compute == "fp32":
        return {RUNTIME: runner}
    return {d.name: runner if d == runner.device else EvaluatorRunner(runner.paths, runner.compute, d) for d in BAND}


def gate(runner, model, speakers: int, chunk_hops: int, vectors: dict, got: dict, signatures: dict, precision: str,
         sample_rate: int, progress=None) -> dict:
    """The figures of every corner at every level, the worst, and the verdict.
    vectors: the test vectors (float outputs at their own level); got: what
    `runner` streamed from them (reused for its own corner there)."""
    metric, minimum = thresholds.gate(precision)
    runs = corners(runner, precision, model, speakers, chunk_hops)
    out = {"metric": metric, "min_db": minimum, "outputs": list(thresholds.GATED_OUTPUTS), "levels": {}, "failed": []}
    n, done = len(runs) * len(levels.GATE_LEVELS), 0
    worst = None
    for name, level in levels.GATE_LEVELS.items():
        ref = levels.reference_at(model, speakers, chunk_hops, vectors, signatures, level)
        rows = {}
        for corner, r in runs.items():
            if level is None and r is runner:
                streamed = got
            else:
                streamed = stream(r, ref, signatures)
            figures = {k: v[metric] for k, v in parity.compare(ref, streamed, precision, sample_rate)["outputs"].items()}
            rows[corner] = figures
            for k in thresholds.GATED_OUTPUTS:
                if worst is None or figures[k] < worst["db"]:
                    worst = {"level": name, "corner": corner, "output": k, "db": figures[k]}
                if figures[k] < minimum:
                    out["failed"].append(f"{name} level, {corner}: {k} {figures[k]:.1f} dB")
            done += 1
            if progress is not None:
                progress(done, n)
        out["levels"][name] = {"level": levels.describe(level), "corners": rows}
    out["worst"] = worst
    out["passed"] = not out["failed"]
    return out


def summary(band: dict) -> str:
    """One line: the worst figure and where."""
    w = band["worst"]
    corners_n = len(next(iter(band["levels"].values()))["corners"])
    return (f"{len(band['levels'])} levels x {corners_n} corner{'s' if corners_n > 1 else ''}: worst {w['output']} "
            f"{w['db']:.1f} dB {band['metric']} ({w['level']}, {w['corner']})")


def table(band: dict) -> str:
    """Markdown: one row per level and corner, one column per output."""
    outs = list(next(iter(next(iter(band["levels"].values()))["corners"].values())))
    lines = ["| level | corner | " + " | ".join(outs) + " |", "|---|---|" + "---|" * len(outs)]
    for name, v in band["levels"].items():
        for corner, figures in v["corners"].items():
            lines.append(f"| {name} ({v['level']}) | {corner} | " + " | ".join(f"{figures[k]:.1f}" for k in outs) + " |")
    return "\n".join(lines)
