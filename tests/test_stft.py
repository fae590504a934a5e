"""The in-graph STFT: the analysis is the zero-padded real DFT of each
Hamming-windowed frame, and analysis -> synthesis reconstructs the input
delayed by the 240-sample context, streamed chunk by chunk."""

from __future__ import annotations

import numpy as np
import torch

from avsep_mobile.model import ModelConfig
from avsep_mobile.stft import SPECTRUM_SCALE_EXP, STFT, hamming


def _frames(x: np.ndarray, cfg: ModelConfig) -> np.ndarray:
    n = (len(x) - cfg.win_length) // cfg.hop_length + 1
    return np.stack([x[i * cfg.hop_length : i * cfg.hop_length + cfg.win_length] for i in range(n)])


def test_analysis_is_the_real_dft_of_windowed_frames():
    cfg = ModelConfig()
    stft = STFT(cfg)
    x = np.random.default_rng(0).standard_normal(cfg.stft_context + 7 * cfg.hop_length)
    re, im, buf = stft.analyse(torch.from_numpy(x[cfg.stft_context :]).float()[None], torch.from_numpy(x[: cfg.stft_context]).float()[None])
    want = np.fft.rfft(_frames(x, cfg) * hamming(cfg.win_length).numpy(), n=cfg.n_fft) * cfg.stft_gain * 2.0**SPECTRUM_SCALE_EXP  # (T, bins)
    got = re[0].double().numpy() + 1j * im[0].double().numpy()
    assert got.shape == want.shape == (7, cfg.n_bins)
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
    assert torch.equal(buf[0], torch.from_numpy(x[-cfg.stft_context :]).float())


def test_synthesis_of_the_analysis_is_the_delayed_input():
    cfg = ModelConfig()
    stft = STFT(cfg)
    x = torch.from_numpy(np.random.default_rng(1).standard_normal(40 * cfg.hop_length)).float()[None]
    a_buf, s_buf, out = torch.zeros(1, cfg.stft_context), torch.zeros(1, cfg.stft_context), []
    for chunk in x.split(3 * cfg.hop_length, dim=1):  # streamed, 3 hops a call
        re, im, a_buf = stft.analyse(chunk, a_buf)
        y, s_buf = stft.synthesise(re, im, s_buf)
        out.append(y)
    y = torch.cat(out, dim=1)[0]
    d = cfg.stft_context
    assert y[:d].abs().max() <= 1e-5 and torch.allclose(y[d:], x[0, :-d], atol=1e-5)
