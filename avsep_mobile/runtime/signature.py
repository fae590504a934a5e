"""The streaming signature: the one place that names every tensor an exported
model takes and returns, with its shape, dtype and initial value.

Exporters, the manifest, the test vectors, the parity tests and the sample apps
all read it, and bind tensors by name. A state tensor ``X`` is an input named
``X`` and an output named ``X_out``; every state starts as zeros.

Every state marked ``per_slot`` has the speaker slot on its leading axis
(step_state.py resets it row by row when a new face takes a slot).

The functions that build signatures take the model (for its state layout) and
its config duck-typed, so this module imports no torch: a bundle's manifest
carries the same signatures as JSON (`StepSignature.to_json`), which is what
the runtime reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from .chunker import flush_samples

FORMAT_VERSION = 1
STATE_OUT_SUFFIX = "_out"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple
    dtype: str = "float32"
    init: float | None = None  # states only: the fill value of the initial state
    # states only: the leading axis indexes the speaker slot (row i = slot i;
    # a decoder state has one more row, the residual slot, which is shared)
    per_slot: bool = False


@dataclass(frozen=True)
class StepSignature:
    name: str
    inputs: tuple  # TensorSpec, the per-call data
    outputs: tuple
    states: tuple

    @property
    def input_specs(self) -> tuple:
        """All graph inputs in call order: data, then states."""
        return self.inputs + self.states

    @property
    def output_specs(self) -> tuple:
        """All graph outputs in return order: data, then the new states."""
        return self.outputs + tuple(TensorSpec(s.name + STATE_OUT_SUFFIX, s.shape, s.dtype) for s in self.states)

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.input_specs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.output_specs]

    def to_json(self) -> dict:
        def spec(t):
            d = {"name": t.name, "shape": list(t.shape), "dtype": t.dtype}
            if t.init is not None:
                d["init"] = t.init
                d["per_slot"] = t.per_slot
            return d

        return {
            "inputs": [spec(t) for t in self.inputs],
            "outputs": [spec(t) for t in self.outputs],
            "states": [spec(t) for t in self.states],
        }


def _states(layout: list, shapes: dict) -> tuple:
    """layout: (name, rows, tail) per state, the model's; shapes: its full shapes (the model sizes the rows)."""
    return tuple(TensorSpec(name, tuple(shapes[name]), "float32", 0.0, rows != "shared") for name, rows, _ in layout)


def lip_step(model, speakers: int) -> StepSignature:
    c, d = model.cfg.crop_size, model.cfg.d_model
    return StepSignature(
        "lip_step",
        inputs=(TensorSpec("crops", (speakers, 1, c, c)),),
        outputs=(TensorSpec("lip_emb", (speakers, d)),),
        states=_states(model.lip_state_layout(), model.lip_state_shapes(speakers)),
    )


def av_step(model, speakers: int, chunk_hops: int = 1) -> StepSignature:
    d, n = model.cfg.d_model, model.cfg.hop_length * chunk_hops
    return StepSignature(
        "av_step",
        # `active` is float, not bool/int: TFLite rewrites int64 inputs to int32
        inputs=(TensorSpec("pcm", (1, n)), TensorSpec("lip_emb", (speakers, d)), TensorSpec("active", (speakers,))),
        outputs=(TensorSpec("speakers", (speakers, n)), TensorSpec("residual", (1, n))),
        states=_states(model.av_state_layout(), model.av_state_shapes(speakers)),
    )


def signatures(model, speakers: int, chunk_hops: int = 1) -> dict[str, StepSignature]:
    return {"lip_step": lip_step(model, speakers), "av_step": av_step(model, speakers, chunk_hops)}


def latency_ms(cfg, chunk_hops: int = 1) -> float:
    """Algorithmic latency: analysis window + (K-1) hops of chunking; no lookahead."""
    return 1000.0 * (cfg.win_length + (chunk_hops - 1) * cfg.hop_length) / cfg.sample_rate


def output_delay_samples(cfg) -> int:
    """Separated PCM is the input delayed by this many samples (window - hop)."""
    return cfg.stft_context


def stream_chunks(cfg, n_samples: int, chunk_hops: int = 1) -> int:
    """Chunks of K hops that carry n_samples and the flush behind them, so every
    real sample leaves the overlap-add buffer."""
    chunk = cfg.hop_length * chunk_hops
    return (n_samples + flush_samples(n_samples, chunk, output_delay_samples(cfg))) // chunk


def flush_hops(cfg) -> int:
    """Hops of silence that push the last real samples out of the overlap-add buffer."""
    return -(-cfg.stft_context // cfg.hop_length)


def metadata(cfg, speakers: int, chunk_hops: int = 1, lip_fps: float = 25.0) -> dict:
    """Scalars an app needs to size its buffers; embedded in every exported file."""
    return {
        "format_version": FORMAT_VERSION,
        "sample_rate": cfg.sample_rate,
        "hop_samples": cfg.hop_length,
        "chunk_hops": chunk_hops,
        "chunk_samples": cfg.hop_length * chunk_hops,
        "speakers": speakers,
        "crop_size": cfg.crop_size,
        "lip_fps": lip_fps,
        "latency_ms": latency_ms(cfg, chunk_hops),
        "output_delay_samples": output_delay_samples(cfg),
        "flush_hops": flush_hops(cfg),
        "state_out_suffix": STATE_OUT_SUFFIX,
    }
