"""`avsep report`: fp32, fp16 and int8 (and pruned / distilled checkpoints)
side by side: parameters, file size, MACs, host real-time factor per target at
1 thread (export.bench), SI-SNR improvement and output SNR vs float, from the
export bundles' own parity reports. Writes report.md, report.json, report.png."""

from __future__ import annotations

import json
from pathlib import Path

# TFLite (android) and ONNX run here; CoreML (ios) needs macOS, so its rows
# give size, and for int8 the torch simulation of the package's numerics
VARIANTS = (("android", "fp32"), ("android", "fp16"), ("android", "int8"), ("onnx", "fp32"), ("onnx", "int8"),
            ("ios", "fp16"), ("ios", "int8"))


def _row(name: str, model, target: str, precision: str, bundle_dir: Path, checkpoint: dict, gate_mixtures: int) -> dict:
    from avsep_mobile.export import bundle
    from avsep_mobile.export.bench import bench
    from avsep_mobile.info import model_info

    r = bundle.export(target, model, bundle_dir, precision=precision, checkpoint=checkpoint, progress=False, gate_mixtures=gate_mixtures)
    info = model_info(model)
    row = {"model": name, "target": target, "precision": precision, "passed": r["passed"],
           "parameters": info["parameters"], "macs_per_second": info["macs_per_second"]["total"],
           "file_bytes": sum(r.get("files_bytes", {}).values()),
           "output_snr_db": r.get("outputs", {}).get("speakers", {}).get("snr_db", (r.get("task") or {}).get("output_snr_db")),
           "task": r.get("task")}
    if r["passed"]:
        b = bench(bundle_dir, threads=1, repeats=2)
        row["rtf"] = {k: v["rtf_p10"] for k, v in b["models"].items()}
    return row


def build(models: dict, out_dir, gate_mixtures: int = 6, progress: bool = True) -> dict:
    """models: {label: (AVSep, checkpoint info for the manifests)}."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    rows = []
    jobs = [(label, t, p) for label in models for t, p in VARIANTS]
    for label, target, precision in tqdm(jobs, desc="report", disable=not progress, dynamic_ncols=True):
        model, info = models[label]
        rows.append(_row(label, model, target, precision, out_dir / "bundles" / f"{label}_{target}_{precision}", info, gate_mixtures))
    result = {"rows": rows, "threads": 1}
    write(result, out_dir)
    return result


def write(result: dict, out_dir) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = result["rows"]
    lines = ["# Compression report (host, 1 thread)", "",
             "| model | target | precision | params | MAC/s | file MB | RTF export | RTF torch | SI-SNRi dB (float) | output SNR dB | gate |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r.get("task") or {}
        rtf = r.get("rtf", {})
        exp = next((v for k, v in rtf.items() if k != "torch"), None)
        si = f"{t['si_snri_export_db']:.2f} ({t['si_snri_float_db']:.2f})" if "si_snri_export_db" in t else "-"
        lines.append(f"| {r['model']} | {r['target']} | {r['precision']} | {r['parameters']['total'] if isinstance(r['parameters'], dict) else r['parameters']} "
                     f"| {r['macs_per_second'] / 1e6:.0f} M | {r['file_bytes'] / 1e6:.2f} | {exp if exp is not None else '-'} | {rtf.get('torch', '-')} "
                     f"| {si} | {r['output_snr_db']} | {'pass' if r['passed'] else 'FAIL'} |")
    md, js, png = out_dir / "report.md", out_dir / "report.json", out_dir / "report.png"
    lines += ["", "RTF: stream real-time factor from the 10th-percentile call times (export.bench rtf_p10), steadier than medians on a shared machine.",
              "", "ios: CoreML cannot run on Linux, so no RTF; the int8 row's SI-SNRi and output SNR come from streaming the "
              "torch model the package was traced from (its int8 numerics at fp32 compute)."]
    md.write_text("\n".join(lines) + "\n")
    js.write_text(json.dumps(result, indent=2) + "\n")
    labels = [f"{r['model']}\n{r['target']} {r['precision']}" for r in rows]
    fig, ax = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
    ax[0].bar(labels, [r["file_bytes"] / 1e6 for r in rows])
    ax[0].set(title="file size (MB)")
    ax[1].bar(labels, [next((v for k, v in r.get("rtf", {}).items() if k != "torch"), 0) for r in rows])
    ax[1].set(title="host RTF, 1 thread")
    ax[2].bar(labels, [r["output_snr_db"] or 0 for r in rows])
    ax[2].set(title="output SNR vs float (dB)")
    for a in ax:
        a.tick_params(axis="x", labelsize=7, rotation=60)
    fig.savefig(png, dpi=80)
    plt.close(fig)
    return [md, js, png]


def cmd_report(args) -> int:
    from avsep_mobile import checkpoint
    from avsep_mobile.export.bundle import checkpoint_info

    cks = {"float": args.checkpoint, "pruned": args.pruned, "distilled": args.distilled}
    models = {label: (checkpoint.load(path)[0], checkpoint_info(path, None)) for label, path in cks.items() if label == "float" or path is not None}
    build(models, args.out, gate_mixtures=args.mixtures, progress=not args.json)
    print(json.dumps({"out": str(args.out)}) if args.json else f"wrote {args.out}/report.md, report.json, report.png")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="fp32/fp16/int8 (and pruned/distilled) side by side: size, MACs, RTF, SI-SNRi, SNR vs float")
    p.add_argument("--checkpoint", type=Path, help="default: the shipped model")
    p.add_argument("--pruned", type=Path)
    p.add_argument("--distilled", type=Path)
    p.add_argument("--out", type=Path, default=Path("dist/report"))
    p.add_argument("--mixtures", type=int, default=6, help="held-out mixtures for the int8 task gate")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_report)
