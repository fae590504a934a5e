"""Our per-audio-second cost beside an audio-only anchor, in one run.

The anchor is the DTLN architecture (Westhausen & Meyer 2020) rebuilt with
random weights: 512-sample frames, 8 ms hop at 16 kHz; block 1 masks the
magnitude spectrum (log, instant layer norm, 2 LSTM cores of 128 units, dense
+ sigmoid), block 2 a learned 1x1-conv encoding (512 -> 256, instant layer
norm, 2 LSTM cores of 128, dense + sigmoid mask, 256 -> 512 decoder), then
overlap-add; 0.99 M parameters. The LSTM cores are written as one Linear +
gate maths per step (the float function of nn.LSTM, and the form int8
reaches: STACK-NOTES.md).

DTLN is timed in both of its forms and the faster one is the anchor: split
(DTLN's own deployment: the host's real FFT, model 1 magnitude -> mask, the
host's inverse FFT, model 2 frame -> frame, the host's overlap-add) and fused
(the DFT as two matmuls in one graph). Its int8 is ai-edge-quantizer's stock
`recipe.dynamic_wi8_afp32()`, which makes every constant-weight matmul int8,
the fused form's two DFT matmuls (its largest) included; the int8 weight
tensors of each file are counted and printed (fused 10, split 8). This
project's own per-layer recipe reaches only nn.Linear layers and leaves the
DFT matmuls float (8 tensors): it is timed beside it as the old anchor.

Timed, interleaved, one thread: DTLN LiteRT fp32 / int8 and onnxruntime fp32
in both forms, and the shipped mobile model exported android fp32 / int8
(default) and onnx fp32. Our cost per audio second = one av_step call per hop
(100 at a 10 ms hop, 50 at the default's 20 ms; K = 1) + 25 lip_step calls
(25 fps); DTLN's = 125 hops. Ratios, not
absolute times, are the result: the machine is shared (the load average and
the CPU, with its int8 dot-product extensions, are printed).

    python benchmarks/anchor.py [--rounds 30] [--json out.json] [--markdown] [--checkpoint X.pt] [--chunk-hops 2 4]

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

import numpy as np
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
    -> dict of out (1, 128) and the new states (names with _out).

    `forward` is the fused form (the DFT as two matmuls in the graph);
    `spectrum_mask` and `time_block` are DTLN's own two models, which the
    split form (`DTLNMask`, `DTLNBlock`, host FFT between them) runs."""

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

    def spectrum_mask(self, mag, h1, c1, h2, c2):
        """Block 1: magnitude (1, 257) -> mask (1, 257) and its LSTM states."""
        x = self.norm1(torch.log(mag + 1e-7))
        h1, c1 = self.lstm1(x, h1, c1)
        h2, c2 = self.lstm2(h1, h2, c2)
        return torch.sigmoid(self.mask1(h2)), h1, c1, h2, c2

    def time_block(self, y, h3, c3, h4, c4):
        """Block 2: masked frame (1, 512) -> output frame (1, 512) to overlap-add."""
        e = self.encoder(y)
        x = self.norm2(e)
        h3, c3 = self.lstm3(x, h3, c3)
        h4, c4 = self.lstm4(h3, h4, c4)
        return self.decoder(e * torch.sigmoid(self.mask2(h4))), h3, c3, h4, c4

    def forward(self, pcm, buf, h1, c1, h2, c2, h3, c3, h4, c4, ola):
        frame = torch.cat([buf, pcm], dim=1)  # (1, 512)
        spec = torch.matmul(frame, self.dft)  # (1, 2 bins)
        re, im = spec[:, :BINS], spec[:, BINS:]
        mag = torch.sqrt(re * re + im * im + 1e-12)
        m, h1, c1, h2, c2 = self.spectrum_mask(mag, h1, c1, h2, c2)
        y = torch.matmul(torch.cat([re * m, im * m], dim=1), self.idft)  # (1, 512); scaling re, im keeps the phase
        y, h3, c3, h4, c4 = self.time_block(y, h3, c3, h4, c4)
        acc = torch.cat([ola, torch.zeros_like(pcm)], dim=1) + y  # overlap-add
        return {"out": acc[:, :SHIFT], "buf_out": frame[:, SHIFT:], "h1_out": h1, "c1_out": c1, "h2_out": h2, "c2_out": c2,
                "h3_out": h3, "c3_out": c3, "h4_out": h4, "c4_out": c4, "ola_out": acc[:, SHIFT:]}


