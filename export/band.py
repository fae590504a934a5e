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

The slowest corners (fp16 accumulation) run in the second process
(export/overlap.py) while the others stream here; the reference evaluator
streams the levels of a corner as lanes of one stream.
"""

from __future__ import annotations

from avsep_mobile.runtime.coreml_eval import BAND, KIND, Device, EvaluatorRunner
from avsep_mobile.runtime.replay import stream_each
from avsep_mobile.runtime.runners import TFLiteRunner

from . import levels, overlap, parity, thresholds

RUNTIME = "the runtime"  # the one corner of a runner that is not the evaluator
GPU = "GPU delegate: "  # the prefix of the Android fp16 export's simulated corners


def corners(runner, precision: str) -> dict:
    """{corner name: Device} the gate streams at each level; None for the
    runner itself (RUNTIME): an fp16 CoreML program's four corners in the
    reference evaluator, or the runtime and the four GPU-delegate corners of
    the Android fp16 export, or the runtime alone."""
    if runner.kind == TFLiteRunner.kind and precision == "fp16":
        return {RUNTIME: None, **{GPU + d.name: d for d in BAND}}
    if runner.kind != KIND or precision == "fp32" or runner.compute == "fp32":
        return {RUNTIME: None}
    return {d.name: d for d in BAND}


def level_references(model, speakers: int, chunk_hops: int, vectors: dict, signatures: dict) -> dict:
    """{level name: inputs at that level and the float outputs streamed from them}."""
    return {name: levels.reference_at(model, speakers, chunk_hops, vectors, signatures, level)
            for name, level in levels.GATE_LEVELS.items()}


def start(runner, model, speakers: int, chunk_hops: int, refs: dict, signatures: dict, precision: str) -> dict:
    """The slowest corners (fp16 accumulation), started in the second process
    (export/overlap.py): {corner name: job}, for gate(..., started=)."""
    inputs = [{k: v for k, v in ref.items() if k in _INPUTS} for ref in refs.values()]
    return {name: overlap.submit(stream_corner, _source(runner, name, model, speakers, chunk_hops), d, inputs, signatures)
            for name, d in corners(runner, precision).items() if d is not None and d.accumulate == "fp16"}


def _source(runner, corner: str, model, speakers: int, chunk_hops: int) -> tuple:
    """What a corner's runner is made from (picklable, for the second process)."""
    if corner.startswith(GPU):
        return ("gpu", model, speakers, chunk_hops)
    return ("evaluator", runner.paths, runner.compute)


def _corner_runner(source: tuple, device: Device):
    if source[0] == "gpu":
        from .gpu_band import GpuFp16Runner

        return GpuFp16Runner(*source[1:], device=device)
    return EvaluatorRunner(*source[1:], device=device)


def gate(runner, model, speakers: int, chunk_hops: int, vectors: dict, got: dict, signatures: dict, precision: str,
         sample_rate: int, progress=None, refs: dict | None = None, started: dict | None = None) -> dict:
    """The figures of every corner at every level, the worst, and the verdict.
    vectors: the test vectors (float outputs at their own level); got: what
    `runner` streamed from them (reused for its own corner there); refs:
    level_references, when already made; started: what start() returned."""
    metric, minimum = thresholds.gate(precision)
    refs = refs or level_references(model, speakers, chunk_hops, vectors, signatures)
    devices = corners(runner, precision)
    later = start(runner, model, speakers, chunk_hops, refs, signatures, precision) if started is None else started
    streamed = {}
    for name, d in devices.items():
        if name not in later:
            own = d is None or (runner.kind == KIND and d == runner.device)
            r = runner if own else _corner_runner(_source(runner, name, model, speakers, chunk_hops), d)
            streamed[name] = _stream_levels(r, refs, signatures, got if own else None)
            if progress is not None:
                progress(len(streamed), len(devices))
    for name, job in later.items():
        streamed[name] = dict(zip(refs, job.result()))
        if progress is not None:
            progress(len(streamed), len(devices))

    out = {"metric": metric, "min_db": minimum, "outputs": list(thresholds.GATED_OUTPUTS), "levels": {}, "failed": []}
    worst = None
    for name, level in levels.GATE_LEVELS.items():
        rows = {}
        for corner in devices:
            figures = {k: v[metric] for k, v in parity.compare(refs[name], streamed[corner][name], precision, sample_rate)["outputs"].items()}
            rows[corner] = figures
            for k in thresholds.GATED_OUTPUTS:
                if worst is None or figures[k] < worst["db"]:
                    worst = {"level": name, "corner": corner, "output": k, "db": figures[k]}
                if figures[k] < minimum:
                    out["failed"].append(f"{name} level, {corner}: {k} {figures[k]:.1f} dB")
        out["levels"][name] = {"level": levels.describe(level), "corners": rows}
    out["worst"] = worst
    out["passed"] = not out["failed"]
    return out


_INPUTS = ("lip_step/crops", "av_step/pcm", "av_step/active", "av_step/lip_call", "av_step/reset")


def stream_corner(source: tuple, device: Device, inputs: list[dict], signatures: dict) -> list[dict]:
    """One corner of the band over every level's inputs (a job for the second
    process: everything it needs is in its arguments)."""
    streamed = _stream_levels(_corner_runner(source, device), dict(enumerate(inputs)), signatures, None)
    return [streamed[i] for i in range(len(inputs))]


def _stream_levels(runner, refs: dict, signatures: dict, got: dict | None) -> dict:
    """{level name: what runner streams from that level's inputs}, the
    recorded level reusing `got` when given; the rest as lanes where the
    runner takes them (replay.stream_each)."""
    reuse = {name: got for name in refs if got is not None and levels.GATE_LEVELS.get(name, 0) is None}
    rest = [name for name in refs if name not in reuse]
    return {**reuse, **dict(zip(rest, stream_each(runner, [refs[name] for name in rest], signatures)))}


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
