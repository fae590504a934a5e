"""`avsep separate VIDEO` end to end on real clips made here (tests/media_clips.py):
PyAV decoding with timestamps, the face detector and mesh from the mediapipe
wheel, the slot tracker, the mouth bridge and the streaming model."""

import json
import math
import os

import av
import numpy as np
import pytest

from avsep_mobile.audio import read_audio
from avsep_mobile.cli import main
from avsep_mobile.runtime.faces import (
    Face,
    FaceDetector,
    FaceMesh,
    SlotTracker,
    face_from_landmarks,
    mouth,
)
from avsep_mobile.video import frames, probe
from tests.media_clips import SR, face_image, gaps, open_mouth, speech, write_clip

SECONDS = 3.0


@pytest.fixture(scope="module")
def voices():
    return speech(SECONDS, seed=3, voices=2)


@pytest.fixture(scope="module")
def two_faces(voices, tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("clips") / "two faces é.mp4", voices)


def _run(capsys, *argv):
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr()


def _one_line_error(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and lines[0] == err.strip().splitlines()[-1], err
    return lines[0]


def _si_snr(est, ref):
    n = min(len(est), len(ref))
    est, ref = est[:n] - est[:n].mean(), ref[:n] - ref[:n].mean()
    proj = ref * np.dot(est, ref) / np.dot(ref, ref)
    return 10 * np.log10(np.sum(proj**2) / np.sum((est - proj) ** 2))


# ---------------------------------------------------------------- decoding


def test_decoder_gives_frames_on_the_audio_clock(two_faces):
    info = probe(two_faces)
    assert info.has_video and info.has_audio and (info.width, info.height) == (400, 200) and info.fps == 25
    times = [f.t for f in frames(two_faces, info.audio_start_s)]
    assert len(times) == int(SECONDS * 25)
    np.testing.assert_allclose(times, np.arange(len(times)) / 25, atol=1e-3)
    x, _ = read_audio(two_faces)
    assert abs(len(x) - SECONDS * SR) < 2048  # AAC pads its last frame


def test_variable_frame_rate_keeps_each_frames_time(tmp_path, voices):
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.uniform(1 / 40, 1 / 15, 60))  # 15-40 fps, as phones record
    t = np.round(t[t < 2.0] - t[0], 3)
    clip = write_clip(tmp_path / "vfr.mkv", [v[: 2 * SR] for v in voices[:1]], frame_times=t)
    got = [f.t for f in frames(clip, probe(clip).audio_start_s)]
    np.testing.assert_allclose(got, t, atol=1.5e-3)


@pytest.mark.parametrize("name,codec", [("a.mp4", "mpeg4"), ("a.mov", "libx264"), ("a.mkv", "libx264")])
def test_common_containers_decode(tmp_path, voices, name, codec):
    clip = write_clip(tmp_path / name, [voices[0][:SR]], codec=codec)
    assert sum(1 for _ in frames(clip)) == 25
    assert abs(len(read_audio(clip)[0]) - SR) < 2048


def test_webm_vp8_opus_decodes(tmp_path):
    path = tmp_path / "a.webm"
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libvpx", rate=25)
        vs.width, vs.height, vs.pix_fmt = 200, 200, "yuv420p"
        aus = c.add_stream("libopus", rate=48000)
        face = face_image()
        for k in range(25):
            f = av.VideoFrame.from_ndarray(face, format="rgb24")
            f.pts = k
            for p in vs.encode(f):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
        tone = np.round(0.3 * np.sin(2 * np.pi * 440 * np.arange(48000) / 48000) * 32767).astype(np.int16)
        for k in range(0, 48000, 960):
            f = av.AudioFrame.from_ndarray(tone[None, k : k + 960], format="s16", layout="mono")
            f.sample_rate, f.pts = 48000, k
            for p in aus.encode(f):
                c.mux(p)
        for p in aus.encode():
            c.mux(p)
    assert sum(1 for _ in frames(path)) == 25
    x, notes = read_audio(path)
    assert abs(len(x) - SR) < 0.05 * SR and "resampled 48000 Hz -> 16000 Hz" in notes


# ---------------------------------------------------------------- faces


def test_face_mesh_follows_the_animated_mouth():
    det, mesh = FaceDetector(), FaceMesh()
    face = face_image()
    opened = np.linspace(0, 16, 9)
    gap = []
    for g in opened:
        img = open_mouth(face, g)
        found = det(img)
        assert len(found) == 1 and found[0].score > 0.8
        gap.append(mouth(mesh(img, found[0])).gap)
    assert np.corrcoef(opened, gap)[0, 1] > 0.9, gap


