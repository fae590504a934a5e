"""The streaming contract (DESIGN.md §2): the step-by-step stream, the offline
reference and the model's symmetries agree to float precision."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from avsep_mobile.metrics import snr_db
from avsep_mobile.model import WindowedAttention
from avsep_mobile.pipeline import griffin_lim, separate, stream_separate
from avsep_mobile.runtime import signature
from avsep_mobile.runtime.replay import held_lip_index
from avsep_mobile.streaming import Streamer

FLOAT_PARITY_DB = 80.0  # float32 equality, allowing for summation order


@pytest.mark.parametrize("chunk_hops", [1, 2, 4])
def test_streaming_matches_offline(tiny_model, av_inputs, chunk_hops):
    mix, lips, fps = av_inputs
    offline = separate(tiny_model, mix, lips, fps, chunk_hops=chunk_hops)
    stream = stream_separate(tiny_model, mix, lips, fps, chunk_hops=chunk_hops)
    assert np.abs(offline["speakers"]).max() > 1e-3  # not trivially silent
    assert snr_db(offline["speakers"], stream["speakers"]) >= FLOAT_PARITY_DB
    assert snr_db(offline["residual"], stream["residual"]) >= FLOAT_PARITY_DB


def test_streaming_matches_offline_without_self_attention(tiny_model, av_inputs):
    """The audio and lip encoders may lose every self-attention block
    (`avsep prune --drop`): the states that remain still stream."""
    from avsep_mobile.quantize.prune import drop_blocks

    cfg = tiny_model.cfg
    bare = drop_blocks(tiny_model, [f"audio.layers.{i}" for i in range(cfg.audio_layers)] + [f"video.layers.{i}" for i in range(cfg.video_layers)])
    mix, lips, fps = av_inputs
    offline, stream = separate(bare, mix, lips, fps), stream_separate(bare, mix, lips, fps)
    assert np.abs(offline["speakers"]).max() > 1e-3
    assert snr_db(offline["speakers"], stream["speakers"]) >= FLOAT_PARITY_DB


def test_offline_is_causal(tiny_model, av_inputs):
    mix, lips, fps = av_inputs
    whole = separate(tiny_model, mix, lips, fps)["speakers"]
    n = 20000
    frames = int(np.floor(n / 16000 * fps)) + 1  # camera frames seen by then
    prefix = separate(tiny_model, mix[:n], lips[:, :frames], fps)["speakers"]
    tail = tiny_model.cfg.win_length  # output n depends on input up to n + one window
    assert snr_db(whole[:, : n - tail], prefix[:, : n - tail]) >= FLOAT_PARITY_DB
    assert snr_db(whole[:, n - tail : n], prefix[:, n - tail :]) < FLOAT_PARITY_DB  # the tail does look ahead


@torch.no_grad()
def test_output_is_independent_of_stream_position(tiny_model):
    """The same 2 s after 10 minutes of stream as after a fresh start, once the
    windows have been refilled."""
    model, cfg, s = tiny_model, tiny_model.cfg, 2
    gen = torch.Generator().manual_seed(3)
    # 20 s hold dozens of attention windows (tiny: 6 frames): a position
    # dependence would show as surely as after 10 minutes
    hops_10min, refill, probe = 2_000, 200, 200
    pcm = 0.1 * torch.randn(1, (hops_10min + probe) * cfg.hop_length, generator=gen)
    lips = torch.randn(1, s, hops_10min + probe, cfg.d_model, generator=gen)
    active = torch.ones(1, s)

    def run(start: int, stop: int, state):
        out, state = model.forward_audio(pcm[:, start * cfg.hop_length : stop * cfg.hop_length], lips[:, :, start:stop], active, state)
        return out["speakers"], state

    state = model.zero_state(model.av_state_shapes(s))
    for a in range(0, hops_10min, 500):  # in 5 s calls, state carried
        _, state = run(a, a + 500, state)
    late, _ = run(hops_10min, hops_10min + probe, state)

    _, fresh = run(hops_10min - refill, hops_10min, model.zero_state(model.av_state_shapes(s)))
    early, _ = run(hops_10min, hops_10min + probe, fresh)
    assert snr_db(late.numpy(), early.numpy()) >= FLOAT_PARITY_DB


def test_swapping_lips_swaps_outputs(tiny_model, av_inputs):
    mix, lips, fps = av_inputs
    out = separate(tiny_model, mix, lips, fps)["speakers"]
    swapped = separate(tiny_model, mix, lips[::-1].copy(), fps)["speakers"]
    assert snr_db(out[::-1], swapped) >= FLOAT_PARITY_DB
    assert snr_db(out[0], out[1]) < FLOAT_PARITY_DB - 20  # the slots differ far beyond rounding


def test_inactive_slot_is_silent_and_mixture_adds_up(tiny_model, av_inputs):
    mix, lips, fps = av_inputs
    out = separate(tiny_model, mix, lips, fps, active=[1.0, 0.0])
    assert np.abs(out["speakers"][1]).max() == 0.0
    total = out["speakers"].sum(0) + out["residual"]
    assert snr_db(mix, total) >= FLOAT_PARITY_DB


def test_held_lip_index_follows_camera_timestamps():
    # 25 fps camera, 10 ms hops: frame j is available once j/25 s has passed
    idx = held_lip_index(10, 1, 160, 16000, 25.0, 100)
    assert idx.tolist() == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    assert held_lip_index(3, 4, 160, 16000, 25.0, 2).tolist() == [1, 1, 1]  # clipped to the frames that exist


def test_signature_names_are_unique_and_states_round_trip(tiny_model):
    for sig in signature.signatures(tiny_model, 3, 2).values():
        names = sig.input_names + sig.output_names
        assert len(names) == len(set(names))
        assert [n + signature.STATE_OUT_SUFFIX for n in (s.name for s in sig.states)] == sig.output_names[len(sig.outputs):]
    assert signature.latency_ms(tiny_model.cfg, 1) == 25.0
    assert signature.latency_ms(tiny_model.cfg, 4) == 55.0


@torch.no_grad()
def test_griffin_lim_improves_consistency(tiny_model, av_inputs):
    """Re-analysed, Griffin-Lim's output is closer to the masked magnitudes
    than the mixture-phase output it starts from."""
    mix, lips, fps = av_inputs
    stft, d = tiny_model.stft, tiny_model.cfg.stft_context
    pcm = torch.from_numpy(mix[:16000])[None]
    re, im, _ = stft.analyse(pcm, torch.zeros(1, d))
    masks = torch.rand((2,) + re.shape[1:], generator=torch.Generator().manual_seed(0))
    target = masks * torch.sqrt(re**2 + im**2)

    def inconsistency(y):
        aligned = torch.cat([y[:, d:], torch.zeros(2, d)], dim=1)
        r2, i2, _ = stft.analyse(aligned, torch.zeros(2, d))
        return float(((torch.sqrt(r2**2 + i2**2) - target) ** 2).sum() / (target**2).sum())

    mixture_phase, _ = stft.synthesise(masks * re, masks * im, torch.zeros(2, d))
    gl = griffin_lim(tiny_model, pcm, masks, iters=16)
    assert inconsistency(gl) < 0.9 * inconsistency(mixture_phase)  # measured: 0.12 vs 0.15
    out = separate(tiny_model, mix, lips, fps, phase="griffin-lim")["speakers"]
    assert out.shape == (2, len(mix)) and np.isfinite(out).all()
    with pytest.raises(ValueError):
        separate(tiny_model, mix, lips, fps, phase="nope")


@torch.no_grad()
def test_lip_embeddings_are_independent_of_stream_position(tiny_model):
    """The video path too: 40 s of 25 fps camera frames (many windows), then 2 s."""
    model, s = tiny_model, 2
    gen = torch.Generator().manual_seed(4)
    frames_10min, refill, probe = 1_000, 50, 50

    def crops(start, stop):  # deterministic per-frame content, made on demand to bound memory
        g = torch.Generator().manual_seed(start)
        return torch.rand(1, s, stop - start, 1, 88, 88, generator=g)

    probe_crops = torch.rand(1, s, probe, 1, 88, 88, generator=gen)
    state = model.zero_state(model.lip_state_shapes(s))
    for a in range(0, frames_10min, 250):
        _, state = model.forward_lips(crops(a, a + 250), state)
    late, _ = model.forward_lips(probe_crops, state)

    last = crops(frames_10min - 250, frames_10min)[:, :, -refill:]  # the same frames the stream saw last
    _, fresh = model.forward_lips(last, model.zero_state(model.lip_state_shapes(s)))
    early, _ = model.forward_lips(probe_crops, fresh)
    assert snr_db(late.numpy(), early.numpy()) >= FLOAT_PARITY_DB


@torch.no_grad()
@pytest.mark.parametrize("t", [1, 2, 5, 8, 9, 40])
def test_windowed_and_banded_attention_agree(t):
    """The two code paths of WindowedAttention (per-frame slices for a
    streaming chunk, one banded matmul for a recording) compute the same sums."""
    torch.manual_seed(t)
    attn = WindowedAttention(16, 2, window=6).eval()
    attn.rel_bias.normal_()
    q = torch.randn(3, 2, t, 8)
    kv = torch.randn(3, 4, 6 + t, 8)  # head-major: keys of 2 heads, then values
    assert snr_db(attn._banded(q, kv).numpy(), attn._windowed(q, kv).numpy()) >= FLOAT_PARITY_DB


def _stream_chunks(st, mix, lips, active, reset_at=None, slot=1):
    """Drive a Streamer chunk by chunk (K = 1, one lip frame every 4 hops)."""
    out = []
    for c in range(len(mix) // 160):
        if c == reset_at:
            st.reset_slot(slot)
        if c % 4 == 0:
            emb = st.lip(lips[:, c // 4, None])
        spk, _ = st.av(mix[None, c * 160 : (c + 1) * 160], emb, active)
        out.append(spk)
    return np.concatenate(out, axis=1)


def test_reset_slot_forgets_the_old_face_and_leaves_the_rest(tiny_model):
    """A slot handed to a new face: after reset_slot, nothing of the old face
    is left (two streams that differ only in slot 1's face before the reset are
    identical after it), and only slot 1's rows of per-slot states change."""
    rng = np.random.default_rng(7)
    mix = (0.1 * rng.standard_normal(160 * 120)).astype(np.float32)
    lips = rng.random((2, 30, 88, 88)).astype(np.float32)
    lips[1, :15] *= 0.3  # a dark face in slot 1 before the hand-over in one stream,
    other = lips.copy()
    other[1, :15] += 0.7  # a bright one in the other
    active, c = np.ones(2, np.float32), 60  # hand-over at chunk 60 = lip frame 15
    a = _stream_chunks(Streamer(tiny_model, 2), mix, lips, active, reset_at=c)
    b = _stream_chunks(Streamer(tiny_model, 2), mix, other, active, reset_at=c)
    assert snr_db(a[:, : c * 160], b[:, : c * 160]) < FLOAT_PARITY_DB - 20  # the old faces mattered (44 dB: far beyond rounding)
    # and are forgotten, once slot 0's overlap-add tail (240 samples, made while
    # the old face shared the Wiener normalisation) has left the buffer
    after = c * 160 + tiny_model.cfg.stft_context
    assert np.array_equal(a[:, after:], b[:, after:])

    st = Streamer(tiny_model, 2)
    _stream_chunks(st, mix[: 160 * 20], lips, active)
    before = {step: {k: v.copy() for k, v in s.values.items()} for step, s in st.state.items()}
    st.reset_slot(1)
    for step, sig in st.runner.signatures.items():
        for spec in sig.states:
            old, new = before[step][spec.name], st.state[step].values[spec.name]
            if spec.per_slot:
                assert not new[1].any() and np.array_equal(old[0], new[0]), spec.name
                assert np.array_equal(old[2:], new[2:]), spec.name  # the decoder's residual row is shared
            else:
                assert np.array_equal(old, new), spec.name


