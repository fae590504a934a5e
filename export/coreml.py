"""iOS: CoreML mlprogram from `torch.export` (as the LiteRT and ONNX
exporters), every input/output named from the signature, state as explicit
I/O (fp32 in and out, so fed-back state keeps one dtype under fp16 compute).

- iOS 17 (default): two packages, AVSepLip.mlpackage and AVSepAV.mlpackage.
- iOS 18: one multifunction package AVSep.mlpackage, functions lip_step and av_step.
- stateful (iOS 18; fp16, int8, int4: every variant that computes in fp16):
  attention/conv caches become ct.StateType held inside the model; stft_in and
  ola stay explicit I/O (as fp16 states they cost 25 dB). Not fp32: CoreML
  states are fp16 only (coremltools 9: "State only support fp16 dtype"), so
  an fp32 model cannot keep its states at its own precision.

fp16 compute keeps the signal path in fp32 (`fp32_signal_path`): the ops whose
values scale with the input level (STFT, power, mel, log input; masked
spectra, iSTFT, overlap-add, residual) and the mask normalisation. In fp16
they sit in the subnormal range (below 6.1e-5): at -20 dBFS 73 % of the
mel-power values, at -60 dBFS all of them, and a device that flushes
subnormals to zero (DESIGN.md §6, the band) then feeds log(0 + a flushed
1e-6) to the network. The network between the log-mel features and the
mask activation is level-free and runs in fp16. `export.census` checks it.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from avsep_mobile.info import weight_sparsity
from avsep_mobile.model import AVSep
from avsep_mobile.streaming import step_modules

from .folds import COREML18_FOLDS, FOLDS, STRUCTURE_FOLDS, fold, for_precision
from .steps import check_precision, metadata, sample_inputs

SPLIT_FILES = {"lip_step": "AVSepLip.mlpackage", "av_step": "AVSepAV.mlpackage"}
MULTI_FILE = "AVSep.mlpackage"
EXPLICIT_STATES = ("stft_in", "ola")  # kept as fp32 I/O in the stateful form
SPEC_VERSION = {17: 8, 18: 9}


def model_files(ios: int = 17, stateful: bool = False) -> dict[str, str]:
    return {s: MULTI_FILE for s in SPLIT_FILES} if (stateful or ios >= 18) else dict(SPLIT_FILES)


def held_states(sig, stateful: bool) -> list:
    """The states kept inside the model as ct.StateType (none unless stateful)."""
    return [s for s in sig.states if s.name not in EXPLICIT_STATES] if stateful else []


def io_names(sig, stateful: bool) -> tuple[list[str], list[str]]:
    """The model's explicit input and output names."""
    held = {s.name for s in held_states(sig, stateful)}
    ins = [n for n in sig.input_names if n not in held]
    outs = [n for n in sig.output_names if n.removesuffix("_out") not in held or n in {t.name for t in sig.outputs}]
    return ins, outs


class StatefulStep(nn.Module):
    """A step whose cache states are top-level fp16 buffers named as in the
    signature, updated in place with `buf[:] = v` (what ct.StateType maps).
    The model sits at the step's own path (`model`), so torch.export names
    its weights as in the explicit form: the int8/int4 hooks find them by name."""

    def __init__(self, step: nn.Module):
        super().__init__()
        self.model, self.sig = step.model, step.sig
        self.step = step.forward  # a bound method, not a submodule: no second path to the weights
        self.held = [s.name for s in held_states(self.sig, True)]
        self.ins, self.outs = io_names(self.sig, True)
        for s in held_states(self.sig, True):
            self.register_buffer(s.name, torch.full(s.shape, s.init, dtype=torch.float16))

    def forward(self, *args):
        feeds = dict(zip(self.ins, args))
        feeds.update({n: getattr(self, n).float() for n in self.held})
        outs = dict(zip(self.sig.output_names, self.step(*[feeds[n] for n in self.sig.input_names])))
        for n in self.held:
            getattr(self, n)[:] = outs[n + "_out"].half()
        return tuple(outs[n] for n in self.outs)


# the inputs that carry PCM: every op their values reach before a log scales
# with the input level
SIGNAL_INPUTS = ("pcm",) + EXPLICIT_STATES
GATE_INPUTS = ("active",)  # the slot gate: 1 or 0 per slot, read by the masks
LEVEL_BARRIER = "log"  # log-mel features: the level becomes an offset
# the mask activation: its outputs near zero (28 % subnormal in the shipped
# model) reach m / (sum of m + 1e-6), where flushing all of a bin's m and the
# subnormal 1e-6 would divide 0 by 0
MASK_ACTIVATION = "softplus"


