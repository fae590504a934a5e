"""Is an int8 export good enough? The task gate (SI-SNR improvement of the
exported runner against the float model on labelled mixtures, each streamed
with state carried) and closed-loop drift (error at the start vs the end of
one long stream). Thresholds: export/thresholds.py."""

from __future__ import annotations

import numpy as np

from avsep_mobile import metrics
from avsep_mobile.data.mixtures import Example
from avsep_mobile.model import AVSep
from avsep_mobile.runtime import signature
from avsep_mobile.runtime.replay import stream_each, stream_inputs, stream_pcm
from avsep_mobile.streaming import TorchRunner


def _separate(runner, model: AVSep, sigs: dict, examples, chunk_hops: int, progress=None) -> list[np.ndarray]:
    """Each example's separated speakers. A runner that takes lanes (the
    reference evaluator) streams examples of one schedule all at once."""
    metas = [signature.metadata(model.cfg, ex.lips.shape[0], chunk_hops) for ex in examples]
    inputs = [stream_inputs(meta, ex.mix, ex.lips, ex.fps) for meta, ex in zip(metas, examples)]
    outs = stream_each(runner, inputs, sigs, progress)
    return [stream_pcm(meta, out, len(ex.mix))["speakers"] for meta, out, ex in zip(metas, outs, examples)]


def float_estimates(model: AVSep, speakers: int, chunk_hops: int, examples, progress=None) -> list[np.ndarray]:
    """The float torch steps' separated speakers of each example (the task
    gate's reference), the examples streamed as lanes."""
    sigs = signature.signatures(model, speakers, chunk_hops)
    return _separate(TorchRunner(model, speakers, chunk_hops), model, sigs, list(examples), chunk_hops, progress)


def task_gate(runner, model: AVSep, speakers: int, chunk_hops: int, examples, progress=None, floats=None) -> dict:
    """Mean SI-SNR improvement of the exported runner and of the float torch
    steps over labelled mixtures, and the output SNR of the export against float.
    floats: float_estimates of the examples, when already made."""
    sigs = signature.signatures(model, speakers, chunk_hops)
    examples = list(examples)
    if floats is None:
        halves = [None, None] if progress is None else [lambda i, n: progress(i, 2 * n), lambda i, n: progress(n + i, 2 * n)]
        floats = float_estimates(model, speakers, chunk_hops, examples, halves[0])
        progress = halves[1]
    exported = _separate(runner, model, sigs, examples, chunk_hops, progress)
    rows = [{"float": metrics.si_snri_np(est_f, ex.sources, ex.mix), "export": metrics.si_snri_np(est_q, ex.sources, ex.mix),
             "snr_db": metrics.snr_db(est_f, est_q)} for ex, est_f, est_q in zip(examples, floats, exported)]
    f, q = float(np.mean([r["float"] for r in rows])), float(np.mean([r["export"] for r in rows]))
    return {"mixtures": len(rows), "si_snri_float_db": round(f, 3), "si_snri_export_db": round(q, 3), "si_snri_drop_db": round(f - q, 3),
            "output_snr_db": round(float(np.mean([r["snr_db"] for r in rows])), 3)}


def drift(runner, model: AVSep, speakers: int, chunk_hops: int, examples, window_s: float = 10.0) -> dict:
    """Closed-loop error at the start vs the end of one long stream (the
    examples back to back, state never reset): output SNR vs float torch over
    the first and the last `window_s` seconds."""
    mix = np.concatenate([ex.mix for ex in examples])
    fps = examples[0].fps
    lips = np.concatenate([ex.lips[:, : int(round(len(ex.mix) / model.cfg.sample_rate * fps))] for ex in examples], axis=1)
    long = Example(mix, np.zeros((speakers, len(mix)), np.float32), lips, fps, "long")
    sigs = signature.signatures(model, speakers, chunk_hops)
    ref, = _separate(TorchRunner(model, speakers, chunk_hops), model, sigs, [long], chunk_hops)
    got, = _separate(runner, model, sigs, [long], chunk_hops)
    w = int(window_s * model.cfg.sample_rate)
    start, end = metrics.snr_db(ref[:, :w], got[:, :w]), metrics.snr_db(ref[:, -w:], got[:, -w:])
    return {"stream_seconds": round(len(mix) / model.cfg.sample_rate, 1), "window_seconds": window_s,
            "snr_start_db": round(start, 3), "snr_end_db": round(end, 3), "drift_db": round(start - end, 3)}