def test_config_with_unknown_keys_is_refused(tiny_model):
    from avsep_mobile.model import ModelConfig

    d = tiny_model.cfg.to_dict()
    assert ModelConfig.from_dict(d) == tiny_model.cfg
    with pytest.raises(ValueError, match="unknown config keys future_field"):
        ModelConfig.from_dict({**d, "future_field": 1})


@torch.no_grad()
def test_a_shorter_attention_window_is_the_long_one_with_far_frames_masked(tiny_model, av_inputs):
    """`with_attn_window(w)` keeps what the model did on the nearest w + 1
    frames: the long model with its farther frames masked out (bias -1e9)
    separates exactly as the short copy does, and the short copy streams."""
    mix, lips, fps = av_inputs
    w = tiny_model.cfg.attn_window // 2
    short = tiny_model.with_attn_window(w)
    assert short.cfg.attn_window == w and short.av_state_shapes(2)["decoder0"][2] == w
    masked = copy.deepcopy(tiny_model)
    for m in masked.modules():
        if isinstance(m, WindowedAttention) and m.window == tiny_model.cfg.attn_window:
            m.rel_bias[:, : m.window - w] = -1e9
    want = separate(masked, mix, lips, fps)["speakers"]
    assert snr_db(want, separate(short, mix, lips, fps)["speakers"]) >= FLOAT_PARITY_DB
    assert snr_db(want, separate(tiny_model, mix, lips, fps)["speakers"]) < FLOAT_PARITY_DB  # the far frames did count
    assert snr_db(want, stream_separate(short, mix, lips, fps)["speakers"]) >= FLOAT_PARITY_DB
    with pytest.raises(ValueError, match="attn_window must be 1..6"):
        tiny_model.with_attn_window(7)


