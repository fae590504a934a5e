"""Runners of exported files: run a step by name on this machine. The float
reference (`TorchRunner`) and the one replay loop (`stream`) that drives every
runner live in avsep_mobile.streaming.

Every runner has `run(step_name, feeds) -> outputs` (dicts of numpy arrays,
bound by name, never by position), `input_names(step_name)` (what it takes:
data inputs plus the explicit states) and `reset()`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from . import step_state


class TFLiteRunner:
    """LiteRT, both steps as signatures of one .tflite. The first call of a
    step goes through LiteRT's SignatureRunner (which sizes and allocates the
    tensors); later calls only set the inputs, invoke and read the outputs,
    as an app does (the SignatureRunner re-allocates on every call, measured
    as a third of a shipped int8 av_step call from Python)."""

    kind = "tflite"

    def __init__(self, path, threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self.interpreter = Interpreter(model_path=str(self.path), num_threads=threads)
        self._runners, self._inputs, self._outputs, self._ready = {}, {}, {}, set()

    def _runner(self, step: str):
        if step not in self._runners:
            if step not in self.interpreter.get_signature_list():
                raise ValueError(f"{self.path.name} has no signature {step!r}")
            r = self.interpreter.get_signature_runner(step)
            self._runners[step] = r
            self._inputs[step] = {name: d["index"] for name, d in r.get_input_details().items()}
            # the signature map can point at a stale tensor after static
            # quantization ("Tensor data is null"): read outputs by output details
            self._outputs[step] = {name: d["index"] for name, d in r.get_output_details().items()}
        return self._runners[step]

    def input_names(self, step: str) -> list[str]:
        self._runner(step)
        return list(self._inputs[step])

    def output_names(self, step: str) -> list[str]:
        self._runner(step)
        return list(self._outputs[step])

    def run(self, step: str, feeds: dict) -> dict:
        r = self._runner(step)
        x = {n: np.ascontiguousarray(feeds[n], dtype=np.float32) for n in self._inputs[step]}
        sub = getattr(r, "_subgraph_index", 0)
        if step in self._ready:
            wrapper = r._interpreter_wrapper
            for n, i in self._inputs[step].items():
                wrapper.SetTensor(i, x[n], sub)
            wrapper.Invoke(sub)
        else:
            r(**x)
            self._ready.add(step)
        return {name: self.interpreter.get_tensor(i, sub) for name, i in self._outputs[step].items()}

    def reset(self) -> None:
        pass


class ONNXRunner:
    kind = "onnx"

    def __init__(self, paths: dict, threads: int | None = None):
        """paths: {step_name: .onnx path}."""
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        self.sessions = {n: ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"]) for n, p in paths.items()}

    def input_names(self, step: str) -> list[str]:
        return [i.name for i in self.sessions[step].get_inputs()]

    def output_names(self, step: str) -> list[str]:
        return [o.name for o in self.sessions[step].get_outputs()]

    def run(self, step: str, feeds: dict) -> dict:
        s = self.sessions[step]
        outs = s.run(None, {n: np.ascontiguousarray(feeds[n], dtype=np.float32) for n in self.input_names(step)})
        return dict(zip(self.output_names(step), outs))

    def reset(self) -> None:
        pass


class CoreMLRunner:
    """macOS only: CoreML prediction does not exist elsewhere. For a stateful
    model the cache states live in an MLState per step; only stft_in and ola
    are explicit inputs."""

    kind = "coreml"

    def __init__(self, paths: dict, compute_units: str = "CPU_ONLY"):
        if sys.platform != "darwin":
            raise RuntimeError("CoreML prediction needs macOS")
        import coremltools as ct

        units = getattr(ct.ComputeUnit, compute_units)
        self.models = {}
        for step, p in paths.items():
            kw = {"function_name": step} if _is_multifunction(p) else {}
            self.models[step] = ct.models.MLModel(str(p), compute_units=units, **kw)
        self.reset()

    def reset(self) -> None:
        self.states = {n: (m.make_state() if _has_states(m) else None) for n, m in self.models.items()}

    def input_names(self, step: str) -> list[str]:
        return [i.name for i in self.models[step].get_spec().description.input] or _function(self.models[step], step, "input")

    def output_names(self, step: str) -> list[str]:
        return [o.name for o in self.models[step].get_spec().description.output] or _function(self.models[step], step, "output")

    def reset_slot(self, step: str, sig, slot: int) -> None:
        """Zero row `slot` of the per-slot states held in the step's MLState
        (the explicit ones are reset by the replay loop)."""
        st = self.states[step]
        if st is None:
            return
        for spec in step_state.state_specs(sig):
            if spec.get("per_slot") and spec["name"] not in self.input_names(step):
                value = np.array(st.read_state(spec["name"]))
                value[slot] = spec.get("init") or 0.0
                st.write_state(spec["name"], value)

    def run(self, step: str, feeds: dict) -> dict:
        x = {n: np.ascontiguousarray(feeds[n], dtype=np.float32) for n in self.input_names(step)}
        st = self.states[step]
        out = self.models[step].predict(x, state=st) if st is not None else self.models[step].predict(x)
        return {k: np.asarray(v, np.float32) for k, v in out.items()}


def _is_multifunction(path) -> bool:
    import coremltools as ct

    return len(ct.utils.load_spec(str(path)).description.functions) > 0


def _has_states(model) -> bool:
    d = model.get_spec().description
    return len(d.state) > 0 or any(len(f.state) > 0 for f in d.functions)


def _function(model, step, kind):
    for f in model.get_spec().description.functions:
        if f.name == step:
            return [t.name for t in getattr(f, kind)]
    return []


class Recording:
    """Wraps any runner and records, per step, the wall time of every call
    and (keep_feeds) a float32 copy of its named feeds: the calibration data
    of int8, the inputs of a per-op profile, the timings of `avsep bench`."""

    def __init__(self, runner, keep_feeds: bool = True):
        self.runner, self.kind, self.keep_feeds = runner, runner.kind, keep_feeds
        self.feeds: dict[str, list[dict]] = {}
        self.times: dict[str, list[float]] = {}

    def __getattr__(self, name):
        return getattr(self.runner, name)

    def run(self, step: str, feeds: dict) -> dict:
        if self.keep_feeds:
            self.feeds.setdefault(step, []).append({k: np.array(v, np.float32) for k, v in feeds.items()})
        t0 = time.perf_counter()
        out = self.runner.run(step, feeds)
        self.times.setdefault(step, []).append(time.perf_counter() - t0)
        return out


def for_bundle(bundle_dir, manifest: dict, threads: int | None = None):
    """The runner for a bundle's model files, or None where this machine cannot run them."""
    bundle_dir = Path(bundle_dir)
    files = {step: bundle_dir / f for step, f in manifest["model_files"].items()}
    target = manifest["target"]
    if target == "android":
        return TFLiteRunner(files["lip_step"], threads)
    if target == "onnx":
        return ONNXRunner(files, threads)
    if target == "ios":
        if sys.platform == "darwin":
            return CoreMLRunner(files)
        import importlib.util

        if importlib.util.find_spec("coremltools") is None:
            raise ValueError("an iOS bundle runs off macOS through CoreML's reference evaluator, which reads the "
                             "package with coremltools: pip install coremltools==9.0")
        from .coreml_eval import (
            EvaluatorRunner,  # elsewhere: the reference evaluator of the ML program
        )

        return EvaluatorRunner(files)
    return None
