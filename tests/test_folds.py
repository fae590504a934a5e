"""The export-time folds (export/folds.py) compute the same steps as the
unfolded model, to float rounding, and leave the model itself untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from avsep_mobile import metrics
from avsep_mobile.export import folds
from avsep_mobile.export.steps import sample_inputs
from avsep_mobile.runtime.signature import STATE_OUT_SUFFIX
from avsep_mobile.streaming import step_modules

# folded vs unfolded, float32: only the summation order and the folded products differ
MIN_FOLD_SNR_DB = 100.0


def _stream(model, calls: int = 12, speakers: int = 2, chunk_hops: int = 1) -> dict[str, list]:
    """Each step called `calls` times on seeded inputs, state fed back: {step: [outputs...]}."""
    out = {}
    with torch.no_grad():
        for name, step in step_modules(model, speakers, chunk_hops).items():
            feeds = sample_inputs(step.sig)
            g = torch.Generator().manual_seed(1)
            got = []
            for _ in range(calls):
                for t in step.sig.inputs:  # fresh data each call, states carried
                    feeds[t.name] = torch.rand(t.shape, generator=g) * 0.2
                if "active" in feeds:
                    feeds["active"] = torch.ones_like(feeds["active"])
                res = dict(zip(step.sig.output_names, step(*[feeds[n] for n in step.sig.input_names])))
                feeds.update({s.name: res[s.name + STATE_OUT_SUFFIX] for s in step.sig.states})
                got.append({k: v.numpy().copy() for k, v in res.items()})
            out[name] = got
    return out


def _worst_snr(ref: dict, got: dict) -> float:
    return min(metrics.snr_db(np.stack([c[k] for c in ref[s]]), np.stack([c[k] for c in got[s]]))
               for s in ref for k in ref[s][0])


@pytest.mark.parametrize("which", [("layernorm",), ("attn_scale",), ("const_bias",), ("layernorm_ops",), ("softplus_tail",),
                                   ("softplus_short",),
                                   ("single_query",), ("pool_conv",), ("twiddle_blocks",), ("sdpa",), folds.FOLDS, folds.LITERT_FOLDS,
                                   folds.COREML18_FOLDS])
def test_folded_steps_match_unfolded(tiny_model, which):
    ref = _stream(tiny_model)
    assert _worst_snr(ref, _stream(folds.fold(tiny_model, which))) >= MIN_FOLD_SNR_DB


@pytest.mark.parametrize("chunk_hops", [2, 4, 8])
def test_chunk_banded_matches_unfolded_chunks(tiny_model, chunk_hops):
    """A chunk's time-major banded attention (every key, masked outside each
    query's window) computes the per-frame windows' sums."""
    ref = _stream(tiny_model, chunk_hops=chunk_hops)
    assert _worst_snr(ref, _stream(folds.fold(tiny_model, ("chunk_banded",)), chunk_hops=chunk_hops)) >= MIN_FOLD_SNR_DB
    assert _worst_snr(ref, _stream(folds.fold(tiny_model, folds.LITERT_FOLDS), chunk_hops=chunk_hops)) >= MIN_FOLD_SNR_DB


def test_band_bias_masks_outside_each_window(tiny_model):
    att = next(m for m in folds.fold(tiny_model, ("chunk_banded",)).modules() if isinstance(m, folds._FoldedAttention))
    w, table = att.window, att.bias().detach()
    band = att.band_bias3  # (T, H, window + T)
    assert band.shape == (3, att.heads, w + 3)
    for i in range(3):  # query i sees keys i .. i + window, the oldest first
        assert torch.equal(band[i, :, i : i + w + 1], table)
        assert (band[i, :, :i] == -1e4).all() and (band[i, :, i + w + 1 :] == -1e4).all()


def test_fold_rewrites_a_copy_only(tiny_model):
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    folded = folds.fold(tiny_model)
    assert all(torch.equal(v, tiny_model.state_dict()[k]) for k, v in before.items())
    affine = [m for m in folded.modules() if isinstance(m, nn.LayerNorm) and m.elementwise_affine]
    # only the video encoder's output norm stays affine: lip_emb leaves the step there
    assert [id(m) for m in affine] == [id(folded.video.norm)]
    atts = [m for m in folded.modules() if isinstance(m, folds._FoldedAttention)]
    assert atts and all(a.logit_scale == 1.0 and hasattr(a, "bias_table") for a in atts)


def test_fold_changes_the_graph(tiny_model):
    """The fold is real: the folded q weights differ and the traced step has fewer ops."""
    def ops(model):
        step = step_modules(model, 2)["av_step"]
        feeds = sample_inputs(step.sig)
        g = torch.jit.trace(step, tuple(feeds[n] for n in step.sig.input_names), check_trace=False)
        return sum(1 for n in g.inlined_graph.nodes() if n.kind().startswith("aten::"))

    assert ops(folds.fold(tiny_model)) < ops(tiny_model)


def test_pool_conv_is_one_strided_conv(tiny_model):
    """The stem's average pool is gone, and the one conv computes what pool and
    conv did on a crop (float rounding aside)."""
    stem = tiny_model.video.stem
    folded = folds.fold(tiny_model, ("pool_conv",)).video.stem
    assert type(stem[0]) is nn.AvgPool2d and not any(isinstance(m, nn.AvgPool2d) for m in folded)
    assert folded[0].kernel_size == (6, 6) and folded[0].stride == (4, 4)
    x = torch.rand(3, 1, 88, 88) - 0.5
    with torch.no_grad():
        assert (stem(x) - folded(x)).abs().max() < 1e-5
    odd = nn.Sequential(nn.AvgPool2d(2, stride=1), nn.Conv2d(1, 4, 3))
    assert folds._fold_pool_into_conv(odd) is odd  # overlapping pools are not a conv upsampling: left alone


def test_unknown_fold_refused(tiny_model):
    with pytest.raises(ValueError, match="unknown folds"):
        folds.fold(tiny_model, ("layernorm", "nope"))


def test_softplus_tail_keeps_the_relative_accuracy_of_softplus():
    """The masks divide by (sum + 1e-6): a softplus tail of 1e-9 still counts,
    so the export form must match torch's softplus in relative terms down to
    the smallest normal float32, where log(1 + exp(x)) is 0 below x = -17."""
    x = torch.linspace(-87.0, 40.0, 100001)
    ref = nn.functional.softplus(x.double())
    got = folds.TailExactSoftplus()(x).double()
    assert ((got - ref).abs() / ref).max() < 1e-5
    naive = torch.log(1.0 + torch.exp(x)).double()
    assert ((naive - ref).abs() / ref).max() > 0.5  # what the fold is for: the naive form loses the tail


def test_short_tail_softplus_is_within_half_a_percent_and_only_int8_and_int4_take_it():
    """int8 and int4 exports take the one-term tail: relative error under
    e / 2 <= 0.005 anywhere (the tail included, which plain log(1 + exp(x))
    loses), and scaled like the model's activation; fp32 and fp16 keep the
    exact tail."""
    x = torch.linspace(-87.0, 40.0, 100001)
    ref = nn.functional.softplus(x.double()) * 2.0**3
    got = folds.ShortTailSoftplus(3)(x).double()
    assert ((got - ref).abs() / ref).max() < 0.0051
    for precision in ("int8", "int4"):
        chosen = folds.for_precision(folds.LITERT_FOLDS, precision)
        assert "softplus_short" in chosen and "softplus_tail" not in chosen
    for precision in ("fp32", "fp16"):
        assert folds.for_precision(folds.LITERT_FOLDS, precision) == folds.LITERT_FOLDS
    assert "twiddle_blocks" not in folds.for_precision(folds.FOLDS, "int4")
    assert folds.for_precision(folds.FOLDS, "int8") == folds.FOLDS


@pytest.mark.parametrize("hops", [1, 2, 50])
def test_twiddle_blocks_stft_is_the_factored_stft(tiny_model, hops):
    """The twiddles folded into batched block matmuls: the same spectra and
    the same overlap-added PCM, for one hop, a chunk and a recording."""
    stft = tiny_model.stft
    blocks = folds.BlockTwiddleSTFT.of(stft)
    g = torch.Generator().manual_seed(2)
    pcm, buf = torch.randn(3, stft.hop * hops, generator=g), torch.randn(3, stft.context, generator=g)
    spec, spec_buf = stft.analyse_stacked(pcm, buf)
    got, got_buf = blocks.analyse_stacked(pcm, buf)
    assert metrics.snr_db(spec.numpy(), got.numpy()) >= 120 and torch.equal(spec_buf, got_buf)
    out, out_buf = stft.synthesise_stacked(spec, buf)
    got_out, got_out_buf = blocks.synthesise_stacked(spec, buf)
    assert metrics.snr_db(out.numpy(), got_out.numpy()) >= 120
    assert metrics.snr_db(out_buf.numpy(), got_out_buf.numpy()) >= 120