def fp32_signal_path(block) -> set:
    """The ops of a MIL function block that stay fp32 under fp16 compute:
    those the PCM inputs reach without passing a log, and everything from the
    mask activation on. A function without PCM inputs (lip_step) has none."""
    seen, keep = set(), set()
    frontier = [v for n, v in block.inputs.items() if n in SIGNAL_INPUTS]
    while frontier:
        for op in frontier.pop().child_ops:
            if op in seen:
                continue
            seen.add(op)
            keep.add(op)
            if op.op_type != LEVEL_BARRIER:
                frontier.extend(op.outputs)
    if keep:  # an av_step: the mask activation and what follows it
        frontier = [o for op in block.operations if op.op_type == MASK_ACTIVATION for o in op.outputs]
        keep.update(op for op in block.operations if op.op_type == MASK_ACTIVATION)
        while frontier:
            for op in frontier.pop().child_ops:
                if op not in keep:
                    keep.add(op)
                    frontier.extend(op.outputs)
        keep.update(_from_gate_only(block))
    return keep


def _from_gate_only(block) -> set:
    """The ops computed from the slot gate input and constants alone (a few
    values, read only by the fp32 masks): in fp32 they need no cast in or out."""
    derived, ops = {v for n, v in block.inputs.items() if n in GATE_INPUTS}, set()
    for op in block.operations:
        args = [x for v in op.inputs.values() for x in (v if isinstance(v, (list, tuple)) else [v])]
        live = [v for v in args if v.op is None or v.op.op_type != "const"]
        if live and all(v in derived for v in live):
            ops.add(op)
            derived.update(op.outputs)
    return ops


def _fp16_except_signal_path():
    """FP16ComputePrecision whose op selector leaves fp32_signal_path in fp32.
    The selector sees each op of a function before the pass inserts any cast,
    so the set is computed from the untouched graph on its first call."""
    import coremltools as ct

    kept: dict[int, set] = {}

    def to_fp16(op) -> bool:
        block = op.enclosing_block
        while getattr(block, "outer_op", None) is not None:
            block = block.outer_op.enclosing_block
        if id(block) not in kept:
            kept[id(block)] = fp32_signal_path(block)
        return op not in kept[id(block)]

    return ct.transform.FP16ComputePrecision(op_selector=to_fp16)


def exported_program(module: nn.Module, example: tuple):
    """torch.export of a step (decomposed to the core ATen set coremltools reads)."""
    with torch.no_grad():
        return torch.export.export(module, example, strict=False).run_decompositions({})


DEBUG_MAP = "executorch_debug_handle_mapping.json"
# run again at the end of every conversion: the default pipeline merges reshape
# chains before add_fp16_cast, and a chain the cast of an input splits survives it
_TAIL_PASSES = ("common::merge_consecutive_reshapes", "common::dead_code_elimination")
# what a weight compressed inside the pipeline becomes: a step whose layers were
# named for compression and has none of these was not compressed
_COMPRESSED_WEIGHT_OPS = ("constexpr_affine_dequantize", "constexpr_blockwise_shift_scale", "constexpr_lut_to_dense")


def _pass_pipeline(passes: dict):
    """coremltools' default pipeline, then `passes` ({pass name: options}) and the tail."""
    import coremltools as ct

    pipeline = ct.PassPipeline.DEFAULT
    for name, options in passes.items():
        pipeline.append_pass(name)
        pipeline.set_options(name, options)
    for name in _TAIL_PASSES:
        pipeline.append_pass(name)
    return pipeline


def _convert_step(step, precision: str, ios: int, stateful: bool, passes: dict | None = None):
    """One step to an MLModel; `passes`: compression passes run inside the
    conversion (a hook's conversion_passes())."""
    import coremltools as ct

    sig = step.sig
    feeds = sample_inputs(sig)
    module = StatefulStep(step).eval() if stateful else step
    ins, outs = io_names(sig, stateful)
    program = exported_program(module, tuple(feeds[n] for n in ins))
    states = [ct.StateType(wrapped_type=ct.TensorType(shape=s.shape, dtype=np.float16), name=s.name) for s in held_states(sig, stateful)]
    return ct.convert(
        program,
        inputs=[ct.TensorType(name=n, shape=tuple(feeds[n].shape), dtype=np.float32) for n in ins],
        outputs=[ct.TensorType(name=n, dtype=np.float32) for n in outs],
        states=states or None,
        convert_to="mlprogram",
        minimum_deployment_target=ct.target.iOS18 if ios >= 18 else ct.target.iOS17,
        # int8: int8 weights, fp16 compute
        compute_precision=_fp16_except_signal_path() if precision in ("fp16", "int8", "int4") else ct.precision.FLOAT32,
        skip_model_load=True,  # Linux cannot compile/load; the spec is checked separately
        pass_pipeline=_pass_pipeline(passes or {}),
    )


