"""The command line's contract (JSON out, one-line errors) and training's
(resumable, loss goes down)."""

import json

import numpy as np
import pytest
import torch

from avsep_mobile import checkpoint
from avsep_mobile.cli import main
from avsep_mobile.model import AVSep, preset
from avsep_mobile.train import TrainConfig, train


def test_info_json_reports_sizes_macs_latency_and_states(capsys):
    assert main(["info", "--preset", "tiny", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["parameters"]["total"] == sum(p.numel() for p in AVSep(preset("tiny")).parameters())
    assert info["macs_per_second"]["audio"] > 0 and info["macs_per_second"]["video"] > 0
    assert info["latency_ms"] == 25.0
    assert "stft_in" in info["states"]["av_step"] and "video_tconv" in info["states"]["lip_step"]


def test_corrupt_checkpoint_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["info", "--checkpoint", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "corrupt" in err and len(err.splitlines()) == 1


def test_mismatched_checkpoint_is_a_one_line_error(tmp_path, capsys):
    model = AVSep(preset("tiny"))
    path = tmp_path / "m.pt"
    checkpoint.save(path, model)
    ck = torch.load(path, weights_only=False)
    ck["config"]["d_model"] = 48  # weights no longer fit the config
    torch.save(ck, path)
    assert main(["info", "--checkpoint", str(path)]) == 2
    assert "does not match" in capsys.readouterr().err


def _synthetic_batches(seed=0, batch=2, seconds=1.0):
    """Two tones with matching mouth brightness: enough signal to learn from."""
    rng = np.random.default_rng(seed)
    n, frames = int(16000 * seconds), int(25 * seconds) + 1
    t = np.arange(n) / 16000
    while True:
        f = rng.uniform(150, 600, (batch, 2, 1))
        env = (np.sin(2 * np.pi * rng.uniform(1, 4, (batch, 2, 1)) * t) > 0).astype(np.float32)
        src = (0.3 * np.sin(2 * np.pi * f * t) * env).astype(np.float32)
        idx = np.minimum((np.arange(frames) / 25 * 16000).astype(int), n - 1)
        lips = np.broadcast_to((env[..., idx] * 200)[..., None, None], (batch, 2, frames, 88, 88)).astype(np.uint8)
        yield {"mix": torch.from_numpy(src.sum(1)), "sources": torch.from_numpy(src), "lips": torch.from_numpy(lips.copy()),
               "fps": torch.full((batch,), 25.0)}


def test_training_lowers_the_loss_and_resumes(tmp_path):
    torch.manual_seed(0)
    tc = TrainConfig(steps=12, batch=2, seconds=1.0, lr=3e-3, warmup=1, save_every=6)
    losses = []
    path = train(preset("tiny"), tc, tmp_path / "run", data=_synthetic_batches(), log=lambda m: None, on_step=losses.append)
    assert path.exists() and (tmp_path / "run" / "last.pt").exists()
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
    resumed = []
    train(preset("tiny"), TrainConfig(**{**vars(tc), "steps": 14}), tmp_path / "run", data=_synthetic_batches(1), on_step=resumed.append)
    assert len(resumed) == 2  # picked up at step 12
    model, meta = checkpoint.load(path)
    assert meta["steps"] == 14