def test_detector_finds_both_faces_in_a_wide_frame():
    two = np.concatenate([face_image(), face_image()[:, ::-1]], axis=1)
    found = sorted(FaceDetector()(two), key=lambda f: f.x0)
    assert len(found) == 2 and found[0].x1 < 200 < found[1].x0


def _face(x, y=50.0, s=40.0):
    return Face(x, y, x + s, y + s, 0.9, np.zeros((6, 2)))


def test_tracker_assigns_slots_left_to_right_and_resets_a_handed_over_slot():
    tr = SlotTracker(2, grace_s=0.5)
    got, new = tr.update([_face(300), _face(10)], 0.0)
    assert got[0].x0 == 10 and got[1].x0 == 300 and new == [0, 1]
    got, new = tr.update([_face(14), _face(296)], 0.04)  # both moved a little: same tracks
    assert new == [] and [s.id for s in tr.slots] == [0, 1]
    got, new = tr.update([_face(14)], 0.3)  # the right face left: its slot is empty, kept for the grace time
    assert got[1] is None and new == [] and tr.slots[1] is not None
    tr.update([_face(14)], 0.6)
    got, new = tr.update([_face(14), _face(150)], 1.0)  # a new face after the grace time takes slot 1: reset
    assert new == [1] and tr.slots[1].id == 2
    got, new = tr.update([_face(14), _face(150), _face(250)], 1.04)  # a third face finds no slot
    assert new == [] and tr.tracks_started == 3


def test_tracker_keeps_mesh_followed_faces_and_drops_their_detections():
    tr = SlotTracker(3, grace_s=0.5)
    tr.update([_face(10), _face(300)], 0.0)
    held = [_face(16, s=44), _face(294, s=44), None]  # each slot's box from its last mesh: a different size
    got, new = tr.update([_face(12), _face(298), _face(150)], 0.04, held=held)  # the detector also saw both
    assert new == [2] and got[0] is held[0] and got[1] is held[1] and tr.tracks_started == 3
    got, new = tr.update([], 0.08, held=[_face(16), _face(20), _face(150)])  # slot 1's box slid onto face 0
    assert got[0] is not None and got[1] is None and new == [] and tr.slots[1].id == 1  # the older track keeps it
    got, new = tr.update([_face(292)], 0.12, held=[_face(16), None, _face(150)])  # slot 1's face found again
    assert got[1].x0 == 292 and new == [] and tr.slots[1].id == 1
    got, new = tr.update([], 1.0, held=[_face(16), _face(292), None])  # a gap in the frames longer than the grace
    assert got[0].x0 == 16 and got[1].x0 == 292 and new == [0, 1] and tr.tracks_started == 5


def test_face_mesh_box_follows_the_face():
    det, mesh = FaceDetector(), FaceMesh()
    img = face_image()
    found = det(img)[0]
    followed = face_from_landmarks(mesh(img, found))
    assert abs(followed.size / found.size - 1) < 0.1 and math.dist(followed.centre, found.centre) < 0.05 * found.size
    shifted = np.roll(img, (6, -8), axis=(0, 1))  # the face moved between frames: the mesh in the old box finds it
    again = face_from_landmarks(mesh(shifted, followed))
    assert math.dist(again.centre, (followed.centre[0] - 8, followed.centre[1] + 6)) < 2


# ---------------------------------------------------------------- separate


def test_separate_follows_each_face(two_faces, voices, tmp_path, capsys):
    out = tmp_path / "out dir ü"
    rc, cap = _run(capsys, "separate", two_faces, "--out", out)
    assert rc == 0, cap.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["faces"] == 2 and summary["video"]["frames_without_face"] == 0 and not summary["audio_only"]
    assert summary["video"]["detector_runs"] == 1  # both found in the first frame, then followed by their mesh
    assert [s["active_share"] for s in summary["slots"]] == [1.0, 1.0]
    mix = voices[0] + voices[1]
    for slot, (own, other) in enumerate([(0, 1), (1, 0)]):  # slot 1 holds the left face, which speaks voice 0
        y, _ = read_audio(out / f"speaker{slot + 1}.wav")
        assert len(y) == len(read_audio(out / "residual.wav")[0])
        own_db, other_db = _si_snr(y, voices[own]), _si_snr(y, voices[other])
        assert own_db > other_db + 10, (slot, own_db, other_db)
        assert own_db > _si_snr(mix, voices[own]) + 3, "no better than the mixture"


