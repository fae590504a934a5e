"""The in-graph STFT: the analysis is the zero-padded real DFT of each
Hamming-windowed frame, and analysis -> synthesis reconstructs the input
delayed by the 240-sample context, streamed chunk by chunk; for the shipped
400-sample window (rows of 16 samples, N2 = 16) and for one that rows of 16
do not tile (rows of 32, zero-padded)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avsep_mobile.model import ModelConfig
from avsep_mobile.stft import SPECTRUM_SCALE_EXP, STFT, hamming


def _frames(x: np.ndarray, cfg: ModelConfig) -> np.ndarray:
    n = (len(x) - cfg.win_length) // cfg.hop_length + 1
    return np.stack([x[i * cfg.hop_length : i * cfg.hop_length + cfg.win_length] for i in range(n)])


WINDOWS = [(400, 160, 16), (392, 152, 32)]  # win, hop, the N2 chosen


@pytest.mark.parametrize("win, hop, n2", WINDOWS)
@pytest.mark.parametrize("hops", [1, 7])
def test_analysis_is_the_real_dft_of_windowed_frames(win, hop, n2, hops):
    cfg = ModelConfig(win_length=win, hop_length=hop)
    stft = STFT(cfg)
    assert stft.N2 == n2
    x = np.random.default_rng(0).standard_normal(cfg.stft_context + hops * cfg.hop_length)
    re, im, buf = stft.analyse(torch.from_numpy(x[cfg.stft_context :]).float()[None], torch.from_numpy(x[: cfg.stft_context]).float()[None])
    want = np.fft.rfft(_frames(x, cfg) * hamming(cfg.win_length).numpy(), n=cfg.n_fft) * cfg.stft_gain * 2.0**SPECTRUM_SCALE_EXP  # (T, bins)
    got = re[0].double().numpy() + 1j * im[0].double().numpy()
    assert got.shape == want.shape == (hops, cfg.n_bins)
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
    assert torch.equal(buf[0], torch.from_numpy(x[-cfg.stft_context :]).float())


@pytest.mark.parametrize("win, hop, n2", WINDOWS)
@pytest.mark.parametrize("hops", [1, 3])
def test_synthesis_of_the_analysis_is_the_delayed_input(win, hop, n2, hops):
    cfg = ModelConfig(win_length=win, hop_length=hop)
    stft = STFT(cfg)
    x = torch.from_numpy(np.random.default_rng(1).standard_normal(40 * cfg.hop_length)).float()[None]
    a_buf, s_buf, out = torch.zeros(1, cfg.stft_context), torch.zeros(1, cfg.stft_context), []
    for chunk in x.split(hops * cfg.hop_length, dim=1):  # streamed, `hops` hops a call
        re, im, a_buf = stft.analyse(chunk, a_buf)
        y, s_buf = stft.synthesise(re, im, s_buf)
        out.append(y)
    y = torch.cat(out, dim=1)[0]
    d = cfg.stft_context
    assert y[:d].abs().max() <= 1e-5 and torch.allclose(y[d:], x[0, :-d], atol=1e-5)


class _OneHop(torch.nn.Module):
    def __init__(self, stft):
        super().__init__()
        self.stft = stft

    def forward(self, pcm, a_buf, s_buf):
        spec, a_buf = self.stft.analyse_stacked(pcm, a_buf)
        return self.stft.synthesise_stacked(spec, s_buf) + (a_buf,)


def test_one_hop_of_the_shipped_window_has_no_padding_or_trim():
    """Rows of 16 tile the 400-sample window: the exported one-hop step pads
    nothing before the DFT and slices nothing off the inverse (two ops per
    call that every target would run)."""
    cfg = ModelConfig()
    n = cfg.hop_length
    ep = torch.export.export(_OneHop(STFT(cfg)).eval(), (torch.zeros(1, n), torch.zeros(1, cfg.stft_context), torch.zeros(1, cfg.stft_context)))
    calls = [node for node in ep.graph.nodes if node.op == "call_function"]
    padded = [node.args[0].meta["val"].shape[-1] for node in calls if "pad" in str(node.target)]
    assert padded and cfg.win_length not in padded, padded  # the spectrum and the overlap-add buffer only
    trimmed = [node.meta["val"].shape[-1] for node in calls if "slice" in str(node.target)]
    assert trimmed and cfg.win_length not in trimmed, trimmed  # no trim of the inverse frame to the window
