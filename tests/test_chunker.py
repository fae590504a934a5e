"""Property-based: any input length and any sequence of app buffer sizes,
chunked by avsep_mobile.chunker and streamed through the steps, give the
offline reference output."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avsep_mobile.metrics import snr_db
from avsep_mobile.model import AVSep, preset
from avsep_mobile.pipeline import separate
from avsep_mobile.runtime import signature
from avsep_mobile.runtime.chunker import Chunker
from avsep_mobile.runtime.replay import held_lip_index
from avsep_mobile.streaming import Streamer

MIN_SNR_DB = 80.0  # float32 noise between one big call and many small ones
FPS = 25.0

buffers = st.lists(st.integers(1, 700), min_size=1, max_size=12)  # cycled until the input is used up


def _feed(chunker: Chunker, x: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    chunks, i, k = [], 0, 0
    while i < len(x):
        n = sizes[k % len(sizes)]
        chunks += chunker.push(x[i : i + n])
        i, k = i + n, k + 1
    return chunks


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 3000), sizes=buffers, chunk_hops=st.integers(1, 4), delay=st.sampled_from([0, 80, 240, 400]))
def test_chunks_are_the_input_in_order_then_the_flush(n, sizes, chunk_hops, delay):
    chunk = 160 * chunk_hops
    x = np.arange(1, n + 1, dtype=np.float32)
    ch = Chunker(chunk)
    out = _feed(ch, x, sizes)
    assert all(len(c) == chunk for c in out) and ch.pending == n - len(out) * chunk < chunk
    out += ch.flush(delay)
    y = np.concatenate(out) if out else np.zeros(0, np.float32)
    assert len(y) == -(-(n + delay) // chunk) * chunk  # the fewest whole chunks that hold input and delay
    assert np.array_equal(y[:n], x) and not y[n:].any()
    assert ch.pending == 0 and ch.flush(0) == []  # ready for the next stream


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return AVSep(preset("tiny")).eval()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 6000), sizes=buffers, chunk_hops=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_any_length_and_any_app_buffers_give_the_offline_output(tiny, n, sizes, chunk_hops, seed):
    cfg, speakers = tiny.cfg, 2
    rng = np.random.default_rng(seed)
    mix = (0.3 * rng.standard_normal(n)).astype(np.float32)
    n_frames = max(1, int(np.ceil(n / cfg.sample_rate * FPS)))
    lips = rng.integers(0, 256, (speakers, n_frames, cfg.crop_size, cfg.crop_size), dtype=np.uint8)
    ref = separate(tiny, mix, lips, FPS, chunk_hops=chunk_hops)

    stream = Streamer(tiny, speakers, chunk_hops)
    ch = Chunker(stream.chunk_samples, cfg.hop_length)
    chunks = _feed(ch, mix, sizes) + ch.flush(signature.output_delay_samples(cfg))
    # the camera frame each chunk sees, as the pipeline schedules it
    lip_call = held_lip_index(len(chunks), chunk_hops, cfg.hop_length, cfg.sample_rate, FPS, n_frames)
    active = np.ones(speakers, np.float32)
    crops = lips.astype(np.float32)[:, :, None] / 255.0  # (S, T, 1, 88, 88)
    spk, res, next_frame, emb = [], [], 0, None
    for c, chunk in enumerate(chunks):
        while next_frame <= lip_call[c]:
            emb = stream.lip(crops[:, next_frame])
            next_frame += 1
        a, b = stream.av(chunk[None], emb, active)
        spk.append(np.asarray(a))
        res.append(np.asarray(b))
    d = signature.output_delay_samples(cfg)
    got_spk = np.concatenate(spk, axis=1)[:, d : d + n]
    got_res = np.concatenate(res, axis=1)[0, d : d + n]
    assert got_spk.shape == ref["speakers"].shape and got_res.shape == ref["residual"].shape
    for got, want in ((got_spk, ref["speakers"]), (got_res, ref["residual"])):
        if not np.array_equal(got, want):
            assert snr_db(want, got) >= MIN_SNR_DB
