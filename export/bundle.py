"""`avsep export <target>`: convert, make test vectors, prove parity, and write
the bundle into dist/<target>/ atomically. A bundle that fails its parity gate
is never written: the out dir then holds only the parity report."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from avsep_mobile.atomic import atomic_dir, check_writable
from avsep_mobile.model import AVSep
from avsep_mobile.runtime import manifest, mouth_bridge, runners, signature
from avsep_mobile.runtime.coreml_eval import KIND, EvaluatorRunner, numerics_by
from avsep_mobile.runtime.replay import stream
from avsep_mobile.streaming import TorchRunner

from . import (
    band,
    coreml,
    manifest_build,
    overlap,
    parity,
    signing,
    tflite,
    thresholds,
    vectors,
)
from . import onnx as onnx_target
from .steps import torch_threads

TARGETS = ("ios", "android", "onnx")
# the compressed model by default where it is faster (int8 schemes per target:
# quantize.int8.SCHEMES); onnx stays fp32: onnxruntime runs the int8 QDQ graph
# 3.6x slower than fp32 (shipped mobile av_step, 1 thread, p10 3.22 vs 0.89 ms;
# benchmarks/onnx_int8_speed.py): its DequantizeLinear/QuantizeLinear pairs
# around 39 Gemms and 21 MatMuls are not fused. `--precision int8` still makes it.
DEFAULT_PRECISION = {"ios": "int8", "android": "int8", "onnx": "fp32"}
# int4: 4-bit Linear weights (quantize/int4.py)
SUPPORTED_PRECISION = {"ios": ("fp32", "fp16", "int8", "int4"), "android": ("fp32", "fp16", "int8", "int4"), "onnx": ("fp32", "int8", "int4")}


def check_args(target: str, precision: str | None, hook=None, *, speakers: int = 2, chunk_hops: int = 1,
               stateful: bool = False, ios: int | None = None, int8_scheme: str | None = None, calib_data=None) -> str:
    """The precision to use; a one-line ValueError for any bad argument or
    combination, before a model is loaded, converted or calibrated.
    ios: the iOS target as asked for (None: the default)."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
    precision = precision or DEFAULT_PRECISION[target]
    if hook is None:
        if precision not in SUPPORTED_PRECISION[target]:
            raise ValueError(f"precision {precision!r} is not supported for {target}: choose {' or '.join(SUPPORTED_PRECISION[target])}")
    if speakers < 1 or chunk_hops < 1:
        raise ValueError(f"--speakers and --chunk-hops must be >= 1 (got {speakers}, {chunk_hops})")
    if ios is not None and target != "ios":
        raise ValueError(f"--ios-target applies to ios only, not {target}")
    if ios is not None and ios not in (17, 18):
        raise ValueError(f"--ios-target {ios} is not supported: choose 17 or 18")
    if stateful:
        if target != "ios":
            raise ValueError(f"--stateful applies to ios only (CoreML states), not {target}")
        if precision == "fp32":
            raise ValueError("--stateful needs fp16 compute (CoreML states are fp16 only): choose --precision fp16, int8 or int4")
        if ios == 17:
            raise ValueError("--stateful needs iOS 18 (one multifunction package): drop --ios-target 17")
    if (int8_scheme is not None or calib_data is not None) and precision != "int8":
        raise ValueError(f"--int8-scheme and --calib-data apply to --precision int8 only, not {precision}")
    if precision == "int8" and hook is None:
        _check_int8(target, speakers, int8_scheme, calib_data)
    if precision == "int4" and hook is None:
        _check_gate_speakers(speakers)
    return precision


def _check_gate_speakers(speakers: int) -> None:
    from avsep_mobile import calibration

    if speakers > calibration.VOICES["gate"]:
        raise ValueError(f"the task gate mixes at most {calibration.VOICES['gate']} speakers, got --speakers {speakers}: "
                         "export --precision fp16 or fp32")


def _check_int8(target: str, speakers: int, scheme: str | None, calib_data) -> None:
    from avsep_mobile import calibration
    from avsep_mobile.data.mixtures import list_examples
    from avsep_mobile.quantize.int8 import SCHEMES

    if scheme is not None and scheme not in SCHEMES[target]:
        raise ValueError(f"int8 scheme {scheme!r} is not available for {target}: choose {' or '.join(SCHEMES[target])}")
    _check_gate_speakers(speakers)
    if calib_data is None:
        if speakers > calibration.VOICES["calibration"]:
            raise ValueError(f"the shipped calibration set mixes at most {calibration.VOICES['calibration']} speakers: "
                             f"pass --calib-data DIR (write it with `avsep data make --out DIR --speakers {speakers}`)")
        return
    found = list_examples(calib_data)
    if not found:
        what = "holds no mixtures (DIR/<name>/mix.wav)" if Path(calib_data).is_dir() else "is not a directory"
        raise ValueError(f"--calib-data {calib_data} {what}: write some with `avsep data make --out {calib_data} --count 8`")
    n = len(list(found[0].glob("s*.wav")))
    if n != speakers:
        raise ValueError(f"--calib-data {calib_data}: {found[0].name} has {n} speakers, the export {speakers}: "
                         f"pass --speakers {n} or mixtures of {speakers} speakers")