def convert(model: AVSep, speakers: int, chunk_hops: int, out_dir, precision: str = "fp16", ios: int = 17,
            stateful: bool = False, quantize=None, verbose: bool = False, folds=None) -> list[Path]:
    """Write the package(s) into out_dir and return their paths.

    quantize: optional callable(ct.models.MLModel) -> MLModel applied to each
    converted step (e.g. ct.optimize.coreml.linear_quantize_weights); the hook
    for compressed exports. A hook with `conversion_passes()` ({pass name:
    options}) has them run at the end of the conversion's pipeline instead.
    If it has a `torch_model` (quantization made on the torch side,
    quantize.int8.CoreMLInt8), that model is exported instead.
    folds: the exact folds (export.folds) applied to a copy of the float model
    first; default FOLDS, COREML18_FOLDS for iOS 18 (the fused attention op).
    A quantized torch_model (its layers wrapped) takes the STRUCTURE_FOLDS only.
    """
    import coremltools as ct

    if quantize is None:
        check_precision(precision)
    if stateful and precision == "fp32":
        raise ValueError("--stateful needs fp16 compute (CoreML states are fp16 only): choose --precision fp16, int8 or int4")
    ios = 18 if stateful else ios
    if ios not in SPEC_VERSION:
        raise ValueError(f"iOS target {ios} is not supported: use 17 or 18")
    out_dir = Path(out_dir)
    model = getattr(quantize, "torch_model", model)
    meta = metadata(model, speakers, chunk_hops, precision)
    meta.update({"avsep.stateful": str(stateful), "avsep.ios": str(ios)})
    models = {}
    quiet = contextlib.ExitStack()
    if not verbose:  # coremltools prints pass-pipeline progress bars on stderr
        quiet.enter_context(contextlib.redirect_stdout(io.StringIO()))
        quiet.enter_context(contextlib.redirect_stderr(io.StringIO()))
    sparse = weight_sparsity(model) >= SPARSE_MIN_ZEROS and (precision != "int8" or ios >= 18)
    meta["avsep.sparse_weights"] = str(sparse)
    with quiet, warnings.catch_warnings():
        _ignore_converter_warnings()
        if folds is None:
            folds = COREML18_FOLDS if ios >= 18 else FOLDS
        folds = for_precision(STRUCTURE_FOLDS if getattr(quantize, "torch_model", None) is not None else folds, precision)
        exported = fold(model, folds)
        in_pipeline = getattr(quantize, "conversion_passes", None)
        for name, step in step_modules(exported, speakers, chunk_hops).items():
            if in_pipeline is not None:
                ml = _convert_step(step, precision, ios, stateful, in_pipeline())
                if not any(op.op_type in _COMPRESSED_WEIGHT_OPS for f in ml._mil_program.functions.values() for op in f.operations):
                    raise RuntimeError(f"{name}: no layer weight was compressed (did coremltools rename its consts?)")
            else:
                ml = _convert_step(step, precision, ios, stateful)
                ml = quantize(ml) if quantize is not None else ml
            ml = _store_sparse(ml) if sparse else ml
            ml.user_defined_metadata.update({**meta, "avsep.function": name})
            ml.short_description = f"avsep {name}"
            models[name] = ml
    if ios < 18:
        paths = []
        for name, ml in models.items():
            ml.save(str(out_dir / SPLIT_FILES[name]))
            # ExecuTorch's op-to-source map, which coremltools writes beside a program
            # converted from torch.export: no runtime reads it (85-200 KB an app would ship)
            (out_dir / SPLIT_FILES[name] / DEBUG_MAP).unlink(missing_ok=True)
            paths.append(out_dir / SPLIT_FILES[name])
        return paths
    with tempfile.TemporaryDirectory() as tmp:
        desc = ct.utils.MultiFunctionDescriptor()
        for name, ml in models.items():
            p = Path(tmp) / f"{name}.mlpackage"
            ml.save(str(p))
            desc.add_function(str(p), src_function_name="main", target_function_name=name)
        desc.default_function_name = "av_step"
        merged = Path(tmp) / MULTI_FILE
        ct.utils.save_multifunction(desc, str(merged))
        _set_metadata(merged, {**meta, "avsep.functions": "lip_step,av_step"})
        shutil.move(str(merged), out_dir / MULTI_FILE)
    return [out_dir / MULTI_FILE]