@torch.no_grad()
def test_a_lower_frame_rate_keeps_what_each_weight_means(tiny_model, av_inputs):
    """`with_hop(2 hops)`: the same weights, each relative bias at every other
    distance, the audio-video lag prior the same in seconds, the mask head's
    rows at the old bins' frequencies; the copy streams as it separates."""
    from avsep_mobile.model import OffsetAttention

    f = 2
    slow = tiny_model.with_hop(f * tiny_model.cfg.hop_length)
    assert (slow.cfg.hop_length, slow.cfg.win_length, slow.cfg.n_fft, slow.cfg.attn_window) == (320, 640, 1024, 3)
    new = dict(slow.named_parameters())
    for name, p in tiny_model.named_parameters():
        q = new[name]
        if name.endswith("rel_bias") and not name.startswith("video."):
            assert torch.equal(q, p[:, ::f]), name
        elif name.startswith("mask_head."):
            assert q.shape[0] == 2 * p.shape[0] - 1 and torch.equal(q[::f], p), name  # new bin 2k is old bin k
        elif not name.endswith((".offset", ".strength")):
            assert torch.equal(q, p), name
    modules = dict(slow.named_modules())
    for name, m in tiny_model.named_modules():
        if isinstance(m, OffsetAttention):  # the prior (bias less table) at lag j hops of f equals the old one at f j
            m2 = modules[name]
            torch.testing.assert_close((m2.bias() - m2.rel_bias), (m.bias() - m.rel_bias)[:, ::f], rtol=1e-5, atol=1e-6)
    mix, lips, fps = av_inputs
    assert snr_db(separate(slow, mix, lips, fps)["speakers"], stream_separate(slow, mix, lips, fps)["speakers"]) >= FLOAT_PARITY_DB
    with pytest.raises(ValueError, match="hop must be a multiple"):
        tiny_model.with_hop(200)
    # the window itself as the DFT: 321 bins, each mask row interpolated at its frequency
    tight = tiny_model.with_hop(f * tiny_model.cfg.hop_length, n_fft=640)
    assert (tight.cfg.n_fft, tight.cfg.n_bins) == (640, 321)
    k = torch.tensor([0, 5, 8, 320])  # new bin k sits at old bin k * 512 / 640: 0, 4, 6.4, 256
    w = tiny_model.mask_head.weight
    want = torch.stack([w[0], w[4], 0.6 * w[6] + 0.4 * w[7], w[256]])
    torch.testing.assert_close(tight.mask_head.weight[k], want, rtol=1e-5, atol=1e-6)
    assert snr_db(separate(tight, mix, lips, fps)["speakers"], stream_separate(tight, mix, lips, fps)["speakers"]) >= FLOAT_PARITY_DB


