"""Structured pruning: drop whole transformer blocks, then attention heads,
feed-forward units and audio conv channels, by measured importance, down to a
MAC budget. The result is a smaller dense model with its own config, which
trains, distils and exports like any other. Unstructured magnitude pruning
(for CoreML's sparse weights) is here too.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from avsep_mobile.info import model_info
from avsep_mobile.metrics import si_snr
from avsep_mobile.model import AVSep, CausalConv2d, FeedForward, WindowedAttention
from avsep_mobile.train import separate_batch

# the stacks of residual blocks (state dict prefix -> config field); every
# block is x + f(x), so removing one leaves a working model
STACKS = {"audio.layers": "audio_layers", "video.layers": "video_layers", "fusion": "fusion_layers", "decoder": "decoder_layers"}
# the audio encoder without self-attention is its CNN and projection alone (the
# fusion block still attends over audio time): architecture_floor's cheapest
# trained lever. The lip encoder without it is its CNN and temporal conv (the
# fusion's audio-to-video attention still sees a window of lip frames). The
# fusion and decoder stacks keep one block each.
MAY_BE_EMPTY = {"audio.layers", "video.layers"}


def drop_blocks(model: AVSep, names) -> AVSep:
    """A dense copy without the named blocks ("audio.layers.2", "fusion.0"),
    the later blocks of each stack renumbered (their states follow)."""
    cfg, names = model.cfg, set(names)
    counts, renames = {}, {}
    for stack, field in STACKS.items():
        kept = [i for i in range(getattr(cfg, field)) if f"{stack}.{i}" not in names]
        if not kept and stack not in MAY_BE_EMPTY:
            raise ValueError(f"cannot remove every block of {stack}")
        counts[field] = len(kept)
        renames.update({f"{stack}.{old}.": f"{stack}.{new}." for new, old in enumerate(kept)})
    unknown = names - {f"{s}.{i}" for s, f in STACKS.items() for i in range(getattr(cfg, f))}
    if unknown:
        raise ValueError(f"no such block: {', '.join(sorted(unknown))}")
    sd = {}
    for key, value in model.state_dict().items():
        stack = next((s for s in STACKS if key.startswith(s + ".")), None)
        if stack is None:
            sd[key] = value
            continue
        old = f"{stack}.{key[len(stack) + 1 :].split('.')[0]}."
        if old in renames:
            sd[renames[old] + key[len(old) :]] = value
    small = AVSep(replace(cfg, **counts))
    small.load_state_dict(sd)
    return small.eval()


@torch.no_grad()
def _si_snr_db(model: AVSep, batch: dict) -> float:
    speakers = separate_batch(model.eval(), batch["mix"], batch["lips"], float(batch["fps"][0]))[0]
    return float(si_snr(speakers, batch["sources"]).mean())


def block_importance(model: AVSep, batch: dict) -> dict[str, float]:
    """SI-SNR (dB) the batch loses when each block is removed alone; stacks
    with one block are left out (each stack keeps at least one)."""
    base = _si_snr_db(model, batch)
    return {f"{stack}.{i}": round(base - _si_snr_db(drop_blocks(model, [f"{stack}.{i}"]), batch), 3)
            for stack, field in STACKS.items() if getattr(model.cfg, field) > 1 for i in range(getattr(model.cfg, field))}


@torch.no_grad()
def measure_importance(model: AVSep, batch: dict) -> dict[str, torch.Tensor]:
    """Mean activation magnitude times outgoing weight norm, on real mixtures:
    per head of every attention, per hidden unit of every feed-forward, per
    channel of every audio conv. Keys are module names."""
    scores: dict[str, torch.Tensor] = {}
    hooks = []

    def attn_hook(name, attn: WindowedAttention):
        def hook(_, inputs):
            y = inputs[0].reshape(-1, attn.heads, attn.head_dim)  # (frames, H, dh)
            w = attn.out.weight.reshape(-1, attn.heads, attn.head_dim)  # (D, H, dh)
            score = y.abs().mean(0).mul(w.norm(dim=0)).sum(-1)  # (H,)
            scores[name] = scores.get(name, 0) + score
        return attn.out.register_forward_pre_hook(hook)

    def ffn_hook(name, ff: FeedForward):
        def hook(_, inputs):
            h = inputs[0].reshape(-1, inputs[0].shape[-1])  # (frames, hidden)
            scores[name] = scores.get(name, 0) + h.abs().mean(0) * ff[3].weight.norm(dim=0)
        return ff[3].register_forward_pre_hook(hook)

    def conv_hook(name, conv: CausalConv2d):
        def hook(_, __, out):
            scores[name] = scores.get(name, 0) + out.abs().mean(dim=(0, 2, 3))
        return conv.register_forward_hook(hook)

    for name, mod in model.named_modules():
        if isinstance(mod, WindowedAttention):
            hooks.append(attn_hook(name, mod))
        elif isinstance(mod, FeedForward):
            hooks.append(ffn_hook(name, mod))
        elif isinstance(mod, CausalConv2d):
            hooks.append(conv_hook(name, mod))
    try:
        model.eval()
        separate_batch(model, batch["mix"], batch["lips"], float(batch["fps"][0]))
    finally:
        for h in hooks:
            h.remove()
    return scores


def _top(score: torch.Tensor, k: int) -> torch.Tensor:
    return torch.sort(torch.topk(score, k).indices).values


def shrink(model: AVSep, scores: dict, keep: float) -> AVSep:
    """A dense copy keeping the `keep` fraction of heads, FFN units and conv
    channels, the most important ones of each module."""
    cfg = model.cfg
    head_dim = cfg.attn_dim // cfg.n_heads
    n_heads = max(1, round(cfg.n_heads * keep))
    ffn = max(8, round(cfg.ffn_hidden * keep))
    chans = tuple(max(4, round(c * keep)) for c in cfg.audio_channels)
    new_cfg = replace(cfg, n_heads=n_heads, head_dim=head_dim, ffn_dim=ffn, audio_channels=chans)
    small = AVSep(new_cfg)
    sd = {k: v.clone() for k, v in model.state_dict().items()}

    def take(key, idx, dim):
        sd[key] = sd[key].index_select(dim, idx)

    for name, mod in model.named_modules():
        if isinstance(mod, WindowedAttention):
            heads = _top(scores[name], n_heads)
            rows = (heads[:, None] * head_dim + torch.arange(head_dim)).reshape(-1)  # (kept heads * dh,)
            inner = cfg.attn_dim
            for k in ("q.weight", "q.bias"):
                take(f"{name}.{k}", rows, 0)
            for k in ("kv.weight", "kv.bias"):
                take(f"{name}.{k}", torch.cat([rows, rows + inner]), 0)
            take(f"{name}.out.weight", rows, 1)
            take(f"{name}.rel_bias", heads, 0)
            if f"{name}.strength" in sd:
                take(f"{name}.strength", heads, 0)
        elif isinstance(mod, FeedForward):
            units = _top(scores[name], ffn)
            take(f"{name}.1.weight", units, 0)
            take(f"{name}.1.bias", units, 0)
            take(f"{name}.3.weight", units, 1)
    convs = [n for n, m in model.named_modules() if isinstance(m, CausalConv2d)]
    for i, name in enumerate(convs):
        keep_c = _top(scores[name], chans[i])
        for k in ("conv.weight", "conv.bias", "norm.weight", "norm.bias", "norm.running_mean", "norm.running_var"):
            take(f"{name}.{k}", keep_c, 0)
        if i + 1 < len(convs):
            take(f"{convs[i + 1]}.conv.weight", keep_c, 1)
        else:  # the projection reads (channel, freq) flattened channel-major
            f = sd["audio.proj.weight"].shape[1] // cfg.audio_channels[-1]
            take("audio.proj.weight", (keep_c[:, None] * f + torch.arange(f)).reshape(-1), 1)
    small.load_state_dict(sd)
    return small.eval()


def macs(model: AVSep) -> int:
    return model_info(model)["macs_per_second"]["total"]


def prune_to_budget(model: AVSep, batch: dict, mac_fraction: float, blocks: int = 0, log=print, drop=()) -> tuple[AVSep, dict]:
    """Remove the blocks named in `drop`, then the `blocks` least important
    transformer blocks, then take the largest uniform keep ratio of heads,
    FFN units and conv channels whose model needs at most `mac_fraction` of
    the original MACs per second."""
    full, original = macs(model), model
    dropped = {}
    if drop:
        model = drop_blocks(model, drop)
        dropped = {name: None for name in drop}  # named, not measured
        log(f"removing blocks by name: {', '.join(drop)}")
    if blocks:
        importance = block_importance(model, batch)
        if blocks > len(importance):
            raise ValueError(f"--blocks {blocks}: only {len(importance)} blocks can go (each stack keeps one)")
        least = dict(sorted(importance.items(), key=lambda kv: kv[1])[:blocks])  # names after the named drops
        log("removing blocks (SI-SNR lost alone, dB): " + ", ".join(f"{k} {v:+.2f}" for k, v in least.items()))
        model = drop_blocks(model, least)
        dropped.update({f"{k} (after the named drops)" if drop else k: v for k, v in least.items()})
    scores = measure_importance(model, batch)
    chosen, keep = None, 1.0
    for keep in [x / 20 for x in range(20, 2, -1)]:
        cand = shrink(model, scores, keep)
        if macs(cand) <= mac_fraction * full:
            chosen = cand
            break
    if chosen is None:
        raise ValueError(f"cannot reach {mac_fraction:.0%} of the MACs by pruning heads, FFN units and channels: "
                         "the STFT and video front end alone cost more; ask for a larger fraction")
    report = {"blocks_removed": dropped, "keep": keep, "macs_before": full, "macs_after": macs(chosen),
              "si_snr_before_db": round(_si_snr_db(original, batch), 3), "si_snr_after_db": round(_si_snr_db(chosen, batch), 3),
              "params_before": sum(p.numel() for p in original.parameters()),
              "params_after": sum(p.numel() for p in chosen.parameters()), "config": chosen.cfg.to_dict()}
    log(f"kept {keep:.0%} of heads/units/channels: MACs {full / 1e6:.0f}M -> {report['macs_after'] / 1e6:.0f}M/s, "
        f"params {report['params_before'] / 1e6:.2f}M -> {report['params_after'] / 1e6:.2f}M, "
        f"SI-SNR on the calibration batch {report['si_snr_before_db']:.2f} -> {report['si_snr_after_db']:.2f} dB (distil next)")
    return chosen, report


@torch.no_grad()
def magnitude_prune(model: AVSep, sparsity: float) -> AVSep:
    """Zero the smallest-magnitude weights of every Linear and conv (per layer),
    for CoreML's sparse weight format; fine-tune or distil afterwards."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    for mod in model.modules():
        if isinstance(mod, (nn.Linear, nn.Conv1d, nn.Conv2d)) and mod.weight.numel() >= 256:
            w = mod.weight
            k = int(sparsity * w.numel())
            if k:
                threshold = w.abs().flatten().kthvalue(k).values
                w.mul_((w.abs() > threshold).to(w.dtype))
    return model
