"""Parity of an exported model's streamed outputs against the float PyTorch
reference in the test vectors: metrics, gate, and the report (json, md, png)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from avsep_mobile import metrics

from . import thresholds

BLOCK_SECONDS = 0.25
REPORT_FILES = ("parity_report.json", "parity_report.md", "parity_report.png")


def _pcm(a: np.ndarray) -> np.ndarray:
    """(calls, slots, n) -> (slots, calls * n): the stream per slot."""
    return np.ascontiguousarray(a.transpose(1, 0, 2).reshape(a.shape[1], -1))


OUTPUTS = ("av_step/speakers", "av_step/residual", "lip_step/lip_emb")


def output_metrics(reference: dict, exported: dict) -> dict:
    """{output: snr_db, psnr_db, max_abs_err, bit_identical} of each streamed
    output against the reference (float torch, or the x86 run of the same bundle)."""
    out = {}
    for key in OUTPUTS:
        ref, got = reference[key], exported[key]
        if ref.shape != got.shape:
            raise ValueError(f"{key}: exported shape {got.shape} != reference {ref.shape}")
        out[key.split("/")[1]] = {"snr_db": metrics.capped_db(metrics.snr_db(ref, got)),
                                  "psnr_db": metrics.capped_db(metrics.psnr_db(ref, got)),
                                  "max_abs_err": float(metrics.max_abs_err(ref, got)),
                                  "bit_identical": bool(np.array_equal(ref, got))}
    return out


def compare(reference: dict, exported: dict, precision: str, sample_rate: int) -> dict:
    """Metrics per output, per speaker and over time, and the gate verdict."""
    metric, minimum = thresholds.gate(precision)
    out = {"outputs": output_metrics(reference, exported),
           "gate": {"metric": metric, "min_db": minimum, "outputs": list(thresholds.GATED_OUTPUTS)}}
    ref, got = _pcm(reference["av_step/speakers"]), _pcm(exported["av_step/speakers"])
    out["si_snr_db_per_speaker"] = [metrics.capped_db(metrics.si_snr_np(g, r)) for g, r in zip(got, ref)]
    block = int(BLOCK_SECONDS * sample_rate)
    n_blocks = ref.shape[1] // block
    out["snr_over_time"] = {
        "block_seconds": BLOCK_SECONDS,
        "snr_db": [metrics.capped_db(metrics.snr_db(ref[:, i * block : (i + 1) * block], got[:, i * block : (i + 1) * block])) for i in range(n_blocks)],
    }
    failed = [k for k in thresholds.GATED_OUTPUTS if out["outputs"][k][metric] < minimum]
    out["failed"] = failed
    out["passed"] = not failed
    return out


def structural(checks: list[dict], reason: str) -> dict:
    """A report for a target whose numerics cannot run here (CoreML on Linux)."""
    failed = [c["check"] for c in checks if not c["ok"]]
    return {"numerics": f"not run: {reason}", "structure": checks, "failed": failed, "passed": not failed}


def checked(r: dict) -> str:
    """What a parity report checked, in one line: who produced the numbers
    (a runtime, the CoreML reference evaluator, or none), the figures against
    the gate, the int8 task gate, the structural checks."""
    if "outputs" in r:
        g = r["gate"]
        figures = ", ".join(f"{k} {v[g['metric']]:.1f}" for k, v in r["outputs"].items())
        line = f"numerics by {r.get('numerics', r.get('runner', '?'))}: {figures} dB {g['metric']} (gate >= {g['min_db']:g} dB on {', '.join(g['outputs'])})"
        if "fp32_compute" in r:
            line += "; same program at fp32 compute: " + ", ".join(f"{k} {v:.1f}" for k, v in r["fp32_compute"].items()) + " dB"
    else:
        line = f"numerics {r.get('numerics', 'not run')}"
    if "band" in r:
        from .band import summary

        line += "; " + summary(r["band"])
    t = r.get("task")
    if t:
        line += (f"; int8 task gate by {t.get('numerics')}: SI-SNRi drop {t['si_snri_drop_db']:.2f} dB (max {t['max_drop_db']:g})"
                 if "si_snri_drop_db" in t else f"; int8 task gate {t.get('numerics')}")
    if "structure" in r:
        line += f"; {sum(c['ok'] for c in r['structure'])}/{len(r['structure'])} structural checks passed"
    return line


def write_report(out_dir, report: dict, reference: dict, exported: dict | None, sample_rate: int) -> list[Path]:
    """parity_report.json, .md and .png into out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f for f in REPORT_FILES]
    paths[0].write_text(json.dumps(report, indent=2) + "\n")
    paths[1].write_text(_markdown(report))
    _plot(paths[2], report, reference, exported, sample_rate)
    return paths


