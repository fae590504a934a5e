import numpy as np
import pytest
import torch

from avsep_mobile.model import AVSep, preset


@pytest.fixture(scope="session")
def tiny_model() -> AVSep:
    torch.manual_seed(0)
    model = AVSep(preset("tiny")).eval()
    # random but not degenerate: give the learnable biases and norms some spread
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() <= 1 or "rel_bias" in str(p.shape):
                p.add_(0.1 * torch.randn_like(p))
        model.lip_to_query.weight.mul_(20)  # make the lips matter, so slot tests are not vacuous
    return model


@pytest.fixture(scope="session")
def av_inputs():
    """2 s of a seeded mixture and random mouth crops for 2 slots at 25 fps."""
    rng = np.random.default_rng(1)
    t = np.arange(32000) / 16000
    mix = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    # one dark and one bright mouth, so the two slots' embeddings really differ
    lips = np.stack([rng.integers(0, 80, (50, 88, 88)), rng.integers(150, 256, (50, 88, 88))]).astype(np.uint8)
    return mix, lips, 25.0
