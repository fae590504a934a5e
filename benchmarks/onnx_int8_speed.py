"""onnxruntime step times of the shipped model, fp32 vs int8 variants, in one
run (1 thread, interleaved rounds), with each variant's output SNR vs float
torch on the test-vector stream.

    OMP_NUM_THREADS=1 python benchmarks/onnx_int8_speed.py [--seconds 3] [--rounds 5]

Variants: fp32; qdq (the shipped int8 recipe, quantize.int8.onnx_hook:
static QDQ per-channel on named MatMul/Gemm/Conv); qoperator (the same
calibration written as QLinearMatMul/QGemm/QLinearConv ops); dynamic
(quantize_dynamic on MatMul of named layers only: int8 weights per channel,
activations quantized at run time, MatMulInteger which ORT fuses).
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def _ops(path) -> dict:
    import onnx

    return dict(collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node).most_common())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    from avsep_mobile import checkpoint, metrics
    from avsep_mobile.export import onnx as onnx_target
    from avsep_mobile.export import vectors
    from avsep_mobile.quantize import int8
    from avsep_mobile.runtime import runners, signature
    from avsep_mobile.runtime.replay import stream

    model, _ = checkpoint.load()
    speakers, chunk_hops = 2, 1
    sigs = {n: s.to_json() for n, s in signature.signatures(model, speakers, chunk_hops).items()}
    root = Path(tempfile.mkdtemp(prefix="onnx_int8_"))
    files = {s: onnx_target.model_file(s) for s in ("lip_step", "av_step")}
    fp32 = root / "fp32"
    fp32.mkdir()
    onnx_target.convert(model, speakers, chunk_hops, fp32, "fp32")
    calib = int8.calibration_feeds(model, speakers, chunk_hops, int8.calibration_examples())

    def variant(name, rewrite):
        d = root / name
        shutil.copytree(fp32, d)
        for f in files.values():
            rewrite(d / f)
        return d

    variants = {"fp32": fp32, "qdq": variant("qdq", int8.onnx_hook(calib, model))}

    def qoperator(path):
        proto = onnx.load(str(path))
        nodes = list(int8.onnx_layer_nodes(proto, model))
        names = [i.name for i in proto.graph.input]
        tmp = path.with_suffix(".q.onnx")
        quantize_static(str(path), str(tmp), int8._Reader(calib[path.stem], names), quant_format=QuantFormat.QOperator,
                        op_types_to_quantize=list(int8.ONNX_OPS), nodes_to_quantize=nodes, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
        tmp.replace(path)

    def dynamic(path):
        proto = onnx.load(str(path))
        nodes = [n for n in int8.onnx_layer_nodes(proto, model) if n in {x.name for x in proto.graph.node if x.op_type == "MatMul"}]
        tmp = path.with_suffix(".q.onnx")
        quantize_dynamic(str(path), str(tmp), op_types_to_quantize=["MatMul"], nodes_to_quantize=nodes, per_channel=True,
                         weight_type=QuantType.QInt8)
        tmp.replace(path)

    variants["qoperator"] = variant("qoperator", qoperator)
    variants["dynamic"] = variant("dynamic", dynamic)

    vec = vectors.make(model, speakers, chunk_hops, seconds=args.seconds)
    run = {k: runners.ONNXRunner({s: d / f for s, f in files.items()}, threads=1) for k, d in variants.items()}
    out = {}
    for k, r in run.items():
        got = stream(r, vec, sigs)
        snr = {key: round(metrics.snr_db(vec[key], got[key]), 2) for key in ("av_step/speakers", "lip_step/lip_emb")}
        out[k] = {"snr_vs_torch_db": snr, "ops": {s: _ops(d / f) for s, f in files.items() for d in [variants[k]]},
                  "bytes": sum((variants[k] / f).stat().st_size for f in files.values()), "ms": {"av_step": [], "lip_step": []}}

    class Timed:
        def __init__(self, r):
            self.r, self.kind, self.t = r, r.kind, collections.defaultdict(list)

        def __getattr__(self, n):
            return getattr(self.r, n)

        def run(self, step, feeds):
            t0 = time.perf_counter()
            o = self.r.run(step, feeds)
            self.t[step].append(time.perf_counter() - t0)
            return o

    for _ in range(args.rounds):  # interleaved, so machine load hits every variant alike
        for k, r in run.items():
            t = Timed(r)
            stream(t, vec, sigs)
            for step in ("av_step", "lip_step"):
                out[k]["ms"][step] += t.t[step]
    for k in out:
        ms = out[k].pop("ms")
        out[k]["step_ms_median"] = {s: round(1000 * statistics.median(v), 4) for s, v in ms.items()}
        out[k]["step_ms_p10"] = {s: round(1000 * statistics.quantiles(v, n=10)[0], 4) for s, v in ms.items()}
    base = out["fp32"]["step_ms_p10"]["av_step"]
    for k in out:
        out[k]["av_step_p10_vs_fp32"] = round(out[k]["step_ms_p10"]["av_step"] / base, 3)
    print(json.dumps(out, indent=1))
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
