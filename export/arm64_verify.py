"""`avsep verify DIR --arch arm64`: a bundle's test vectors streamed through
the aarch64 runtime (export/arm64.py) under emulated CPU profiles, compared
with the float reference in the vectors (the bundle's own parity gate,
export/thresholds.py) and with the x86 run of the same files on this host.

`record` writes the rows into the bundle: parity_report.json gains "arm64",
parity_report.md an "arm64" section, the manifest "architectures_checked" and
the new sha256 of those two report files (every other file is untouched; a
signed bundle is re-signed or refused).
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path

from avsep_mobile.atomic import atomic_write_bytes
from avsep_mobile.runtime import manifest, runners
from avsep_mobile.runtime.replay import stream

from . import arm64, arm64_userland, parity, vectors

MD_HEADING = "## arm64 (emulated)"
# the hwcaps that change which int8 / fp16 kernels XNNPACK and MLAS pick
KERNEL_FEATURES = ("asimddp", "i8mm", "asimdhp", "sve2", "sme")


def check(bundle_dir, profiles=arm64_userland.DEFAULT_PROFILES, progress=None, max_calls: int | None = None) -> dict:
    """{"arch": "arm64", "rows": [one per CPU profile], "passed", "failed"}.

    Each row: the profile, the CPU as the runtime sees it, what the runtime
    says about its kernels, the parity vs float (with the bundle's gate), the
    SNR vs the x86 run, and emulated seconds per audio second (qemu timing,
    not a device figure). max_calls: stream only the first av_step calls
    (tests; a partial check is marked "calls" below the vectors' count)."""
    bundle_dir = Path(bundle_dir)
    m = manifest.load(bundle_dir)
    if m["target"] not in ("android", "onnx"):
        raise ValueError(f"--arch arm64 checks android and onnx bundles; {bundle_dir} is {m['target']}")
    if not profiles:
        raise ValueError(f"no arm64 CPU profile given: choose from {', '.join(arm64_userland.PROFILES)}")
    for cpu in profiles:  # refuse before minutes of streaming
        arm64_userland.profile(cpu)
    vec = vectors.load_npz(bundle_dir / "test_vectors" / vectors.NPZ)
    total_calls = len(vec["av_step/pcm"])
    if max_calls is not None and max_calls < total_calls:
        vec = _first_calls(vec, max_calls)
    audio_s = vec["av_step/pcm"].size / m["sample_rate"]
    host = runners.for_bundle(bundle_dir, m, threads=1)
    x86 = stream(host, vec, m["signatures"])
    x86_parity = parity.compare(vec, x86, m["precision"], m["sample_rate"])
    rows = []
    for cpu in profiles:
        if progress is not None:
            progress(f"arm64 -cpu {cpu}: streaming {len(vec['av_step/pcm'])} av_step calls")
        with arm64.Arm64Runner(bundle_dir, m, cpu) as r:
            got = stream(r, vec, m["signatures"])
            info, kernels, seconds = r.info, r.kernel_lines(), sum(r.seconds.values())
        vs_float = parity.compare(vec, got, m["precision"], m["sample_rate"])
        rows.append({
            "cpu": cpu, "qemu_cpu": arm64_userland.PROFILES[cpu][0], "profile": arm64_userland.PROFILES[cpu][1], "machine": info["machine"], "cpu_features": info["cpu"]["features"], "midr": info["cpu"]["midr"],
            "runtime": info["runtime"], "runtime_log": kernels,
            "outputs": vs_float["outputs"], "si_snr_db_per_speaker": vs_float["si_snr_db_per_speaker"],
            "gate": vs_float["gate"], "failed": vs_float["failed"], "passed": vs_float["passed"],
            "vs_x86": parity.output_metrics(x86, got),
            "emulated_seconds_per_audio_second": round(seconds / audio_s, 3),
        })
    failed = [f"{r['cpu']}:{k}" for r in rows for k in r["failed"]]
    return {"arch": "arm64", "emulator": "qemu-user", "calls": {"av_step": len(vec["av_step/pcm"]), "of": total_calls}, "host": f"{platform.system()} {platform.machine()}",
            "target": m["target"], "precision": m["precision"], "quantization": m.get("quantization"),
            "x86": {"arch": platform.machine(), "outputs": x86_parity["outputs"], "passed": x86_parity["passed"]},
            "rows": rows, "failed": failed, "passed": not failed}


def _first_calls(vec: dict, n: int) -> dict:
    """The vectors of the first n av_step calls and the camera frames they use."""
    frames = int(vec["av_step/lip_call"][n - 1]) + 1
    return {k: (a[:n] if k.startswith("av_step/") else a[:frames]) for k, a in vec.items()}


def format_rows(result: dict) -> str:
    """A plain-text table for the terminal."""
    g = result["rows"][0]["gate"]
    x86 = result["x86"]["outputs"]["speakers"][g["metric"]]
    lines = [f"{result['target']} {result['precision']}: gate {g['metric']} >= {g['min_db']:g} dB vs float "
             f"(x86 {result['x86']['arch']}: speakers {x86:.1f} dB)",
             f"{'cpu':<12} {'features':<28} {'speakers':>9} {'lip_emb':>8} {'vs x86':>9}  {'emulated s per audio s':>22}  result"]
    for r in result["rows"]:
        feats = ",".join(f for f in r["cpu_features"] if f in KERNEL_FEATURES) or "neon only"
        lines.append(f"{r['cpu']:<12} {feats:<28} {r['outputs']['speakers'][g['metric']]:>9.1f} {r['outputs']['lip_emb'][g['metric']]:>8.1f} "
                     f"{_vs_x86_text(r):>9}  {r['emulated_seconds_per_audio_second']:>22.2f}  "
                     + ("passed" if r["passed"] else "FAILED: " + ", ".join(r["failed"])))
    return "\n".join(lines)


def _vs_x86_text(row: dict) -> str:
    v = row["vs_x86"]["speakers"]
    return "identical" if v["bit_identical"] else f"{v['snr_db']:.1f}"


def _runtime_says(row: dict) -> str:
    said = list(row["runtime_log"])
    if "providers" in row["runtime"]:
        said.append("providers: " + ", ".join(row["runtime"]["providers"]))
    return "; ".join(said) or "-"


def markdown(result: dict) -> str:
    g = result["rows"][0]["gate"]
    lines = [MD_HEADING, "",
             f"**{'PASSED' if result['passed'] else 'FAILED'}**" + (f" (failed: {', '.join(result['failed'])})" if result["failed"] else ""), "",
             f"The same test vectors streamed through the aarch64 {result['rows'][0]['runtime']['runtime']} "
             f"{result['rows'][0]['runtime'].get('version') or ''} under qemu-user (state carried, one thread), "
             f"gate {g['metric']} >= {g['min_db']:g} dB vs float on {', '.join(g['outputs'])}. "
             "Emulated timings are not device figures.", "",
             "| cpu | features | speakers dB | lip_emb dB | residual dB | speakers vs x86 dB | runtime says | emulated s per audio s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        o = r["outputs"]
        lines.append(f"| {r['cpu']} | {' '.join(r['cpu_features'])} | {o['speakers'][g['metric']]:.1f} | {o['lip_emb'][g['metric']]:.1f} | "
                     f"{o['residual'][g['metric']]:.1f} | {_vs_x86_text(r)} | {_runtime_says(r)} | {r['emulated_seconds_per_audio_second']:.2f} |")
    x = result["x86"]["outputs"]
    lines += ["", f"x86 ({result['x86']['arch']}) for comparison: speakers {x['speakers'][g['metric']]:.1f} dB, "
              f"lip_emb {x['lip_emb'][g['metric']]:.1f} dB, residual {x['residual'][g['metric']]:.1f} dB."]
    return "\n".join(lines) + "\n"


def record(bundle_dir, result: dict, sign_key=None) -> list[Path]:
    """Write the arm64 rows into the bundle's parity report and manifest.
    Refuses (ValueError) a bundle that fails `avsep verify`, or a signed one
    without `sign_key` (rewriting the manifest voids manifest.sig)."""
    from . import signing

    bundle_dir = Path(bundle_dir)
    problems = [p for p in manifest.verify(bundle_dir) if "arm64" not in p]  # a failed earlier arm64 check is replaced
    if problems:
        raise ValueError(f"{bundle_dir} fails verification ({problems[0]}): re-export it before recording arm64 rows")
    m = manifest.load(bundle_dir)
    signed = (bundle_dir / manifest.SIG_NAME).exists()
    if signed and sign_key is None:
        raise ValueError(f"{bundle_dir} is signed: recording arm64 rows rewrites manifest.json; pass --sign KEY to re-sign it")
    rel_json = m.get("parity_report", "parity_report.json")
    rel_md = str(Path(rel_json).with_suffix(".md"))
    report = json.loads((bundle_dir / rel_json).read_text())
    export_arch = report.get("host", platform.machine()).split()[-1]  # where `avsep export` measured parity
    report["arm64"] = result
    md = (bundle_dir / rel_md).read_text() if (bundle_dir / rel_md).exists() else ""
    blobs = {rel_json: (json.dumps(report, indent=2) + "\n").encode(),
             rel_md: (md.split(MD_HEADING)[0].rstrip("\n") + "\n\n" + markdown(result)).encode()}
    for rel, blob in blobs.items():
        if rel in m["files"]:
            m["files"][rel] = {"sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}
    checked = dict(m.get("architectures_checked") or {export_arch: {"passed": report.get("passed") is True, "by": "export"}})
    checked["arm64"] = {"passed": result["passed"], "by": "qemu-user", "cpus": [r["cpu"] for r in result["rows"]]}
    m["architectures_checked"] = checked
    if sign_key is not None:
        m.update(signing.manifest_fields(sign_key))
    broken = manifest.schema_problems(m)
    if broken:  # refused before anything is written
        raise ValueError(f"{bundle_dir}/manifest.json would break its schema ({broken[0]}): re-export the bundle")
    for rel, blob in blobs.items():
        atomic_write_bytes(bundle_dir / rel, blob)
    atomic_write_bytes(bundle_dir / manifest.NAME, (json.dumps(m, indent=2) + "\n").encode())
    if sign_key is not None:
        signing.sign_bundle(bundle_dir, sign_key)
    return [bundle_dir / rel_json, bundle_dir / rel_md, bundle_dir / manifest.NAME]
