"""The live schedule (avsep_mobile.runtime.scheduler) equals the reference's
sample-and-hold rule, and the committed case table the app cores are tested
against is the one the rule generates."""

import json
from pathlib import Path

import numpy as np
import pytest

from avsep_mobile import app_cases
from avsep_mobile.runtime import scheduler
from avsep_mobile.runtime.replay import held_lip_index

TABLE = Path(__file__).resolve().parents[1] / "parity_tests" / "data" / "schedule_cases.json"


def test_committed_case_table_is_the_generated_one():
    committed = json.loads(TABLE.read_text())
    assert committed == json.loads(json.dumps(app_cases.schedule_cases())), \
        "regenerate: python -m avsep_mobile.app_cases --schedule parity_tests/data/schedule_cases.json"


@pytest.mark.parametrize("fps", [25.0, 30.0, 29.97, 24.0, 15.0])
@pytest.mark.parametrize("chunk_hops", [1, 3, 4])
@pytest.mark.parametrize("n_frames", [1, 7, 200])
def test_schedule_matches_held_lip_index(fps, chunk_hops, n_frames):
    n_chunks = 137
    ref = held_lip_index(n_chunks, chunk_hops, 160, 16000, fps, n_frames)
    got = scheduler.regular_schedule(n_chunks, chunk_hops, 160, 16000, fps, n_frames)
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("fps", [25.0, 29.97])
def test_live_order_with_wait_matches_reference(fps):
    """Frames and audio interleaved by time (each frame arriving at its
    timestamp): with the chunk waiting for a later frame, the held frame is the
    reference's."""
    n_chunks, n_frames = 90, int(0.9 * fps) + 1
    sch = scheduler.Scheduler(16000, 160, 2, max_video_wait_ns=scheduler.NEVER)
    events = sorted([(scheduler.frame_ns(j, fps) * 16000, 0, j) for j in range(n_frames)] +
                    [((c + 1) * 160 * scheduler.NS, 1, c) for c in range(n_chunks)])
    got = []
    for _, kind, j in events:
        if kind == 0:
            sch.frame(scheduler.frame_ns(j, fps), [0, 1])
        else:
            sch.audio(160)
        got += sch.drain()
    sch.end_of_video()
    got += sch.drain()
    assert [c.index for c in got] == list(range(n_chunks))
    np.testing.assert_array_equal([c.lip for c in got], held_lip_index(n_chunks, 1, 160, 16000, fps, n_frames))


def test_table_covers_the_cases_the_apps_meet():
    t = app_cases.schedule_cases()
    names = {c["name"] for c in t["schedule"]}
    for needed in ("startup_camera_starts_late", "startup_timeout", "dropped_frames", "live_late_frames_no_wait",
                   "face_leaves_and_returns", "slot_handed_to_new_face", "av_offset_plus_40ms", "av_offset_changed_mid_stream"):
        assert needed in names
    by = {c["name"]: c for c in t["schedule"]}
    # a late frame is held one chunk later than in the reference, never earlier
    ref = [e["lip"] for e in by["live_in_time_order_wait"]["expect"]]
    late = [e["lip"] for e in by["live_late_frames_no_wait"]["expect"]]
    assert late != ref and all(a <= b for a, b in zip(late, ref))
    assert [e["lip"] for e in by["live_late_frames_wait_20ms"]["expect"]] == ref
    handed = by["slot_handed_to_new_face"]["expect"]
    assert sum(e["reset"][0] for e in handed) == 1 and sum(e["reset"][1] for e in handed) == 0
    assert not any(any(e["reset"]) for e in by["face_leaves_and_returns"]["expect"])
    timeout = by["startup_timeout"]["expect"]
    assert timeout[0]["lip"] == -1 and timeout[0]["active"] == [0.0, 0.0] and timeout[-1]["lip"] >= 0


def test_reset_and_active_follow_the_held_frame():
    sch = scheduler.Scheduler(16000, 160, 2, max_video_wait_ns=scheduler.NEVER)
    sch.frame(0, [5, -1])
    sch.frame(40_000_000, [6, 2])
    sch.end_of_video()
    sch.audio(160 * 8)
    out = sch.drain()
    assert [c.lip for c in out] == [0, 0, 0, 1, 1, 1, 1, 1]
    assert out[0].active == [1.0, 0.0] and out[3].active == [1.0, 1.0]
    assert out[3].reset == [1.0, 0.0] and out[4].reset == [0.0, 0.0]


def test_flush_leaves_the_fewest_whole_chunks_that_carry_every_sample_out():
    from avsep_mobile.model import preset
    from avsep_mobile.runtime import signature
    from avsep_mobile.runtime.chunker import flush_samples

    cfg = preset("tiny")
    delay = signature.output_delay_samples(cfg)
    for n in (0, 1, 159, 160, 1000, 4801):
        for k in (1, 4):
            chunk = cfg.hop_length * k
            total = n + flush_samples(n, chunk, delay)
            assert total % chunk == 0 and total >= n + delay > total - chunk
            assert total == signature.stream_chunks(cfg, n, k) * chunk