def _markdown(r: dict) -> str:
    lines = [f"# Parity: {r.get('target', '?')} {r.get('precision', '')}", "",
             f"**{'PASSED' if r['passed'] else 'FAILED'}**" + (f" (failed: {', '.join(r['failed'])})" if r["failed"] else ""), ""]
    if "outputs" in r:
        g = r["gate"]
        lines += [f"Numerics by {r.get('numerics', r.get('runner', '?'))}.", "",
                  f"Gate: {g['metric']} >= {g['min_db']} dB on {', '.join(g['outputs'])}, "
                  f"streamed over {r.get('calls', {}).get('av_step', '?')} av_step calls with state carried.", "",
                  "| output | SNR dB | PSNR dB | max abs err |", "|---|---|---|---|"]
        for k, v in r["outputs"].items():
            lines.append(f"| {k} | {v['snr_db']:.1f} | {v['psnr_db']:.1f} | {v['max_abs_err']:.3g} |")
        lines += ["", "SI-SNR of each exported speaker vs the reference: "
                  + ", ".join(f"{x:.1f} dB" for x in r["si_snr_db_per_speaker"]), ""]
    if "band" in r:
        from .band import table

        lines += ["## Levels and device band", "", f"{r['band']['metric']} vs float torch at the same level (gate >= {r['band']['min_db']:g} dB "
                  f"on {', '.join(r['band']['outputs'])}):", "", table(r["band"]), ""]
    else:
        lines += [f"Numerics {r['numerics']}.", "", "| structural check | ok | detail |", "|---|---|---|"]
        lines += [f"| {c['check']} | {'yes' if c['ok'] else 'NO'} | {c['detail'][:80]} |" for c in r["structure"]]
    for k in ("export_seconds", "files_bytes"):
        if k in r:
            lines.append(f"{k}: {r[k]}")
    return "\n".join(lines) + "\n"


def _plot(path: Path, report: dict, reference: dict, exported: dict | None, sr: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ref = _pcm(reference["av_step/speakers"])[0]
    got = _pcm(exported["av_step/speakers"])[0] if exported is not None else None
    t = np.arange(len(ref)) / sr
    fig, ax = plt.subplots(4, 1, figsize=(10, 11), constrained_layout=True)
    ax[0].plot(t, ref, lw=0.6, label="float torch")
    if got is not None:
        ax[0].plot(t, got, lw=0.6, ls="--", label="export")
        ax[0].plot(t, got - ref, lw=0.6, label="difference")
    ax[0].set(title="speaker 1", xlabel="s")
    ax[0].legend(loc="upper right")
    for a, x, name in ((ax[1], ref, "reference"), (ax[2], got, "export")):
        if x is None:
            a.text(0.5, 0.5, "numerics not run on this machine", ha="center", va="center", transform=a.transAxes)
            a.set_axis_off()
            continue
        with np.errstate(divide="ignore"):
            a.specgram(x + 1e-9, NFFT=512, Fs=sr, noverlap=352, cmap="magma")
        a.set(title=f"speaker 1 spectrogram, {name}", ylabel="Hz")
    if "snr_over_time" in report:
        s = report["snr_over_time"]
        ax[3].plot((np.arange(len(s["snr_db"])) + 0.5) * s["block_seconds"], s["snr_db"], marker="o")
        g = report["gate"]
        ax[3].axhline(g["min_db"], color="r", ls=":", label=f"gate: {g['metric']} >= {g['min_db']:g} dB (whole stream)")
        ax[3].set(title="SNR of all speakers per block vs float torch", xlabel="s", ylabel="dB")
        ax[3].legend()
    else:
        ax[3].set_axis_off()
    fig.savefig(path, dpi=80)
    plt.close(fig)
