"""Checkpoints: {"config": asdict(cfg), "state_dict": ..., "meta": ...}, and the
shipped default."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from .atomic import atomic_write_bytes
from .model import AVSep, ModelConfig, preset

# The default model: the lean student (20 ms hop, n_fft 640, no audio
# self-attention, a 22 x 22 mouth), distilled from mobile.pt (MODEL_CARD.md):
# within 0.2 dB of mobile_fast.pt, the previous default, at about 0.83x its
# android int8 cost. mobile.pt (the full model, its teacher), mobile_fast.pt
# and mobile_fast_10ms.pt stay for --checkpoint.
SHIPPED = Path(__file__).parent / "checkpoints" / "mobile_lean.pt"


# the STFT bases were saved in checkpoints before they became derived buffers
LEGACY_KEYS = ("stft.analysis", "stft.synthesis")


class CheckpointError(ValueError):
    pass


def state_dict(ckpt: dict) -> dict:
    """The model weights of a loaded checkpoint, without legacy keys."""
    return {k: v for k, v in ckpt["state_dict"].items() if k not in LEGACY_KEYS}


def save(path, model: AVSep, meta: dict | None = None, **extra) -> None:
    buf = io.BytesIO()
    torch.save({"config": model.cfg.to_dict(), "state_dict": model.state_dict(), "meta": meta or {}, **extra}, buf)
    atomic_write_bytes(Path(path), buf.getvalue())


def load_raw(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found: pass --checkpoint PATH or train one with `avsep train`")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises many kinds for a damaged file
        raise CheckpointError(f"checkpoint {path} is corrupt or not a torch file ({type(e).__name__}): re-download or retrain it") from None
    if not isinstance(ckpt, dict) or "config" not in ckpt or not isinstance(ckpt.get("state_dict"), dict):
        raise CheckpointError(f"checkpoint {path} has no config/state_dict: it was not written by avsep")
    return ckpt


def load(path=None, preset_name: str | None = None) -> tuple[AVSep, dict]:
    """Model from a checkpoint (default: the shipped one), or a fresh preset."""
    if preset_name is not None and path is None:
        return AVSep(preset(preset_name)).eval(), {}
    ckpt = load_raw(path or SHIPPED)
    if not isinstance(ckpt["config"], dict):
        raise CheckpointError(f"checkpoint {path or SHIPPED} has no config dict: it was not written by avsep")
    try:
        cfg = ModelConfig.from_dict(ckpt["config"])
    except (TypeError, ValueError) as e:  # unknown keys: a newer or older version
        raise CheckpointError(f"checkpoint {path or SHIPPED}: {str(e).strip().splitlines()[0]}") from None
    try:
        model = AVSep(cfg)
    except (TypeError, ValueError, AssertionError, RuntimeError) as e:  # values no model can be built from
        raise CheckpointError(f"checkpoint {path or SHIPPED} has an invalid config ({str(e).strip().splitlines()[0][:120]}): it is damaged") from None
    try:
        model.load_state_dict(state_dict(ckpt))
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0][:160]
        raise CheckpointError(f"checkpoint {path} does not match its config ({first}): it is damaged or from another version") from None
    return model.eval(), ckpt.get("meta", {})
