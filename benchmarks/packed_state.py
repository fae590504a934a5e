"""One packed state tensor per av_step call against the shipped many (one
tensor per layer and kind), on the shipped model, in one run.

The packed variant wraps the same step: av_step(pcm, lip_emb, active, state)
-> (speakers, residual, state_out), where `state` (1, total) is every state of
the signature flattened and concatenated in signature order; the wrapper
slices it into the per-layer tensors and concatenates the new ones. Exported
the way the shipped files are (folds, converters, int8 recipes):

- LiteRT fp32 and android int8 (dynamic range, the default), timed
  interleaved (runner call and Invoke alone, 1 thread);
- onnxruntime fp32 and onnx int8 (static QDQ, calibrated on the shipped
  calibration mixtures), timed interleaved;
- CoreML: compute ops of av_step (non-const MIL ops, fp16, iOS 17; no
  runtime on Linux).

Quality: every file streams 2 s of test vectors closed loop (its own state
fed back; lip_step is the float torch step for all, so only av_step
differs), speakers/residual SNR against the float torch stream.

    python benchmarks/packed_state.py [--rounds 30] [--work DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
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

PACKED = "state"


class PackedAVStep(nn.Module):
    """(pcm, lip_emb, active, state (1, total)) -> (speakers, residual, state_out (1, total)),
    around an AVStep; `sig` is a StepSignature with the one packed state."""

    def __init__(self, step: nn.Module):
        super().__init__()
        from avsep_mobile.runtime.signature import StepSignature, TensorSpec

        self.step = step
        self.shapes = [tuple(s.shape) for s in step.sig.states]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.sig = StepSignature(step.sig.name, step.sig.inputs, step.sig.outputs, (TensorSpec(PACKED, (1, sum(self.sizes)), "float32", 0.0),))

    def forward(self, pcm: Tensor, lip_emb: Tensor, active: Tensor, state: Tensor):
        offsets = np.cumsum([0] + self.sizes)
        parts = [state[:, a:b].reshape(shape) for a, b, shape in zip(offsets[:-1], offsets[1:], self.shapes)]
        outs = self.step(pcm, lip_emb, active, *parts)
        return outs[0], outs[1], torch.cat([o.reshape(1, -1) for o in outs[2:]], dim=1)


def pack(feeds: dict, names: list[str]) -> dict:
    """Many-state feeds -> packed feeds (data inputs unchanged)."""
    out = {k: v for k, v in feeds.items() if k not in names}
    out[PACKED] = np.concatenate([np.asarray(feeds[n], np.float32).reshape(1, -1) for n in names], axis=1)
    return out


class AVOnly:
    """A runner for `stream`: av_step from `av` (packed or not), lip_step from
    the float torch runner, so a closed-loop stream differs in av_step only.
    For a packed av runner, states are packed on the way in and unpacked on the way out."""

    kind = "av_only"

    def __init__(self, av, torch_runner, shapes: dict | None = None):
        self.av, self.torch, self.shapes = av, torch_runner, shapes

    def run(self, step: str, feeds: dict) -> dict:
        if step != "av_step":
            return self.torch.run(step, feeds)
        if self.shapes is None:
            return self.av.run(step, feeds)
        out = self.av.run(step, pack(feeds, list(self.shapes)))
        flat, res, at = out[PACKED + "_out"].reshape(-1), {"speakers": out["speakers"], "residual": out["residual"]}, 0
        for name, shape in self.shapes.items():
            n = math.prod(shape)
            res[name + "_out"] = flat[at : at + n].reshape(shape)
            at += n
        return res

    def reset(self) -> None:
        pass


def export_packed(model, out: Path, calib_many: list[dict]) -> dict[str, Path]:
    """Packed av_step: LiteRT fp32 + dynamic int8 (.tflite), onnx fp32 (folded) and static int8 (unfolded, as shipped)."""
    import litert_torch
    import onnx
    import onnxsim

    from avsep_mobile.export.folds import FOLDS, fold
    from avsep_mobile.export.steps import NamedStep, sample_inputs
    from avsep_mobile.quantize import int8
    from avsep_mobile.streaming import step_modules

    paths = {}
    step = PackedAVStep(step_modules(fold(model, FOLDS), 2, 1)["av_step"])
    with _quiet(), torch.no_grad():
        fp32 = bytes(litert_torch.signature("av_step", NamedStep(step), sample_kwargs=sample_inputs(step.sig)).convert().model_content())
    paths["tflite_fp32"], paths["tflite_int8"] = out / "packed_fp32.tflite", out / "packed_int8.tflite"
    paths["tflite_fp32"].write_bytes(fp32)
    with _quiet():
        # static=(): the packed signature has no calibration feeds, so both files keep every conv float
        paths["tflite_int8"].write_bytes(int8.tflite_hook({}, model, mode="dynamic", static=())(fp32))
    for kind, folds in (("onnx_fp32", FOLDS), ("onnx_int8", ())):
        s = PackedAVStep(step_modules(fold(model, folds), 2, 1)["av_step"])
        d = out / f"packed_{kind}"
        d.mkdir(exist_ok=True)
        p = d / "av_step.onnx"  # the int8 hook names its calibration set after the file's stem
        feeds = sample_inputs(s.sig)
        with _quiet(), torch.no_grad():
            torch.onnx.export(s, tuple(feeds[n] for n in s.sig.input_names), str(p), input_names=s.sig.input_names,
                              output_names=s.sig.output_names, opset_version=18, dynamo=True, external_data=False, verbose=False)
            simplified, ok = onnxsim.simplify(onnx.load(str(p)))
            if ok:
                onnx.save(simplified, str(p))
            if kind == "onnx_int8":
                int8.onnx_hook({"av_step": [pack(f, s.step.state_names) for f in calib_many]}, model)(p)
        paths[kind] = p
    return paths


def export_many(model, out: Path, onnx_hook) -> dict[str, Path]:
    """The shipped layout: android fp32 / dynamic int8, onnx fp32 / static int8."""
    from avsep_mobile.export import onnx as onnx_target
    from avsep_mobile.export import tflite
    from avsep_mobile.quantize import int8

    paths = {}
    for kind in ("tflite_fp32", "tflite_int8", "onnx_fp32", "onnx_int8"):
        (out / kind).mkdir(exist_ok=True)
    with _quiet():
        paths["tflite_fp32"] = tflite.convert(model, 2, 1, out / "tflite_fp32", "fp32")[0]
        paths["tflite_int8"] = out / "tflite_int8" / tflite.MODEL_FILE
        paths["tflite_int8"].write_bytes(int8.tflite_hook({}, model, mode="dynamic", static=())(paths["tflite_fp32"].read_bytes()))
        onnx_target.convert(model, 2, 1, out / "onnx_fp32", "fp32")
        onnx_target.convert(model, 2, 1, out / "onnx_int8", "int8", quantize=onnx_hook)
    paths["onnx_fp32"], paths["onnx_int8"] = out / "onnx_fp32" / "av_step.onnx", out / "onnx_int8" / "av_step.onnx"
    return paths


def _runner(path: Path):
    from avsep_mobile.runtime.runners import ONNXRunner, TFLiteRunner

    return TFLiteRunner(path, 1) if path.suffix == ".tflite" else ONNXRunner({"av_step": path}, 1)


def coreml_counts(model) -> dict:
    from ab_speed import coreml_ops

    from avsep_mobile.export.folds import FOLDS, fold
    from avsep_mobile.streaming import step_modules

    step = step_modules(fold(model, FOLDS), 2, 1)["av_step"]
    out = {}
    for variant, module in (("many", step), ("packed", PackedAVStep(step))):
        ops = coreml_ops(module)
        out[variant] = {"total": sum(ops.values()), "by_type": dict(ops.most_common())}
    return out


def main(argv=None) -> int:
    from avsep_mobile.export.bench import add_interleaved_args

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_interleaved_args(ap, dirs=False)
    ap.add_argument("--no-coreml", action="store_true", help="skip the CoreML op count")
    ap.add_argument("--work", type=Path, help="keep the exported files here (default: a temp dir)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    from avsep_mobile import checkpoint, metrics
    from avsep_mobile.export import vectors
    from avsep_mobile.export.bench import interleaved
    from avsep_mobile.export.profile import record_feeds
    from avsep_mobile.quantize import int8
    from avsep_mobile.runtime import signature
    from avsep_mobile.runtime.replay import stream
    from avsep_mobile.streaming import TorchRunner

    model, _ = checkpoint.load(None, None)
    sigs = signature.signatures(model, 2, 1)
    shapes = {s.name: tuple(s.shape) for s in sigs["av_step"].states}
    result = {"threads": 1, "cpus": os.cpu_count(), "load_avg_start": [round(x, 2) for x in os.getloadavg()],
              "state_tensors": len(shapes), "state_floats": sum(math.prod(s) for s in shapes.values())}
    if not args.no_coreml:
        result["coreml_av_step_ops"] = coreml_counts(model)
        print("CoreML av_step non-const ops: " + ", ".join(f"{k} {v['total']}" for k, v in result["coreml_av_step_ops"].items()), flush=True)
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        work.mkdir(parents=True, exist_ok=True)
        with _quiet():
            calib = int8.calibration_feeds(model, 2, 1, int8.calibration_examples(speakers=2))
        files = {"many": export_many(model, work, int8.onnx_hook(calib, model)), "packed": export_packed(model, work, calib["av_step"])}
        print("exported", flush=True)

        vec = vectors.make(model, 2, 1, seconds=2.0)
        torch_runner = TorchRunner(model, 2, 1)
        ref = stream(torch_runner, vec, sigs)
        parity = {}
        for variant, paths in files.items():
            for kind, p in paths.items():
                got = stream(AVOnly(_runner(p), torch_runner, shapes if variant == "packed" else None), vec, sigs)
                parity[f"{kind}/{variant}"] = {k: round(metrics.snr_db(ref[f"av_step/{k}"], got[f"av_step/{k}"]), 1) for k in ("speakers", "residual")}
        result["closed_loop_snr_db_vs_float_torch"] = parity
        print("parity " + json.dumps(parity), flush=True)

        feeds = record_feeds(model, 2, 1, vec, sigs)["av_step"]
        packed_feeds = [pack(f, list(shapes)) for f in feeds]
        calls = {}
        for variant, paths in files.items():
            fs = packed_feeds if variant == "packed" else feeds
            for kind, p in paths.items():
                it, r = itertools.cycle(fs), _runner(p)
                calls[f"{kind}/{variant}"] = (lambda r=r, it=it: r.run("av_step", next(it)))
                if p.suffix == ".tflite":
                    calls[f"{kind}_invoke/{variant}"] = _invoke_only(p, "av_step", fs[len(fs) // 2])
        times = interleaved(calls, rounds=args.rounds, per_round=args.per_round)
    result["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["av_step_ms"] = times
    kinds = sorted({k.split("/")[0] for k in times}, key=lambda k: list(times).index(f"{k}/many"))
    result["packed_over_many"] = {k: {s: round(times[f"{k}/packed"][s] / times[f"{k}/many"][s], 3) for s in ("p10_ms", "median_ms")} for k in kinds}
    result["int8_over_fp32"] = {v: {rt: {s: round(times[f"{rt}_int8/{v}"][s] / times[f"{rt}_fp32/{v}"][s], 3) for s in ("p10_ms", "median_ms")}
                                     for rt in ("tflite", "onnx")} for v in files}
    print(format_result(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def format_result(r: dict) -> str:
    lines = [f"av_step, {r['state_tensors']} state tensors ({r['state_floats']} floats) vs one packed; 1 thread, interleaved; "
             f"load average {r['load_avg_start'][0]:.2f} -> {r['load_avg_end'][0]:.2f} on {r['cpus']} CPUs",
             f"  {'':20s} {'many p10/med ms':>18s} {'packed/many p10 (median)':>26s}"]
    for k, v in r["packed_over_many"].items():
        t = r["av_step_ms"][f"{k}/many"]
        lines.append(f"  {k:20s} {t['p10_ms']:8.4f}/{t['median_ms']:.4f} {v['p10_ms']:16.3f} ({v['median_ms']:.3f})")
    for v, per in r["int8_over_fp32"].items():
        lines.append(f"  int8/fp32 {v}: " + "; ".join(f"{rt} {x['p10_ms']:.3f} ({x['median_ms']:.3f})" for rt, x in per.items()))
    lines.append("  closed-loop SNR vs float torch (speakers/residual dB): " +
                 "; ".join(f"{k} {v['speakers']}/{v['residual']}" for k, v in r["closed_loop_snr_db_vs_float_torch"].items()))
    if "coreml_av_step_ops" in r:
        lines.append("  CoreML av_step non-const ops: " + ", ".join(f"{k} {v['total']}" for k, v in r["coreml_av_step_ops"].items()))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