class _GateFailed(Exception):
    pass


def _convert(job: "_Job", out_dir: Path) -> tuple[list[Path], dict, dict]:
    """(paths, model_files, manifest extras)."""
    target, model, speakers, chunk_hops, precision, hook = job.target, job.model, job.speakers, job.chunk_hops, job.precision, job.hook
    if target == "android":
        return tflite.convert(model, speakers, chunk_hops, out_dir, precision, quant_config=hook), {s: tflite.MODEL_FILE for s in ("lip_step", "av_step")}, {}
    if target == "onnx":
        paths = onnx_target.convert(model, speakers, chunk_hops, out_dir, precision, quantize=hook)
        return paths, {s: onnx_target.model_file(s) for s in ("lip_step", "av_step")}, {}
    paths = coreml.convert(model, speakers, chunk_hops, out_dir, precision, ios=job.ios, stateful=job.stateful, quantize=hook)
    extra = {"coreml": {"deployment_target": f"iOS{job.ios}", "stateful": job.stateful,
                        "model_states": {n: [s.name for s in coreml.held_states(sig, job.stateful)] for n, sig in job.sigs.items()}}}
    return paths, coreml.model_files(job.ios, job.stateful), extra


def export(target: str, model: AVSep, out_dir=None, *, precision: str | None = None, speakers: int = 2, chunk_hops: int = 1,
           stateful: bool = False, ios: int | None = None, checkpoint: dict | None = None, seconds: float = 3.0, hook=None,
           progress: bool = True, gate_mixtures: int = 12, calib_examples=None, int8_scheme: str | None = None,
           sign_key=None) -> dict:
    """Export `model` for `target` into out_dir (default dist/<target>).

    hook: a target-specific quantization recipe/callable passed to the
    converter (see each module's convert); None exports plain float/fp16, or
    for int8 the target's `int8_scheme` (quantize.int8.hook_for; default the
    shipped one), calibrated on `calib_examples` (default generated mixtures).
    gate_mixtures: int8 and int4: held-out mixtures the task gate (SI-SNR
    improvement within thresholds.TASK_MAX_SISNRI_DROP_DB of float) streams.
    sign_key: an Ed25519 private key (signing.load_private): manifest.sig is
    written beside manifest.json inside the same atomic write.
    Returns the parity report with "out" and "passed".
    """
    precision = check_args(target, precision, hook, speakers=speakers, chunk_hops=chunk_hops, stateful=stateful, ios=ios,
                           int8_scheme=int8_scheme)
    ios = 18 if stateful else (ios or 17)
    out_dir = Path(out_dir or Path("dist") / target)
    check_writable(out_dir)  # before minutes of conversion
    calibrate = precision == "int8" and hook is None
    gate_n = gate_mixtures if precision in thresholds.TASK_MAX_SISNRI_DROP_DB else 0
    # the float side needs no export: made in the second process while this one calibrates and converts
    float_side = overlap.submit(_float_side, model, speakers, chunk_hops, seconds, gate_n)
    phases = tqdm(total=3 + calibrate, desc=f"export {target}", disable=not progress, dynamic_ncols=True)
    if calibrate:  # a minute or more: shown as the first phase
        from avsep_mobile.quantize import int8

        phases.set_postfix_str("int8 calibration")
        try:
            with torch_threads(1):
                hook = int8.hook_for(target, model, speakers, chunk_hops, calib_examples, scheme=int8_scheme)
        except BaseException:
            phases.close()
            raise
        phases.update()
    if precision == "int4" and hook is None:  # weights only: no calibration
        from avsep_mobile.quantize import int4

        hook = int4.hook_for(target, model, ios)
    sr = model.cfg.sample_rate
    report: dict = {"target": target, "precision": precision, "host": f"{platform.system()} {platform.machine()}",
                    "checkpoint": checkpoint or {}, "export_seconds": {}}

    job = _Job(target, model, speakers, chunk_hops, precision, stateful, ios, hook)
    ref = got = None
    try:
        with torch_threads(1), atomic_dir(out_dir) as tmp:
            t0 = time.perf_counter()
            phases.set_postfix_str("convert")
            paths, model_files, extra = _convert(job, tmp)
            report["export_seconds"]["convert"] = round(time.perf_counter() - t0, 1)
            phases.update()

            t0 = time.perf_counter()
            phases.set_postfix_str("test vectors")
            ref, level_refs, gate_floats = float_side.result()
            vectors.write(ref, tmp / "test_vectors")
            # the apps' mouth bridge: the constants and per-slot renderer params `avsep separate` uses
            (tmp / mouth_bridge.FILE).write_text(json.dumps(mouth_bridge.config(speakers), indent=1) + "\n")
            report["export_seconds"]["test_vectors"] = round(time.perf_counter() - t0, 1)
            phases.update()

            t0 = time.perf_counter()
            phases.set_postfix_str("parity")
            got = _prove(job, tmp, model_files, ref, level_refs, gate_floats, gate_mixtures, report, _bar(progress))
            report["export_seconds"]["parity"] = round(time.perf_counter() - t0, 1)
            entries = manifest.file_entries(tmp)
            report["files_bytes"] = {p.name: entries[p.name]["bytes"] for p in paths}
            phases.update()
            parity.write_report(tmp, report, ref, got, sr)
            if not report["passed"]:
                raise _GateFailed
            _write_manifest(job, tmp, model_files, extra, report, checkpoint, sign_key)
    except _GateFailed:
        with atomic_dir(out_dir) as tmp:
            parity.write_report(tmp, report, ref, got, sr)
    finally:
        phases.close()
    report["out"] = str(out_dir)
    return report


