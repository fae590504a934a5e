"""The audio-visual speech separation transformer, in one file.

Every layer is causal and carries its own past explicitly: a layer is called as
``y, cache_out = layer(x, cache)`` on a block of T frames. Called once on a
whole recording with a zero cache it is the offline model; called K frames at a
time with the cache fed back it is the streaming model; both run the same code,
so they agree to float precision by construction.

Two entry points, mirroring the streaming contract (DESIGN.md §2):

    lips  (camera rate): crops  -> lip embeddings            (+ video state)
    audio (hop rate):    PCM, held lip embeddings, active    -> PCM per slot (+ audio state)

State names and shapes come from ``AVSep.lip_state_shapes`` and
``AVSep.av_state_shapes``; ``avsep_mobile.signature`` turns them into the
exported signature.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class ModelConfig:
    # audio front end: 16 kHz, 25 ms Hamming window, 10 ms hop
    sample_rate: int = 16000
    win_length: int = 400
    hop_length: int = 160
    n_fft: int = 512  # 257 bins
    n_mels: int = 80
    # the analysis basis is scaled so a full-scale power spectrum stays far below
    # the fp16 maximum (6.55e4); synthesis undoes it
    stft_gain: float = 1 / 32

    d_model: int = 512
    n_heads: int = 8
    ffn_mult: int = 4
    # structured pruning sets these explicitly; 0 means the dense default
    ffn_dim: int = 0  # hidden units of every feed-forward (0: ffn_mult * d_model)
    head_dim: int = 0  # width of one attention head (0: d_model // n_heads)
    audio_channels: tuple = (64, 128, 256, 512)  # causal 2D CNN, each halves the mel axis
    audio_layers: int = 4
    video_channels: tuple = (32, 64, 128, 256)  # per-frame CNN, 88 -> 44 -> 22 -> 11 -> 6 (-> 3)
    # average-pool the 88x88 crop by this factor first: a 44x44 mouth keeps its
    # shape and costs a quarter of the MACs (the video CNN dominates training time)
    video_pool: int = 1
    video_tconv_kernel: int = 3  # the seed's 3D conv, as a causal temporal conv
    video_layers: int = 2
    fusion_layers: int = 2
    decoder_layers: int = 2
    # attention sees the current frame and `attn_window` past frames (10 ms each);
    # the video transformer sees `video_window` past camera frames
    attn_window: int = 64
    video_window: int = 16
    crop_size: int = 88
    # the initial audio-video offset in hop frames (lips move before the sound)
    av_offset_init: float = 3.0

    @property
    def ffn_hidden(self) -> int:
        return self.ffn_dim or self.ffn_mult * self.d_model

    @property
    def attn_dim(self) -> int:
        """Width of all heads together: the size of a query, and half a kv cache row."""
        return self.n_heads * (self.head_dim or self.d_model // self.n_heads)

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def stft_context(self) -> int:
        return self.win_length - self.hop_length  # 240 samples carried between hops

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("audio_channels", "video_channels"):
            if k in known:
                known[k] = tuple(known[k])
        return cls(**known)


PRESETS = {
    # the seed's dimensions
    "base": ModelConfig(),
    # the shipped on-device student: about 2 M parameters
    "mobile": ModelConfig(
        d_model=128, n_heads=4, ffn_mult=2, audio_channels=(16, 32, 64), audio_layers=2,
        video_channels=(16, 24, 32, 64), video_pool=2, video_layers=1, fusion_layers=2, decoder_layers=1,
        attn_window=32, video_window=8,
    ),
    # unit tests: seconds on a laptop core
    "tiny": ModelConfig(
        d_model=32, n_heads=2, ffn_mult=2, audio_channels=(8, 16), audio_layers=1,
        video_channels=(8, 16), video_pool=2, video_layers=1, fusion_layers=1, decoder_layers=1,
        attn_window=6, video_window=3,
    ),
}


def preset(name: str) -> ModelConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return ModelConfig(**asdict(PRESETS[name]))


# ---------------------------------------------------------------- building blocks


class WindowedAttention(nn.Module):
    """Multi-head attention of each query frame over the current and `window` past
    key frames, with a learned bias per head and relative distance (no absolute
    positions, so a stream can run for hours).

    The cache holds the projected keys and values of the last `window` key frames,
    concatenated: (N, window, 2 * heads * head_dim).
    """

    def __init__(self, d: int, heads: int, window: int, head_dim: int = 0):
        super().__init__()
        if not head_dim:
            assert d % heads == 0, f"d_model {d} must be divisible by n_heads {heads}"
            head_dim = d // heads
        self.heads, self.head_dim, self.window = heads, head_dim, window
        inner = heads * head_dim
        self.q = nn.Linear(d, inner)
        self.kv = nn.Linear(d, 2 * inner)
        self.out = nn.Linear(inner, d)
        # index w of the window is relative distance (window - w) frames into the past
        self.rel_bias = nn.Parameter(torch.zeros(heads, window + 1))

    def bias(self) -> Tensor:
        return self.rel_bias

    def forward(self, x: Tensor, mem: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        """Shapes: x (N, T, D) queries, mem (N, T, D) key/value source at the same
        frames, cache (N, window, 2A) -> y (N, T, D), cache (N, window, 2A),
        A = heads * head_dim."""
        n, t, _ = x.shape
        kv = torch.cat([cache, self.kv(mem)], dim=1)  # (N, window + T, 2A)
        q = self.q(x).reshape(n, t, self.heads, self.head_dim).transpose(1, 2)  # (N, H, T, dh)
        if t <= 8:  # a streaming chunk: per-frame windows from plain slices, which every converter takes
            y = self._windowed(q, kv)
        else:  # a recording: banded attention in blocks of frames, bounded memory
            y = torch.cat([self._banded(q[:, :, i : i + 256], kv[:, i : i + 256 + self.window]) for i in range(0, t, 256)], dim=2)
        y = y.transpose(1, 2).reshape(n, t, self.heads * self.head_dim)
        return self.out(y), kv[:, t:]

    def _windowed(self, q: Tensor, kv: Tensor) -> Tensor:
        """q (N, H, T, dh), kv (N, window + T, 2D) -> (N, H, T, dh)."""
        n, h, t, dh = q.shape
        d, w = h * dh, self.window + 1
        win = torch.stack([kv[:, i : i + w] for i in range(t)], dim=1)  # (N, T, W, 2D)
        k = win[..., :d].reshape(n, t, w, h, dh).permute(0, 3, 1, 2, 4).reshape(n * h * t, w, dh)
        v = win[..., d:].reshape(n, t, w, h, dh).permute(0, 3, 1, 2, 4).reshape(n * h * t, w, dh)
        logits = torch.matmul(q.reshape(n * h * t, 1, dh), k.transpose(1, 2)) / math.sqrt(dh)  # (NHT, 1, W)
        bias = self.bias().reshape(1, h, 1, w).expand(n, h, t, w).reshape(n * h * t, 1, w)
        att = torch.softmax(logits + bias, dim=-1)
        return torch.matmul(att, v).reshape(n, h, t, dh)

    def _banded(self, q: Tensor, kv: Tensor) -> Tensor:
        """The same as _windowed as one masked matmul: q (N, H, T, dh), kv (N, window + T, 2D)."""
        n, h, t, dh = q.shape
        d, length = h * dh, kv.shape[1]
        k = kv[..., :d].reshape(n, length, h, dh).transpose(1, 2)  # (N, H, L, dh)
        v = kv[..., d:].reshape(n, length, h, dh).transpose(1, 2)
        logits = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(dh)  # (N, H, T, L)
        rel = torch.arange(length, device=q.device)[None, :] - torch.arange(t, device=q.device)[:, None]  # window index
        band = (rel >= 0) & (rel <= self.window)
        bias = self.bias()[:, rel.clamp(0, self.window)].masked_fill(~band, float("-inf"))  # (H, T, L)
        att = torch.softmax(logits + bias, dim=-1)
        return torch.matmul(att, v)


class OffsetAttention(WindowedAttention):
    """Cross-modal attention whose bias also prefers a learnable audio-video lag:
    bias(lag) = table(lag) - strength * (lag - offset)^2, lag in hop frames."""

    def __init__(self, d: int, heads: int, window: int, offset_init: float, head_dim: int = 0):
        super().__init__(d, heads, window, head_dim)
        self.offset = nn.Parameter(torch.tensor(float(offset_init)))
        self.strength = nn.Parameter(torch.full((heads, 1), -3.0))
        self.register_buffer("lags", torch.arange(window, -1, -1, dtype=torch.float32), persistent=False)

    def bias(self) -> Tensor:
        prior = F.softplus(self.strength) * (self.lags - self.offset) ** 2 / self.window
        return self.rel_bias - prior


class FeedForward(nn.Sequential):
    def __init__(self, d: int, hidden: int):
        super().__init__(nn.LayerNorm(d), nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))


class SelfAttentionBlock(nn.Module):
    """Pre-norm causal transformer layer over a window of past frames."""

    def __init__(self, cfg: ModelConfig, window: int):
        super().__init__()
        self.norm = nn.LayerNorm(cfg.d_model)
        self.attn = WindowedAttention(cfg.d_model, cfg.n_heads, window, cfg.head_dim)
        self.ffn = FeedForward(cfg.d_model, cfg.ffn_hidden)

    def forward(self, x: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        h = self.norm(x)
        y, cache = self.attn(h, h, cache)
        x = x + y
        return x + self.ffn(x), cache


class CausalConv2d(nn.Module):
    """Conv over (time, freq), causal in time, stride 2 in freq.
    Cache: the last (kernel_t - 1) input frames, (N, C_in, kernel_t - 1, F_in)."""

    def __init__(self, c_in: int, c_out: int, kernel_t: int = 3):
        super().__init__()
        self.kernel_t = kernel_t
        self.conv = nn.Conv2d(c_in, c_out, (kernel_t, 3), stride=(1, 2), padding=(0, 1))
        self.norm = nn.BatchNorm2d(c_out)  # per frame in eval, folds into the conv at export

    def forward(self, x: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        x = torch.cat([cache, x], dim=2)  # (N, C, k-1+T, F)
        new_cache = x[:, :, x.shape[2] - (self.kernel_t - 1) :]
        return F.relu(self.norm(self.conv(x))), new_cache


class CausalConv1d(nn.Module):
    """Depthwise-separable temporal conv over camera frames, causal.
    Cache: (N, C, kernel - 1)."""

    def __init__(self, c: int, kernel: int):
        super().__init__()
        self.kernel = kernel
        self.depthwise = nn.Conv1d(c, c, kernel, groups=c)
        self.pointwise = nn.Conv1d(c, c, 1)

    def forward(self, x: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        x = torch.cat([cache, x], dim=2)  # (N, C, k-1+T)
        new_cache = x[:, :, x.shape[2] - (self.kernel - 1) :]
        return F.gelu(self.pointwise(self.depthwise(x))), new_cache


def _dw_block(c_in: int, c_out: int) -> nn.Sequential:
    """MobileFaceNet-style depthwise-separable block, stride 2."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, stride=2, padding=1, groups=c_in), nn.BatchNorm2d(c_in), nn.ReLU(),
        nn.Conv2d(c_in, c_out, 1), nn.BatchNorm2d(c_out), nn.ReLU(),
    )


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


