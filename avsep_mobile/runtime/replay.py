"""The one replay loop that drives every runner (float torch, LiteRT,
onnxruntime, CoreML, the CoreML reference evaluator) over a stream in the
test-vector layout, with each step's state carried (Kotlin: Replay.kt).

A runner has `run(step_name, feeds) -> outputs` (dicts of numpy arrays,
bound by name, never by position), `input_names(step)`, `output_names(step)`
and `reset()`; one that holds states inside (CoreML's MLState, `held_state`)
also has `reset_slot(step, signature, slot)`. The layout:

    lip_step/crops   (frames, S, 1, 88, 88)  one camera frame per lip_step call
    av_step/pcm      (calls, 1, hop*K)       one chunk per av_step call
    av_step/active   (calls, S)              1 for a tracked face
    av_step/lip_call (calls,) int            before av_step call c, lip_step runs
                                             for every frame up to lip_call[c]
    av_step/reset    (calls, S), optional    1: slot i gets a new face at call c
                                             (its per-slot state is reset first)

`meta` below is the metadata an app sizes its buffers from: the manifest's
top-level scalars, or `signature.metadata(cfg, speakers, chunk_hops)`.

Lanes: a runner with `lanes` set (the reference evaluator's with_lanes) runs
that many streams of one schedule at once; their vectors are stacked by
`stack_lanes` (a lane axis after the call axis) and `unstack_lanes` splits
what `stream` returns; `stream_each` does both where it can.
"""

from __future__ import annotations

import numpy as np

from .chunker import flush_samples
from .step_state import StepState, reset_runner_slot


def stream(runner, vectors: dict, signatures: dict, closed_loop: bool = True, progress=None) -> dict[str, np.ndarray]:
    """Replay a stream (the layout above) through a runner with its state
    carried: each state output `X_out` is fed back as input `X`.
    Returns `lip_step/lip_emb` per frame and `av_step/{lip_emb,speakers,residual}`
    per call, stacked, like the reference in the test vectors (av_step/lip_emb
    is the embedding each call was given: the held one).

    closed_loop: av_step gets the runner's own lip_emb (as an app does) rather
    than the reference lip_emb stored in the vectors.
    signatures: {step: StepSignature or its to_json()}, for the initial states.
    """
    runner.reset()
    lanes = getattr(runner, "lanes", None)
    state = {step: StepState(step, sig, lanes) for step, sig in signatures.items()}
    outs: dict[str, list] = {"lip_step/lip_emb": [], "av_step/lip_emb": [], "av_step/speakers": [], "av_step/residual": []}

    def call(step, data):
        res = runner.run(step, state[step].feeds(data))
        state[step].update(res)
        return res

    lip_call, resets = vectors["av_step/lip_call"], vectors.get("av_step/reset")
    emb, next_frame, n = None, 0, len(lip_call)
    for c in range(n):
        if resets is not None:
            for slot in np.flatnonzero(resets[c]):
                for st in state.values():
                    reset_runner_slot(st, runner, int(slot))
        while next_frame <= lip_call[c]:
            emb = call("lip_step", {"crops": vectors["lip_step/crops"][next_frame]})["lip_emb"]
            outs["lip_step/lip_emb"].append(emb)
            next_frame += 1
        held = emb if closed_loop or "av_step/lip_emb" not in vectors else vectors["av_step/lip_emb"][c]
        res = call("av_step", {"pcm": vectors["av_step/pcm"][c], "lip_emb": held, "active": vectors["av_step/active"][c]})
        outs["av_step/lip_emb"].append(np.asarray(held, np.float32))
        outs["av_step/speakers"].append(res["speakers"])
        outs["av_step/residual"].append(res["residual"])
        if progress is not None:
            progress(c + 1, n)
    return {k: np.stack(v) for k, v in outs.items()}


_SCHEDULE = ("av_step/lip_call", "av_step/reset")


def one_schedule(streams: list[dict]) -> bool:
    """Do the streams share one schedule (lip_call and reset), so they can run as lanes?"""
    return all(np.array_equal(v.get(k), streams[0].get(k)) for v in streams for k in _SCHEDULE)