@dataclass(frozen=True)
class _Job:
    """What one export converts and checks."""

    target: str
    model: AVSep
    speakers: int
    chunk_hops: int
    precision: str
    stateful: bool
    ios: int
    hook: object

    @property
    def sigs(self) -> dict:
        return signature.signatures(self.model, self.speakers, self.chunk_hops)


def _bar(progress: bool):
    """desc -> (a nested tqdm bar, its update(i, n) callback)."""
    def bar(desc):
        b = tqdm(desc=f"  {desc}", disable=not progress, dynamic_ncols=True, leave=False)

        def update(i, n):
            b.total = n
            b.update(i - b.n)
        return b, update
    return bar


def _prove(job: _Job, tmp: Path, model_files: dict, ref: dict, level_refs, gate_floats, gate_mixtures: int, report: dict, bar):
    """The parity phase on the converted files in `tmp`: the streamed test
    vectors against float (or CoreML's structure where it cannot run), the
    task gate, and the levels x band gate; fills `report` ("passed",
    "failed", ...) and returns the runner's outputs (None without a runner)."""
    sigs, sr, got = job.sigs, job.model.cfg.sample_rate, None
    report["calls"] = {"lip_step": int(ref["lip_step/crops"].shape[0]), "av_step": int(ref["av_step/pcm"].shape[0])}
    runner = runners.for_bundle(tmp, {"target": job.target, "model_files": model_files}, threads=1)
    # the band's slowest corners start in the second process now; the rest stream here meanwhile
    band_started = None if runner is None else band.start(runner, job.model, job.speakers, job.chunk_hops, level_refs, sigs,
                                                          job.precision)
    if runner is None:
        checks = coreml.check_structure(tmp, model_files, sigs, job.precision, job.ios, job.stateful)
        report.update(parity.structural(checks, f"CoreML prediction needs macOS (this is {platform.system()})"))
    else:
        b, update = bar(f"{runner.kind} stream")
        got = stream(runner, ref, sigs, progress=update)
        b.close()
        report["runner"] = runner.kind
        report.update(parity.compare(ref, got, job.precision, sr))
        report["numerics"] = numerics_by(runner.kind)
        if runner.kind == KIND and job.precision != "fp32":
            # the other end of the band a device falls in: the same program at fp32 compute
            high = stream(EvaluatorRunner(runner.paths, compute="fp32"), ref, sigs)
            metric = report["gate"]["metric"]
            report["fp32_compute"] = {k: v[metric] for k, v in parity.compare(ref, high, job.precision, sr)["outputs"].items()}
    if job.precision in thresholds.TASK_MAX_SISNRI_DROP_DB:
        report["task"] = _task_of(job, runner, gate_mixtures, gate_floats, bar)
        if not report["task"].get("passed", True):
            report["failed"].append("si_snri_drop_db")
            report["passed"] = False
    if runner is not None:
        # quiet and loud speech beside the vectors' level; an fp16 CoreML program in every corner of the device band
        b, update = bar("levels x band")
        report["band"] = band.gate(runner, job.model, job.speakers, job.chunk_hops, ref, got, sigs, job.precision, sr, update,
                                   level_refs, band_started)
        b.close()
        report["failed"] += report["band"]["failed"]
        if job.target == "ios":
            report["structure"] = coreml.check_structure(tmp, model_files, sigs, job.precision, job.ios, job.stateful)
            report["failed"] += [c["check"] for c in report["structure"] if not c["ok"]]
        report["passed"] = not report["failed"]
    return got


