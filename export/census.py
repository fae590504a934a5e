"""The fp16 census: every fp16 op output of a CoreML export, streamed over
the test vectors at the census levels (export/levels.py: -60 to -20 dBFS
RMS and loud), counted for values in the fp16 subnormal range (nonzero,
below 2**-14 = 6.1e-5), where a device that flushes subnormals reads zero.

A tensor falls in the subnormal range when either holds over the stream:
- more than thresholds.CENSUS_MAX_SUBNORMAL_SHARE of its nonzero values are
  subnormal (values that live there, as the mel power did before the signal
  path went fp32: 73 % at -20 dBFS, all of them at -60 dBFS); or
- its subnormal values carry more than thresholds.CENSUS_MAX_SUBNORMAL_ENERGY_DB
  of its energy (flushing them would change it by that much).
A signed activation crossing zero or a softmax's far tail leaves up to 12 %
of its values there, carrying under -80 dB of its energy: counted,
reported, not flagged.

`avsep census DIR` runs it on a bundle; the reference evaluator keeps
subnormals (Device()), so the census sees them as an IEEE device holds them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avsep_mobile.runtime import manifest
from avsep_mobile.runtime.coreml_eval import FP16_MIN_NORMAL, EvaluatorRunner
from avsep_mobile.runtime.replay import stream

from . import levels, thresholds


def _verdict(function: str, name: str, op_type: str, nonzero: int, sub: int, e_sub: float, e_all: float) -> dict:
    share = sub / nonzero if nonzero else 0.0
    energy_db = float(10 * np.log10(e_sub / e_all)) if sub and e_all > 0 else None
    flagged = share > thresholds.CENSUS_MAX_SUBNORMAL_SHARE or (energy_db is not None and energy_db > thresholds.CENSUS_MAX_SUBNORMAL_ENERGY_DB)
    return {"function": function, "op": op_type, "output": name, "nonzero": nonzero, "subnormal": sub,
            "share": round(share, 6), "energy_db": None if energy_db is None else round(energy_db, 1), "flagged": flagged}


class Tally:
    """An observer for EvaluatorRunner: per fp16 op output, its op type,
    nonzero values, subnormal values and the energy of each; `verdicts()`
    judges each against the thresholds."""

    def __init__(self):
        self.rows: dict[tuple, list] = {}

    def __call__(self, function: str, op_type: str, name: str, value: np.ndarray) -> None:
        a = np.abs(np.asarray(value, np.float32)).ravel()
        a = a[a > 0]
        sub = a[a < FP16_MIN_NORMAL]
        row = self.rows.setdefault((function, name), [op_type, 0, 0, 0.0, 0.0])
        row[1] += a.size
        row[2] += sub.size
        row[3] += float(np.dot(sub, sub))
        row[4] += float(np.dot(a, a))

    def verdicts(self) -> list[dict]:
        return [_verdict(f, v, *r) for (f, v), r in self.rows.items()]


def census(paths: dict, vectors: dict, signatures: dict, at=levels.CENSUS_LEVELS) -> dict:
    """paths: {step: .mlpackage}; vectors: test vectors (inputs are enough);
    at: {name: level}. Returns per level the fp16 outputs counted, those with
    any subnormal, the flagged ones and the worst one, and "passed"."""
    return _census(lambda tally: EvaluatorRunner(paths, observe=tally), vectors, signatures, at)


def census_float_graph(model, speakers: int, chunk_hops: int, vectors: dict, signatures: dict, at=levels.CENSUS_LEVELS) -> dict:
    """The same census over every op output of the Android fp16 export's
    float graph as a GPU delegate computes it (export/gpu_band.py, subnormals
    kept, fp32 accumulation): every op there is fp16."""
    from .gpu_band import GpuFp16Runner

    return _census(lambda tally: GpuFp16Runner(model, speakers, chunk_hops, observe=tally), vectors, signatures, at)


def _census(runner_with, vectors: dict, signatures: dict, at: dict) -> dict:
    """runner_with(observer) -> a runner that shows the observer every fp16 op output."""
    out = {"levels": {}, "min_normal": FP16_MIN_NORMAL,
           "max_share": thresholds.CENSUS_MAX_SUBNORMAL_SHARE, "max_energy_db": thresholds.CENSUS_MAX_SUBNORMAL_ENERGY_DB}
    for name, level in at.items():
        tally = Tally()
        stream(runner_with(tally), levels.inputs_at(vectors, level), signatures)
        rows = tally.verdicts()
        with_sub = sorted((r for r in rows if r["subnormal"]), key=lambda r: (-r["flagged"], -r["share"]))
        out["levels"][name] = {"level": levels.describe(level), "fp16_outputs": len(rows), "with_subnormals": len(with_sub),
                               "flagged": [r for r in with_sub if r["flagged"]], "worst": with_sub[0] if with_sub else None}
    out["passed"] = not any(v["flagged"] for v in out["levels"].values())
    return out


def census_bundle(bundle_dir, at=levels.CENSUS_LEVELS) -> dict:
    """The census of an ios bundle, over its own test vectors."""
    from .vectors import NPZ, load_npz

    bundle_dir = Path(bundle_dir)
    m = manifest.load(bundle_dir)
    if m["target"] != "ios":
        raise ValueError(f"{bundle_dir} is a {m['target']} bundle: the census reads CoreML programs (an ios bundle)")
    if m.get("precision") == "fp32":
        raise ValueError(f"{bundle_dir} is an fp32 export: it has no fp16 op to count")
    vectors = load_npz(bundle_dir / m["test_vectors"].rsplit("/", 1)[0] / NPZ)
    paths = {step: bundle_dir / f for step, f in m["model_files"].items()}
    return census(paths, vectors, m["signatures"], at)


def format_census(result: dict) -> str:
    lines = [f"fp16 census (subnormal: nonzero and below {result['min_normal']:.3g}; flagged: share > {result['max_share']:g} "
             f"or energy > {result['max_energy_db']:g} dB)"]
    for name, v in result["levels"].items():
        w = v["worst"]
        worst = (f"; worst {w['function']} {w['op']} {w['output']}: {100 * w['share']:.2f} % of values, "
                 f"{w['energy_db']} dB of energy" if w else "")
        lines.append(f"  {name} ({v['level']}): {v['fp16_outputs']} fp16 outputs, {v['with_subnormals']} with subnormals, "
                     f"{len(v['flagged'])} flagged{worst}")
        for r in v["flagged"][:10]:
            lines.append(f"    FLAGGED {r['function']} {r['op']} {r['output']}: {100 * r['share']:.1f} %, {r['energy_db']} dB")
    lines.append("PASSED" if result["passed"] else "FAILED: fp16 intermediates in the subnormal range")
    return "\n".join(lines)
