"""Does dynamic-range int8 win op by op? The android default quantizes every
FULLY_CONNECTED of a named layer (activations quantized at run time); in a
K = 1 av_step each of them multiplies only 1-3 rows, where quantizing the
input can cost more than the int8 product saves.

1. Every nn.Linear that av_step runs, grouped by (rows per call, in, out).
   Per group a probe .tflite holds COPIES copies of the layer (its weights,
   each copy nudged so the converter cannot share them) applied to one input:
   fp32 and dynamic int8 Invoke alone, timed interleaved, one thread; the
   ratio int8/fp32 per group is the per-op figure.
2. The recipe that follows: int8 only on the groups where it won (p10 ratio
   < 1), the rest kept float (quantize.int8's keep_float), against the
   default and fp32 on the whole av_step, interleaved, with parity against
   float torch on recorded feeds.

    python benchmarks/int8_per_op.py [--rounds 30] [--json out.json]

Measured 2026-12-02 13:50 UTC (after the single_query fold, load average
3.2-3.7 on 2 CPUs, training on both cores): int8/fp32 per op, p10, is
0.30-0.32 for the 1-row layers (audio encoder), 0.23-0.27 for 2 rows (fusion,
one row per slot), 0.24-0.28 for 3 rows (decoder, mask head): int8 wins on
every layer, so no layer is kept float (the "selective" file equals the
default; the two differ by the run's noise: call 0.60 vs 0.58, Invoke 0.63
vs 0.59). av_step int8/fp32: 0.60 (runner call) / 0.63 (Invoke), p10. An
earlier run of this script (head-major caches, before single_query) gave
0.80-0.89 for 2-3 rows; that is not reproduced.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from anchor import (  # beside this script (its folder is on sys.path)
    _invoke_only,
    _quiet,
)
from torch import Tensor, nn

COPIES = 16


class Copies(nn.Module):
    """COPIES Linears of one layer's shape on one input: x (rows, in) -> COPIES outputs."""

    def __init__(self, layer: nn.Linear):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.layers = nn.ModuleList()
        for _ in range(COPIES):
            lin = nn.Linear(layer.in_features, layer.out_features)
            with torch.no_grad():
                lin.weight.copy_(layer.weight * (1 + 1e-3 * torch.randn(layer.weight.shape, generator=g)))
                lin.bias.copy_(layer.bias)
            self.layers.append(lin)

    def forward(self, x: Tensor) -> dict:
        return {f"y{i}": lin(x) for i, lin in enumerate(self.layers)}


def linear_groups(model) -> dict[tuple, list[str]]:
    """{(rows, in, out): [module names]} of the Linears one K = 1 av_step call runs."""
    from avsep_mobile.export.steps import sample_inputs
    from avsep_mobile.streaming import step_modules

    step = step_modules(model, 2, 1)["av_step"]
    seen, hooks = {}, []

    def record(name):
        def hook(mod, inp, out):  # returns None: the output stays as it is
            seen.setdefault(name, (int(np.prod(inp[0].shape[:-1])), mod.in_features, mod.out_features))
        return hook

    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(record(name)))
    feeds = sample_inputs(step.sig)
    with torch.no_grad():
        step(*[feeds[n] for n in step.sig.input_names])
    for h in hooks:
        h.remove()
    groups: dict[tuple, list[str]] = {}
    for name, key in seen.items():
        groups.setdefault(key, []).append(name)
    return dict(sorted(groups.items()))


def probe_files(model, groups: dict, out: Path) -> dict[tuple, dict[str, Path]]:
    import litert_torch
    from ai_edge_quantizer import qtyping, quantizer

    def dynamic_int8(content: bytes) -> bytes:
        # the android recipe (dynamic-range FULLY_CONNECTED, 8-bit weights per channel) on every op:
        # a probe's outputs are graph outputs, named after the signature, not after their layer
        qt = quantizer.Quantizer(bytearray(content))
        qt.add_dynamic_config(".*", qtyping.TFLOperationName.FULLY_CONNECTED, 8)
        return bytes(qt.quantize(None, enable_progress_report=False).quantized_model)

    files = {}
    for (rows, n_in, n_out), names in groups.items():
        probe = Copies(model.get_submodule(names[0])).eval()
        x = torch.randn(rows, n_in) * 0.5
        with _quiet(), torch.no_grad():
            fp32 = bytes(litert_torch.signature("op", probe, sample_kwargs={"x": x}).convert().model_content())
            int8 = dynamic_int8(fp32)
        if len(int8) > 0.5 * len(fp32):
            raise RuntimeError(f"probe {rows}x{n_in}x{n_out}: the int8 file is not smaller than the fp32 one: not quantized")
        tag = f"{rows}x{n_in}x{n_out}"
        files[(rows, n_in, n_out)] = {"fp32": out / f"{tag}_fp32.tflite", "int8": out / f"{tag}_int8.tflite"}
        files[(rows, n_in, n_out)]["fp32"].write_bytes(fp32)
        files[(rows, n_in, n_out)]["int8"].write_bytes(int8)
    return files