def _task_of(job: _Job, runner, gate_mixtures: int, gate_floats, bar) -> dict:
    """The int8 / int4 task gate on the export's own runner, or on the torch
    model a CoreML package was traced from where CoreML cannot run here."""
    gate_runner, numerics = runner, None
    if runner is None and getattr(job.hook, "torch_model", None) is not None:
        # the int8 numerics, simulated by the torch model the package was traced from
        gate_runner = TorchRunner(job.hook.torch_model, job.speakers, job.chunk_hops)
        numerics = "torch simulation of the package's int8 numerics (fp32 compute; CoreML predict needs macOS)"
    if gate_runner is None:
        return {"numerics": "not run: CoreML prediction needs macOS"}
    b, update = bar(f"{job.precision} task gate" + (" (torch simulation)" if numerics else ""))
    task = _task_gate(gate_runner, job.model, job.speakers, job.chunk_hops, gate_mixtures, update, job.precision, gate_floats)
    b.close()
    task["numerics"] = numerics or numerics_by(gate_runner.kind)
    return task


def _write_manifest(job: _Job, tmp: Path, model_files: dict, extra: dict, report: dict, checkpoint, sign_key) -> None:
    """manifest.json (and manifest.sig with a key) of a bundle that passed."""
    if getattr(job.hook, "scheme", None):
        extra = {**extra, "quantization": {"scheme": job.hook.scheme}}
        report["quantization"] = job.hook.scheme
    extra = {**extra, "bridge": mouth_bridge.FILE}
    if sign_key is not None:
        extra = {**extra, **signing.manifest_fields(sign_key)}
    # a model handed in without a checkpoint record: origin unknown
    m = manifest_build.build(tmp, job.target, job.precision, job.model, job.speakers, job.chunk_hops, model_files,
                             checkpoint or {"name": None, "sha256": None}, extra)
    manifest_build.write(tmp, m)
    if sign_key is not None:
        signing.sign_bundle(tmp, sign_key)


def _float_side(model, speakers: int, chunk_hops: int, seconds: float, gate_mixtures: int) -> tuple:
    """What the gates compare with, made from the float model alone: the test
    vectors, their inputs and float outputs at every gate level, and the
    task gate's float estimates (None without a task gate)."""
    from .int8_gate import float_estimates

    with torch_threads(1):
        ref = vectors.make(model, speakers, chunk_hops, seconds=seconds)
        level_refs = band.level_references(model, speakers, chunk_hops, ref, signature.signatures(model, speakers, chunk_hops))
        floats = float_estimates(model, speakers, chunk_hops, _gate_examples(gate_mixtures, speakers)) if gate_mixtures else None
    return ref, level_refs, floats


def _gate_examples(mixtures: int, speakers: int) -> list:
    """The task gate's held-out mixtures (made from the gate split of the
    shipped speech: no voice or sentence of the calibration split, no
    synthesiser needed)."""
    from avsep_mobile import calibration

    return calibration.gate_examples(mixtures, speakers, seconds=thresholds.INT8_GATE_SECONDS)


def _task_gate(runner, model, speakers, chunk_hops, mixtures, progress, precision: str = "int8", floats=None) -> dict:
    """SI-SNR improvement of the int8 / int4 export vs float on held-out mixtures."""
    from .int8_gate import task_gate

    if mixtures < 1:
        return {"numerics": "not run: gate_mixtures=0", "passed": True}
    task = task_gate(runner, model, speakers, chunk_hops, _gate_examples(mixtures, speakers), progress, floats)
    task["max_drop_db"] = thresholds.TASK_MAX_SISNRI_DROP_DB[precision]
    task["passed"] = task["si_snri_drop_db"] <= task["max_drop_db"]
    return task


def checkpoint_info(path, preset: str | None) -> dict:
    """The manifest's portable record of the model: the checkpoint's file name
    and sha256 (never its path on this machine), or the untrained preset."""
    if path is None and preset is not None:
        return {"name": None, "sha256": None, "preset": preset}
    from avsep_mobile.checkpoint import SHIPPED

    p = Path(path or SHIPPED)
    return {"name": p.name, "sha256": manifest.sha256_file(p) if p.is_file() else None}

