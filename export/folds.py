"""Exact folds applied to the export copy of a model before tracing: fewer ops
per step, the same function up to float rounding. The model itself never
knows (STYLE.md): each fold rewrites a deep copy, loading the same weights.

- "layernorm": LayerNorm(x) = g * n(x) + b followed by Linear(W, c) is
  n(x) -> Linear(W diag(g), W b + c) with an affine-free LayerNorm; done
  where every reader of the norm's output is a Linear (feed-forwards, the
  q/kv projections behind a block's norms, the mask head).
- "attn_scale": 1/sqrt(dh) moves into the q projection's weight and bias; the
  replacement attention skips its own division.
- "const_bias": the attention bias (OffsetAttention's table minus its
  softplus-strength lag prior, computed every call) becomes a constant buffer.
- "pool_conv": the video stem's AvgPool2d(k) then Conv2d(kernel K, stride s,
  padding p) is one Conv2d(kernel K k, stride s k, padding p k) whose weight
  is the kernel upsampled by k and divided by k^2 (exact for crops that k
  divides: a zero pad of the pooled image is the pool of a zero pad). The
  pool pass over the 88x88 crop goes: measured on the shipped stem alone
  (one thread, interleaved, training on both cores) LiteRT 43 -> 24 us,
  onnxruntime 32 -> 18 us for two slots.
- "layernorm_ops" (LiteRT only, LITERT_FOLDS): every LayerNorm written out as
  centre / mean square / rsqrt with keepdim means (ExplicitLayerNorm).
  litert-torch lowers nn.LayerNorm to 11 ops (four of them reshapes of the
  per-row statistics); this form is 7. CoreML and onnxruntime have a fused
  layer norm op, which this would undo.
- "softplus_tail" (LiteRT only): the mask activation as max(x, 0) +
  log1p(exp(-|x|)) with log1p as its series where exp(-|x|) is small
  (TailExactSoftplus). int8 and int4 exports take "softplus_short"
  instead (ShortTailSoftplus, for_precision): the series cut to its first
  term, 11 ops instead of 20, int8 parity unchanged (42.0 dB). Measured
  (benchmarks/ab_speed.py, the 20 ms default, one thread, interleaved, AMD
  EPYC avx512_vnni, training on the other core; the unchanged fp32 and onnx
  files as A/A 0.987-0.998): int8 Invoke p10 0.978, call 0.985 of before.
  litert-torch lowers softplus to log(1 + exp(x)), which is 0 below x = -17,
  where the true value (about exp(x)) still counts: the masks are
  m / (sum of m + 1e-6), and on bins every slot has silenced the lost tails
  moved the retrained shipped model's output by up to 2.6e-3 around a slot
  going inactive (TFLite fp32 speakers 56 dB vs float torch, under the 60 dB
  gate; 65 dB without XNNPACK). Its max(x, 0) is (x + |x|) / 2: a relu of
  the mask head's output was fused by the converter into a second copy of
  that FULLY_CONNECTED. Measured (benchmarks/ab_speed.py, the 20 ms default,
  one thread, interleaved, AMD EPYC avx512_vnni, load 3.9, A/A 0.99-1.00):
  av_step 32 -> 31 FULLY_CONNECTED, the same outputs (parity unchanged),
  int8 call p10 0.975, Invoke 0.968, fp32 call 0.942 of before.
- "single_query" (LiteRT only): a one-frame step (K = 1) attends by
  broadcast multiply and sum over the window, (q * k).sum(-1) and
  (att * v).sum(window), instead of two batched matmuls, which litert-torch
  lowers with reshapes to 3-D around each. Measured (benchmarks/ab_speed.py,
  shipped model, one thread, interleaved, load 1.6): LiteRT av_step 456 -> 442
  ops (reshapes 102 -> 80), runner call p10 fp32 0.94, int8 0.91 of before,
  Invoke alone 0.91 both. onnxruntime got slower (1.23) and CoreML more ops
  (311 -> 335), so neither takes it.

- "chunk_banded" (LiteRT only): a chunk of 2..8 frames (`--chunk-hops K`)
  attends time-major, every query against all window + K keys by broadcast
  multiply and sum, frames outside its window masked by a constant bias
  (-1e4: exp gives 0), with one transpose (the new keys and values into the
  cache's head-major layout). The model's chunk path gathers each query's
  window with stacked slices and two batched matmuls, which litert-torch
  lowers with a transpose and reshapes around each. Measured (shipped model,
  K = 2, one thread, interleaved, AMD EPYC avx512_vnni, 2026-12-06, with the
  STFT's chunk matmuls already 2-D): av_step 578 -> 500 ops, int8 call p10
  0.271 -> 0.208 ms (A/A 0.96), fp32 0.383 -> 0.316 ms. onnxruntime gained
  2-5% at K = 2-4, inside its noise: only LiteRT takes it.

- "twiddle_blocks" (CoreML and onnxruntime, FOLDS): the STFT's twiddle
  multiplies folded into the small DFTs beside them (BlockTwiddleSTFT):
  analysis is a constant-on-the-left matmul and a matmul by 16 (64 x 34)
  blocks, synthesis a matmul by 16 (34 x 64) blocks (bin scale inside) and a
  constant-on-the-left matmul that writes samples in order. The same
  multiply-adds; the elementwise complex products, their slices and concats
  go. CoreML av_step 310 -> 292 ops; onnxruntime av_step p10 0.996 of before
  (AMD EPYC, one thread, interleaved, 2026-12-06). LiteRT does not take it:
  litert-torch lowers a constant batched matmul to BATCH_MATMUL, the op that
  cost 10x a FULLY_CONNECTED in the chunked synthesis (stft._by_constant).

- "sdpa" (CoreML for iOS 18, COREML18_FOLDS, instead of attn_scale): every
  attention's softmax(q k^T / sqrt(dh) + bias) v as
  F.scaled_dot_product_attention with the bias as its float mask, which
  coremltools lowers to iOS 18's fused scaled_dot_product_attention op (only
  at the default scale: a folded 1/sqrt(dh) makes it write the matmuls
  again). av_step 267 -> 243 ops (iOS 18, explicit or held state).

`fold(model, FOLDS)` returns the folded copy; modules that are not plain
float layers (a fake-quantized model's wrapped Linears) are left as they are.

Measured on the shipped model (benchmarks/folds_speed.py, 2026-12-02, one
thread, a heavily loaded 2-core machine): the converters already do most of
this themselves (LiteRT fuses a constant MUL into the next FULLY_CONNECTED,
onnxruntime's graph optimizer executes 433 nodes with or without the folds,
coremltools folds the constant bias), so the op counts barely move (LiteRT
av_step 595 -> 579, CoreML 416 -> 408 non-const ops) and the av_step time
change stays inside the run's A/A noise (+-5% at the 10th percentile).
Folded vs unfolded float: 119 dB on the shipped model (tests: tiny, >= 100).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avsep_mobile.model import (
    AVSep,
    DecoderBlock,
    FeedForward,
    FusionBlock,
    OffsetAttention,
    SelfAttentionBlock,
    WindowedAttention,
)
from avsep_mobile.stft import STFT

_COMMON = ("layernorm", "attn_scale", "const_bias", "pool_conv")
FOLDS = _COMMON + ("twiddle_blocks",)  # CoreML and onnxruntime
LITERT_FOLDS = _COMMON + ("layernorm_ops", "softplus_tail", "single_query", "chunk_banded")
# CoreML for iOS 18: the fused attention op wants the default 1/sqrt(dh) scale
COREML18_FOLDS = tuple(f for f in FOLDS if f != "attn_scale") + ("sdpa",)
# folds that touch no layer's weights: safe on a quantized torch model too
STRUCTURE_FOLDS = ("twiddle_blocks",)
# folds that buy ops with constant bytes: twiddle_blocks stores a columns DFT
# per frame row (147 KB of fp32 against the plain STFT's 13 KB), 17 % of a
# 4-bit iOS package; exports that put size first (int4) leave them out
SIZE_COSTLY_FOLDS = ("twiddle_blocks",)
KNOWN = FOLDS + LITERT_FOLDS[len(_COMMON):] + ("sdpa", "softplus_short")


# an int8 or int4 export takes the second fold in place of the first: the
# same function to well within its own error (about 42 dB), in fewer ops
LOW_PRECISION_SWAPS = {"softplus_tail": "softplus_short"}


def for_precision(folds: tuple, precision: str) -> tuple:
    """The folds an export of `precision` takes: int8 and int4 swap in
    LOW_PRECISION_SWAPS, and int4 (size first) leaves out SIZE_COSTLY_FOLDS."""
    if precision not in ("int8", "int4"):
        return tuple(folds)
    return tuple(LOW_PRECISION_SWAPS.get(f, f) for f in folds if precision != "int4" or f not in SIZE_COSTLY_FOLDS)


class ExplicitLayerNorm(nn.Module):
    """nn.LayerNorm over the last axis as plain elementwise ops and keepdim
    means (the same function, float rounding aside); the affine part only if
    the norm had one."""

    def __init__(self, norm: nn.LayerNorm):
        super().__init__()
        self.eps = norm.eps
        self.weight = norm.weight if norm.elementwise_affine else None
        self.bias = norm.bias if norm.elementwise_affine else None

    def forward(self, x: Tensor) -> Tensor:
        xc = x - x.mean(dim=-1, keepdim=True)
        y = xc * torch.rsqrt((xc * xc).mean(dim=-1, keepdim=True) + self.eps)
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y


class TailExactSoftplus(nn.Module):
    """The model's ScaledSoftplus, softplus(x) 2**k = (max(x, 0) + log1p(e)) 2**k,
    e = exp(-|x|), with log1p(e) as its series e (1 - e/2 + e^2/3 - e^3/4)
    for e < 0.01 (relative error under 2e-9) and log(1 + e) above. Plain ops
    only, and no log near 1: XNNPACK's log is accurate in absolute, not
    relative, terms there, so even Goldberg's log(u) e / (u - 1) left the
    tails 1e-3 off (measured: speakers 57.6 dB). The series' leading e comes
    already scaled, as exp(-|x| + k log 2): on an fp16 device that flushes
    subnormals the tail then lives down to x = -9.7 - 0.69 k, not -9.7."""

    def __init__(self, scale_exp: int = 0):
        super().__init__()
        self.scale_exp = scale_exp

    def forward(self, x: Tensor) -> Tensor:
        k = self.scale_exp
        a = x.abs()
        e = torch.exp(-a)
        e_scaled = torch.exp(k * math.log(2.0) - a)  # e 2**k
        series = e_scaled * (1.0 - e * (0.5 - e * (1.0 / 3.0 - e * 0.25)))
        # max(x, 0) as (x + |x|) / 2, exact: a relu of x is fused by the
        # converter into a second copy of the mask head's FULLY_CONNECTED
        # (x has other readers), which cost a whole matmul per call
        return (x + a) * 2.0 ** (k - 1) + torch.where(e < 0.01, series, torch.log(1.0 + e) * 2.0**k)


class ShortTailSoftplus(nn.Module):
    """TailExactSoftplus for int8 and int4 exports: the tail's series cut to
    its first term, e = exp(-|x|) for e < 0.01 (relative error under e / 2,
    at most 5e-5 of the mask's scale), scaled after. 11 LiteRT ops, not 20.
    Without any tail (LiteRT's own softplus) the int8 speakers fall from 42
    to 31 dB against float: the lost tails, not int8, would set its parity."""

    def __init__(self, scale_exp: int = 0):
        super().__init__()
        self.scale_exp = scale_exp

    def forward(self, x: Tensor) -> Tensor:
        a = x.abs()
        e = torch.exp(-a)
        tail = torch.where(e < 0.01, e, torch.log(1.0 + e))
        return (x + a) * 2.0 ** (self.scale_exp - 1) + tail * 2.0**self.scale_exp


class _FoldedAttention:
    """Mixin over WindowedAttention / OffsetAttention: bias() is a buffer
    computed once (`const_bias`); with `single_query`, a one-frame step
    attends by broadcast multiply and sum instead of two batched matmuls;
    with `chunk_banded`, so does a chunk, against a constant band mask."""

    single_query = False
    chunk_banded = False
    sdpa = False

    def bias(self) -> Tensor:
        return self.bias_table if hasattr(self, "bias_table") else super().bias()

    def forward(self, x: Tensor, mem: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        n, t = x.shape[:2]
        if not self.chunk_banded or not 1 < t <= self.MAX_CHUNK:
            return super().forward(x, mem, cache)
        # a chunk of T frames, time-major: every query against all window + T
        # keys by broadcast multiply and sum, frames outside its window masked
        # by a constant bias; one transpose (the new keys and values into the
        # cache's head-major layout) where the head split, the merge and the
        # two batched matmuls took four and their 3-D reshapes
        h, dh = self.heads, self.head_dim
        kv = torch.cat([cache, self.kv(mem).reshape(n, t, 2 * h, dh).transpose(1, 2)], dim=2)  # (N, 2H, L, dh)
        k, v = kv[:, :h].unsqueeze(1), kv[:, h:].unsqueeze(1)  # (N, 1, H, L, dh)
        logits = (self.q(x).reshape(n, t, h, 1, dh) * k).sum(-1)  # (N, T, H, L)
        if self.logit_scale != 1.0:
            logits = logits * self.logit_scale
        att = torch.softmax(logits + getattr(self, f"band_bias{t}"), dim=-1)
        y = (att.unsqueeze(-1) * v).sum(3)  # (N, T, H, dh)
        return self.out(y.reshape(n, t, h * dh)), kv[:, :, t:]

    def _windowed(self, q: Tensor, kv: Tensor) -> Tensor:
        if not self.single_query or q.shape[2] != 1:
            return super()._windowed(q, kv)
        h = q.shape[1]
        k, v = kv[:, :h], kv[:, h:]  # (N, H, W, dh)
        logits = (q * k).sum(-1)  # q (N, H, 1, dh) broadcast over the window -> (N, H, W)
        if self.logit_scale != 1.0:
            logits = logits * self.logit_scale
        att = torch.softmax(logits + self.bias(), dim=-1)  # bias (H, W)
        return (att.unsqueeze(-1) * v).sum(2, keepdim=True)  # (N, H, 1, dh)

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, bias: Tensor) -> Tensor:
        if not self.sdpa:
            return super()._attend(q, k, v, bias)
        # coremltools lowers this to iOS 18's scaled_dot_product_attention only
        # at the default scale; the bias is the float mask it adds to the scores
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)

    def add_band_biases(self) -> None:
        """Constant (T, H, window + T) biases for T = 2..MAX_CHUNK: the
        model's band bias, -1e4 outside each window (exp gives 0; no -inf in
        a converted graph), time-major."""
        for t in range(2, self.MAX_CHUNK + 1):
            b = self.band_bias(t, self.window + t, -1e4).detach()  # (H, T, L)
            self.register_buffer(f"band_bias{t}", b.transpose(0, 1).contiguous(), persistent=False)


class BlockTwiddleSTFT(STFT):
    """The model's factored STFT with each twiddle multiply folded into the
    small DFT beside it, as one batched matmul per frame row k1 of the
    four-step factoring: analysis (rows DFT, twiddle, columns DFT) becomes a
    constant-on-the-left matmul (its rows interleaved k1-major, re/im minor)
    and a matmul by (N1, 2 N2, 2 K2) blocks; synthesis (columns iDFT,
    conjugate twiddle, rows iDFT) becomes a matmul by (N1, 2 K2, 2 N2) blocks,
    the bin scale inside, and a constant-on-the-left matmul that writes the
    frame rows in sample order (no transpose). The same multiply-adds, the
    elementwise twiddle gone: 8 fewer ops in analysis, 10 in synthesis."""

    @classmethod
    def of(cls, stft: STFT) -> "BlockTwiddleSTFT":
        new = copy.copy(stft)  # the same config attributes and buffers
        new._buffers = dict(stft._buffers)
        new.__class__ = cls
        n1, n2, k2 = stft.n1, stft.N2, stft.k2
        f64 = {k: b.double() for k, b in stft._buffers.items()}
        tr, ti = f64["twiddle_re"], f64["twiddle_im"]  # (N2, N1)
        eye = torch.eye(n2, dtype=torch.float64)

        def rotation(im):  # (N1, 2N2, 2N2): row vector [x_re(c), x_im(c)] of row k1 times (tr + i im)[c, k1]
            return torch.stack([torch.cat([torch.cat([eye * tr[:, j], eye * im[:, j]], 1),
                                           torch.cat([-eye * im[:, j], eye * tr[:, j]], 1)], 0) for j in range(n1)])

        # analysis: times e^{i twiddle} (twiddle_im is already its sign), then the columns DFT
        analysis = rotation(ti) @ f64["cols_dft"]  # (N1, 2 N2, 2 K2)
        # synthesis: bin scale, columns iDFT, then times the conjugate: h_re = g_re tr + g_im ti, h_im = g_im tr - g_re ti
        scale = f64["bin_scale"].reshape(k2, n1).t()  # (N1, K2): bin k1 + N1 k2
        synthesis = scale.repeat(1, 2)[:, :, None] * f64["cols_idft"] @ rotation(-ti)  # (N1, 2 K2, 2 N2)
        rows = f64["rows_dft"]  # (rows, 2 N1): [re | im]
        rows_il = torch.stack([rows[:, :n1], rows[:, n1:]], 2).reshape(stft.rows, 2 * n1).t()  # (2 N1: k1-major, rows)
        irows = f64["rows_idft"]  # (2 N1: [re | im], rows)
        irows_il = torch.stack([irows[:n1], irows[n1:]], 1).reshape(2 * n1, stft.rows).t()  # (rows, 2 N1: k1-major)
        for name, value in {"rows_dft_il": rows_il, "blocks_dft": analysis, "blocks_idft": synthesis, "rows_idft_il": irows_il}.items():
            new.register_buffer(name, value.float().contiguous(), persistent=False)
        return new

    def _spectrum(self, y: Tensor) -> Tensor:
        """Windowed frames (N, T, rows, N2) -> (N, T, 2, K2 N1), bin k1 + N1 k2."""
        n, t = y.shape[:2]
        a = torch.matmul(self.rows_dft_il, y).reshape(n, t, self.n1, 1, 2 * self.N2)  # row k1: [re(c) | im(c)]
        z = torch.matmul(a, self.blocks_dft).reshape(n, t, self.n1, 2, self.k2)  # (N, T, N1, 2, K2)
        return z.permute(0, 1, 3, 4, 2).reshape(n, t, 2, self.k2 * self.n1)

    def _frames(self, z: Tensor) -> Tensor:
        """(N, T, 2, K2 N1) padded spectra -> (N, T, rows N2) frames before the synthesis window."""
        n, t = z.shape[:2]
        z = z.reshape(n, t, 2, self.k2, self.n1).permute(0, 1, 4, 2, 3).reshape(n, t, self.n1, 1, 2 * self.k2)
        h = torch.matmul(z, self.blocks_idft).reshape(n, t, 2 * self.n1, self.N2)  # rows k1-major, re/im minor
        return torch.matmul(self.rows_idft_il, h).reshape(n, t, self.rows * self.N2)


class FoldedWindowedAttention(_FoldedAttention, WindowedAttention):
    pass


class FoldedOffsetAttention(_FoldedAttention, OffsetAttention):
    pass


def _fold_scale(att: WindowedAttention) -> None:
    """1/sqrt(dh) into the q projection: the same logits without a multiply."""
    with torch.no_grad():
        att.q.weight.mul_(att.logit_scale)
        att.q.bias.mul_(att.logit_scale)
    att.logit_scale = 1.0


def _folded_attention(att: WindowedAttention, const_bias: bool, single_query: bool, chunk_banded: bool = False,
                      sdpa: bool = False) -> WindowedAttention:
    """The same attention with its bias table precomputed as a buffer and/or
    its one-frame step as multiply and sum."""
    if type(att) not in (WindowedAttention, OffsetAttention):
        return att
    args = (att.q.in_features, att.heads, att.window)
    if type(att) is OffsetAttention:
        new = FoldedOffsetAttention(*args, 0.0, att.head_dim, att.state_key)
    else:
        new = FoldedWindowedAttention(*args, att.head_dim, att.state_key)
    new.q, new.kv, new.out = att.q, att.kv, att.out  # the (possibly folded) layers themselves
    new.logit_scale, new.single_query, new.chunk_banded, new.sdpa = att.logit_scale, single_query, chunk_banded, sdpa
    if const_bias:
        new.register_buffer("bias_table", att.bias().detach().clone())
    else:
        new.load_state_dict(att.state_dict())
    if chunk_banded:
        new.add_band_biases()
    return new.to(att.rel_bias.device).eval()


def _fold_norm(norm: nn.LayerNorm, linears: list[nn.Linear]) -> nn.LayerNorm:
    """Fold norm's affine into every Linear in `linears` (the norm's only
    readers); returns the affine-free LayerNorm that replaces it."""
    if type(norm) is not nn.LayerNorm or not norm.elementwise_affine or any(type(m) is not nn.Linear for m in linears):
        return norm
    g, b = norm.weight.detach().double(), (norm.bias.detach().double() if norm.bias is not None else 0.0)
    with torch.no_grad():
        for lin in linears:
            w = lin.weight.detach().double()  # (out, in); in double so the fold adds one rounding per weight
            bias = lin.bias.detach().double() if lin.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
            new_bias = bias + w @ b if isinstance(b, Tensor) else bias
            lin.weight.copy_((w * g[None, :]).to(lin.weight.dtype))
            if lin.bias is None:
                lin.bias = nn.Parameter(new_bias.to(lin.weight.dtype))
            else:
                lin.bias.copy_(new_bias.to(lin.bias.dtype))
    return nn.LayerNorm(norm.normalized_shape, eps=norm.eps, elementwise_affine=False).to(norm.weight.device)


def _fold_layernorms(model: AVSep) -> None:
    for m in model.modules():
        if isinstance(m, FeedForward):
            m[0] = _fold_norm(m[0], [m[1]])
        elif isinstance(m, SelfAttentionBlock):
            m.norm = _fold_norm(m.norm, [m.attn.q, m.attn.kv])
        elif isinstance(m, DecoderBlock):
            m.norm_q = _fold_norm(m.norm_q, [m.cross.q])
            m.norm_m = _fold_norm(m.norm_m, [m.cross.kv])
        elif isinstance(m, FusionBlock):
            # norm_a feeds a2v's queries and v2a's keys/values; norm_v the other way round
            m.norm_a = _fold_norm(m.norm_a, [m.a2v.q] + ([] if m.last else [m.v2a.kv]))
            m.norm_v = _fold_norm(m.norm_v, [m.a2v.kv] + ([] if m.last else [m.v2a.q]))
    model.mask_norm = _fold_norm(model.mask_norm, [model.mask_head])


def _replace_attentions(model: AVSep, scale: bool, const_bias: bool, single_query: bool, chunk_banded: bool, sdpa: bool) -> None:
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, WindowedAttention):
                if scale:
                    _fold_scale(child)
                if const_bias or single_query or chunk_banded or sdpa:
                    setattr(parent, name, _folded_attention(child, const_bias, single_query, chunk_banded, sdpa))


def _explicit_layernorms(model: AVSep) -> None:
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.LayerNorm and len(child.normalized_shape) == 1:
                setattr(parent, name, ExplicitLayerNorm(child))


def _fold_pool_into_conv(stem: nn.Sequential) -> nn.Sequential:
    """[AvgPool2d(k), Conv2d(K, s, p), ...] -> [Conv2d(K k, s k, p k), ...]."""
    if len(stem) < 2 or type(stem[0]) is not nn.AvgPool2d or type(stem[1]) is not nn.Conv2d:
        return stem
    pool, conv = stem[0], stem[1]
    k = pool.kernel_size
    if not isinstance(k, int) or pool.stride not in (k, (k, k)) or pool.padding not in (0, (0, 0)) or pool.ceil_mode \
            or conv.groups != 1 or conv.dilation != (1, 1) or conv.padding_mode != "zeros" or not isinstance(conv.padding, tuple):
        return stem
    big = nn.Conv2d(conv.in_channels, conv.out_channels, tuple(n * k for n in conv.kernel_size),
                    stride=tuple(n * k for n in conv.stride), padding=tuple(n * k for n in conv.padding), bias=conv.bias is not None)
    with torch.no_grad():
        big.weight.copy_(conv.weight.repeat_interleave(k, 2).repeat_interleave(k, 3) / (k * k))
        if conv.bias is not None:
            big.bias.copy_(conv.bias)
    return nn.Sequential(big.to(conv.weight.device), *list(stem)[2:])


def fold(model: AVSep, folds=FOLDS) -> AVSep:
    """A folded deep copy of `model` (eval mode); `model` is not touched."""
    unknown = sorted(set(folds) - set(KNOWN))
    if unknown:
        raise ValueError(f"unknown folds {', '.join(unknown)}: choose from {', '.join(KNOWN)}")
    if {"sdpa", "attn_scale"} <= set(folds):
        raise ValueError("the sdpa fold needs the default attention scale: drop attn_scale")
    out = copy.deepcopy(model).eval()
    # norms first: a norm fold writes into the q/kv Linears that the attention replacement then copies
    if "layernorm" in folds:
        _fold_layernorms(out)
    kinds = ("attn_scale", "const_bias", "single_query", "chunk_banded", "sdpa")
    if set(kinds) & set(folds):
        _replace_attentions(out, *(f in folds for f in kinds))
    if "pool_conv" in folds:
        out.video.stem = _fold_pool_into_conv(out.video.stem)
    if "layernorm_ops" in folds:  # last: the affine folds above act on nn.LayerNorm
        _explicit_layernorms(out)
    if "softplus_tail" in folds:
        out.mask_act = TailExactSoftplus(out.mask_act.scale_exp)
    if "softplus_short" in folds:
        out.mask_act = ShortTailSoftplus(out.mask_act.scale_exp)
    if "twiddle_blocks" in folds:
        out.stft = BlockTwiddleSTFT.of(out.stft)
    return out