def _ignore_converter_warnings() -> None:
    """Silence what the converters raise about their own internals (inside
    catch_warnings): coremltools' deprecated op-registry lookups, its
    temporary directories, torch's pytree FutureWarning as coremltools calls
    it. Anything else, a deprecation of what this module calls included,
    still shows (tests/test_coreml_export.py)."""
    warnings.filterwarnings("ignore", module=r"coremltools(\.|$)")
    warnings.filterwarnings("ignore", category=ResourceWarning)
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)`", category=FutureWarning)


# a magnitude-pruned model (quantize.prune.magnitude_prune) this sparse stores its
# zeroed weights in CoreML's sparse format; with int8 that needs iOS 18 (joint compression)
SPARSE_MIN_ZEROS = 0.3


def _store_sparse(ml):
    import coremltools as ct

    config = ct.optimize.coreml.OptimizationConfig(
        global_config=ct.optimize.coreml.OpThresholdPrunerConfig(threshold=1e-12, minimum_sparsity_percentile=SPARSE_MIN_ZEROS, weight_threshold=256))
    return ct.optimize.coreml.prune_weights(ml, config)


def _set_metadata(package: Path, meta: dict) -> None:
    """save_multifunction drops user metadata: write it into the package's spec."""
    import coremltools as ct
    from coremltools.libmodelpackage import ModelPackage

    spec_path = ModelPackage(str(package)).getRootModel().path()
    spec = ct.utils.load_spec(str(package))
    spec.description.metadata.userDefined.update(meta)
    Path(spec_path).write_bytes(spec.SerializeToString())


def read_spec(path):
    import coremltools as ct

    return ct.utils.load_spec(str(path))


def check_structure(out_dir, files: dict, sigs: dict, precision: str, ios: int, stateful: bool) -> list[dict]:
    """What Linux can check without predict: each package's spec loads, has the
    deployment target's spec version, and every input/output/state has the
    signature's name, shape and dtype. Returns [{"check", "ok", "detail"}]."""
    import coremltools as ct

    f32 = ct.proto.FeatureTypes_pb2.ArrayFeatureType.FLOAT32
    f16 = ct.proto.FeatureTypes_pb2.ArrayFeatureType.FLOAT16
    ios = 18 if stateful else ios
    checks = []

    def add(check, ok, detail=""):
        checks.append({"check": check, "ok": bool(ok), "detail": detail})

    for step, sig in sigs.items():
        path = Path(out_dir) / files[step]
        try:
            spec = ct.utils.load_spec(str(path))
        except Exception as e:  # any load failure is the finding
            add(f"{step}: spec loads", False, f"{type(e).__name__}: {e}")
            continue
        add(f"{step}: spec loads", True, files[step])
        add(f"{step}: deployment target iOS {ios}", spec.specificationVersion == SPEC_VERSION[ios], f"specificationVersion {spec.specificationVersion}")
        desc = spec.description
        if len(desc.functions):
            fn = [f for f in desc.functions if f.name == step]
            add(f"{step}: function present", bool(fn), ", ".join(f.name for f in desc.functions))
            if not fn:
                continue
            ins, outs, states = fn[0].input, fn[0].output, fn[0].state
        else:
            ins, outs, states = desc.input, desc.output, desc.state
        add(f"{step}: metadata", desc.metadata.userDefined.get("avsep.signatures") is not None, "user_defined_metadata avsep.*")
        want_in, want_out = io_names(sig, stateful)
        spec_of = {t.name: t for t in sig.input_specs + sig.output_specs}
        for kind, got, want in (("inputs", ins, want_in), ("outputs", outs, want_out)):
            names = [t.name for t in got]
            add(f"{step}: {kind} names", sorted(names) == sorted(want), f"{names}")
            for t in got:
                if t.name not in spec_of:
                    continue
                arr = t.type.multiArrayType
                shape_ok = list(arr.shape) == list(spec_of[t.name].shape) or (kind == "outputs" and not len(arr.shape))
                add(f"{step}: {t.name} shape/dtype", shape_ok and arr.dataType == f32, f"{list(arr.shape)} {'float32' if arr.dataType == f32 else arr.dataType}")
        want_states = {s.name: s for s in held_states(sig, stateful)}
        add(f"{step}: states", sorted(s.name for s in states) == sorted(want_states), f"{[s.name for s in states]}")
        for s in states:
            arr = s.type.stateType.arrayType
            ok = s.name in want_states and list(arr.shape) == list(want_states[s.name].shape) and arr.dataType == f16
            add(f"{step}: state {s.name} shape/dtype", ok, f"{list(arr.shape)} fp16={arr.dataType == f16}")
    return checks
