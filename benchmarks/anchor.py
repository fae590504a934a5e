"""Our per-audio-second cost beside an audio-only anchor, in one run.

The anchor is the DTLN architecture (Westhausen & Meyer 2020) rebuilt with
random weights: 512-sample frames, 8 ms hop at 16 kHz, the DFT in the graph as
matmuls; block 1 masks the magnitude spectrum (log, instant layer norm, 2
LSTM cores of 128 units, dense + sigmoid), block 2 a learned 1x1-conv encoding
(512 -> 256, instant layer norm, 2 LSTM cores of 128, dense + sigmoid mask,
256 -> 512 decoder), then overlap-add; 0.99 M parameters. The LSTM cores are
written as one Linear + gate maths per step (the float function of nn.LSTM,
and the form int8 reaches: STACK-NOTES.md).

Timed, interleaved, one thread: DTLN LiteRT fp32 / dynamic-range int8 (the
same ai-edge-quantizer recipe as our android default) / onnxruntime fp32, and
the shipped mobile model exported android fp32 / int8 (default) and onnx fp32.
Our cost per audio second = 100 av_step calls (10 ms hop, K = 1) + 25 lip_step
calls (25 fps); DTLN's = 125 calls. Ratios, not absolute times, are the result:
the machine is shared (the load average is printed).

    python benchmarks/anchor.py [--rounds 30] [--json out.json] [--markdown] [--checkpoint X.pt]

--markdown also prints the README's "Measured" table (ratios, p10 and
median, with the load average and the date): paste it from here.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import math
import os
import sys
import tempfile
import warnings
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import Tensor, nn

FRAME, SHIFT, HIDDEN = 512, 128, 128
BINS = FRAME // 2 + 1
SR = 16000


class LSTMCore(nn.Module):
    """One step of an LSTM layer: gates from one Linear over [x, h]."""

    def __init__(self, n_in: int, hidden: int = HIDDEN):
        super().__init__()
        self.gates = nn.Linear(n_in + hidden, 4 * hidden)

    def forward(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        i, f, g, o = self.gates(torch.cat([x, h], dim=-1)).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class DTLNStep(nn.Module):
    """One 8 ms hop: (pcm (1, 128), buf (1, 384), h1..c4 (1, 128), ola (1, 384))
    -> dict of out (1, 128) and the new states (names with _out)."""

    STATES = ("buf", "h1", "c1", "h2", "c2", "h3", "c3", "h4", "c4", "ola")

    def __init__(self):
        super().__init__()
        k = torch.arange(BINS, dtype=torch.float64)
        t = torch.arange(FRAME, dtype=torch.float64)
        ang = 2 * math.pi * t[:, None] * k[None, :] / FRAME  # (512, 257)
        self.register_buffer("dft", torch.cat([torch.cos(ang), -torch.sin(ang)], 1).float())  # (512, 2 bins)
        scale = torch.full((BINS,), 2.0, dtype=torch.float64)
        scale[0] = scale[-1] = 1.0
        idft = torch.cat([torch.cos(ang).t() * scale[:, None], -torch.sin(ang).t() * scale[:, None]], 0) / FRAME
        self.register_buffer("idft", idft.float())  # (2 bins, 512)
        self.norm1 = nn.LayerNorm(BINS)
        self.lstm1, self.lstm2 = LSTMCore(BINS), LSTMCore(HIDDEN)
        self.mask1 = nn.Linear(HIDDEN, BINS)
        self.encoder = nn.Linear(FRAME, 256, bias=False)  # Conv1d(512, 256, 1)
        self.norm2 = nn.LayerNorm(256)
        self.lstm3, self.lstm4 = LSTMCore(256), LSTMCore(HIDDEN)
        self.mask2 = nn.Linear(HIDDEN, 256)
        self.decoder = nn.Linear(256, FRAME, bias=False)

    def forward(self, pcm, buf, h1, c1, h2, c2, h3, c3, h4, c4, ola):
        frame = torch.cat([buf, pcm], dim=1)  # (1, 512)
        spec = torch.matmul(frame, self.dft)  # (1, 2 bins)
        re, im = spec[:, :BINS], spec[:, BINS:]
        mag = torch.sqrt(re * re + im * im + 1e-12)
        x = self.norm1(torch.log(mag + 1e-7))
        h1, c1 = self.lstm1(x, h1, c1)
        h2, c2 = self.lstm2(h1, h2, c2)
        m = torch.sigmoid(self.mask1(h2))  # scaling re, im by the mask keeps the phase
        y = torch.matmul(torch.cat([re * m, im * m], dim=1), self.idft)  # (1, 512)
        e = self.encoder(y)
        x = self.norm2(e)
        h3, c3 = self.lstm3(x, h3, c3)
        h4, c4 = self.lstm4(h3, h4, c4)
        y = self.decoder(e * torch.sigmoid(self.mask2(h4)))
        acc = torch.cat([ola, torch.zeros_like(pcm)], dim=1) + y  # overlap-add
        return {"out": acc[:, :SHIFT], "buf_out": frame[:, SHIFT:], "h1_out": h1, "c1_out": c1, "h2_out": h2, "c2_out": c2,
                "h3_out": h3, "c3_out": c3, "h4_out": h4, "c4_out": c4, "ola_out": acc[:, SHIFT:]}


class _Keywords(nn.Module):
    """Keyword inputs (litert-torch names the signature after them)."""

    def __init__(self, step: DTLNStep):
        super().__init__()
        self.step = step

    def forward(self, **kw):
        return self.step(kw["pcm"], *[kw[n] for n in DTLNStep.STATES])


def dtln_feeds(seed: int = 0) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = {"pcm": (1, SHIFT), "buf": (1, FRAME - SHIFT), "ola": (1, FRAME - SHIFT)}
    return {n: torch.randn(shapes.get(n, (1, HIDDEN)), generator=g) * 0.1 for n in ("pcm",) + DTLNStep.STATES}


def _quiet():
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    return stack


def export_dtln(out: Path) -> dict[str, Path]:
    """dtln fp32 / int8 .tflite (signature "dtln") and .onnx."""
    import litert_torch
    import onnxsim
    import onnx

    from avsep_mobile.quantize.int8 import tflite_hook

    torch.manual_seed(0)
    step = DTLNStep().eval()
    feeds = dtln_feeds()
    with _quiet(), torch.no_grad():
        fp32 = bytes(litert_torch.signature("dtln", _Keywords(step), sample_kwargs=feeds).convert().model_content())
        names = ["pcm", *DTLNStep.STATES]
        outs = ["out"] + [n + "_out" for n in DTLNStep.STATES]

        class Positional(nn.Module):
            def __init__(self):
                super().__init__()
                self.step = step

            def forward(self, *a):
                r = self.step(*a)
                return tuple(r[n] for n in outs)

        onnx_path = out / "dtln.onnx"
        torch.onnx.export(Positional(), tuple(feeds[n] for n in names), str(onnx_path), input_names=names, output_names=outs,
                          opset_version=18, dynamo=True, external_data=False, verbose=False)
        simplified, ok = onnxsim.simplify(onnx.load(str(onnx_path)))
        if ok:
            onnx.save(simplified, str(onnx_path))
        int8 = tflite_hook({}, step, keep_float=(), mode="dynamic")(fp32)
    paths = {"dtln_tflite_fp32": out / "dtln_fp32.tflite", "dtln_tflite_int8": out / "dtln_int8.tflite", "dtln_onnx_fp32": onnx_path}
    paths["dtln_tflite_fp32"].write_bytes(fp32)
    paths["dtln_tflite_int8"].write_bytes(int8)
    return paths


def export_ours(model, out: Path) -> dict[str, Path]:
    """The shipped model: android fp32, android int8 (the default scheme), onnx fp32."""
    from avsep_mobile.export import onnx as onnx_target
    from avsep_mobile.export import tflite
    from avsep_mobile.quantize import int8

    paths = {}
    for name, precision in (("ours_tflite_fp32", "fp32"), ("ours_tflite_int8", "int8")):
        d = out / name
        d.mkdir()
        hook = int8.hook_for("android", model, 2, 1) if precision == "int8" else None
        with _quiet():
            paths[name] = tflite.convert(model, 2, 1, d, precision, quant_config=hook)[0]
    d = out / "ours_onnx_fp32"
    d.mkdir()
    with _quiet():
        onnx_target.convert(model, 2, 1, d, "fp32")
    paths["ours_onnx_fp32"] = d
    return paths


def _cycle(runner, step: str, feeds: list[dict]):
    it = itertools.cycle(feeds)
    return lambda: runner.run(step, next(it))


def _invoke_only(path, step: str, feeds: dict):
    """LiteRT's compute alone: inputs bound once, then only Invoke (no Python
    binding or output copies: what an app's native binding would pay on top
    differs from Python's)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=1)
    sr = interp.get_signature_runner(step)
    sr(**feeds)
    sub, w = sr._subgraph_index, interp._interpreter
    return lambda: (interp, w.Invoke(sub))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--per-round", type=int, default=20)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--checkpoint", type=Path, help="ours (default: the shipped model), e.g. an earlier one on the same CPU")
    ap.add_argument("--markdown", action="store_true", help="also print the README's performance table")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    from avsep_mobile import checkpoint, signature
    from avsep_mobile.export import vectors
    from avsep_mobile.export.bench import interleaved
    from avsep_mobile.export.profile import record_feeds
    from avsep_mobile.export.runners import ONNXRunner, TFLiteRunner

    model, _ = checkpoint.load(args.checkpoint, None)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dtln = export_dtln(tmp)
        ours = export_ours(model, tmp)
        sizes = {k: sum(f.stat().st_size for f in ([p] if p.is_file() else p.iterdir())) for k, p in {**dtln, **ours}.items()}
        vec = vectors.make(model, 2, 1, seconds=2.0)
        feeds = record_feeds(model, 2, 1, vec, signature.signatures(model, 2, 1), threads=1)
        dtln_calls = [{k: v.numpy() for k, v in dtln_feeds(n).items()} for n in range(100)]  # seeded noise inputs and states
        calls = {}
        for name in ("dtln_tflite_fp32", "dtln_tflite_int8"):
            calls[name] = _cycle(TFLiteRunner(dtln[name], 1), "dtln", dtln_calls)
            calls[f"invoke:{name}"] = _invoke_only(dtln[name], "dtln", dtln_calls[0])
        calls["dtln_onnx_fp32"] = _cycle(ONNXRunner({"dtln": dtln["dtln_onnx_fp32"]}, 1), "dtln", dtln_calls)
        for name in ("ours_tflite_fp32", "ours_tflite_int8"):
            r = TFLiteRunner(ours[name], 1)
            for s in ("av_step", "lip_step"):
                calls[f"{name}/{s}"] = _cycle(r, s, feeds[s])
                calls[f"invoke:{name}/{s}"] = _invoke_only(ours[name], s, feeds[s][len(feeds[s]) // 2])
        r = ONNXRunner({s: ours["ours_onnx_fp32"] / f"{s}.onnx" for s in ("av_step", "lip_step")}, 1)
        for s in ("av_step", "lip_step"):
            calls[f"ours_onnx_fp32/{s}"] = _cycle(r, s, feeds[s])
        times = interleaved(calls, rounds=args.rounds, per_round=args.per_round)

    hops_per_s = SR / SHIFT
    av_per_s = model.cfg.sample_rate / model.cfg.hop_length
    fps = 25.0
    cost = {}  # ms of compute per audio second, from p10 and median call times
    for stat in ("p10_ms", "median_ms"):
        c = {k: times[k][stat] * hops_per_s for k in times if k.split(":")[-1].startswith("dtln")}
        for pre in ("", "invoke:"):
            for variant in ("ours_tflite_fp32", "ours_tflite_int8", "ours_onnx_fp32"):
                if f"{pre}{variant}/av_step" in times:
                    c[pre + variant] = times[f"{pre}{variant}/av_step"][stat] * av_per_s + times[f"{pre}{variant}/lip_step"][stat] * fps
        cost[stat] = c
    anchor = "dtln_tflite_int8"
    # invoke-only rows are compared with DTLN's invoke-only int8
    ratio = {s: {k: round(v / c["invoke:" + anchor if k.startswith("invoke:") else anchor], 2) for k, v in c.items()} for s, c in cost.items()}
    result = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "threads": 1, "rounds": args.rounds, "per_round": args.per_round,
        "load_avg_start": [round(x, 2) for x in load_start], "load_avg_end": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
        "cpu": cpu_name(),
        "dtln_params": sum(p.numel() for p in DTLNStep().parameters()),
        "file_bytes": sizes,
        "call_ms": times,
        "ms_per_audio_second": {s: {k: round(v, 3) for k, v in c.items()} for s, c in cost.items()},
        "ratio_to_dtln_int8": ratio,
        "ours_int8_over_fp32": {s: round(c["ours_tflite_int8"] / c["ours_tflite_fp32"], 3) for s, c in cost.items()},
        "ours_int8_over_fp32_invoke_only": {s: round(c["invoke:ours_tflite_int8"] / c["invoke:ours_tflite_fp32"], 3) for s, c in cost.items()},
        "ours_av_step_int8_over_fp32": {s: round(times["ours_tflite_int8/av_step"][s] / times["ours_tflite_fp32/av_step"][s], 3)
                                         for s in ("p10_ms", "median_ms")},
    }
    print(format_result(result))
    if args.markdown:
        print("\n" + markdown_table(result, args))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def markdown_table(r: dict, args) -> str:
    """The README's performance table: ratios of this run (p10 of call times, median)."""
    p10, med = r["ratio_to_dtln_int8"]["p10_ms"], r["ratio_to_dtln_int8"]["median_ms"]
    cost_p10, cost_med = r["ms_per_audio_second"]["p10_ms"], r["ms_per_audio_second"]["median_ms"]

    def over(a, b):
        return f"{cost_p10[a] / cost_p10[b]:.2f} ({cost_med[a] / cost_med[b]:.2f})"

    i8, inv = r["ours_int8_over_fp32"], r["ours_int8_over_fp32_invoke_only"]
    av = r["ours_av_step_int8_over_fp32"]
    flags = "" if (args.rounds, args.per_round) == (30, 20) else f" --rounds {args.rounds} --per-round {args.per_round}"
    flags += f" --checkpoint {args.checkpoint}" if args.checkpoint else ""
    rows = [
        ("ours android int8 (default) / DTLN LiteRT int8, per audio second, runner calls",
         f"{p10['ours_tflite_int8']:.2f} ({med['ours_tflite_int8']:.2f})"),
        ("same, LiteRT Invoke only (inputs bound once)", f"{p10['invoke:ours_tflite_int8']:.2f} ({med['invoke:ours_tflite_int8']:.2f})"),
        ("ours android fp32 / DTLN LiteRT fp32, per audio second", over("ours_tflite_fp32", "dtln_tflite_fp32")),
        ("ours onnx fp32 / DTLN onnxruntime fp32, per audio second", over("ours_onnx_fp32", "dtln_onnx_fp32")),
        ("ours android int8 / fp32, per audio second", f"{i8['p10_ms']:.2f} ({i8['median_ms']:.2f}); Invoke only {inv['p10_ms']:.2f} ({inv['median_ms']:.2f})"),
        ("ours android int8 / fp32, av_step alone", f"{av['p10_ms']:.2f} ({av['median_ms']:.2f})"),
    ]
    lines = [f"Measured {r['date']}, one thread, {r['rounds']} interleaved rounds of {r['per_round']} calls, load average "
             f"{r['load_avg_start'][0]:.2f} -> {r['load_avg_end'][0]:.2f} on {r['cpus']} CPUs ({r.get('cpu', 'CPU unrecorded')}) "
             f"(`python benchmarks/anchor.py --markdown{flags}`):", "",
             "| | ratio (p10 of call times; median) |", "|---|---|"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines)


def cpu_name() -> str:
    """The CPU model and its widest int8 dot-product extension: the ratios move
    between CPUs (int8 kernels gain most where VNNI exists)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        import platform

        return platform.processor() or platform.machine()
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "unknown CPU")
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    ext = next((f for f in ("avx512_vnni", "avx_vnni", "avx512f", "avx2") if f in flags), "no AVX2")
    return f"{model}, {ext}"


def format_result(r: dict) -> str:
    lines = [f"1 thread, interleaved {r['rounds']} rounds x {r['per_round']} calls; load average {r['load_avg_start'][0]:.1f} -> "
             f"{r['load_avg_end'][0]:.1f} on {r['cpus']} CPUs, {r.get('cpu', 'CPU unrecorded')} (shared machine: read the ratios); DTLN {r['dtln_params'] / 1e6:.2f} M params"]
    lines.append(f"  {'model':36s} {'p10 ms':>8s} {'median':>8s}")
    for k, v in r["call_ms"].items():
        lines.append(f"  {k:36s} {v['p10_ms']:8.4f} {v['median_ms']:8.4f}")
    lines.append(f"  {'per audio second':36s} {'p10 ms':>8s} {'median':>8s} {'/ DTLN int8 (p10, median)':>28s}")
    for k in r["ms_per_audio_second"]["p10_ms"]:
        a, b = r["ms_per_audio_second"]["p10_ms"][k], r["ms_per_audio_second"]["median_ms"][k]
        ra, rb = r["ratio_to_dtln_int8"]["p10_ms"][k], r["ratio_to_dtln_int8"]["median_ms"][k]
        lines.append(f"  {k:36s} {a:8.2f} {b:8.2f} {ra:14.2f} {rb:8.2f}")
    lines.append("  (invoke: rows: LiteRT Invoke alone, inputs bound once; their ratio is to invoke:dtln_tflite_int8)")
    lines.append(f"  ours int8/fp32 invoke only per audio second: p10 {r['ours_int8_over_fp32_invoke_only']['p10_ms']:.3f}, "
                 f"median {r['ours_int8_over_fp32_invoke_only']['median_ms']:.3f}")
    lines.append("  file sizes (MB): " + ", ".join(f"{k} {v / 1e6:.2f}" for k, v in r["file_bytes"].items()))
    lines.append(f"  ours int8/fp32 per audio second: p10 {r['ours_int8_over_fp32']['p10_ms']:.3f}, median {r['ours_int8_over_fp32']['median_ms']:.3f}; "
                 f"av_step alone: p10 {r['ours_av_step_int8_over_fp32']['p10_ms']:.3f}, median {r['ours_av_step_int8_over_fp32']['median_ms']:.3f}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
