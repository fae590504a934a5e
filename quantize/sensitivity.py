"""Per-layer int8 sensitivity (`avsep quantize`): quantize one
nn.Linear / nn.Conv at a time in the torch simulation of a scheme the exports
ship (quantize.w8a8.INPUT_QUANT: "w8a8" static int8 inputs, as the iOS W8A8
package and the static TFLite/ONNX recipes; "dynamic", the android default;
"weights", weight-only), run held-out mixtures, and measure the output SNR
against float and the SI-SNR improvement. Layers whose solo quantization
costs too much are kept float by name (quantize.int8.KEEP_FLOAT).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from avsep_mobile import metrics
from avsep_mobile.model import AVSep
from avsep_mobile.pipeline import separate

from . import int4, w8a8

# the rule: a layer stays float when quantizing it alone drops the output below
# this SNR vs float, or the SI-SNR improvement by more than this
KEEP_FLOAT_MIN_SNR_DB = 30.0
KEEP_FLOAT_MAX_DROP_DB = 0.1
# scheme "int4": a Linear stays at 8 bits when 4 bits alone cost more than
# int8's keep-float bounds: one layer may not pull the output under 30 dB nor
# take a tenth of a dB of the task (the export's task gate allows 0.5 in all).
# The shipped model: every Linear alone 38.5-72 dB, all at once 29.3 dB
# (avsep_mobile/checkpoints/int4_sensitivity.md)
KEEP_8BIT_MIN_SNR_DB = KEEP_FLOAT_MIN_SNR_DB
KEEP_8BIT_MAX_DROP_DB = KEEP_FLOAT_MAX_DROP_DB
SCHEMES = {"w8a8": "weights int8 per channel, layer inputs int8 per tensor (calibrated)",
           "dynamic": "weights int8 per channel, Linear inputs int8 per tensor at run time, convs weight-only but the audio CNN's last (inputs int8 per tensor, calibrated)",
           "weights": "weight-only int8 per channel",
           "int4": f"Linear weights int4 in blocks of {int4.BLOCK}, inputs int8 per tensor at run time (the android int4 export)"}


def quantizable_layers(model: AVSep, scheme: str = "w8a8") -> list[str]:
    if scheme == "int4":  # those that can take 4-bit blocks; the rest stay 8-bit anyway
        return int4.four_bit_layers(model, keep_8bit=())
    return list(w8a8.quantizable_layers(model))


def _calibrate(examples):
    def run(model):
        for ex in examples:
            separate(model, ex.mix, ex.lips, ex.fps)
    return run


@torch.no_grad()
def _score(model: AVSep, examples, reference=None) -> dict:
    outs = [separate(model, ex.mix, ex.lips, ex.fps)["speakers"] for ex in examples]
    row = {"si_snri_db": float(np.mean([metrics.si_snri_np(o, ex.sources, ex.mix) for o, ex in zip(outs, examples)]))}
    if reference is not None:
        row["output_snr_db"] = metrics.capped_db(float(np.mean([metrics.snr_db(r, o) for r, o in zip(reference, outs)])))
    return row, outs


def rule(scheme: str) -> dict:
    if scheme == "int4":
        return {"min_output_snr_db": KEEP_8BIT_MIN_SNR_DB, "max_si_snri_drop_db": KEEP_8BIT_MAX_DROP_DB}
    return {"min_output_snr_db": KEEP_FLOAT_MIN_SNR_DB, "max_si_snri_drop_db": KEEP_FLOAT_MAX_DROP_DB}


def choose_keep_float(rows: dict, scheme: str = "w8a8") -> list[str]:
    """Layers whose solo quantization costs more than the scheme's thresholds
    (int8 schemes: kept float; int4: kept at 8 bits)."""
    r = rule(scheme)
    return [n for n, row in rows.items()
            if row["output_snr_db"] < r["min_output_snr_db"] or row["si_snri_drop_db"] > r["max_si_snri_drop_db"]]


@torch.no_grad()
def sensitivity(model: AVSep, calib, mixtures: int = 4, examples=None, progress: bool = True, scheme: str = "w8a8") -> dict:
    """The report for one shipped scheme (w8a8.INPUT_QUANT): per layer, all
    layers, and all but the chosen keep-float ones.
    calib: calibration Examples; examples: scored Examples (default held out)."""
    model = model.eval()
    if examples is None:  # held-out mixtures from the shipped speech (no synthesiser needed)
        from avsep_mobile import calibration

        examples = calibration.gate_examples(mixtures, 2, seconds=4.0)
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}: {', '.join(SCHEMES)}")
    base, ref = _score(model, examples)
    if scheme == "int4":  # weights only, inputs at run time: nothing to calibrate
        def quantized(layers):
            return int4.simulate(model, layers)
    else:
        ranges = w8a8.input_ranges(model, _calibrate(calib))

        def quantized(layers):
            return w8a8.quantize(model, None, scheme=scheme, layers=layers, ranges=ranges)

    layers = quantizable_layers(model, scheme)
    rows = {}
    for n in tqdm(layers, desc="sensitivity", disable=not progress, dynamic_ncols=True):
        r, _ = _score(quantized([n]), examples, ref)
        m = model.get_submodule(n)
        rows[n] = {"type": type(m).__name__, "params": int(sum(p.numel() for p in m.parameters())),
                   "output_snr_db": round(r["output_snr_db"], 3), "si_snri_db": round(r["si_snri_db"], 3),
                   "si_snri_drop_db": round(base["si_snri_db"] - r["si_snri_db"], 3)}
    keep = choose_keep_float(rows, scheme)
    kept = "keep_8bit" if scheme == "int4" else "keep_float"
    combined = {}
    for label, chosen in (("all", layers), (f"all_but_{kept}", [n for n in layers if n not in keep])):
        r, _ = _score(quantized(chosen), examples, ref)
        combined[label] = {"output_snr_db": round(r["output_snr_db"], 3), "si_snri_db": round(r["si_snri_db"], 3),
                           "si_snri_drop_db": round(base["si_snri_db"] - r["si_snri_db"], 3)}
    return {"mixtures": len(examples), "float_si_snri_db": round(base["si_snri_db"], 3), "layers": rows, "combined": combined,
            kept: keep, "rule": rule(scheme), "scheme": f"{scheme}: {SCHEMES[scheme]}"}


def write_report(result: dict, out_dir) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / "sensitivity.json", out_dir / "sensitivity.md"
    js.write_text(json.dumps(result, indent=2) + "\n")
    r = result["rule"]
    four = "keep_8bit" in result
    kept, what = ("keep_8bit", "Keep at 8 bits") if four else ("keep_float", "Keep float")
    lines = [f"# {'INT4' if four else 'INT8'} sensitivity, one layer at a time", "",
             f"{result['scheme']}. Float SI-SNRi {result['float_si_snri_db']:.2f} dB on {result['mixtures']} held-out mixtures.",
             f"{what}: output SNR < {r['min_output_snr_db']} dB or SI-SNRi drop > {r['max_si_snri_drop_db']} dB "
             f"-> {', '.join(result[kept]) or 'none'}.", "",
             "| layer | type | params | output SNR dB | SI-SNRi dB | drop dB |", "|---|---|---|---|---|---|"]
    for n, r in sorted(result["layers"].items(), key=lambda kv: kv[1]["output_snr_db"]):
        lines.append(f"| {n} | {r['type']} | {r['params']} | {r['output_snr_db']:.1f} | {r['si_snri_db']:.2f} | {r['si_snri_drop_db']:.2f} |")
    lines += ["", "| combined | output SNR dB | SI-SNRi dB | drop dB |", "|---|---|---|---|"]
    for k, r in result["combined"].items():
        lines.append(f"| {k} | {r['output_snr_db']:.1f} | {r['si_snri_db']:.2f} | {r['si_snri_drop_db']:.2f} |")
    md.write_text("\n".join(lines) + "\n")
    return [md, js]
