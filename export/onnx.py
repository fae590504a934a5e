"""ONNX: `lip_step.onnx` and `av_step.onnx`, named inputs/outputs from the
signature, simplified with onnxsim, metadata in `metadata_props`."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from avsep_mobile.model import AVSep
from avsep_mobile.quiet import library_prints
from avsep_mobile.streaming import step_modules

from .folds import FOLDS, fold
from .steps import check_precision, metadata, sample_inputs

OPSET = 18


def model_file(step_name: str) -> str:
    return f"{step_name}.onnx"


def convert(model: AVSep, speakers: int, chunk_hops: int, out_dir, precision: str = "fp32", quantize=None, verbose: bool = False,
            folds=FOLDS) -> list[Path]:
    """Write lip_step.onnx and av_step.onnx into out_dir.

    quantize: optional callable(path) that rewrites a float .onnx in place
    (e.g. onnxruntime static QDQ); the hook for compressed exports.
    folds: the exact folds (export.folds) applied to a copy of the float model
    first (not with a quantize hook).
    """
    if quantize is None:
        check_precision(precision, supported=("fp32",))
    import onnx
    import onnxsim

    meta = metadata(model, speakers, chunk_hops, precision)
    paths = []
    # a quantize hook finds its layers' weights partly by value (quantize.int8.onnx_layer_nodes):
    # folded weights would hide them, so a quantized export traces the unfolded model
    traced = fold(model, folds if quantize is None else ())
    for name, step in step_modules(traced, speakers, chunk_hops).items():
        feeds = sample_inputs(step.sig)
        path = Path(out_dir) / model_file(name)
        with library_prints(verbose), warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                step, tuple(feeds[n] for n in step.sig.input_names), str(path),
                input_names=step.sig.input_names, output_names=step.sig.output_names,
                opset_version=OPSET, dynamo=True, external_data=False, verbose=False,
            )
        proto = onnx.load(str(path))
        simplified, ok = onnxsim.simplify(proto)
        proto = simplified if ok else proto
        onnx.helper.set_model_props(proto, meta)
        onnx.save(proto, str(path))
        if quantize is not None:
            quantize(path)
        paths.append(path)
    return paths


def read_metadata(path) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
