"""The state tensors of one step, bound by name: each state X starts at its
init value, is fed as input X and replaced by output X_out after every call
(Kotlin: StepState.kt, Swift: StepState.swift).

Resetting speaker slot i (a new face takes it): row i of every state marked
``per_slot`` goes back to its init value; shared states (the audio encoder,
the STFT buffer, the residual slot's decoder row) are left alone, so the other
slots and the audio history are untouched.

A runner may instead hold states inside the runtime (CoreML's MLState;
onnxruntime's and LiteRT's own buffers with `held_state`, runners.py): the
app binds only the data per call, the runner's `input_names` omits the held
states and it returns no `X_out` for them, and ``runner.reset_slot`` resets
them by the same rule (`reset_slot` below, on the runner's buffers).
"""

from __future__ import annotations

import numpy as np

from .signature import STATE_OUT_SUFFIX, StepSignature


def state_specs(sig) -> list[dict]:
    """The states of a StepSignature or of its to_json() (a manifest's "signatures")."""
    if isinstance(sig, StepSignature):
        return [{"name": s.name, "shape": s.shape, "init": s.init, "per_slot": s.per_slot} for s in sig.states]
    return sig["states"]


def initial_state(sig, lanes: int | None = None) -> dict[str, np.ndarray]:
    """{state name: its initial value} of one step (StepSignature or its JSON);
    with a leading axis of `lanes` independent streams when given."""
    first = () if lanes is None else (lanes,)
    return {s["name"]: np.full(first + tuple(s["shape"]), s.get("init") or 0.0, np.float32) for s in state_specs(sig)}


def reset_all(state: dict, sig) -> None:
    """Every state of `state` back to its initial value, in place (buffers a
    runtime holds keep their memory)."""
    for s in state_specs(sig):
        if s["name"] in state:
            state[s["name"]][...] = s.get("init") or 0.0


def reset_slot(state: dict, sig, slot: int, lanes: bool = False) -> None:
    """Reset speaker slot `slot` in place: row `slot` of every per-slot state
    back to its initial value (numpy arrays or torch tensors), in every lane
    when the states carry a lane axis."""
    for s in state_specs(sig):
        if s.get("per_slot") and s["name"] in state:
            state[s["name"]][(slice(None), slot) if lanes else slot] = s.get("init") or 0.0


class StepState:
    """One step's explicit states, fed to a runner and carried between calls.

    >>> st = StepState("av_step", sig)
    >>> out = runner.run("av_step", st.feeds({"pcm": pcm, "lip_emb": emb, "active": act}))
    >>> st.update(out)       # X_out -> X
    >>> st.reset_slot(1)     # a new face takes slot 1
    """

    def __init__(self, step: str, sig, lanes: int | None = None):
        self.step, self.sig, self.lanes = step, sig, lanes
        self.reset()

    def reset(self) -> None:
        self.values = initial_state(self.sig, self.lanes)

    def feeds(self, data: dict) -> dict:
        return {**data, **self.values}

    def update(self, outputs: dict) -> None:
        """Take each X_out the call returned; a runner that keeps a state inside
        returns no X_out for it, and the held value is never read."""
        for name in self.values:
            out = outputs.get(name + STATE_OUT_SUFFIX)
            if out is not None:
                self.values[name] = out

    def reset_slot(self, slot: int) -> None:
        self.values = {k: np.array(v) for k, v in self.values.items()}  # runners may return read-only arrays
        reset_slot(self.values, self.sig, slot, lanes=self.lanes is not None)

    def nbytes(self) -> int:
        return sum(v.nbytes for v in self.values.values())


def reset_runner_slot(state: StepState, runner, slot: int) -> None:
    """A new face takes `slot`: its rows reset in the explicit state and, for a
    runner that holds states inside (CoreML MLState, `held_state`), in the runner."""
    state.reset_slot(slot)
    if hasattr(runner, "reset_slot"):
        runner.reset_slot(state.step, state.sig, slot)
