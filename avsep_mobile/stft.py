"""The audio front end inside the graph: the Hamming window, the mel
filterbank and a factored STFT / overlap-add iSTFT built from small matmuls,
so an exported model takes and returns PCM and no app ports an FFT."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# The spectrum is cfg.stft_gain x 2**SPECTRUM_SCALE_EXP times the DFT (32x for
# the 1/32 gain). fp16 range (DESIGN.md §6): a device computing the graph in
# fp16 may flush values below 2**-14 (6.1e-5) to zero, and at stft_gain alone
# most of the spectrum of speech at -45 dBFS sat there (85 % of the masked
# spectra's values, -44 dB of their energy). A power of two scales exactly in
# float32; synthesis takes it off in two halves (bin_scale, then the synthesis
# window), so neither constant is subnormal. At 2**10 a full-scale sine's
# spectrum peak (3.4 x 2**10) and its inverse DFT before the synthesis window
# (16 x 2**5) stay below the fp16 maximum (6.55e4).
SPECTRUM_SCALE_EXP = 10


def hamming(n: int) -> Tensor:
    # periodic Hamming, computed here once and stored as a buffer: converters
    # disagree about torch.hamming_window inside a graph
    k = torch.arange(n, dtype=torch.float64)
    return 0.54 - 0.46 * torch.cos(2 * math.pi * k / n)


def mel_filterbank(sr: int, n_fft: int, n_mels: int) -> Tensor:
    """Slaney-style triangular filters on the HTK mel scale, (n_mels, n_fft//2+1)."""
    def hz_to_mel(f):
        return 2595.0 * torch.log10(1.0 + f / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    freqs = torch.linspace(0, sr / 2, n_fft // 2 + 1, dtype=torch.float64)
    edges = mel_to_hz(torch.linspace(hz_to_mel(torch.tensor(0.0)), hz_to_mel(torch.tensor(sr / 2)), n_mels + 2, dtype=torch.float64))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    fb = torch.clamp(torch.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), min=0)
    return fb * (2.0 / (hi - lo))  # equal area


def _by_constant(x: Tensor, w: Tensor) -> Tensor:
    """x (N, T, ..., k) @ w (k, m). A chunk (T > 1) goes as one 2-D matmul
    over all rows: litert-torch lowers a 4-D one with two batch axes above 1
    to BROADCAST_TO + BATCH_MATMUL, which took 0.09 ms of a 0.1 ms synthesis
    at T = 2 (a FULLY_CONNECTED does it in microseconds). One hop keeps the
    plain matmul, which every converter already takes as one op."""
    if x.shape[1] == 1:
        return torch.matmul(x, w)
    return torch.matmul(x.reshape(-1, x.shape[-1]), w).reshape(*x.shape[:-1], w.shape[-1])


class STFT(nn.Module):
    """STFT and overlap-add iSTFT inside the graph, so the exported model takes
    and returns PCM and no app ports an FFT.

    The zero-padded n_fft-point DFT of each frame is factored (Cooley-Tukey
    "four-step", n_fft = N1 x N2 with N2 = 16 or 32): a DFT of N1 points
    across frame rows, a twiddle multiply, a DFT of N2 points across columns,
    each a small matmul or elementwise product. Same sums as one (2 bins x
    win) basis, at a quarter of the multiply-adds and about 25 KB of
    constants instead of 1.6 MB (the bases were half the int8 file).

    Streaming: analysis carries the last win - hop = 240 input samples,
    synthesis carries 240 samples of partial overlap-add; the output is the
    input delayed by 240 samples.
    """

    def __init__(self, cfg):
        super().__init__()
        win, hop, nfft, bins = cfg.win_length, cfg.hop_length, cfg.n_fft, cfg.n_bins
        if nfft % 32 or cfg.stft_context != win - hop or win > nfft:
            raise ValueError("STFT needs n_fft a multiple of 32, win <= n_fft and context = win - hop")
        self.hop, self.win, self.context, self.bins = hop, win, cfg.stft_context, bins
        # N2: 16 where rows of 16 samples tile the window (400 = 25 x 16: no
        # pad before the DFT, no slice after the inverse), else 32 and zeros
        self.N2 = 16 if win % 16 == 0 else 32
        n1, n2 = nfft // self.N2, self.N2
        self.n1, self.rows, self.k2 = n1, -(-win // n2), -(-bins // n1)  # frame rows of N2 samples; bins = k1 + N1 k2
        f64 = dict(dtype=torch.float64)
        w = hamming(win)
        r, k1, c, k2 = (torch.arange(x, **f64) for x in (self.rows, n1, n2, self.k2))
        tau = 2 * math.pi
        # sample t = N2 r + c, bin k = k1 + N1 k2:  e^{-i tau k t / nfft} = e^{-i tau k1 r / N1} e^{-i tau k1 c / nfft} e^{-i tau k2 c / N2}
        rows_dft = tau * r[:, None] * k1[None, :] / n1  # (rows, N1)
        twiddle = tau * c[:, None] * k1[None, :] / nfft  # (N2, N1)
        cols_dft = tau * c[:, None] * k2[None, :] / n2  # (N2, K2)
        (rc, rs), (tc, ts), (cc, cs_) = ((torch.cos(a), torch.sin(a)) for a in (rows_dft, twiddle, cols_dft))
        # dual window: perfect reconstruction for Hamming 400 / hop 160 (a sample at
        # offset i of a frame is also covered at offsets i +- k*hop of its neighbours)
        norm = torch.stack([(w[i % hop :: hop] ** 2).sum() for i in range(win)])
        half = 2.0 ** (SPECTRUM_SCALE_EXP // 2)  # the spectrum's scale comes off in two halves
        scale = torch.full((self.k2 * n1,), 2.0 / half, **f64)
        scale[0] = scale[bins - 1] = 1.0 / half  # one-sided spectrum: DC and Nyquist appear once
        scale[bins:] = 0.0
        buffers = {
            "window": w * cfg.stft_gain * 2.0**SPECTRUM_SCALE_EXP,  # (win,)
            "rows_dft": torch.cat([rc, -rs], 1),  # (rows, 2 N1): [re | im]
            "twiddle_re": tc, "twiddle_im": -ts,  # (N2, N1)
            "cols_dft": torch.cat([torch.cat([cc, -cs_], 1), torch.cat([cs_, cc], 1)], 0),  # (2 N2, 2 K2)
            "bin_scale": scale,  # (K2 N1,)
            "cols_idft": torch.cat([torch.cat([cc.t(), cs_.t()], 1), torch.cat([-cs_.t(), cc.t()], 1)], 0),  # (2 K2, 2 N2)
            "rows_idft": torch.cat([rc.t(), -rs.t()], 0),  # (2 N1, rows)
            "synthesis_window": w / norm / nfft / cfg.stft_gain / 2.0 ** (SPECTRUM_SCALE_EXP - SPECTRUM_SCALE_EXP // 2),  # (win,)
        }
        for name, value in buffers.items():  # derived from the config: not saved in checkpoints
            self.register_buffer(name, value.float(), persistent=False)

    def analyse(self, pcm: Tensor, buf: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """pcm (N, hop*T), buf (N, 240) -> re, im (N, T, B), buf."""
        spec, new_buf = self.analyse_stacked(pcm, buf)
        return spec[:, :, 0], spec[:, :, 1], new_buf

    def analyse_stacked(self, pcm: Tensor, buf: Tensor) -> tuple[Tensor, Tensor]:
        """pcm (N, hop*T), buf (N, 240) -> spectrum (N, T, 2, B) (re, im), buf.
        The model keeps re and im stacked: one slice here, one pad in
        synthesis, one multiply by the masks (each was two, plus a stack)."""
        x = torch.cat([buf, pcm], dim=1)  # (N, 240 + hop*T)
        new_buf = x[:, x.shape[1] - self.context :]
        n, t = x.shape[0], pcm.shape[1] // self.hop
        parts, hop = -(-self.win // self.hop), self.hop  # a frame spans 3 hop blocks (400 = 2.5 x 160)
        if t == 1:  # one hop: buffer + hop is exactly the frame (context = win - hop), no framing ops
            frames = (x * self.window).reshape(n, 1, self.win)
        else:
            blocks = F.pad(x, (parts * hop - self.win, 0)).reshape(n, t + parts - 1, hop)
            frames = torch.cat([blocks[:, j : j + t] for j in range(parts)], dim=2)[..., parts * hop - self.win :] * self.window  # (N, T, win)
        if self.rows * self.N2 > self.win:
            frames = F.pad(frames, (0, self.rows * self.N2 - self.win))
        y = frames.reshape(n, t, self.rows, self.N2)
        return self._spectrum(y)[..., : self.bins], new_buf

    def _spectrum(self, y: Tensor) -> Tensor:
        """Windowed frames (N, T, rows, N2) -> (N, T, 2, K2 N1), bin k1 + N1 k2."""
        n, t = y.shape[:2]
        a = _by_constant(y.transpose(2, 3), self.rows_dft)  # (N, T, N2, 2 N1)
        a_re, a_im = a[..., : self.n1], a[..., self.n1 :]
        b_re = a_re * self.twiddle_re - a_im * self.twiddle_im
        b_im = a_re * self.twiddle_im + a_im * self.twiddle_re
        z = _by_constant(torch.cat([b_re, b_im], dim=2).transpose(2, 3), self.cols_dft)  # (N, T, N1, 2 K2)
        return z.reshape(n, t, self.n1, 2, self.k2).permute(0, 1, 3, 4, 2).reshape(n, t, 2, self.k2 * self.n1)

    def synthesise(self, re: Tensor, im: Tensor, buf: Tensor) -> tuple[Tensor, Tensor]:
        """re, im (N, T, B), buf (N, 240) -> pcm (N, hop*T), buf."""
        return self.synthesise_stacked(torch.stack([re, im], dim=2), buf)

    def synthesise_stacked(self, spec: Tensor, buf: Tensor) -> tuple[Tensor, Tensor]:
        """spectrum (N, T, 2, B) (re, im), buf (N, 240) -> pcm (N, hop*T), buf.

        The inverse DFT of each frame (the same factoring, backwards) and an
        overlap-add by shifted slices: the sums of conv_transpose1d, which
        LiteRT runs as a slow TRANSPOSE_CONV (measured: 70-80% of av_step)."""
        n, t = spec.shape[:2]
        z = F.pad(spec, (0, self.k2 * self.n1 - self.bins))  # (N, T, 2, K2 N1)
        frames = self._frames(z)
        frames = frames if frames.shape[-1] == self.win else frames[..., : self.win]  # (N, T, win)
        hop, win = self.hop, self.win
        if t == 1:  # one frame: it is the whole overlap-add span (win = 240 + hop)
            acc = frames.reshape(n, win) * self.synthesis_window
        else:
            frames = frames * self.synthesis_window
            parts = -(-win // hop)
            frames = F.pad(frames, (0, parts * hop - win)).reshape(n, t, parts, hop)  # (N, T, 3, hop)
            acc = sum(F.pad(frames[:, :, j], (0, 0, j, parts - 1 - j)) for j in range(parts))  # (N, T+2, hop)
            acc = acc.reshape(n, (t + parts - 1) * hop)[:, : t * hop + self.context]  # (N, 240 + hop*T)
        acc = acc + F.pad(buf, (0, t * hop))
        n_out = t * hop
        return acc[:, :n_out], acc[:, n_out:]

    def _frames(self, z: Tensor) -> Tensor:
        """(N, T, 2, K2 N1) padded spectra -> (N, T, rows N2) frames before the synthesis window."""
        n, t = z.shape[:2]
        z = (z * self.bin_scale).reshape(n, t, 2, self.k2, self.n1).permute(0, 1, 4, 2, 3).reshape(n, t, self.n1, 2 * self.k2)
        g = _by_constant(z, self.cols_idft)  # (N, T, N1, 2 N2)
        g_re, g_im = g[..., : self.N2].transpose(2, 3), g[..., self.N2 :].transpose(2, 3)  # (N, T, N2, N1)
        h_re = g_re * self.twiddle_re + g_im * self.twiddle_im  # times e^{+i twiddle}
        h_im = g_im * self.twiddle_re - g_re * self.twiddle_im
        y = _by_constant(torch.cat([h_re, h_im], dim=3), self.rows_idft)  # (N, T, N2, rows): the real part
        return y.transpose(2, 3).reshape(n, t, self.rows * self.N2)
