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

from .stft import SPECTRUM_SCALE_EXP, STFT, mel_filterbank


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
        """The config saved in a checkpoint; a key this version does not know
        means the checkpoint is from another version: refuse it."""
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown config keys {', '.join(unknown)}: the checkpoint is from another avsep-mobile version")
        d = dict(d)
        for k in ("audio_channels", "video_channels"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


PRESETS = {
    # the seed's dimensions
    "base": ModelConfig(),
    # the shipped on-device student: 1.25 M parameters. Its attention sees 16
    # past hops: at 32 every K = 1 step spent over half its LiteRT time copying
    # key/value caches (README, "Measured"); 16 cost 0.03 / 0.17 dB SI-SNRi
    # (unseen sentences / voices) after a 2000-step fine-tune (MODEL_CARD.md)
    "mobile": ModelConfig(
        d_model=128, n_heads=4, ffn_mult=2, audio_channels=(16, 32, 64), audio_layers=2,
        video_channels=(16, 24, 32, 64), video_pool=2, video_layers=1, fusion_layers=2, decoder_layers=1,
        attn_window=16, video_window=8,
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


BATCH_NORM_STATS = ("running_mean", "running_var", "num_batches_tracked")  # buffers that are weights


def _softplus_inverse(y: Tensor) -> Tensor:
    """x with softplus(x) = y (y > 0): how a copy sets a strength to a new value."""
    return y + torch.log(-torch.expm1(-y))


class WindowedAttention(nn.Module):
    """Multi-head attention of each query frame over the current and `window` past
    key frames, with a learned bias per head and relative distance (no absolute
    positions, so a stream can run for hours).

    The cache holds the projected keys and values of the last `window` key
    frames, head-major: (N, 2 * heads, window, head_dim), the keys of every head,
    then the values of every head (the kv projection's output order). A new
    frame is appended on the time axis: at T = 1 its projection is a reshape
    away from the cache layout, so a streaming step has no transposes and no
    head splitting. `state_key` names the cache in the state dict.

    Two ways to compute the same sums: a streaming chunk (T <= 8 frames) gathers
    each query's window with plain slices (`_windowed`, what every converter
    takes); a recording uses one banded, masked matmul per 256 frames
    (`_banded`, bounded memory). They differ only in summation order (float
    rounding); tests/test_streaming.py checks them against each other.
    """

    MAX_CHUNK = 8  # the most frames a streaming chunk holds; a longer call is a recording

    def __init__(self, d: int, heads: int, window: int, head_dim: int = 0, state_key: str = ""):
        super().__init__()
        self.state_key = state_key
        if not head_dim:
            assert d % heads == 0, f"d_model {d} must be divisible by n_heads {heads}"
            head_dim = d // heads
        self.heads, self.head_dim, self.window = heads, head_dim, window
        self.logit_scale = head_dim**-0.5  # a plain attribute: an export copy may fold it into q
        inner = heads * head_dim
        self.q = nn.Linear(d, inner)
        self.kv = nn.Linear(d, 2 * inner)
        self.out = nn.Linear(inner, d)
        # index w of the window is relative distance (window - w) frames into the past
        self.rel_bias = nn.Parameter(torch.zeros(heads, window + 1))

    @property
    def cache_shape(self) -> tuple:
        return (2 * self.heads, self.window, self.head_dim)

    def bias(self) -> Tensor:
        return self.rel_bias

    def forward(self, x: Tensor, mem: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        """Shapes: x (N, T, D) queries, mem (N, T, D) key/value source at the same
        frames, cache (N, 2H, window, dh) -> y (N, T, D), cache (N, 2H, window, dh)."""
        t = x.shape[1]
        kv = torch.cat([cache, _split_heads(self.kv(mem), 2 * self.heads)], dim=2)  # (N, 2H, window + T, dh)
        q = _split_heads(self.q(x), self.heads)  # (N, H, T, dh)
        if t <= self.MAX_CHUNK:  # a streaming chunk: per-frame windows from plain slices, which every converter takes
            y = self._windowed(q, kv)
        else:  # a recording: banded attention in blocks of frames, bounded memory
            y = torch.cat([self._banded(q[:, :, i : i + 256], kv[:, :, i : i + 256 + self.window]) for i in range(0, t, 256)], dim=2)
        return self.out(_merge_heads(y)), kv[:, :, t:]

    def _windowed(self, q: Tensor, kv: Tensor) -> Tensor:
        """q (N, H, T, dh), kv (N, 2H, window + T, dh) -> (N, H, T, dh)."""
        n, h, t, dh = q.shape
        w = self.window + 1
        if t == 1:  # the one query's window is the whole of kv
            win = kv  # (N, 2H, W, dh)
        else:  # (N, 2H, T, W, dh) -> (N, 2H * T, W, dh): keys of (head, frame) pairs, then values
            win = torch.stack([kv[:, :, i : i + w] for i in range(t)], dim=2).reshape(n, 2 * h * t, w, dh)
        k, v = win[:, : h * t], win[:, h * t :]  # (N, HT, W, dh)
        bias = self.bias().reshape(h, 1, 1, w).expand(h, t, 1, w).reshape(h * t, 1, w)
        return self._attend(q.reshape(n, h * t, 1, dh), k, v, bias).reshape(n, h, t, dh)

    def _banded(self, q: Tensor, kv: Tensor) -> Tensor:
        """The same as _windowed as one masked matmul: q (N, H, T, dh), kv (N, 2H, window + T, dh)."""
        h, t, length = q.shape[1], q.shape[2], kv.shape[2]
        return self._attend(q, kv[:, :h], kv[:, h:], self.band_bias(t, length, float("-inf")))

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, bias: Tensor) -> Tensor:
        """softmax(q k^T scale + bias) v over the last two axes (an export copy may
        compute it as one fused op)."""
        logits = torch.matmul(q, k.transpose(-1, -2)) * self.logit_scale
        return torch.matmul(torch.softmax(logits + bias, dim=-1), v)

    def band_bias(self, t: int, length: int, outside: float) -> Tensor:
        """(H, T, L): for query i of T (the last T of L key frames), the bias of
        key j is the relative bias at window index j - i inside its window
        (0 <= j - i <= window), `outside` elsewhere."""
        table = self.bias()  # (H, window + 1)
        rel = torch.arange(length, device=table.device)[None, :] - torch.arange(t, device=table.device)[:, None]
        band = (rel >= 0) & (rel <= self.window)
        return table[:, rel.clamp(0, self.window)].masked_fill(~band, outside)


def _split_heads(x: Tensor, heads: int) -> Tensor:
    """(N, T, heads * dh) -> (N, heads, T, dh); at T = 1 a reshape (no data moves)."""
    n, t, c = x.shape
    if t == 1:
        return x.reshape(n, heads, 1, c // heads)
    return x.reshape(n, t, heads, c // heads).transpose(1, 2)


def _merge_heads(y: Tensor) -> Tensor:
    """(N, H, T, dh) -> (N, T, H * dh); at T = 1 a reshape."""
    n, h, t, dh = y.shape
    if t == 1:
        return y.reshape(n, 1, h * dh)
    return y.transpose(1, 2).reshape(n, t, h * dh)


class OffsetAttention(WindowedAttention):
    """Cross-modal attention whose bias also prefers a learnable audio-video lag:
    bias(lag) = table(lag) - strength * (lag - offset)^2, lag in hop frames."""

    def __init__(self, d: int, heads: int, window: int, offset_init: float, head_dim: int = 0, state_key: str = ""):
        super().__init__(d, heads, window, head_dim, state_key)
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

    def __init__(self, cfg: ModelConfig, window: int, state_key: str):
        super().__init__()
        self.norm = nn.LayerNorm(cfg.d_model)
        self.attn = WindowedAttention(cfg.d_model, cfg.n_heads, window, cfg.head_dim, state_key)
        self.ffn = FeedForward(cfg.d_model, cfg.ffn_hidden)

    def forward(self, x: Tensor, state: dict, new: dict) -> Tensor:
        h = self.norm(x)
        y, new[self.attn.state_key] = self.attn(h, h, state[self.attn.state_key])
        x = x + y
        return x + self.ffn(x)


class CausalConv2d(nn.Module):
    """Conv over (time, freq), causal in time, stride 2 in freq.
    Cache: the last (kernel_t - 1) input frames, (N, C_in, kernel_t - 1, F_in)."""

    def __init__(self, c_in: int, c_out: int, f_in: int, state_key: str, kernel_t: int = 3):
        super().__init__()
        self.kernel_t, self.state_key = kernel_t, state_key
        self.cache_shape = (c_in, kernel_t - 1, f_in)
        self.conv = nn.Conv2d(c_in, c_out, (kernel_t, 3), stride=(1, 2), padding=(0, 1))
        self.norm = nn.BatchNorm2d(c_out)  # per frame in eval, folds into the conv at export

    def forward(self, x: Tensor, state: dict, new: dict) -> Tensor:
        x = torch.cat([state[self.state_key], x], dim=2)  # (N, C, k-1+T, F)
        new[self.state_key] = x[:, :, x.shape[2] - (self.kernel_t - 1) :]
        return F.relu(self.norm(self.conv(x)))


class CausalConv1d(nn.Module):
    """Depthwise-separable temporal conv over camera frames, causal.
    Cache: (N, C, kernel - 1)."""

    def __init__(self, c: int, kernel: int, state_key: str):
        super().__init__()
        self.kernel, self.state_key = kernel, state_key
        self.cache_shape = (c, kernel - 1)
        self.depthwise = nn.Conv1d(c, c, kernel, groups=c)
        self.pointwise = nn.Conv1d(c, c, 1)

    def forward(self, x: Tensor, state: dict, new: dict) -> Tensor:
        x = torch.cat([state[self.state_key], x], dim=2)  # (N, C, k-1+T)
        new[self.state_key] = x[:, :, x.shape[2] - (self.kernel - 1) :]
        return F.gelu(self.pointwise(self.depthwise(x)))


def _dw_block(c_in: int, c_out: int) -> nn.Sequential:
    """MobileFaceNet-style depthwise-separable block, stride 2."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, stride=2, padding=1, groups=c_in), nn.BatchNorm2d(c_in), nn.ReLU(),
        nn.Conv2d(c_in, c_out, 1), nn.BatchNorm2d(c_out), nn.ReLU(),
    )


# ---------------------------------------------------------------- the network

# fp16 range (DESIGN.md §6). A device that computes the graph in fp16 may
# flush values below 2**-14 (6.1e-5) to zero: the 1e-6 floors of the log-mel
# and of the mask normalisation are below it, and so is most of the power
# spectrum of quiet speech; flushed floors gave log(0) and 0/0. Both are
# taken at a power-of-two scale, which float32 applies exactly, and the scale
# comes off after the log (log(2**k y) - k log 2: one rounding of the log's
# size) or cancels in the ratio. Scaled, the floors are normal (1.0e-3); the
# power of a full-scale DC input (45.6 at stft_gain 1/32) times
# 2**POWER_SCALE_EXP stays below the fp16 maximum (6.55e4), and so does the
# mask sum while each mask is below 2**16 / 2**MASK_SCALE_EXP / (slots + 1)
# (21 for two speakers; mobile.pt's reach 8.7).
POWER_SCALE_EXP = 10
MASK_SCALE_EXP = 10


def _per_slot(x: Tensor, s: int) -> Tensor:
    """(B, ...) -> (B S, ...): each batch row once per slot, batch-major. One
    batch row (every exported step) is a plain broadcast, where the 4-D round
    trip cost two more ops per call."""
    b, rest = x.shape[0], x.shape[1:]
    if b == 1:
        return x.expand(s, *rest)
    return x.unsqueeze(1).expand(b, s, *rest).reshape(b * s, *rest)


def _slots_and_one(slots: Tensor, extra: Tensor) -> Tensor:
    """(B S, ...) and (B, ...) -> (B (S+1), ...): each batch row's S slots, then
    its extra row (the residual slot). One batch row is a plain concat."""
    b, rest = extra.shape[0], extra.shape[1:]
    if b == 1:
        return torch.cat([slots, extra], dim=0)
    return torch.cat([slots.reshape(b, -1, *rest), extra.unsqueeze(1)], dim=1).reshape(-1, *rest)


class ScaledSoftplus(nn.Module):
    """softplus(x) * 2**scale_exp, exact in float32. The scale belongs to the
    activation, not to a later multiply, so that a converter's form of the
    tail (export/folds.TailExactSoftplus) can compute it already scaled: at
    fp16 the tail exp(x) is subnormal below x = -9.7, and 2**10 up it stays
    normal down to x = -16.6."""

    def __init__(self, scale_exp: int):
        super().__init__()
        self.scale_exp = scale_exp

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x) * 2.0**self.scale_exp


class AudioEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.register_buffer("mel", mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels).float())
        chans, freqs = (1,) + tuple(cfg.audio_channels), [cfg.n_mels]
        for _ in cfg.audio_channels:
            freqs.append((freqs[-1] + 1) // 2)  # stride 2 over mel bins
        self.convs = nn.ModuleList(CausalConv2d(chans[i], chans[i + 1], freqs[i], f"audio_conv{i}") for i in range(len(chans) - 1))
        self.proj = nn.Linear(chans[-1] * freqs[-1], cfg.d_model)
        self.layers = nn.ModuleList(SelfAttentionBlock(cfg, cfg.attn_window, f"audio_attn{i}") for i in range(cfg.audio_layers))

    def forward(self, spec: Tensor, state: dict, new: dict) -> Tensor:
        """spectrum (N, T, 2, B) (re, im) -> features (N, T, D)."""
        spec = spec * 2.0 ** (POWER_SCALE_EXP / 2 - SPECTRUM_SCALE_EXP)  # it comes 2**SPECTRUM_SCALE_EXP up (stft.py)
        power = (spec * spec).sum(dim=2)  # 2**POWER_SCALE_EXP times the power at stft_gain
        mel = torch.matmul(power, self.mel.t()) + 1e-6 * 2.0**POWER_SCALE_EXP
        x = (torch.log(mel) - POWER_SCALE_EXP * math.log(2)).unsqueeze(1)  # (N, 1, T, M): log(mel power + 1e-6)
        for conv in self.convs:
            x = conv(x, state, new)
        n, c, t, f = x.shape
        # (N, T, C F); at one hop moving the time axis moves nothing, so no transpose
        x = self.proj(x.reshape(n, 1, c * f) if t == 1 else x.permute(0, 2, 1, 3).reshape(n, t, c * f))  # (N, T, D)
        for layer in self.layers:
            x = layer(x, state, new)
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
        self.tconv = CausalConv1d(cfg.d_model, cfg.video_tconv_kernel, "video_tconv")
        self.layers = nn.ModuleList(SelfAttentionBlock(cfg, cfg.video_window, f"video_attn{i}") for i in range(cfg.video_layers))
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, crops: Tensor, state: dict, new: dict) -> Tensor:
        """crops (N, T, 1, H, W) in [0, 1] -> embeddings (N, T, D)."""
        n, t = crops.shape[:2]
        x = self.blocks(self.stem(crops.reshape(n * t, *crops.shape[2:]) - 0.5))  # (NT, C, h, w)
        x = self.proj(x.mean(dim=(2, 3))).reshape(n, t, -1)  # (N, T, D)
        x = x + self.tconv(x.transpose(1, 2), state, new).transpose(1, 2)
        for layer in self.layers:
            x = layer(x, state, new)
        return self.norm(x)


class FusionBlock(nn.Module):
    """Bidirectional cross-attention (audio->visual, visual->audio), then
    self-attention over the fused audio stream; one per speaker slot.

    The last block has no visual->audio branch: nothing after it reads the
    updated video stream (it would be weights without a gradient and a state
    carried for nothing). Checkpoints that still hold those weights load: the
    keys are dropped on load."""

    def __init__(self, cfg: ModelConfig, i: int, last: bool):
        super().__init__()
        d, h, w = cfg.d_model, cfg.n_heads, cfg.attn_window
        self.last = last
        self.norm_a, self.norm_v = nn.LayerNorm(d), nn.LayerNorm(d)
        self.a2v = OffsetAttention(d, h, w, cfg.av_offset_init, cfg.head_dim, f"fusion{i}_a2v")
        if not last:
            self.v2a = OffsetAttention(d, h, w, -cfg.av_offset_init, cfg.head_dim, f"fusion{i}_v2a")
            self.ffn_v = FeedForward(d, cfg.ffn_hidden)
        else:
            self._register_load_state_dict_pre_hook(self._drop_video_branch)
        self.self_attn = SelfAttentionBlock(cfg, w, f"fusion{i}_self")

    @staticmethod
    def _drop_video_branch(state_dict, prefix, *_):
        for k in [k for k in state_dict if k.startswith((prefix + "v2a.", prefix + "ffn_v."))]:
            del state_dict[k]

    def attentions(self) -> list:
        return [self.a2v] + ([] if self.last else [self.v2a]) + [self.self_attn.attn]

    def forward(self, a: Tensor, v: Tensor, state: dict, new: dict) -> tuple[Tensor, Tensor | None]:
        na, nv = self.norm_a(a), self.norm_v(v)
        da, new[self.a2v.state_key] = self.a2v(na, nv, state[self.a2v.state_key])
        if self.last:
            return self.self_attn(a + da, state, new), None
        dv, new[self.v2a.state_key] = self.v2a(nv, na, state[self.v2a.state_key])
        v = v + dv
        return self.self_attn(a + da, state, new), v + self.ffn_v(v)


class DecoderBlock(nn.Module):
    def __init__(self, cfg: ModelConfig, i: int):
        super().__init__()
        self.norm_q, self.norm_m = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.cross = WindowedAttention(cfg.d_model, cfg.n_heads, cfg.attn_window, cfg.head_dim, f"decoder{i}")
        self.ffn = FeedForward(cfg.d_model, cfg.ffn_hidden)

    def forward(self, q: Tensor, mem: Tensor, state: dict, new: dict) -> Tensor:
        k = self.cross.state_key
        y, new[k] = self.cross(self.norm_q(q), self.norm_m(mem), state[k])
        q = q + y
        return q + self.ffn(q)


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
        self.fusion = nn.ModuleList(FusionBlock(cfg, i, last=i == cfg.fusion_layers - 1) for i in range(cfg.fusion_layers))
        self.speaker_query = nn.Parameter(torch.randn(d) * 0.02)  # shared by all speaker slots
        self.residual_query = nn.Parameter(torch.randn(d) * 0.02)
        self.lip_to_query = nn.Linear(d, d)
        self.decoder = nn.ModuleList(DecoderBlock(cfg, i) for i in range(cfg.decoder_layers))
        self.mask_norm = nn.LayerNorm(d)
        self.mask_head = nn.Linear(d, cfg.n_bins)
        self.mask_act = ScaledSoftplus(MASK_SCALE_EXP)  # non-negative masks, 2**MASK_SCALE_EXP up (fp16 range)

    # ------------------------------------------------------------ state layout
    # Each stateful layer names its state once (`state_key`, given at
    # construction); the layouts below list them in signature order with what
    # the leading axis holds: "shared" (1 row), "slot" (S rows, row i = slot i)
    # or "slot+residual" (S+1 rows, the last one the residual slot).

    def lip_state_layout(self) -> list[tuple[str, str, tuple]]:
        """[(name, rows, shape after the leading axis)] of lip_step's state."""
        v = self.video
        return [(m.state_key, "slot", m.cache_shape) for m in [v.tconv] + [b.attn for b in v.layers]]

    def av_state_layout(self) -> list[tuple[str, str, tuple]]:
        """[(name, rows, shape after the leading axis)] of av_step's state."""
        ctx = (self.cfg.stft_context,)
        layout = [("stft_in", "shared", ctx)]
        layout += [(m.state_key, "shared", m.cache_shape) for m in list(self.audio.convs) + [b.attn for b in self.audio.layers]]
        layout += [(m.state_key, "slot", m.cache_shape) for block in self.fusion for m in block.attentions()]
        layout += [(b.cross.state_key, "slot+residual", b.cross.cache_shape) for b in self.decoder]
        return layout + [("ola", "slot", ctx)]

    @staticmethod
    def _shapes(layout, speakers: int) -> "OrderedDict[str, tuple]":
        rows = {"shared": 1, "slot": speakers, "slot+residual": speakers + 1}
        return OrderedDict((name, (rows[r],) + tuple(tail)) for name, r, tail in layout)

    def lip_state_shapes(self, speakers: int) -> "OrderedDict[str, tuple]":
        return self._shapes(self.lip_state_layout(), speakers)

    def av_state_shapes(self, speakers: int) -> "OrderedDict[str, tuple]":
        return self._shapes(self.av_state_layout(), speakers)

    def zero_state(self, shapes: dict, batch: int = 1) -> dict:
        """Initial state (all zeros); batch > 1 multiplies the leading dim (training, offline)."""
        dev = self.mask_head.weight.device
        return {k: torch.zeros((s[0] * batch,) + tuple(s[1:]), device=dev) for k, s in shapes.items()}

    def _reshaped(self, **changes) -> "AVSep":
        """A freshly initialised model of this config with `changes`, on this
        model's device and in its train/eval mode: each with_* copy below
        builds one and loads its weights into it."""
        return AVSep(ModelConfig.from_dict({**self.cfg.to_dict(), **changes})).to(self.mask_head.weight.device).train(self.training)

    def with_video_pool(self, pool: int) -> "AVSep":
        """A copy whose lip step first averages the 88 x 88 mouth over pool x
        pool pixels (4: a 22 x 22 mouth; the blocks after the stem then see a
        quarter of the pixels they see at 2, while the stem itself, with the
        pool folded into its convolution on export, does the same work).
        Every weight keeps its shape and meaning (the convolutions see a
        coarser mouth; the embedding is a spatial mean): the start of a
        fine-tune, architecture_floor's "video pool 4" lever."""
        if pool < 1 or self.cfg.crop_size % pool:
            raise ValueError(f"video pool must divide the {self.cfg.crop_size}-pixel crop, got {pool}")
        new = self._reshaped(video_pool=pool)
        # the stem is Sequential(pool if > 1, conv, norm, relu): its layers move by one where the pool comes or goes
        shift = (pool > 1) - (self.cfg.video_pool > 1)
        stem = "video.stem."
        sd = {}
        for k, v in self.state_dict().items():
            if k.startswith(stem):
                i, rest = k[len(stem) :].split(".", 1)
                k = f"{stem}{int(i) + shift}.{rest}"
            sd[k] = v
        new.load_state_dict(sd)
        return new

    def with_ffn_hidden(self, hidden: int) -> "AVSep":
        """A copy whose feed-forwards have `hidden` units (at least today's):
        the old units keep their weights, the new ones get fresh input weights
        and zero output weights, so the copy computes exactly what this model
        does until training moves them. At one hop per call a step's time
        goes by op, not by multiply-add: wider matmuls are the same ops, the
        capacity a cheaper graph can spend (architecture_floor "ffn 512")."""
        old = self.cfg.ffn_hidden
        if hidden < old:
            raise ValueError(f"feed-forward units can only grow here ({old} now), got {hidden}: prune to shrink")
        new = self._reshaped(ffn_dim=hidden)
        sd = new.state_dict()
        sd.update({k: v for k, v in self.state_dict().items() if sd[k].shape == v.shape})
        for name, m in self.named_modules():
            if isinstance(m, FeedForward):
                up, down = f"{name}.1", f"{name}.3"  # Linear(d, hidden), Linear(hidden, d)
                sd[f"{up}.weight"][:old] = m[1].weight.detach()
                sd[f"{up}.bias"][:old] = m[1].bias.detach()
                sd[f"{down}.weight"].zero_()[:, :old] = m[3].weight.detach()
        new.load_state_dict(sd)
        return new

    def with_attn_window(self, window: int) -> "AVSep":
        """A copy whose windowed attentions (audio, fusion, decoder) see `window`
        past frames: each relative-bias table keeps its nearest window + 1
        distances, and each audio-video lag prior keeps its values on them (its
        strength is divided by the window). The start of a fine-tune to a
        shorter window: a shorter cache is less state to copy every hop."""
        if window < 1 or window > self.cfg.attn_window:
            raise ValueError(f"attn_window must be 1..{self.cfg.attn_window} (the model's own), got {window}")
        short = self._reshaped(attn_window=window)
        sd = self.state_dict()
        for name, m in self.named_modules():
            if isinstance(m, WindowedAttention) and m.window == self.cfg.attn_window:
                sd[f"{name}.rel_bias"] = m.rel_bias.detach()[:, -(window + 1) :]
            if isinstance(m, OffsetAttention) and m.window == self.cfg.attn_window:
                # softplus(strength') / window = softplus(strength) / old window
                sp = F.softplus(m.strength.detach()) * window / m.window
                sd[f"{name}.strength"] = _softplus_inverse(sp)
        short.load_state_dict(sd)
        return short

    def with_hop(self, hop: int, n_fft: int | None = None) -> "AVSep":
        """A copy that hears a frame every `hop` samples, a whole multiple f of
        its own hop, through a window of two hops, and attends over the same
        time (attn_window / f frames): the start of a fine-tune to a lower frame
        rate, which costs about 1 / f per audio second (README, "What graph
        could reach DTLN's cost"). Weights keep their meaning where they can:
        each relative-bias table keeps every f-th distance, each audio-video lag
        prior its lag in seconds, the mask head's rows are interpolated to the
        new bins; the STFT and mel buffers are the new config's own. n_fft:
        default the next power of two above the window; the window itself
        (640 at 20 ms) is a complete DFT of the frame with fewer bins."""
        old = self.cfg
        f = hop // old.hop_length
        if f < 2 or hop % old.hop_length or old.attn_window % f:
            raise ValueError(f"hop must be a multiple (2 or more) of {old.hop_length} that divides the attention window "
                             f"of {old.attn_window} hops, got {hop}")
        win = 2 * hop
        n_fft = n_fft or 1 << (win - 1).bit_length()  # the next power of two: 640 -> 1024
        new = self._reshaped(hop_length=hop, win_length=win, n_fft=n_fft, attn_window=old.attn_window // f)
        sd = new.state_dict()
        sd.update({k: v.detach().clone() for k, v in self.named_parameters()})
        sd.update({k: v.detach().clone() for k, v in self.named_buffers() if k.rsplit(".", 1)[-1] in BATCH_NORM_STATS})
        for name, m in self.named_modules():
            if isinstance(m, WindowedAttention) and not name.startswith("video."):
                sd[f"{name}.rel_bias"] = m.rel_bias.detach()[:, ::f]  # index w is distance window - w
            if isinstance(m, OffsetAttention) and not name.startswith("video."):
                sd[f"{name}.offset"] = m.offset.detach() / f
                # softplus(s) (lag - offset)^2 / window with lag = f lag': softplus(s') = f softplus(s)
                sp = F.softplus(m.strength.detach()) * f
                sd[f"{name}.strength"] = _softplus_inverse(sp)
        # new bin k sits at old bin k * old n_fft / n_fft
        pos = torch.arange(new.cfg.n_bins, dtype=torch.float32, device=sd["mask_head.weight"].device) * old.n_fft / n_fft
        lo = pos.floor().long().clamp(max=old.n_bins - 1)
        hi, frac = (lo + 1).clamp(max=old.n_bins - 1), (pos - lo).clamp(0, 1)
        for part in ("weight", "bias"):
            w = getattr(self.mask_head, part).detach()
            fr = frac.reshape(-1, *([1] * (w.dim() - 1)))
            sd[f"mask_head.{part}"] = w[lo] * (1 - fr) + w[hi] * fr
        new.load_state_dict(sd)
        return new

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
        spec, new["stft_in"] = self.stft.analyse_stacked(pcm, state["stft_in"])  # (B, T, 2, bins): re, im
        a = self.audio(spec, state, new)  # (B, T, D)
        x = _per_slot(a + self.audio_type, s)  # (BS, T, D)
        v = lips.reshape(b * s, t, -1) + self.video_type  # (BS, T, D)
        for block in self.fusion:
            x, v = block(x, v, state, new)

        # speaker slots query the fused stream, the residual slot the plain audio
        q_spk = x + self.speaker_query + self.lip_to_query(lips.reshape(b * s, t, -1))
        q = _slots_and_one(q_spk, a + self.residual_query)  # (B(S+1), T, D)
        mem = _slots_and_one(x, a)
        for block in self.decoder:
            q = block(q, mem, state, new)

        # Wiener-style: non-negative masks, empty slots zeroed, all slots sum to
        # one. The slot axis is dim -4 of (B, S+1, T, 1, bins); one batch row
        # (every exported step) drops the B axis, so no reshape goes around it.
        batch = (b,) if b > 1 else ()
        ones = torch.ones(*batch, 1, 1, 1, 1, dtype=active.dtype, device=active.device)
        gate = torch.cat([active.reshape(*batch, s, 1, 1, 1), ones], dim=-4)  # a constant 1, not a slice of active
        m = self.mask_act(self.mask_head(self.mask_norm(q))).reshape(*batch, s + 1, t, 1, -1) * gate
        m = m / (m.sum(dim=-4, keepdim=True) + 1e-6 * 2.0**MASK_SCALE_EXP)
        # (BS, T, 2, bins): each slot's masks times its batch row's spectrum (one row broadcasts as it is)
        spec_slots = m.narrow(-4, 0, s).reshape(b * s, t, 1, -1) * (spec if b == 1 else _per_slot(spec, s))
        out, new["ola"] = self.stft.synthesise_stacked(spec_slots, state["ola"])
        # the rest is the delayed mixture minus the speakers (exact, and saves an iSTFT)
        delayed = torch.cat([state["stft_in"], pcm], dim=1)[:, :n]
        residual = (delayed - out.reshape(*batch, s, n).sum(dim=-2)).reshape(b, 1, n)
        return {"speakers": out.reshape(b, s, n), "residual": residual, "masks": m.reshape(b, s + 1, t, -1)}, new