class STFT(nn.Module):
    """STFT and overlap-add iSTFT inside the graph, so the exported model takes
    and returns PCM and no app ports an FFT.

    The zero-padded n_fft-point DFT of each frame is factored (Cooley-Tukey
    "four-step", n_fft = N1 x N2 with N2 = 32): a DFT of N1 points across
    frame rows, a twiddle multiply, a DFT of N2 points across columns, each a
    small matmul or elementwise product. Same sums as one (2 bins x win)
    basis, at a quarter of the multiply-adds and about 15 KB of constants
    instead of 1.6 MB (the bases were half the int8 file).

    Streaming: analysis carries the last win - hop = 240 input samples,
    synthesis carries 240 samples of partial overlap-add; the output is the
    input delayed by 240 samples.
    """

    N2 = 32

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        win, hop, nfft, bins = cfg.win_length, cfg.hop_length, cfg.n_fft, cfg.n_bins
        if nfft % self.N2 or cfg.stft_context != win - hop or win > nfft:
            raise ValueError(f"STFT needs n_fft a multiple of {self.N2}, win <= n_fft and context = win - hop")
        self.hop, self.win, self.context, self.bins = hop, win, cfg.stft_context, bins
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
        scale = torch.full((self.k2 * n1,), 2.0, **f64)
        scale[0] = scale[bins - 1] = 1.0  # one-sided spectrum: DC and Nyquist appear once
        scale[bins:] = 0.0
        buffers = {
            "window": w * cfg.stft_gain,  # (win,)
            "rows_dft": torch.cat([rc, -rs], 1),  # (rows, 2 N1): [re | im]
            "twiddle_re": tc, "twiddle_im": -ts,  # (N2, N1)
            "cols_dft": torch.cat([torch.cat([cc, -cs_], 1), torch.cat([cs_, cc], 1)], 0),  # (2 N2, 2 K2)
            "bin_scale": scale,  # (K2 N1,)
            "cols_idft": torch.cat([torch.cat([cc.t(), cs_.t()], 1), torch.cat([-cs_.t(), cc.t()], 1)], 0),  # (2 K2, 2 N2)
            "rows_idft": torch.cat([rc.t(), -rs.t()], 0),  # (2 N1, rows)
            "synthesis_window": w / norm / nfft / cfg.stft_gain,  # (win,)
        }
        for name, value in buffers.items():  # derived from the config: not saved in checkpoints
            self.register_buffer(name, value.float(), persistent=False)

    def analyse(self, pcm: Tensor, buf: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """pcm (N, hop*T), buf (N, 240) -> re, im (N, T, B), buf."""
        x = torch.cat([buf, pcm], dim=1)  # (N, 240 + hop*T)
        new_buf = x[:, x.shape[1] - self.context :]
        n, t = x.shape[0], pcm.shape[1] // self.hop
        parts, hop = -(-self.win // self.hop), self.hop  # a frame spans 3 hop blocks (400 = 2.5 x 160)
        blocks = F.pad(x, (parts * hop - self.win, 0)).reshape(n, t + parts - 1, hop)
        frames = torch.cat([blocks[:, j : j + t] for j in range(parts)], dim=2)[..., parts * hop - self.win :]  # (N, T, win)
        y = F.pad(frames * self.window, (0, self.rows * self.N2 - self.win)).reshape(n, t, self.rows, self.N2)
        a = torch.matmul(y.transpose(2, 3), self.rows_dft)  # (N, T, N2, 2 N1)
        a_re, a_im = a[..., : self.n1], a[..., self.n1 :]
        b_re = a_re * self.twiddle_re - a_im * self.twiddle_im
        b_im = a_re * self.twiddle_im + a_im * self.twiddle_re
        z = torch.matmul(torch.cat([b_re, b_im], dim=2).transpose(2, 3), self.cols_dft)  # (N, T, N1, 2 K2)
        z = z.reshape(n, t, self.n1, 2, self.k2).permute(0, 1, 3, 4, 2).reshape(n, t, 2, self.k2 * self.n1)  # bin k1 + N1 k2
        return z[:, :, 0, : self.bins], z[:, :, 1, : self.bins], new_buf

    def synthesise(self, re: Tensor, im: Tensor, buf: Tensor) -> tuple[Tensor, Tensor]:
        """re, im (N, T, B), buf (N, 240) -> pcm (N, hop*T), buf.

        The inverse DFT of each frame (the same factoring, backwards) and an
        overlap-add by shifted slices: the sums of conv_transpose1d, which
        LiteRT runs as a slow TRANSPOSE_CONV (measured: 70-80% of av_step)."""
        n, t, _ = re.shape
        pad = self.k2 * self.n1 - self.bins
        z = torch.stack([F.pad(re, (0, pad)), F.pad(im, (0, pad))], dim=2) * self.bin_scale  # (N, T, 2, K2 N1)
        z = z.reshape(n, t, 2, self.k2, self.n1).permute(0, 1, 4, 2, 3).reshape(n, t, self.n1, 2 * self.k2)
        g = torch.matmul(z, self.cols_idft)  # (N, T, N1, 2 N2)
        g_re, g_im = g[..., : self.N2].transpose(2, 3), g[..., self.N2 :].transpose(2, 3)  # (N, T, N2, N1)
        h_re = g_re * self.twiddle_re + g_im * self.twiddle_im  # times e^{+i twiddle}
        h_im = g_im * self.twiddle_re - g_re * self.twiddle_im
        y = torch.matmul(torch.cat([h_re, h_im], dim=3), self.rows_idft)  # (N, T, N2, rows): the real part
        frames = y.transpose(2, 3).reshape(n, t, self.rows * self.N2)[..., : self.win] * self.synthesis_window  # (N, T, win)
        hop, win = self.hop, self.win
        parts = -(-win // hop)
        frames = F.pad(frames, (0, parts * hop - win)).reshape(n, t, parts, hop)  # (N, T, 3, hop)
        acc = sum(F.pad(frames[:, :, j], (0, 0, j, parts - 1 - j)) for j in range(parts))  # (N, T+2, hop)
        acc = acc.reshape(n, (t + parts - 1) * hop)[:, : t * hop + self.context]  # (N, 240 + hop*T)
        acc = acc + F.pad(buf, (0, t * hop))
        n_out = t * hop
        return acc[:, :n_out], acc[:, n_out:]


# ---------------------------------------------------------------- the network


class AudioEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.register_buffer("mel", mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels).float())
        chans = (1,) + tuple(cfg.audio_channels)
        self.convs = nn.ModuleList(CausalConv2d(a, b) for a, b in zip(chans[:-1], chans[1:]))
        f = cfg.n_mels
        for _ in cfg.audio_channels:
            f = (f + 1) // 2
        self.proj = nn.Linear(chans[-1] * f, cfg.d_model)
        self.layers = nn.ModuleList(SelfAttentionBlock(cfg, cfg.attn_window) for _ in range(cfg.audio_layers))

    def forward(self, re: Tensor, im: Tensor, state: dict, new: dict) -> Tensor:
        """re, im (N, T, B) -> features (N, T, D)."""
        power = re * re + im * im
        x = torch.log(torch.matmul(power, self.mel.t()) + 1e-6).unsqueeze(1)  # (N, 1, T, M)
        for i, conv in enumerate(self.convs):
            x, new[f"audio_conv{i}"] = conv(x, state[f"audio_conv{i}"])
        n, c, t, f = x.shape
        x = self.proj(x.permute(0, 2, 1, 3).reshape(n, t, c * f))  # (N, T, D)
        for i, layer in enumerate(self.layers):
            x, new[f"audio_attn{i}"] = layer(x, state[f"audio_attn{i}"])
        return x


class VideoEncoder(nn.Module):
    """Mouth crops -> one embedding per speaker per camera frame."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c = cfg.video_channels
        pool = [nn.AvgPool2d(cfg.video_pool)] if cfg.video_pool > 1 else []
        self.stem = nn.Sequential(*pool, nn.Conv2d(1, c[0], 3, stride=2, padding=1), nn.BatchNorm2d(c[0]), nn.ReLU())
        self.blocks = nn.Sequential(*[_dw_block(a, b) for a, b in zip(c[:-1], c[1:])])
        self.proj = nn.Linear(c[-1], cfg.d_model)
        self.tconv = CausalConv1d(cfg.d_model, cfg.video_tconv_kernel)
        self.layers = nn.ModuleList(SelfAttentionBlock(cfg, cfg.video_window) for _ in range(cfg.video_layers))
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, crops: Tensor, state: dict, new: dict) -> Tensor:
        """crops (N, T, 1, H, W) in [0, 1] -> embeddings (N, T, D)."""
        n, t = crops.shape[:2]
        x = self.blocks(self.stem(crops.reshape(n * t, *crops.shape[2:]) - 0.5))  # (NT, C, h, w)
        x = self.proj(x.mean(dim=(2, 3))).reshape(n, t, -1)  # (N, T, D)
        y, new["video_tconv"] = self.tconv(x.transpose(1, 2), state["video_tconv"])
        x = x + y.transpose(1, 2)
        for i, layer in enumerate(self.layers):
            x, new[f"video_attn{i}"] = layer(x, state[f"video_attn{i}"])
        return self.norm(x)


class FusionBlock(nn.Module):
    """Bidirectional cross-attention (audio->visual, visual->audio), then
    self-attention over the fused audio stream; one per speaker slot."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d, h, w = cfg.d_model, cfg.n_heads, cfg.attn_window
        self.norm_a, self.norm_v = nn.LayerNorm(d), nn.LayerNorm(d)
        self.a2v = OffsetAttention(d, h, w, cfg.av_offset_init, cfg.head_dim)
        self.v2a = OffsetAttention(d, h, w, -cfg.av_offset_init, cfg.head_dim)
        self.self_attn = SelfAttentionBlock(cfg, w)
        self.ffn_v = FeedForward(d, cfg.ffn_hidden)

    def forward(self, a: Tensor, v: Tensor, state: dict, new: dict, i: int) -> tuple[Tensor, Tensor]:
        na, nv = self.norm_a(a), self.norm_v(v)
        da, new[f"fusion{i}_a2v"] = self.a2v(na, nv, state[f"fusion{i}_a2v"])
        dv, new[f"fusion{i}_v2a"] = self.v2a(nv, na, state[f"fusion{i}_v2a"])
        a, v = a + da, v + dv
        a, new[f"fusion{i}_self"] = self.self_attn(a, state[f"fusion{i}_self"])
        return a, v + self.ffn_v(v)


class DecoderBlock(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.norm_q, self.norm_m = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.cross = WindowedAttention(cfg.d_model, cfg.n_heads, cfg.attn_window, cfg.head_dim)
        self.ffn = FeedForward(cfg.d_model, cfg.ffn_hidden)

    def forward(self, q: Tensor, mem: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        y, cache = self.cross(self.norm_q(q), self.norm_m(mem), cache)
        q = q + y
        return q + self.ffn(q), cache


class AVSep(nn.Module):
    """Audio-visual speech separation for S lip-conditioned speaker slots plus a
    residual slot; slots share every weight, so swapping lips swaps outputs."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.stft = STFT(cfg)
        self.audio = AudioEncoder(cfg)
        self.video = VideoEncoder(cfg)
        self.audio_type = nn.Parameter(torch.zeros(d))  # modality embeddings
        self.video_type = nn.Parameter(torch.zeros(d))
        self.fusion = nn.ModuleList(FusionBlock(cfg) for _ in range(cfg.fusion_layers))
        self.speaker_query = nn.Parameter(torch.randn(d) * 0.02)  # shared by all speaker slots
        self.residual_query = nn.Parameter(torch.randn(d) * 0.02)
        self.lip_to_query = nn.Linear(d, d)
        self.decoder = nn.ModuleList(DecoderBlock(cfg) for _ in range(cfg.decoder_layers))
        self.mask_norm = nn.LayerNorm(d)
        self.mask_head = nn.Linear(d, cfg.n_bins)

    # ------------------------------------------------------------ state layout

    def lip_state_shapes(self, speakers: int) -> "OrderedDict[str, tuple]":
        cfg, d, a = self.cfg, self.cfg.d_model, self.cfg.attn_dim
        shapes = OrderedDict(video_tconv=(speakers, d, cfg.video_tconv_kernel - 1))
        for i in range(cfg.video_layers):
            shapes[f"video_attn{i}"] = (speakers, cfg.video_window, 2 * a)
        return shapes

    def av_state_shapes(self, speakers: int) -> "OrderedDict[str, tuple]":
        cfg, a, w = self.cfg, self.cfg.attn_dim, self.cfg.attn_window
        shapes = OrderedDict(stft_in=(1, cfg.stft_context))
        f, chans = cfg.n_mels, (1,) + tuple(cfg.audio_channels)
        for i in range(len(cfg.audio_channels)):
            shapes[f"audio_conv{i}"] = (1, chans[i], 2, f)
            f = (f + 1) // 2
        for i in range(cfg.audio_layers):
            shapes[f"audio_attn{i}"] = (1, w, 2 * a)
        for i in range(cfg.fusion_layers):
            for kind in ("a2v", "v2a", "self"):
                shapes[f"fusion{i}_{kind}"] = (speakers, w, 2 * a)
        for i in range(cfg.decoder_layers):
            shapes[f"decoder{i}"] = (speakers + 1, w, 2 * a)
        shapes["ola"] = (speakers, cfg.stft_context)
        return shapes

    def zero_state(self, shapes: dict, batch: int = 1) -> dict:
        """Initial state; batch > 1 multiplies the leading dim (training, offline)."""
        dev = self.mask_head.weight.device
        return {k: torch.zeros((s[0] * batch,) + tuple(s[1:]), device=dev) for k, s in shapes.items()}

    # ------------------------------------------------------------ the two steps

    def forward_lips(self, crops: Tensor, state: dict) -> tuple[Tensor, dict]:
        """Shapes: crops (B, S, T, 1, 88, 88) in [0, 1] -> lip embeddings (B, S, T, D).
        state: lip_state_shapes with leading dim B*S."""
        b, s, t = crops.shape[:3]
        assert crops.shape[3:] == (1, self.cfg.crop_size, self.cfg.crop_size), f"crops must be (B, S, T, 1, 88, 88), got {tuple(crops.shape)}"
        new: dict = {}
        emb = self.video(crops.reshape(b * s, *crops.shape[2:]), state, new)
        return emb.reshape(b, s, t, -1), new

    def forward_audio(self, pcm: Tensor, lips: Tensor, active: Tensor, state: dict) -> tuple[dict, dict]:
        """Separate T hops of audio.

        Shapes:
            pcm     (B, hop*T) mono 16 kHz
            lips    (B, S, T, D) the held lip embedding at every hop
            active  (B, S) 1 for a tracked face, 0 for an empty slot
            state   av_state_shapes with leading dims multiplied by B
        Returns ({"speakers": (B, S, hop*T), "residual": (B, 1, hop*T),
                  "masks": (B, S+1, T, bins)}, new_state); the output is the
        input delayed by 240 samples.
        """
        b, n = pcm.shape
        s, t = lips.shape[1], lips.shape[2]
        assert n == t * self.cfg.hop_length, f"pcm has {n} samples, lips {t} hops of {self.cfg.hop_length}"
        new: dict = {}
        re, im, new["stft_in"] = self.stft.analyse(pcm, state["stft_in"])  # (B, T, bins)
        a = self.audio(re, im, state, new)  # (B, T, D)
        a_slots = (a + self.audio_type).unsqueeze(1).expand(b, s, t, -1).reshape(b * s, t, -1)
        v = lips.reshape(b * s, t, -1) + self.video_type  # (BS, T, D)
        x = a_slots
        for i, block in enumerate(self.fusion):
            x, v = block(x, v, state, new, i)

        # speaker slots query the fused stream, the residual slot the plain audio
        q_spk = x + self.speaker_query + self.lip_to_query(lips.reshape(b * s, t, -1))
        q_res = (a + self.residual_query).unsqueeze(1)  # (B, 1, T, D)
        q = torch.cat([q_spk.reshape(b, s, t, -1), q_res], dim=1).reshape(b * (s + 1), t, -1)
        mem = torch.cat([x.reshape(b, s, t, -1), a.unsqueeze(1)], dim=1).reshape(b * (s + 1), t, -1)
        for i, block in enumerate(self.decoder):
            q, new[f"decoder{i}"] = block(q, mem, state[f"decoder{i}"])

        # Wiener-style: non-negative masks, empty slots zeroed, all slots sum to one
        gate = torch.cat([active, torch.ones_like(active[:, :1])], dim=1)  # (B, S+1)
        m = F.softplus(self.mask_head(self.mask_norm(q))).reshape(b, s + 1, t, -1) * gate[:, :, None, None]
        masks = m / (m.sum(dim=1, keepdim=True) + 1e-6)  # (B, S+1, T, bins)
        out, new["ola"] = self.stft.synthesise(
            (masks[:, :s] * re.unsqueeze(1)).reshape(b * s, t, -1),
            (masks[:, :s] * im.unsqueeze(1)).reshape(b * s, t, -1),
            state["ola"],
        )
        out = out.reshape(b, s, -1)
        # the rest is the delayed mixture minus the speakers (exact, and saves an iSTFT)
        delayed = torch.cat([state["stft_in"], pcm], dim=1)[:, :n]
        residual = (delayed - out.sum(dim=1)).unsqueeze(1)
        return {"speakers": out, "residual": residual, "masks": masks}, new