@torch.no_grad()
def test_a_coarser_mouth_keeps_every_weight(tiny_model, av_inputs):
    """`with_video_pool(4)`: the same weights, a stem that first averages 4 x 4
    pixels (a 22 x 22 mouth), and a copy that streams as it separates."""
    coarse = tiny_model.with_video_pool(4)
    assert coarse.cfg.video_pool == 4 and tiny_model.cfg.video_pool == 2
    assert all(torch.equal(p, q) for p, q in zip(tiny_model.state_dict().values(), coarse.state_dict().values()))
    crops = torch.rand(1, 1, 3, 1, 88, 88)
    state = coarse.zero_state(coarse.lip_state_shapes(1))
    want = tiny_model.video.blocks(tiny_model.video.stem[1:](F.avg_pool2d(crops.reshape(3, 1, 88, 88) - 0.5, 4)))
    got = coarse.video.blocks(coarse.video.stem(crops.reshape(3, 1, 88, 88) - 0.5))
    torch.testing.assert_close(got, want)
    assert coarse.forward_lips(crops, state)[0].shape == (1, 1, 3, coarse.cfg.d_model)
    mix, lips, fps = av_inputs
    assert snr_db(separate(coarse, mix, lips, fps)["speakers"], stream_separate(coarse, mix, lips, fps)["speakers"]) >= FLOAT_PARITY_DB
    with pytest.raises(ValueError, match="must divide"):
        tiny_model.with_video_pool(5)
    # no pool at all (the stem's layers move up by one) and back: the same weights
    back = tiny_model.with_video_pool(1).with_video_pool(2)
    assert all(torch.equal(p, q) for p, q in zip(tiny_model.state_dict().values(), back.state_dict().values()))