def test_crops_mode_passes_real_mouth_crops(two_faces, tmp_path, capsys):
    rc, cap = _run(capsys, "separate", two_faces, "--out", tmp_path / "o", "--lips", "crops", "--chunk-hops", "4",
                   "--max-speakers", "3", "--json")
    assert rc == 0, cap.err
    s = json.loads(cap.out)
    assert s["lips"] == "crops" and s["faces"] == 2 and len(s["slots"]) == 3
    assert s["slots"][2]["active_share"] == 0.0  # no third face


def test_a_face_that_leaves_goes_inactive_and_a_new_one_resets_the_slot(voices, tmp_path, capsys):
    away = lambda i, t: i == 0 or not (0.8 <= t < 2.0)  # noqa: E731  face 2 gone for 1.2 s (> the 0.5 s grace)
    clip = write_clip(tmp_path / "leave.mp4", voices, faces_present=away)
    rc, cap = _run(capsys, "separate", clip, "--out", tmp_path / "o", "--json", "--chunk-hops", "4")
    assert rc == 0, cap.err
    s = json.loads(cap.out)
    assert s["faces"] == 3  # the returning face is a new track
    assert s["slots"][0]["active_share"] == 1.0 and s["slots"][0]["resets"] == 0
    assert s["slots"][1]["active_share"] == pytest.approx(1.8 / 3, abs=0.03) and s["slots"][1]["resets"] == 1
    assert s["video"]["detector_runs"] == 1 + round(1.2 * 25)  # the first frame, then each frame while face 2 is away
    y, _ = read_audio(tmp_path / "o" / "speaker2.wav")
    quiet = y[int(1.0 * SR) : int(1.8 * SR)]  # inactive: the slot outputs nothing
    assert np.sqrt(np.mean(quiet**2)) < 1e-3


def test_no_face_falls_back_to_audio_only_with_a_warning(voices, tmp_path, capsys):
    clip = write_clip(tmp_path / "noface.mp4", [v[: 2 * SR] for v in voices], faces_present=lambda i, t: False)
    rc, cap = _run(capsys, "separate", clip, "--out", tmp_path / "o", "--json", "--chunk-hops", "4")
    assert rc == 0 and "warning: no face found" in cap.err
    s = json.loads(cap.out)
    assert s["audio_only"] and s["faces"] == 0 and s["video"]["frames_without_face"] == 50
    res, _ = read_audio(tmp_path / "o" / "residual.wav")
    mix = voices[0][: 2 * SR] + voices[1][: 2 * SR]
    assert _si_snr(res, np.clip(mix, -1, 1)) > 15  # everything stays in the residual


def test_no_video_track_separates_audio_only(voices, tmp_path, capsys):
    clip = write_clip(tmp_path / "sound only.mp4", [voices[0][:SR]], video=False)
    rc, cap = _run(capsys, "separate", clip, "--out", tmp_path / "o", "--json", "--chunk-hops", "4")
    assert rc == 0 and "warning: no video track" in cap.err
    assert json.loads(cap.out)["audio_only"]


def test_no_audio_track_is_refused(voices, tmp_path, capsys):
    clip = write_clip(tmp_path / "silent film.mp4", [voices[0][:SR]], audio=False)
    rc, cap = _run(capsys, "separate", clip, "--out", tmp_path / "o")
    assert rc == 2 and "no audio track" in _one_line_error(cap.err)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "empty"])