class DTLNMask(nn.Module):
    """The split form's first model (DTLN's model_1): keyword inputs mag, h1..c2."""

    INPUTS, OUTPUTS = ("mag", "h1", "c1", "h2", "c2"), ("mask", "h1_out", "c1_out", "h2_out", "c2_out")

    def __init__(self, step: DTLNStep):
        super().__init__()
        self.step = step

    def forward(self, **kw):
        return dict(zip(self.OUTPUTS, self.step.spectrum_mask(*[kw[n] for n in self.INPUTS])))


class DTLNBlock(nn.Module):
    """The split form's second model (DTLN's model_2): keyword inputs frame, h3..c4."""

    INPUTS, OUTPUTS = ("frame", "h3", "c3", "h4", "c4"), ("block", "h3_out", "c3_out", "h4_out", "c4_out")

    def __init__(self, step: DTLNStep):
        super().__init__()
        self.step = step

    def forward(self, **kw):
        return dict(zip(self.OUTPUTS, self.step.time_block(*[kw[n] for n in self.INPUTS])))


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


class _Positional(nn.Module):
    """Positional inputs, tuple outputs (the ONNX exporter's form) over a keyword module."""

    def __init__(self, module: nn.Module, inputs, outputs):
        super().__init__()
        self.module, self.inputs, self.outputs = module, tuple(inputs), tuple(outputs)

    def forward(self, *a):
        r = self.module(**dict(zip(self.inputs, a)))
        return tuple(r[n] for n in self.outputs)


def _onnx(module: nn.Module, feeds: dict, outputs, path: Path) -> Path:
    import onnx
    import onnxsim

    names = list(feeds)
    torch.onnx.export(_Positional(module, names, outputs), tuple(feeds.values()), str(path), input_names=names,
                      output_names=list(outputs), opset_version=18, dynamo=True, external_data=False, verbose=False)
    simplified, ok = onnxsim.simplify(onnx.load(str(path)))
    if ok:
        onnx.save(simplified, str(path))
    return path


def stock_int8(content: bytes) -> bytes:
    """DTLN quantized the way it is best served: ai-edge-quantizer's stock
    dynamic-range recipe, every FULLY_CONNECTED / BATCH_MATMUL with a constant
    weight int8 (the DFT matmuls of the fused form included)."""
    from ai_edge_quantizer import quantizer, recipe

    qt = quantizer.Quantizer(bytearray(content))
    qt.load_quantization_recipe(recipe.dynamic_wi8_afp32())
    return bytes(qt.quantize().quantized_model)


def int_weight_tensors(content: bytes, dtype: str = "INT8") -> int:
    """Constant tensors of `dtype` in a .tflite (buffers shared by several
    signatures count once): what a quantization recipe actually reached."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    m = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    kind = getattr(schema.TensorType, dtype)

    def stored(i):
        b = m.buffers[i]
        return (b.data is not None and len(b.data) > 0) or (b.offset or 0) > 1

    return len({t.buffer for g in m.subgraphs for t in g.tensors if t.type == kind and t.buffer and stored(t.buffer)})


def split_feeds(feeds: dict) -> tuple[dict, dict]:
    """The split form's per-model state feeds from a fused feed dict."""
    return {n: feeds[n] for n in DTLNMask.INPUTS[1:]}, {n: feeds[n] for n in DTLNBlock.INPUTS[1:]}