def main(argv=None) -> int:
    from avsep_mobile.export.bench import add_interleaved_args

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_interleaved_args(ap, dirs=False)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    from avsep_mobile import checkpoint, metrics
    from avsep_mobile.export import tflite, vectors
    from avsep_mobile.export.bench import interleaved
    from avsep_mobile.export.profile import record_feeds
    from avsep_mobile.quantize.int8 import tflite_hook
    from avsep_mobile.runtime import signature
    from avsep_mobile.runtime.runners import TFLiteRunner
    from avsep_mobile.streaming import TorchRunner

    model, _ = checkpoint.load(None, None)
    groups = linear_groups(model)
    result = {"threads": 1, "cpus": os.cpu_count(), "copies": COPIES, "load_avg_start": [round(x, 2) for x in os.getloadavg()],
              "groups": {f"{r}x{i}x{o}": names for (r, i, o), names in groups.items()}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = probe_files(model, groups, tmp)
        calls = {}
        for key, pair in files.items():
            x = {"x": (np.random.default_rng(0).standard_normal((key[0], key[1])) * 0.5).astype(np.float32)}
            for prec, p in pair.items():
                calls[f"{'x'.join(map(str, key))}/{prec}"] = _invoke_only(p, "op", x)
        op_times = interleaved(calls, rounds=args.rounds, per_round=args.per_round)
        per_op = {}
        for key in files:
            tag = "x".join(map(str, key))
            f, q = op_times[f"{tag}/fp32"], op_times[f"{tag}/int8"]
            per_op[tag] = {"fp32_us_per_op_p10": round(1000 * f["p10_ms"] / COPIES, 2), "int8_us_per_op_p10": round(1000 * q["p10_ms"] / COPIES, 2),
                           "int8_over_fp32": {s: round(q[s] / f[s], 3) for s in ("p10_ms", "median_ms")}, "layers": len(groups[key])}
            print(f"  rows x in x out {tag:14s} ({len(groups[key]):2d} layers): fp32 {per_op[tag]['fp32_us_per_op_p10']:6.2f} us, "
                  f"int8 {per_op[tag]['int8_us_per_op_p10']:6.2f} us per op (p10); int8/fp32 {per_op[tag]['int8_over_fp32']['p10_ms']:.3f} "
                  f"({per_op[tag]['int8_over_fp32']['median_ms']:.3f})", flush=True)
        result["per_op"] = per_op
        keep_float = tuple(n for key, names in groups.items() if per_op["x".join(map(str, key))]["int8_over_fp32"]["p10_ms"] >= 1.0 for n in names)
        result["keep_float"] = list(keep_float)

        # the whole av_step: fp32, default dynamic int8, int8 only where it won
        # (every conv float, static=(): this script studies FULLY_CONNECTED alone)
        with _quiet():
            fp32_path = tflite.convert(model, 2, 1, tmp, "fp32")[0]
        content = fp32_path.read_bytes()
        whole = {"fp32": fp32_path, "int8_default": tmp / "int8_default.tflite", "int8_selective": tmp / "int8_selective.tflite"}
        with _quiet():
            whole["int8_default"].write_bytes(tflite_hook({}, model, keep_float=(), mode="dynamic", static=())(content))
            whole["int8_selective"].write_bytes(tflite_hook({}, model, keep_float=keep_float, mode="dynamic", static=())(content))
        vec = vectors.make(model, 2, 1, seconds=2.0)
        feeds = record_feeds(model, 2, 1, vec, signature.signatures(model, 2, 1))["av_step"]
        ref = TorchRunner(model, 2, 1)
        want = [ref.run("av_step", f) for f in feeds]
        parity, calls = {}, {}
        for name, p in whole.items():
            r = TFLiteRunner(p, 1)
            got = [r.run("av_step", f) for f in feeds]
            parity[name] = round(min(metrics.snr_db(np.stack([w[k] for w in want]), np.stack([g[k] for g in got])) for k in ("speakers", "residual")), 1)
            it = itertools.cycle(feeds)
            calls[f"{name}/call"] = (lambda r=r, it=it: r.run("av_step", next(it)))
            calls[f"{name}/invoke"] = _invoke_only(p, "av_step", feeds[len(feeds) // 2])
        times = interleaved(calls, rounds=args.rounds, per_round=args.per_round)
    result["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["av_step_ms"] = times
    result["parity_db_vs_float_torch"] = parity
    result["av_step_over_fp32"] = {f"{n}/{how}": {s: round(times[f"{n}/{how}"][s] / times[f"fp32/{how}"][s], 3) for s in ("p10_ms", "median_ms")}
                                   for n in whole for how in ("call", "invoke")}
    print(f"load average {result['load_avg_start'][0]:.2f} -> {result['load_avg_end'][0]:.2f} on {result['cpus']} CPUs; "
          f"kept float (int8 did not win): {len(keep_float)} of {sum(len(v) for v in groups.values())} layers")
    for k, v in result["av_step_over_fp32"].items():
        print(f"  av_step {k:22s} / fp32: p10 {v['p10_ms']:.3f} (median {v['median_ms']:.3f})")
    print("  parity vs float torch (dB, min of speakers/residual): " + ", ".join(f"{k} {v}" for k, v in parity.items()))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