def test_damaged_video_is_refused_and_writes_nothing(two_faces, tmp_path, capsys, damage):
    data = two_faces.read_bytes()
    bad = {"truncated": data[: len(data) // 2], "corrupt": data[:64] + os.urandom(len(data) - 64), "empty": b""}[damage]
    (tmp_path / "bad.mp4").write_bytes(bad)
    rc, cap = _run(capsys, "separate", tmp_path / "bad.mp4", "--out", tmp_path / "o")
    assert rc == 2, cap.err
    _one_line_error(cap.err)
    assert not (tmp_path / "o").exists() and sorted(os.listdir(tmp_path)) == ["bad.mp4"]


@pytest.mark.parametrize("argv,says", [
    (["--lips", "lips.npz"], "a video takes --lips rendered"), (["--max-speakers", "0"], "--max-speakers must be >= 1"),
    (["--av-offset-ms", "nan"], "--av-offset-ms must be within"), (["--phase", "griffin-lim"], "offline only")])
def test_bad_options_are_refused_in_one_line(two_faces, tmp_path, capsys, argv, says):
    rc, cap = _run(capsys, "separate", two_faces, "--out", tmp_path / "o", *argv)
    assert rc == 2 and says in _one_line_error(cap.err)


def test_output_folder_that_cannot_be_written(two_faces, tmp_path, capsys):
    (tmp_path / "a file").write_text("x")
    rc, cap = _run(capsys, "separate", two_faces, "--out", tmp_path / "a file" / "out")
    assert rc == 2
    _one_line_error(cap.err)
    if os.geteuid() != 0:  # root writes anywhere; the permission case runs for everyone else
        ro = tmp_path / "read only"
        ro.mkdir(0o555)
        rc, cap = _run(capsys, "separate", two_faces, "--out", ro / "out")
        assert rc == 2 and "not writable" in _one_line_error(cap.err)


def test_gaps_follow_the_speech_level(voices):
    t = np.arange(75) / 25
    g = gaps(voices[0], t)
    assert 0 <= g.min() < 2 and g.max() > 10  # closed in pauses, open on loud syllables


def test_bridge_opening_follows_the_gap_and_renders_it():
    from avsep_mobile.runtime.faces import Mouth
    from avsep_mobile.runtime.mouth_bridge import MouthBridge

    b = MouthBridge("rendered", seed=0)
    m = lambda gap, width=50.0: Mouth(np.array([44.0, 44.0]), width, gap, 80.0, 0.0)  # noqa: E731
    for g in [2, 20, 2, 20]:  # learn the face's closed and open range
        b.features(m(g))
    feats = [b.features(m(g)) for g in (2, 8, 14, 20)]
    openings = [f[0] for f in feats]
    assert openings[0] < 0.05 and openings[-1] > 0.95 and openings == sorted(openings)
    assert all(0 <= s <= 1 for _, s in feats)
    closed, wide = b.crop(None, m(2), 0.0), b.crop(None, m(20), 0.04)
    assert closed.shape == wide.shape == (88, 88) and closed.dtype == np.uint8
    dark = lambda img: int((img < 60).sum())  # noqa: E731  the cavity is the dark part of a rendered mouth
    assert dark(wide) > dark(closed) + 200


def test_audio_input_without_lips_says_what_to_pass(tmp_path, capsys):
    import soundfile as sf

    sf.write(tmp_path / "mix.flac", np.zeros(SR, np.float32), SR)
    rc, cap = _run(capsys, "separate", tmp_path / "mix.flac", "--out", tmp_path / "o")
    assert rc == 2 and "pass its mouth tracks with --lips lips.npz" in _one_line_error(cap.err)


def test_av_offset_moves_the_held_frame_by_the_offset(voices, tmp_path, capsys):
    """A face that appears at 1 s turns its slot active with the first frame
    showing it; --av-offset-ms places that frame on the audio clock the offset
    later (positive: the camera clock runs early), so the slot's output starts
    exactly that much later or earlier. A slot turns active on a chunk's
    boundary, so the offset is taken as a whole number of chunks."""
    from avsep_mobile import checkpoint

    chunk_hops = 4
    shift_ms = 2 * chunk_hops * checkpoint.load()[0].cfg.hop_length * 1000 // SR  # two chunks of the shipped model
    n = 2 * SR
    clip = write_clip(tmp_path / "late face.mp4", [voices[0][:n]], mix=voices[0][:n] + voices[1][:n],
                      faces_present=lambda i, t: t >= 1.0)
    onset = {}
    for ms in (0, shift_ms, -shift_ms):
        rc, cap = _run(capsys, "separate", clip, "--out", tmp_path / f"o{ms}", "--chunk-hops", str(chunk_hops),
                       "--max-speakers", "1", "--av-offset-ms", ms)
        assert rc == 0, cap.err
        y, _ = read_audio(tmp_path / f"o{ms}" / "speaker1.wav")
        onset[ms] = np.flatnonzero(y)[0] / SR  # an inactive slot outputs exact zeros
    assert 0.8 < onset[0] < 1.1, onset
    shift = shift_ms / 1000
    assert onset[shift_ms] - onset[0] == pytest.approx(shift, abs=1e-3) and onset[0] - onset[-shift_ms] == pytest.approx(shift, abs=1e-3)