@torch.no_grad()
def test_wider_feed_forwards_compute_the_same_until_trained(tiny_model, av_inputs):
    wide = tiny_model.with_ffn_hidden(2 * tiny_model.cfg.ffn_hidden)
    assert wide.cfg.ffn_hidden == 2 * tiny_model.cfg.ffn_hidden
    assert wide.fusion[0].self_attn.ffn[1].weight.shape[0] == wide.cfg.ffn_hidden
    mix, lips, fps = av_inputs
    want, got = separate(tiny_model, mix, lips, fps)["speakers"], separate(wide, mix, lips, fps)["speakers"]
    assert snr_db(want, got) >= FLOAT_PARITY_DB
    assert wide.fusion[0].self_attn.ffn[1].weight[tiny_model.cfg.ffn_hidden :].abs().sum() > 0  # new units live, outputs zero
    with pytest.raises(ValueError, match="can only grow"):
        tiny_model.with_ffn_hidden(tiny_model.cfg.ffn_hidden - 1)


@torch.no_grad()
def test_a_batch_is_its_rows(tiny_model):
    """forward_audio on a batch of 3 (training) equals each row alone (every
    exported step has one row, where the slot broadcasts take a shorter path)."""
    model, cfg, s, t = tiny_model, tiny_model.cfg, 2, 3
    g = torch.Generator().manual_seed(3)
    pcm = torch.randn(3, cfg.hop_length * t, generator=g) * 0.1
    lips = torch.randn(3, s, t, cfg.d_model, generator=g)
    active = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    shapes = model.av_state_shapes(s)
    state = {k: torch.randn(3 * v[0], *v[1:], generator=g) * 0.1 for k, v in shapes.items()}
    out, new = model.forward_audio(pcm, lips, active, state)
    for i in range(3):
        row = {k: v.reshape(3, v.shape[0] // 3, *v.shape[1:])[i] for k, v in state.items()}
        one, one_new = model.forward_audio(pcm[i : i + 1], lips[i : i + 1], active[i : i + 1], row)
        for key in ("speakers", "residual", "masks"):
            assert snr_db(out[key][i].numpy(), one[key][0].numpy()) >= FLOAT_PARITY_DB, key
        for key in new:
            assert snr_db(new[key].reshape(3, -1)[i].numpy(), one_new[key].reshape(-1).numpy()) >= FLOAT_PARITY_DB, key
