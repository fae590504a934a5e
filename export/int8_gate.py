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
from avsep_mobile.runtime.replay import stream, stream_inputs, stream_pcm
from avsep_mobile.streaming import TorchRunner


def _separate(runner, model: AVSep, sigs: dict, ex, chunk_hops: int) -> np.ndarray:
    meta = signature.metadata(model.cfg, ex.lips.shape[0], chunk_hops)
    return stream_pcm(meta, stream(runner, stream_inputs(meta, ex.mix, ex.lips, ex.fps), sigs), len(ex.mix))["speakers"]


def task_gate(runner, model: AVSep, speakers: int, chunk_hops: int, examples, progress=None) -> dict:
    """Mean SI-SNR improvement of the exported runner and of the float torch
    steps over labelled mixtures, and the output SNR of the export against float."""
    sigs = signature.signatures(model, speakers, chunk_hops)
    ref_runner = TorchRunner(model, speakers, chunk_hops)
    rows = []
    for i, ex in enumerate(examples):
        est_f = _separate(ref_runner, model, sigs, ex, chunk_hops)
        est_q = _separate(runner, model, sigs, ex, chunk_hops)
        rows.append({"float": metrics.si_snri_np(est_f, ex.sources, ex.mix), "export": metrics.si_snri_np(est_q, ex.sources, ex.mix),
                     "snr_db": metrics.snr_db(est_f, est_q)})
        if progress is not None:
            progress(i + 1, len(examples))
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
    ref = _separate(TorchRunner(model, speakers, chunk_hops), model, sigs, long, chunk_hops)
    got = _separate(runner, model, sigs, long, chunk_hops)
    w = int(window_s * model.cfg.sample_rate)
    start, end = metrics.snr_db(ref[:, :w], got[:, :w]), metrics.snr_db(ref[:, -w:], got[:, -w:])
    return {"stream_seconds": round(len(mix) / model.cfg.sample_rate, 1), "window_seconds": window_s,
            "snr_start_db": round(start, 3), "snr_end_db": round(end, 3), "drift_db": round(start - end, 3)}
