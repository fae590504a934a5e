"""Android: one .tflite with two named signatures, `lip_step` and `av_step`,
via litert-torch; metadata in the flatbuffer's `metadata` table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import torch

from avsep_mobile.model import AVSep
from avsep_mobile.quiet import library_prints
from avsep_mobile.streaming import step_modules

from .folds import LITERT_FOLDS, fold, for_precision
from .litert_modules import STEP_ROOT
from .steps import NamedStep, check_precision, metadata, sample_inputs

MODEL_FILE = "avsep.tflite"
METADATA_NAME = "avsep"  # the flatbuffer metadata entry holding the JSON metadata
_ALIGN = 64  # alignment of the weight tail in models written with buffer offsets


def _quant_config(precision: str, quant_config):
    if quant_config is not None:  # a recipe from the compression work (PT2E or ai-edge-quantizer)
        return quant_config
    if precision == "fp16":
        from litert_torch.generative.quantize import quant_recipes

        return quant_recipes.full_fp16_recipe()
    return None


def convert(model: AVSep, speakers: int, chunk_hops: int, out_dir, precision: str = "fp32", quant_config=None, verbose: bool = False,
            folds=LITERT_FOLDS) -> list[Path]:
    """Write `avsep.tflite` into out_dir and return [its path].

    quant_config: a litert_torch QuantConfig (e.g. PT2E static int8) that
    replaces the precision's default, or a callable(bytes) -> bytes applied to
    the float flatbuffer (ai-edge-quantizer, quantize.int8); the hook for
    compressed exports.
    folds: the exact folds (export.folds) applied to a copy of the model
    first, less those its precision leaves out (folds.for_precision).
    """
    post = quant_config if callable(quant_config) else None
    quant_config = None if post is not None else quant_config
    if quant_config is None and post is None:
        check_precision(precision)
    import litert_torch

    steps = step_modules(fold(model, for_precision(folds, precision)), speakers, chunk_hops)
    conv = None
    for name, step in steps.items():
        conv = (litert_torch if conv is None else conv).signature(name, NamedStep(step), sample_kwargs=sample_inputs(step.sig))
    with library_prints(verbose), torch.no_grad():  # litert-torch prints its progress tree
        edge = conv.convert(quant_config=None if post is not None else _quant_config(precision, quant_config))
        content = bytes(edge.model_content())
        if post is not None:
            content = post(content)
    path = Path(out_dir) / MODEL_FILE
    path.write_bytes(as_shipped(content, metadata(model, speakers, chunk_hops, precision)))
    return [path]


# litert-torch names a tensor after the module path that made it, each part
# package-qualified ("avsep_mobile.model.FusionBlock_0/torch.nn.modules.linear.Linear_q;3"):
# 132 KB of an 811 KB int4 file. The qualifiers go, and so does the step
# wrapper every path starts with ("NamedStep/AVStep_step", the same in a whole
# subgraph: 12 KB more), written STEP_ROOT; the class and attribute names
# stay, so litert_modules.module_label reads the same module.
_QUALIFIER = re.compile(r"(?<![\w.])(?:[a-z_][a-z0-9_]*\.)+(?=[A-Z])")
_STEP_WRAPPER = re.compile(r"(?:^|(?<=;))NamedStep/[A-Za-z0-9]+_step(?=[/;]|$)")


def compact_name(name: str) -> str:
    """A module-path tensor name without its package qualifiers and its step
    wrapper; any other name (a signature's input or output, a constant's) as
    it is."""
    if "/" not in name:
        return name
    return _STEP_WRAPPER.sub(STEP_ROOT, _QUALIFIER.sub("", name))  # every ";"-joined path of a fused op's name


def as_shipped(flatbuffer: bytes, meta: dict[str, str]) -> bytes:
    """The file as shipped: a metadata entry `avsep` holding `meta` as UTF-8
    JSON (added or replaced), and the tensor names compacted (`compact_name`).

    Models written with buffer offsets (the quantizer's fp16/int8 output keeps
    weights after the flatbuffer) are repacked with every offset shifted by the
    flatbuffer's change in size, and the weight tail appended unchanged.
    """
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    m = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    for g in m.subgraphs:
        for t in g.tensors:
            t.name = compact_name(t.name.decode()).encode()
    buf = schema.BufferT()
    buf.data = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    m.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(m.buffers) - 1
    m.metadata = [e for e in (m.metadata or []) if e.name not in (METADATA_NAME, METADATA_NAME.encode())] + [entry]
    offset_buffers = [b for b in m.buffers if (b.offset or 0) > 1]
    if not offset_buffers:
        return bytes(flatbuffer_utils.convert_object_to_bytearray(m))
    tail_start = min(b.offset for b in offset_buffers)
    size = len(flatbuffer_utils.convert_object_to_bytearray(m))
    delta = -(-size // _ALIGN) * _ALIGN - tail_start
    for b in offset_buffers:
        b.offset += delta
    head = bytes(flatbuffer_utils.convert_object_to_bytearray(m))
    if len(head) != size:  # offsets are fixed-width: the size cannot change
        raise RuntimeError("tflite metadata: flatbuffer size changed while shifting buffer offsets")
    return head + bytes(tail_start + delta - size) + bytes(flatbuffer[tail_start:])


def read_metadata(path) -> dict[str, str]:
    from ai_edge_litert import schema_py_generated as schema

    raw = Path(path).read_bytes()
    m = schema.Model.GetRootAs(raw, 0)
    for i in range(m.MetadataLength()):
        entry = m.Metadata(i)
        if entry.Name().decode() == METADATA_NAME:
            return json.loads(m.Buffers(entry.Buffer()).DataAsNumpy().tobytes())
    return {}