def export_dtln(out: Path) -> dict:
    """DTLN's files, and how many int8 weight tensors each int8 file holds:
    fused (signature "dtln") fp32 / int8 stock recipe / int8 this project's
    per-layer recipe (the old, handicapped anchor) .tflite and .onnx; split
    (signatures "mask" and "block" in one .tflite, two .onnx) fp32 / int8 stock."""
    import litert_torch

    from avsep_mobile.quantize.int8 import tflite_hook

    torch.manual_seed(0)
    step = DTLNStep().eval()
    feeds = dtln_feeds()
    mag = torch.rand(1, BINS, generator=torch.Generator().manual_seed(1)) + 0.1
    mask_feeds = {"mag": mag, **split_feeds(feeds)[0]}
    block_feeds = {"frame": torch.randn(1, FRAME, generator=torch.Generator().manual_seed(2)) * 0.1, **split_feeds(feeds)[1]}
    paths: dict = {}
    with _quiet(), torch.no_grad():
        fused = bytes(litert_torch.signature("dtln", _Keywords(step), sample_kwargs=feeds).convert().model_content())
        split = bytes(litert_torch.signature("mask", DTLNMask(step), sample_kwargs=mask_feeds)
                      .signature("block", DTLNBlock(step), sample_kwargs=block_feeds).convert().model_content())
        files = {"dtln_fused_tflite_fp32": fused, "dtln_fused_tflite_int8": stock_int8(fused),
                 "dtln_fused_tflite_int8_layer_recipe": tflite_hook({}, step, keep_float=(), mode="dynamic")(fused),
                 "dtln_split_tflite_fp32": split, "dtln_split_tflite_int8": stock_int8(split)}
        for name, content in files.items():
            paths[name] = out / f"{name}.tflite"
            paths[name].write_bytes(content)
        paths["dtln_fused_onnx_fp32"] = _onnx(_Keywords(step), {"pcm": feeds["pcm"], **{n: feeds[n] for n in DTLNStep.STATES}},
                                              ["out"] + [n + "_out" for n in DTLNStep.STATES], out / "dtln_fused.onnx")
        d = out / "dtln_split_onnx_fp32"
        d.mkdir()
        _onnx(DTLNMask(step), mask_feeds, DTLNMask.OUTPUTS, d / "mask.onnx")
        _onnx(DTLNBlock(step), block_feeds, DTLNBlock.OUTPUTS, d / "block.onnx")
        paths["dtln_split_onnx_fp32"] = d
    int8_tensors = {k: int_weight_tensors(v) for k, v in files.items() if "int8" in k}
    return {"paths": paths, "int8_tensors": int8_tensors, "split_vs_fused_db": split_matches_fused(step)}


class SplitDTLN:
    """DTLN's own split form, one hop: the host's real FFT of the 512-sample
    frame, model 1 (magnitude -> mask), the host's inverse FFT of the masked
    spectrum, model 2 (frame -> frame), the host's overlap-add. `run` is a
    runner's run(step, feeds) with steps "mask" and "block"."""

    def __init__(self, run, feeds: list[dict]):
        self.run, self.feeds = run, itertools.cycle(feeds)

    def __call__(self, f: dict | None = None):
        f = f if f is not None else next(self.feeds)
        states1, states2 = split_feeds(f)
        frame = np.concatenate([f["buf"], f["pcm"]], axis=1)  # (1, 512)
        spec = np.fft.rfft(frame)
        m = self.run("mask", {"mag": np.abs(spec).astype(np.float32), **states1})
        y = np.fft.irfft(spec * m["mask"], n=FRAME).astype(np.float32)
        b = self.run("block", {"frame": y, **states2})
        acc = np.concatenate([f["ola"], np.zeros_like(f["pcm"])], axis=1) + b["block"]
        return acc[:, :SHIFT]