def stack_lanes(streams: list[dict]) -> dict[str, np.ndarray]:
    """Streams of one schedule as lanes of one: every array they all have,
    but the schedule's, (n, ...), becomes (n, lanes, ...)."""
    if not one_schedule(streams):
        raise ValueError("lanes need one schedule: lip_call or reset differs between streams")
    first = streams[0]
    keys = [k for k in first if all(k in v for v in streams)]
    return {k: first[k] if k in _SCHEDULE else np.stack([v[k] for v in streams], axis=1) for k in keys}


def unstack_lanes(stacked: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """What `stream` returned for a lanes runner, one dict per lane."""
    lanes = next(iter(stacked.values())).shape[1]
    return [{k: v[:, i] for k, v in stacked.items()} for i in range(lanes)]


def stream_each(runner, streams: list[dict], signatures: dict, progress=None) -> list[dict[str, np.ndarray]]:
    """What `stream` returns for each of `streams`: all at once as lanes where
    the runner takes them (`with_lanes`) and they share one schedule, else
    one by one. progress(i, n): per call as lanes, per stream otherwise."""
    with_lanes = getattr(runner, "with_lanes", None)
    if with_lanes is not None and len(streams) > 1 and one_schedule(streams):
        return unstack_lanes(stream(with_lanes(len(streams)), stack_lanes(streams), signatures, progress=progress))
    outs = []
    for x in streams:
        outs.append(stream(runner, x, signatures))
        if progress is not None:
            progress(len(outs), len(streams))
    return outs


def held_lip_index(n_chunks: int, chunk_hops: int, hop: int, sample_rate: int, fps: float, n_frames: int) -> np.ndarray:
    """The lip schedule of a recording with regular camera frames: for each
    chunk, the last frame whose timestamp j/fps is not after the end of the
    chunk: (n_chunks,) int, clipped to the frames that exist."""
    ends = (np.arange(n_chunks) + 1) * chunk_hops * hop / sample_rate  # seconds
    idx = np.floor(ends * fps + 1e-9).astype(np.int64)
    return np.clip(idx, 0, n_frames - 1)


def stream_inputs(meta: dict, mix: np.ndarray, lips: np.ndarray, fps: float, active=None) -> dict[str, np.ndarray]:
    """A recording in the layout `stream` replays: mix (n,) float32 at
    meta's sample rate, lips (S, frames, crop, crop) uint8 or float in [0, 1],
    active None (all tracked), (S,) or (calls, S). The PCM is padded with the
    flush so every real sample leaves the overlap-add buffer; the lip schedule
    is held_lip_index (the camera frame each chunk sees)."""
    crop, chunk = meta["crop_size"], meta["chunk_samples"]
    if mix.ndim != 1:
        raise ValueError(f"mix must be mono (n,), got shape {mix.shape}")
    if lips.ndim != 4 or lips.shape[2:] != (crop, crop):
        raise ValueError(f"lips must be (speakers, frames, {crop}, {crop}), got shape {lips.shape}")
    n_chunks = (len(mix) + flush_samples(len(mix), chunk, meta["output_delay_samples"])) // chunk
    pcm = np.zeros(n_chunks * chunk, np.float32)
    pcm[: len(mix)] = mix
    s, n_frames = lips.shape[:2]
    crops = lips.astype(np.float32) / 255.0 if lips.dtype == np.uint8 else lips.astype(np.float32)
    act = np.ones((n_chunks, s), np.float32) if active is None else np.broadcast_to(np.asarray(active, np.float32), (n_chunks, s))
    lip_call = held_lip_index(n_chunks, meta["chunk_hops"], meta["hop_samples"], meta["sample_rate"], fps, n_frames)
    return {
        "lip_step/crops": np.ascontiguousarray(crops.transpose(1, 0, 2, 3)[:, :, None]),  # (T, S, 1, crop, crop)
        "av_step/pcm": pcm.reshape(n_chunks, 1, chunk),
        "av_step/active": np.ascontiguousarray(act),
        "av_step/lip_call": lip_call.astype(np.int32),
    }


def stream_pcm(meta: dict, streamed: dict, n: int) -> dict[str, np.ndarray]:
    """The outputs of `stream` as PCM aligned with an n-sample input:
    {"speakers": (S, n), "residual": (n,)} (the model's delay removed)."""
    d = meta["output_delay_samples"]
    spk, res = streamed["av_step/speakers"], streamed["av_step/residual"]
    speakers = spk.transpose(1, 0, 2).reshape(spk.shape[1], -1)
    return {"speakers": speakers[:, d : d + n], "residual": res.reshape(-1)[d : d + n]}
