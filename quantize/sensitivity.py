"""Per-layer int8 sensitivity (`avsep quantize --report`): quantize one
nn.Linear / nn.Conv at a time in a torch fake-quant simulation of the static
int8 export (weights int8 symmetric per output channel, input and output
activations int8 asymmetric per tensor from calibration ranges), run held-out
mixtures, and measure the output SNR against float and the SI-SNR improvement.
Layers whose solo quantization costs too much are kept float by name
(quantize.int8.KEEP_FLOAT); thresholds in export/thresholds.py.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from avsep_mobile import metrics
from avsep_mobile.model import AVSep
from avsep_mobile.pipeline import separate
from avsep_mobile.export import thresholds

from . import w8a8
from .w8a8 import fake_quant_act, fake_quant_weight

CAP_DB = 300.0  # an unchanged output has infinite SNR; JSON has no infinity


def quantizable_layers(model: AVSep) -> list[str]:
    return list(w8a8.quantizable_layers(model))


@torch.no_grad()
def calibrate_ranges(model: AVSep, examples) -> dict[str, tuple]:
    """{layer: (in_min, in_max, out_min, out_max)} over the examples."""
    ranges: dict[str, list] = {}

    def hook(name):
        def f(_mod, args, out):
            x = args[0]
            r = [float(x.min()), float(x.max()), float(out.min()), float(out.max())]
            old = ranges.get(name)
            ranges[name] = r if old is None else [min(old[0], r[0]), max(old[1], r[1]), min(old[2], r[2]), max(old[3], r[3])]
        return f

    handles = [model.get_submodule(n).register_forward_hook(hook(n)) for n in quantizable_layers(model)]
    try:
        for ex in examples:
            separate(model, ex.mix, ex.lips, ex.fps)
    finally:
        for h in handles:
            h.remove()
    return {n: tuple(r) for n, r in ranges.items()}


@contextlib.contextmanager
def quantized(model: AVSep, layers, ranges: dict):
    """Inside the block the given layers run fake-quantized; restored after."""
    saved, handles = {}, []

    def pre(name):
        def f(_mod, args):
            lo, hi = ranges[name][:2]
            return (fake_quant_act(args[0], lo, hi),) + tuple(args[1:])
        return f

    def post(name):
        def f(_mod, _args, out):
            lo, hi = ranges[name][2:]
            return fake_quant_act(out, lo, hi)
        return f

    try:
        for n in layers:
            m = model.get_submodule(n)
            saved[n] = m.weight.data.clone()
            m.weight.data = fake_quant_weight(m.weight.data)
            handles += [m.register_forward_pre_hook(pre(n)), m.register_forward_hook(post(n))]
        yield model
    finally:
        for h in handles:
            h.remove()
        for n, w in saved.items():
            model.get_submodule(n).weight.data = w


@torch.no_grad()
def _score(model: AVSep, examples, reference=None) -> dict:
    outs = [separate(model, ex.mix, ex.lips, ex.fps)["speakers"] for ex in examples]
    row = {"si_snri_db": float(np.mean([metrics.si_snri_np(o, ex.sources, ex.mix) for o, ex in zip(outs, examples)]))}
    if reference is not None:
        row["output_snr_db"] = min(CAP_DB, float(np.mean([metrics.snr_db(r, o) for r, o in zip(reference, outs)])))
    return row, outs


def choose_keep_float(rows: dict) -> list[str]:
    """Layers whose solo int8 costs more than the thresholds."""
    return [n for n, r in rows.items()
            if r["output_snr_db"] < thresholds.INT8_KEEP_FLOAT_MIN_SNR_DB or r["si_snri_drop_db"] > thresholds.INT8_KEEP_FLOAT_MAX_DROP_DB]


@torch.no_grad()
def sensitivity(model: AVSep, calib, mixtures: int = 4, examples=None, progress: bool = True) -> dict:
    """The report: per layer, all layers, and all but the chosen keep-float ones.
    calib: calibration Examples; examples: scored Examples (default held out)."""
    model = model.eval()
    if examples is None:
        from avsep_mobile.data.mixtures import heldout_examples
        from avsep_mobile.data.speech import build_eval_pool

        examples = heldout_examples(build_eval_pool(progress=False), mixtures, 2, seconds=4.0)
    ranges = calibrate_ranges(model, calib)
    base, ref = _score(model, examples)
    layers = quantizable_layers(model)
    rows = {}
    for n in tqdm(layers, desc="sensitivity", disable=not progress, dynamic_ncols=True):
        with quantized(model, [n], ranges):
            r, _ = _score(model, examples, ref)
        m = model.get_submodule(n)
        rows[n] = {"type": type(m).__name__, "params": int(sum(p.numel() for p in m.parameters())),
                   "output_snr_db": round(r["output_snr_db"], 3), "si_snri_db": round(r["si_snri_db"], 3),
                   "si_snri_drop_db": round(base["si_snri_db"] - r["si_snri_db"], 3)}
    keep = choose_keep_float(rows)
    combined = {}
    for label, chosen in (("all", layers), ("all_but_keep_float", [n for n in layers if n not in keep])):
        with quantized(model, chosen, ranges):
            r, _ = _score(model, examples, ref)
        combined[label] = {"output_snr_db": round(r["output_snr_db"], 3), "si_snri_db": round(r["si_snri_db"], 3),
                           "si_snri_drop_db": round(base["si_snri_db"] - r["si_snri_db"], 3)}
    return {"mixtures": len(examples), "float_si_snri_db": round(base["si_snri_db"], 3), "layers": rows, "combined": combined,
            "keep_float": keep, "rule": {"min_output_snr_db": thresholds.INT8_KEEP_FLOAT_MIN_SNR_DB,
                                         "max_si_snri_drop_db": thresholds.INT8_KEEP_FLOAT_MAX_DROP_DB},
            "scheme": "fake-quant: weights int8 symmetric per channel, input/output int8 asymmetric per tensor"}


def write_report(result: dict, out_dir) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / "sensitivity.json", out_dir / "sensitivity.md"
    js.write_text(json.dumps(result, indent=2) + "\n")
    rule = result["rule"]
    lines = ["# INT8 sensitivity, one layer at a time", "",
             f"{result['scheme']}. Float SI-SNRi {result['float_si_snri_db']:.2f} dB on {result['mixtures']} held-out mixtures.",
             f"Keep float: output SNR < {rule['min_output_snr_db']} dB or SI-SNRi drop > {rule['max_si_snri_drop_db']} dB "
             f"-> {', '.join(result['keep_float']) or 'none'}.", "",
             "| layer | type | params | output SNR dB | SI-SNRi dB | drop dB |", "|---|---|---|---|---|---|"]
    for n, r in sorted(result["layers"].items(), key=lambda kv: kv[1]["output_snr_db"]):
        lines.append(f"| {n} | {r['type']} | {r['params']} | {r['output_snr_db']:.1f} | {r['si_snri_db']:.2f} | {r['si_snri_drop_db']:.2f} |")
    lines += ["", "| combined | output SNR dB | SI-SNRi dB | drop dB |", "|---|---|---|---|"]
    for k, r in result["combined"].items():
        lines.append(f"| {k} | {r['output_snr_db']:.1f} | {r['si_snri_db']:.2f} | {r['si_snri_drop_db']:.2f} |")
    md.write_text("\n".join(lines) + "\n")
    return [md, js]