def split_matches_fused(step: DTLNStep) -> float:
    """SNR (dB) of the split form's output against the fused form's, float torch,
    over seeded hops: both forms compute the same function."""
    from avsep_mobile import metrics

    def run(name, feeds):
        module = DTLNMask(step) if name == "mask" else DTLNBlock(step)
        return {k: v.numpy() for k, v in module(**{k: torch.from_numpy(np.asarray(v)) for k, v in feeds.items()}).items()}

    split = SplitDTLN(run, [])
    ref, got = [], []
    with torch.no_grad():
        for n in range(8):
            feeds = dtln_feeds(n)
            ref.append(_Keywords(step)(**feeds)["out"].numpy())
            got.append(split({k: v.numpy() for k, v in feeds.items()}))
    return round(float(metrics.snr_db(np.concatenate(ref), np.concatenate(got))), 1)


def export_ours(model, out: Path, chunk_hops=()) -> dict[str, Path]:
    """The shipped model: android fp32, android int8 (the default scheme), onnx
    fp32; and android int8 at each of `chunk_hops` hops per call."""
    from avsep_mobile.export import onnx as onnx_target
    from avsep_mobile.export import tflite
    from avsep_mobile.quantize import int8

    paths = {}
    for name, precision, k in (("ours_tflite_fp32", "fp32", 1), ("ours_tflite_int8", "int8", 1),
                               *((f"ours_tflite_int8_k{k}", "int8", k) for k in chunk_hops)):
        d = out / name
        d.mkdir()
        hook = int8.hook_for("android", model, 2, k) if precision == "int8" else None
        with _quiet():
            paths[name] = tflite.convert(model, 2, k, d, precision, quant_config=hook)[0]
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


FORMS = ("fused", "split")


