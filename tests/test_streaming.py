"""The streaming contract (DESIGN.md §2): the step-by-step stream, the offline
reference and the model's symmetries agree to float precision."""

import numpy as np
import pytest
import torch

from avsep_mobile import signature
from avsep_mobile.metrics import snr_db
from avsep_mobile.pipeline import held_lip_index, separate, stream_separate

FLOAT_PARITY_DB = 80.0  # float32 equality, allowing for summation order


@pytest.mark.parametrize("chunk_hops", [1, 2, 4])
def test_streaming_matches_offline(tiny_model, av_inputs, chunk_hops):
    mix, lips, fps = av_inputs
    offline = separate(tiny_model, mix, lips, fps, chunk_hops=chunk_hops)
    stream = stream_separate(tiny_model, mix, lips, fps, chunk_hops=chunk_hops)
    assert np.abs(offline["speakers"]).max() > 1e-3  # not trivially silent
    assert snr_db(offline["speakers"], stream["speakers"]) >= FLOAT_PARITY_DB
    assert snr_db(offline["residual"], stream["residual"]) >= FLOAT_PARITY_DB


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
    hops_10min, refill, probe = 60_000, 200, 200  # 10 min, 2 s, 2 s of 10 ms hops
    pcm = 0.1 * torch.randn(1, (hops_10min + probe) * cfg.hop_length, generator=gen)
    lips = torch.randn(1, s, hops_10min + probe, cfg.d_model, generator=gen)
    active = torch.ones(1, s)

    def run(start: int, stop: int, state):
        out, state = model.forward_audio(pcm[:, start * cfg.hop_length : stop * cfg.hop_length], lips[:, :, start:stop], active, state)
        return out["speakers"], state

    state = model.zero_state(model.av_state_shapes(s))
    for a in range(0, hops_10min, 6000):  # 10 minutes in 1-minute calls, state carried
        _, state = run(a, a + 6000, state)
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


def test_griffin_lim_runs_and_improves_consistency(tiny_model, av_inputs):
    mix, lips, fps = av_inputs
    gl = separate(tiny_model, mix, lips, fps, phase="griffin-lim")["speakers"]
    assert gl.shape == (2, len(mix)) and np.isfinite(gl).all()
    with pytest.raises(ValueError):
        separate(tiny_model, mix, lips, fps, phase="nope")


@torch.no_grad()
def test_lip_embeddings_are_independent_of_stream_position(tiny_model):
    """The video path too: 10 minutes of 25 fps camera frames, then 2 s."""
    model, s = tiny_model, 2
    gen = torch.Generator().manual_seed(4)
    frames_10min, refill, probe = 15_000, 50, 50

    def crops(start, stop):  # deterministic per-frame content, made on demand to bound memory
        g = torch.Generator().manual_seed(start)
        return torch.rand(1, s, stop - start, 1, 88, 88, generator=g)

    probe_crops = torch.rand(1, s, probe, 1, 88, 88, generator=gen)
    state = model.zero_state(model.lip_state_shapes(s))
    for a in range(0, frames_10min, 1500):
        _, state = model.forward_lips(crops(a, a + 1500), state)
    late, _ = model.forward_lips(probe_crops, state)

    last = crops(frames_10min - 1500, frames_10min)[:, :, -refill:]  # the same frames the stream saw last
    _, fresh = model.forward_lips(last, model.zero_state(model.lip_state_shapes(s)))
    early, _ = model.forward_lips(probe_crops, fresh)
    assert snr_db(late.numpy(), early.numpy()) >= FLOAT_PARITY_DB
