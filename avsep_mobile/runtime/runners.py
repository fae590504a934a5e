"""Runners of exported files: run a step by name on this machine. The float
reference (`TorchRunner`) and the one replay loop (`stream`) that drives every
runner live in avsep_mobile.streaming.

Every runner has `run(step_name, feeds) -> outputs` (dicts of numpy arrays,
bound by name, never by position), `input_names(step_name)` (what it takes:
data inputs plus the explicit states) and `reset()`.

`held_state` (onnxruntime, LiteRT): the manifest's signatures, whose states
the runner then keeps inside the runtime between calls, so a call binds only
the data (step_state.py says how such a runner behaves). CoreML's stateful
packages hold theirs in an MLState.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from . import step_state
from .signature import STATE_OUT_SUFFIX


class TFLiteRunner:
    """LiteRT, both steps as signatures of one .tflite. The first call of a
    step goes through LiteRT's SignatureRunner (which sizes and allocates the
    tensors); later calls only set the inputs, invoke and read the outputs,
    as an app does (the SignatureRunner re-allocates on every call, measured
    as a third of a shipped int8 av_step call from Python).

    held_state: the states stay in the interpreter's own tensors: after each
    call every `X_out` is copied into input `X` inside the interpreter, in
    place (no array is made or passed through Python). Not resource
    variables: litert-torch 0.10 drops a module's buffer mutations on export
    (backend/export.py returns them ahead of the outputs and cuts them off),
    so no VAR_HANDLE/ASSIGN_VARIABLE reaches the .tflite, though LiteRT's
    kernels run them."""

    kind = "tflite"

    def __init__(self, path, threads: int | None = None, held_state: dict | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self.interpreter = Interpreter(model_path=str(self.path), num_threads=threads)
        self._runners, self._inputs, self._outputs, self._ready = {}, {}, {}, set()
        self._data_inputs, self._data_outputs = {}, {}  # what a call binds: all but the held states
        self.held = dict(held_state or {})
        self._held_names = {step: {t["name"] for t in step_state.state_specs(sig)} for step, sig in self.held.items()}

    def _runner(self, step: str):
        if step not in self._runners:
            if step not in self.interpreter.get_signature_list():
                raise ValueError(f"{self.path.name} has no signature {step!r}")
            r = self.interpreter.get_signature_runner(step)
            ins, outs = r.get_input_details(), r.get_output_details()
            self._runners[step] = r
            self._inputs[step] = {name: d["index"] for name, d in ins.items()}
            # the signature map can point at a stale tensor after static
            # quantization ("Tensor data is null"): read outputs by output details
            self._outputs[step] = {name: d["index"] for name, d in outs.items()}
            held = self._held_names.get(step, set())
            self._data_inputs[step] = [n for n in ins if n not in held]
            self._data_outputs[step] = [n for n in outs if n.removesuffix(STATE_OUT_SUFFIX) not in held]
            for n in held:
                if (ins[n]["dtype"], ins[n]["quantization"]) != (outs[n + STATE_OUT_SUFFIX]["dtype"], outs[n + STATE_OUT_SUFFIX]["quantization"]):
                    raise ValueError(f"{self.path.name}: state {n} is stored with another type or scale than {n}{STATE_OUT_SUFFIX}, "
                                     "so LiteRT cannot hold it: run this bundle without --held-state")
        return self._runners[step]

    def input_names(self, step: str) -> list[str]:
        self._runner(step)
        return list(self._data_inputs[step])

    def output_names(self, step: str) -> list[str]:
        self._runner(step)
        return list(self._data_outputs[step])

    def run(self, step: str, feeds: dict) -> dict:
        r = self._runner(step)
        x = {n: np.ascontiguousarray(feeds[n], dtype=np.float32) for n in self._data_inputs[step]}
        sub = getattr(r, "_subgraph_index", 0)
        if step in self._ready:
            wrapper = r._interpreter_wrapper
            for n, v in x.items():
                wrapper.SetTensor(self._inputs[step][n], v, sub)
            wrapper.Invoke(sub)
        else:
            r(**x, **(step_state.initial_state(self.held[step]) if step in self.held else {}))
            self._ready.add(step)
        if step in self.held:
            held = self._held_views(step)
            for n, out in self._held_views(step, STATE_OUT_SUFFIX).items():
                held[n][...] = out
        return {name: self.interpreter.get_tensor(self._outputs[step][name], sub) for name in self._data_outputs[step]}

    def _held_views(self, step: str, suffix: str = "") -> dict[str, np.ndarray]:
        """{state: a numpy view of the interpreter's tensor X (suffix "") or
        X_out}: made afresh at each use, as LiteRT asks of tensor views."""
        r = self._runners[step]
        wrapper, sub = r._interpreter_wrapper, getattr(r, "_subgraph_index", 0)
        names = self._inputs[step] if not suffix else self._outputs[step]
        return {n: wrapper.tensor(wrapper, names[n + suffix], sub) for n in self._held_names[step]}

    def reset(self) -> None:
        for step in self._ready & set(self.held):
            step_state.reset_all(self._held_views(step), self.held[step])

    def reset_slot(self, step: str, sig, slot: int) -> None:
        """Reset slot `slot` in the held input tensors (before a step's first
        call they get the initial state anyway)."""
        if step in self._ready and step in self.held:
            step_state.reset_slot(self._held_views(step), sig, slot)


class ONNXRunner:
    kind = "onnx"

    def __init__(self, paths: dict, threads: int | None = None, held_state: dict | None = None):
        """paths: {step_name: .onnx path}; held_state: see the module docstring
        (each step's states in bound buffers, _HeldBinding)."""
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        self.sessions = {n: ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"]) for n, p in paths.items()}
        self.held = {step: _HeldBinding(self.sessions[step], sig) for step, sig in (held_state or {}).items()}

    def input_names(self, step: str) -> list[str]:
        if step in self.held:
            return list(self.held[step].inputs)
        return [i.name for i in self.sessions[step].get_inputs()]

    def output_names(self, step: str) -> list[str]:
        if step in self.held:
            return list(self.held[step].outputs)
        return [o.name for o in self.sessions[step].get_outputs()]

    def run(self, step: str, feeds: dict) -> dict:
        s = self.sessions[step]
        if step in self.held:
            return self.held[step].run(s, feeds)
        outs = s.run(None, {n: np.ascontiguousarray(feeds[n], dtype=np.float32) for n in self.input_names(step)})
        return dict(zip(self.output_names(step), outs))

    def reset(self) -> None:
        for h in self.held.values():
            h.reset()

    def reset_slot(self, step: str, sig, slot: int) -> None:
        if step in self.held:
            self.held[step].reset_slot(slot)


class _HeldBinding:
    """One step's states held by onnxruntime in two buffer sets, bound once in
    two IOBindings: binding p reads set p and writes set 1 - p, then the next
    call uses the other (ping-pong), so each call's new states are written
    where the next call reads them and no state is copied. The data inputs
    and outputs are bound buffers too: a call copies the feeds in and the
    (small) outputs out."""

    def __init__(self, session, sig):
        import onnxruntime as ort

        self.sig = sig
        self.inputs = {t["name"]: np.zeros(t["shape"], np.float32) for t in sig["inputs"]}
        self.outputs = {t["name"]: np.zeros(t["shape"], np.float32) for t in sig["outputs"]}
        self.sets = [step_state.initial_state(sig), step_state.initial_state(sig)]
        self.bindings, self._values = [], []  # OrtValues over the numpy buffers (no copy on CPU), kept alive here
        for p in (0, 1):
            b = session.io_binding()
            for kind, arrays in (("input", self.inputs), ("input", self.sets[p]), ("output", self.outputs),
                                 ("output", {n + STATE_OUT_SUFFIX: a for n, a in self.sets[1 - p].items()})):
                for n, a in arrays.items():
                    v = ort.OrtValue.ortvalue_from_numpy(a)
                    (b.bind_ortvalue_input if kind == "input" else b.bind_ortvalue_output)(n, v)
                    self._values.append(v)
            self.bindings.append(b)
        self.now = 0  # the set the next call reads

    def run(self, session, feeds: dict) -> dict:
        for n, a in self.inputs.items():
            a[...] = feeds[n]
        session.run_with_iobinding(self.bindings[self.now])
        self.now = 1 - self.now
        return {n: a.copy() for n, a in self.outputs.items()}

    def reset(self) -> None:
        step_state.reset_all(self.sets[self.now], self.sig)

    def reset_slot(self, slot: int) -> None:
        step_state.reset_slot(self.sets[self.now], self.sig, slot)


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


def for_bundle(bundle_dir, manifest: dict, threads: int | None = None, held_state: bool = False):
    """The runner for a bundle's model files, or None where this machine cannot run them.
    held_state: keep the states inside the runtime (an iOS bundle holds them when stateful)."""
    bundle_dir = Path(bundle_dir)
    files = {step: bundle_dir / f for step, f in manifest["model_files"].items()}
    target = manifest["target"]
    held = manifest["signatures"] if held_state else None
    if target == "android":
        return TFLiteRunner(files["lip_step"], threads, held)
    if target == "onnx":
        return ONNXRunner(files, threads, held)
    if target == "ios":
        if held_state and not manifest.get("coreml", {}).get("stateful"):
            raise ValueError("an iOS bundle holds its states only when stateful: re-export with avsep export ios --stateful")
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