def main(argv=None) -> int:
    from avsep_mobile.export.bench import add_interleaved_args

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_interleaved_args(ap, dirs=False)
    ap.add_argument("--checkpoint", type=Path, help="ours (default: the shipped model), e.g. an earlier one on the same CPU")
    ap.add_argument("--markdown", action="store_true", help="also print the README's performance table")
    ap.add_argument("--chunk-hops", type=int, nargs="*", default=[2],
                    help="also time android int8 at K hops per call (latency: one window + K-1 hops; DTLN's is 32 ms)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    from avsep_mobile import checkpoint
    from avsep_mobile.export import vectors
    from avsep_mobile.export.bench import interleaved
    from avsep_mobile.export.profile import record_feeds
    from avsep_mobile.runtime import signature
    from avsep_mobile.runtime.runners import ONNXRunner, TFLiteRunner

    model, _ = checkpoint.load(args.checkpoint, None)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dtln = export_dtln(tmp)
        ours = export_ours(model, tmp, args.chunk_hops)
        files = {**dtln["paths"], **ours}
        sizes = {k: sum(f.stat().st_size for f in ([p] if p.is_file() else p.iterdir())) for k, p in files.items()}
        vec = vectors.make(model, 2, 1, seconds=2.0)
        feeds = record_feeds(model, 2, 1, vec, signature.signatures(model, 2, 1), threads=1)
        dtln_calls = [{k: v.numpy() for k, v in dtln_feeds(n).items()} for n in range(100)]  # seeded noise inputs and states
        fused_calls = [{k: f[k] for k in ("pcm", *DTLNStep.STATES)} for f in dtln_calls]
        calls = {}
        for name in ("dtln_fused_tflite_fp32", "dtln_fused_tflite_int8", "dtln_fused_tflite_int8_layer_recipe"):
            calls[name] = _cycle(TFLiteRunner(files[name], 1), "dtln", fused_calls)
        for name in ("dtln_fused_tflite_fp32", "dtln_fused_tflite_int8"):
            calls[f"invoke:{name}"] = _invoke_only(files[name], "dtln", fused_calls[0])
        for name in ("dtln_split_tflite_fp32", "dtln_split_tflite_int8"):
            calls[name] = SplitDTLN(TFLiteRunner(files[name], 1).run, dtln_calls)
        calls["dtln_fused_onnx_fp32"] = _cycle(ONNXRunner({"dtln": files["dtln_fused_onnx_fp32"]}, 1), "dtln", fused_calls)
        split_onnx = files["dtln_split_onnx_fp32"]
        calls["dtln_split_onnx_fp32"] = SplitDTLN(ONNXRunner({s: split_onnx / f"{s}.onnx" for s in ("mask", "block")}, 1).run, dtln_calls)
        for name in ("ours_tflite_fp32", "ours_tflite_int8"):
            r = TFLiteRunner(ours[name], 1)
            for s in ("av_step", "lip_step"):
                calls[f"{name}/{s}"] = _cycle(r, s, feeds[s])
                calls[f"invoke:{name}/{s}"] = _invoke_only(ours[name], s, feeds[s][len(feeds[s]) // 2])
        for k in args.chunk_hops:  # the av_step alone differs: lip_step is the same call at any K
            vec_k = vectors.make(model, 2, k, seconds=2.0)
            feeds_k = record_feeds(model, 2, k, vec_k, signature.signatures(model, 2, k), threads=1)
            calls[f"ours_tflite_int8_k{k}/av_step"] = _cycle(TFLiteRunner(ours[f"ours_tflite_int8_k{k}"], 1), "av_step", feeds_k["av_step"])
        r = ONNXRunner({s: ours["ours_onnx_fp32"] / f"{s}.onnx" for s in ("av_step", "lip_step")}, 1)
        for s in ("av_step", "lip_step"):
            calls[f"ours_onnx_fp32/{s}"] = _cycle(r, s, feeds[s])
        times = interleaved(calls, rounds=args.rounds, per_round=args.per_round)

    result = summarise(times, model, args)
    result.update({"load_avg_start": [round(x, 2) for x in load_start], "file_bytes": sizes,
                   "dtln_int8_tensors": dtln["int8_tensors"], "dtln_split_vs_fused_db": dtln["split_vs_fused_db"]})
    print(format_result(result))
    if args.markdown:
        print("\n" + markdown_table(result, args))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def summarise(times: dict, model, args) -> dict:
    """ms of compute per audio second from the p10 and median call times, and
    every ratio, each DTLN row against the faster of its two forms."""
    from avsep_mobile.runtime.signature import latency_ms

    hops_per_s = SR / SHIFT
    av_per_s = model.cfg.sample_rate / model.cfg.hop_length
    fps = 25.0
    cost, ratio, anchor = {}, {}, {}
    for stat in ("p10_ms", "median_ms"):
        c = {k: times[k][stat] * hops_per_s for k in times if k.split(":")[-1].startswith("dtln")}
        for pre in ("", "invoke:"):
            for variant in ("ours_tflite_fp32", "ours_tflite_int8", "ours_onnx_fp32"):
                if f"{pre}{variant}/av_step" in times:
                    c[pre + variant] = times[f"{pre}{variant}/av_step"][stat] * av_per_s + times[f"{pre}{variant}/lip_step"][stat] * fps
        for k in args.chunk_hops:
            c[f"ours_tflite_int8_k{k}"] = (times[f"ours_tflite_int8_k{k}/av_step"][stat] * av_per_s / k
                                          + times["ours_tflite_int8/lip_step"][stat] * fps)
        best = {kind: min(FORMS, key=lambda f: c[f"dtln_{f}_{kind}"]) for kind in ("tflite_int8", "tflite_fp32", "onnx_fp32")}
        for kind, form in best.items():
            c[f"dtln_{kind}"] = c[f"dtln_{form}_{kind}"]  # the anchor: the faster form
        cost[stat], anchor[stat] = c, best
        ratio[stat] = {
            "ours_int8_over_dtln_int8": c["ours_tflite_int8"] / c["dtln_tflite_int8"],
            "ours_int8_over_dtln_fused_int8_invoke_only": c["invoke:ours_tflite_int8"] / c["invoke:dtln_fused_tflite_int8"],
            "ours_fp32_over_dtln_fp32": c["ours_tflite_fp32"] / c["dtln_tflite_fp32"],
            "ours_onnx_over_dtln_onnx": c["ours_onnx_fp32"] / c["dtln_onnx_fp32"],
            "ours_int8_over_fp32": c["ours_tflite_int8"] / c["ours_tflite_fp32"],
            "ours_int8_over_fp32_invoke_only": c["invoke:ours_tflite_int8"] / c["invoke:ours_tflite_fp32"],
            "ours_av_step_int8_over_fp32": times["ours_tflite_int8/av_step"][stat] / times["ours_tflite_fp32/av_step"][stat],
            **{f"dtln_{f}_int8_over_fp32": c[f"dtln_{f}_tflite_int8"] / c[f"dtln_{f}_tflite_fp32"] for f in FORMS},
            "dtln_fused_int8_stock_over_layer_recipe": c["dtln_fused_tflite_int8"] / c["dtln_fused_tflite_int8_layer_recipe"],
            **{f"ours_int8_k{k}_over_dtln_int8": c[f"ours_tflite_int8_k{k}"] / c["dtln_tflite_int8"] for k in args.chunk_hops},
        }
        ratio[stat] = {k: round(v, 3) for k, v in ratio[stat].items()}
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "threads": 1, "rounds": args.rounds, "per_round": args.per_round,
        "load_avg_end": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(), "cpu": cpu_name(),
        "dtln_params": sum(p.numel() for p in DTLNStep().parameters()),
        "call_ms": times,
        "ms_per_audio_second": {s: {k: round(v, 3) for k, v in c.items()} for s, c in cost.items()},
        "anchor_form": anchor,
        "ratios": ratio,
        "latency_ms": {str(k): latency_ms(model.cfg, k) for k in [1, *args.chunk_hops]},
    }


def markdown_table(r: dict, args) -> str:
    """The README's performance table: ratios of this run (p10 of call times; median)."""
    p10, med = r["ratios"]["p10_ms"], r["ratios"]["median_ms"]
    form = r["anchor_form"]["p10_ms"]

    def both(key):
        return f"{p10[key]:.2f} ({med[key]:.2f})"

    flags = "" if (args.rounds, args.per_round) == (30, 20) else f" --rounds {args.rounds} --per-round {args.per_round}"
    flags += f" --checkpoint {args.checkpoint}" if args.checkpoint else ""
    flags += f" --chunk-hops {' '.join(map(str, args.chunk_hops))}" if args.chunk_hops != [2] else ""
    n8 = r["dtln_int8_tensors"]
    rows = [
        (f"ours android int8 (default) / DTLN LiteRT int8 (stock recipe; faster form at p10: {form['tflite_int8']}), per audio second",
         both("ours_int8_over_dtln_int8")),
        ("same, LiteRT Invoke only (inputs bound once) / DTLN fused int8 Invoke only", both("ours_int8_over_dtln_fused_int8_invoke_only")),
        (f"ours android fp32 / DTLN LiteRT fp32 (faster: {form['tflite_fp32']}), per audio second", both("ours_fp32_over_dtln_fp32")),
        (f"ours onnx fp32 / DTLN onnxruntime fp32 (faster: {form['onnx_fp32']}), per audio second", both("ours_onnx_over_dtln_onnx")),
        ("ours android int8 / fp32, per audio second",
         f"{both('ours_int8_over_fp32')}; Invoke only {both('ours_int8_over_fp32_invoke_only')}"),
        ("ours android int8 / fp32, av_step alone", both("ours_av_step_int8_over_fp32")),
        *((f"ours android int8 at {k} hops per call (latency {r['latency_ms'][str(k)]:.0f} ms; DTLN's 32 ms) / DTLN LiteRT int8, "
           "per audio second", both(f"ours_int8_k{k}_over_dtln_int8")) for k in args.chunk_hops),
        ("DTLN's own int8 / fp32 (stock recipe), fused; split", f"{both('dtln_fused_int8_over_fp32')}; {both('dtln_split_int8_over_fp32')}"),
        (f"DTLN fused int8: stock recipe ({n8['dtln_fused_tflite_int8']} int8 tensors) / this project's per-layer recipe "
         f"({n8['dtln_fused_tflite_int8_layer_recipe']}, the old anchor)", both("dtln_fused_int8_stock_over_layer_recipe")),
    ]
    lines = [f"Measured {r['date']}, one thread, {r['rounds']} interleaved rounds of {r['per_round']} calls, load average "
             f"{r['load_avg_start'][0]:.2f} -> {r['load_avg_end'][0]:.2f} on {r['cpus']} CPUs ({r['cpu']}) "
             f"(`python benchmarks/anchor.py --markdown{flags}`):", "",
             "| | ratio (p10 of call times; median) |", "|---|---|"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines)


# the instruction sets that decide how cheap int8 matrix kernels are on x86
INT8_FLAGS = ("avx2", "avx_vnni", "avx512_vnni", "amx_int8")


def cpu_name() -> str:
    """The CPU model (lscpu's "Model name") and which int8 dot-product
    extensions it has: the ratios move between CPUs (int8 kernels gain most
    where VNNI or AMX exist)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        import platform

        return platform.processor() or platform.machine()
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "unknown CPU")
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    has = [f for f in INT8_FLAGS if f in flags]
    lacks = [f for f in INT8_FLAGS if f not in flags]
    return f"{model}; {', '.join(has) or 'no avx2'}" + (f"; no {', '.join(lacks)}" if lacks else "")


def format_result(r: dict) -> str:
    lines = [f"1 thread, interleaved {r['rounds']} rounds x {r['per_round']} calls; load average {r['load_avg_start'][0]:.1f} -> "
             f"{r['load_avg_end'][0]:.1f} on {r['cpus']} CPUs, {r['cpu']} (shared machine: read the ratios); "
             f"DTLN {r['dtln_params'] / 1e6:.2f} M params",
             "  DTLN int8 weight tensors: " + ", ".join(f"{k} {v}" for k, v in r["dtln_int8_tensors"].items())
             + f"; split vs fused form, float torch: {r['dtln_split_vs_fused_db']} dB"]
    lines.append(f"  {'model':40s} {'p10 ms':>8s} {'median':>8s}")
    for k, v in r["call_ms"].items():
        lines.append(f"  {k:40s} {v['p10_ms']:8.4f} {v['median_ms']:8.4f}")
    lines.append(f"  {'per audio second':40s} {'p10 ms':>8s} {'median':>8s}")
    for k in r["ms_per_audio_second"]["p10_ms"]:
        lines.append(f"  {k:40s} {r['ms_per_audio_second']['p10_ms'][k]:8.2f} {r['ms_per_audio_second']['median_ms'][k]:8.2f}")
    lines.append(f"  anchor forms (faster, p10): {r['anchor_form']['p10_ms']}; median: {r['anchor_form']['median_ms']}")
    lines.append(f"  {'ratio':48s} {'p10':>7s} {'median':>7s}")
    for k in r["ratios"]["p10_ms"]:
        lines.append(f"  {k:48s} {r['ratios']['p10_ms'][k]:7.3f} {r['ratios']['median_ms'][k]:7.3f}")
    lines.append("  file sizes (MB): " + ", ".join(f"{k} {v / 1e6:.2f}" for k, v in r["file_bytes"].items()))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
