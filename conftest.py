"""Fixtures shared by tests/ and parity_tests/: one tiny model, one input."""

import numpy as np
import pytest
import torch

from avsep_mobile.model import AVSep, preset


@pytest.fixture(scope="session")
def tiny_model() -> AVSep:
    """The tiny preset, seeded random weights, made non-degenerate: biases and
    norms get some spread and the lips matter, so slot tests are not vacuous."""
    torch.manual_seed(0)
    model = AVSep(preset("tiny")).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() <= 1:
                p.add_(0.1 * torch.randn_like(p))
        model.lip_to_query.weight.mul_(20)
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
