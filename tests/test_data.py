import json
import math
import os

import numpy as np
import pytest
import torch

from avsep_mobile.audio import AudioError, write_wav
from avsep_mobile.cli import main
from avsep_mobile.data import speech
from avsep_mobile.data.lips import render_lips
from avsep_mobile.lips_file import read_lips, video_frames
from avsep_mobile.data.mixtures import (
    EQ_CENTRES_HZ,
    HELDOUT_SEED,
    PERTURB_FACTOR,
    TRAIN_SEED_LIMIT,
    Example,
    ExampleDirDataset,
    MixtureStream,
    heldout_examples,
    list_examples,
    make_example,
    perturb_voice,
    random_eq,
    read_example,
    write_example,
)
from avsep_mobile.data.speech import (
    Utterance,
    build_pool,
    build_unseen_voice_pool,
    installed_voices,
    pool_dir,
)

POOL_SIZE, POOL_SEED = 6, 0
MIN_LIP_ENVELOPE_CORR = 0.5  # mouth-open area vs log RMS of the speech, per frame
# written as x * 32767, read back as / 32768: half a step of rounding plus up to one of scale
PCM16_TOL = 1.5 / 32767


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("speech_cache")


@pytest.fixture(scope="session")
def pool(cache):
    return build_pool(cache, POOL_SIZE, POOL_SEED, progress=False)


@pytest.fixture(scope="session")
def example(pool):
    return make_example(pool, seed=3, speakers=2, seconds=3.0)


def mouth_open_area(lips: np.ndarray) -> np.ndarray:
    """Per frame, pixels much darker than the face: the open mouth cavity."""
    med = np.median(lips.reshape(len(lips), -1), axis=1)
    return (lips < 0.45 * med[:, None, None]).sum(axis=(1, 2))


def log_rms_at_frames(speech: np.ndarray, fps: float, sr: int = 16000) -> np.ndarray:
    """dB level in 80 ms around each frame: wide enough to span the renderer's +-40 ms lag."""
    win = int(0.08 * sr)
    centres = (np.arange(video_frames(len(speech), fps, sr)) / fps * sr).astype(int)
    padded = np.pad(speech, win)
    return np.array([10 * np.log10(np.mean(padded[c + win // 2 : c + win + win // 2] ** 2) + 1e-8) for c in centres])


# ---------------------------------------------------------------- speech pool


def test_pool_is_speech_at_16k_with_voice_ids(pool):
    assert len(pool) == POOL_SIZE
    for u in pool:
        assert u.audio.dtype == np.float32 and u.audio.ndim == 1
        assert 0.6 * 16000 <= len(u.audio) <= 15 * 16000
        assert abs(np.abs(u.audio).max() - 0.9) < 1e-3  # peak-normalised
        assert u.voice.split(":")[0] in ("espeak", "festival") and u.text
    assert len({u.voice for u in pool}) >= 3


def test_pool_cache_matches_fresh_synthesis(pool, cache, tmp_path):
    assert (pool_dir(cache, POOL_SIZE, POOL_SEED) / "audio.npy").is_file()
    fresh = build_pool(tmp_path, POOL_SIZE, POOL_SEED, progress=False)
    cached = build_pool(cache, POOL_SIZE, POOL_SEED, progress=False)
    for a, b, c in zip(pool, fresh, cached):
        assert a.voice == b.voice == c.voice and a.text == b.text == c.text
        assert np.array_equal(a.audio, b.audio) and np.array_equal(a.audio, c.audio)


def test_pool_pickles_as_its_cache_path(pool):
    import pickle

    blob = pickle.dumps(pool)  # what a spawned loader worker receives
    assert len(blob) < 1000 < pool.pcm.nbytes
    back = pickle.loads(blob)
    assert [u.text for u in back] == [u.text for u in pool] and np.array_equal(back[2].audio, pool[2].audio)


def test_pool_seed_changes_the_sentences(pool, tmp_path):
    other = build_pool(tmp_path, 3, POOL_SEED + 1, progress=False)
    assert not {u.text for u in other} & {u.text for u in pool}


def test_training_never_sees_the_heldout_voice_family():
    voices = installed_voices()
    rng = np.random.default_rng(0)
    fast, festival = speech._speakers(rng, 10**6, "train", voices)  # every training speaker there is
    train_voices = {s.voice for s in fast + festival}
    heldout, _ = speech._speakers(rng, 10, "heldout", voices)
    assert len(heldout) >= 2 and all(s.engine == "flite" for s in heldout)
    assert not train_voices & {s.voice for s in heldout}
    # festival's kal and slt are the same people as flite's kal16 and slt
    assert not {"festival:kal_diphone", "festival:cmu_us_slt_arctic_hts"} & train_voices
    assert {s.engine for s in fast + festival} <= {"espeak", "festival"}


def test_unseen_voice_pool_is_flite_speech(tmp_path):
    pool = build_unseen_voice_pool(tmp_path, 4, progress=False)
    assert len(pool) == 4 and all(u.voice.startswith("flite:") for u in pool)
    assert all(len(u.audio) >= 0.6 * 16000 and abs(np.abs(u.audio).max() - 0.9) < 1e-3 for u in pool)


def _slow_fake_synthesis(count, seed, progress, workers, family, voices, festival_share):
    """Stands in for the synthesisers: records who built, and takes long enough to overlap."""
    with open(os.environ["AVSEP_TEST_BUILD_LOG"], "a") as f:
        f.write(f"{os.getpid()}\n")
    import time

    time.sleep(1.0)
    return [Utterance(np.full(16000, 0.5, np.float32), f"v{i}", f"t{seed} {i}") for i in range(count)]


def _build_in_child(cache_dir, queue):
    pool = build_pool(cache_dir, 3, 5, progress=False)
    queue.put([u.text for u in pool])


def test_concurrent_builders_synthesise_the_pool_once(tmp_path, monkeypatch):
    import multiprocessing

    monkeypatch.setattr(speech, "synthesise_pool", _slow_fake_synthesis)
    monkeypatch.setenv("AVSEP_TEST_BUILD_LOG", str(tmp_path / "builds.txt"))
    ctx = multiprocessing.get_context("fork")  # the children inherit the stand-in
    queue = ctx.Queue()
    procs = [ctx.Process(target=_build_in_child, args=(tmp_path / "cache", queue)) for _ in range(3)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert all(p.exitcode == 0 for p in procs)
    assert len((tmp_path / "builds.txt").read_text().split()) == 1  # one built, the others waited and loaded
    assert results[0] == results[1] == results[2] == ["t5 0", "t5 1", "t5 2"]
    names = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(names) == 2 and names[1].startswith("pool-") and names[0] == f".{names[1]}.lock"  # no temporaries left


# ---------------------------------------------------------------- lips


def test_lips_frame_count_and_dtype():
    for n, fps in [(16000, 25.0), (16001, 25.0), (40000, 30.0), (100, 25.0)]:
        lips = render_lips(np.zeros(n, np.float32), 16000, fps)
        assert lips.dtype == np.uint8 and lips.shape == (math.ceil(n / 16000 * fps), 88, 88)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mouth_opening_follows_the_speech_envelope(pool, seed):
    speech = np.concatenate([u.audio for u in pool[:3]])
    lips = render_lips(speech, 16000, 25.0, seed=seed)
    corr = np.corrcoef(mouth_open_area(lips), log_rms_at_frames(speech, 25.0))[0, 1]
    assert corr > MIN_LIP_ENVELOPE_CORR, f"mouth area vs envelope correlation {corr:.2f}"


def test_mouth_stays_closed_in_silence(pool):
    speech = np.concatenate([np.zeros(32000, np.float32), pool[0].audio])
    area = mouth_open_area(render_lips(speech, 16000, 25.0, seed=5))
    assert area[:45].max() < 0.2 * area[55:].max()


def test_seed_changes_the_face_not_the_mouth_movement(pool):
    speech = pool[1].audio
    a, b = render_lips(speech, seed=1), render_lips(speech, seed=2)
    assert np.array_equal(a, render_lips(speech, seed=1))
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 5  # different face, light, pose
    assert np.corrcoef(mouth_open_area(a), mouth_open_area(b))[0, 1] > 0.7


# ---------------------------------------------------------------- mixtures


def test_example_is_deterministic_by_seed(pool, example):
    again = make_example(pool, seed=3, speakers=2, seconds=3.0)
    for k in ("mix", "sources", "lips"):
        assert np.array_equal(getattr(example, k), getattr(again, k))
    other = make_example(pool, seed=4, speakers=2, seconds=3.0)
    assert not np.array_equal(example.mix, other.mix)


def test_example_shapes_and_mix_is_sources_plus_noise(pool, example):
    assert example.mix.shape == (48000,) and example.sources.shape == (2, 48000)
    assert example.lips.shape == (2, 75, 88, 88) and example.lips.dtype == np.uint8 and example.fps == 25.0
    assert np.abs(example.mix).max() <= 0.99 + 1e-6
    residual = example.mix - example.sources.sum(0)  # the noise: well below the speech (SNR >= 10 dB)
    assert np.sqrt(np.mean(residual**2)) < 0.35 * np.sqrt(np.mean(example.sources.sum(0) ** 2))
    ex3 = make_example(pool, seed=9, speakers=3, seconds=2.0, fps=30.0)
    assert ex3.sources.shape == (3, 32000) and ex3.lips.shape == (3, 60, 88, 88)
    assert all(np.abs(s).max() > 0 for s in ex3.sources)


def test_voice_perturbation_moves_pitch_and_tempo_together():
    t = np.arange(16000) / 16000
    tone = (0.5 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    factors = set()
    for seed in range(6):
        y, factor = perturb_voice(tone, np.random.default_rng(seed))
        factors.add(factor)
        assert PERTURB_FACTOR[0] - 0.01 <= factor <= PERTURB_FACTOR[1] + 0.01
        assert abs(len(y) - len(tone) / factor) <= 1  # tempo: factor x faster
        spectrum = np.abs(np.fft.rfft(y[2000:-2000] * np.hanning(len(y) - 4000)))
        peak_hz = np.argmax(spectrum) * 16000 / (len(y) - 4000)
        assert abs(peak_hz - 200 * factor) < 3  # pitch: factor x higher
        assert np.abs(y).max() == pytest.approx(0.9, abs=1e-6)
    assert len(factors) > 3


def test_random_eq_gives_its_drawn_gain_at_each_centre():
    noise = np.random.default_rng(0).standard_normal(64000)
    y, gains_db = random_eq(noise, np.random.default_rng(3))
    assert y.shape == noise.shape and np.ptp(gains_db) > 3
    freqs = np.fft.rfftfreq(len(y), 1 / 16000)
    for centre, g in zip(EQ_CENTRES_HZ, gains_db):
        band = np.abs(freqs - centre) < centre * 0.03
        measured = 10 * np.log10(np.sum(np.abs(np.fft.rfft(y)[band]) ** 2) / np.sum(np.abs(np.fft.rfft(noise)[band]) ** 2))
        assert measured == pytest.approx(g, abs=1.0)


def test_perturbation_is_off_by_default_and_changes_only_voices(pool, example):
    off = make_example(pool, seed=3, speakers=2, seconds=3.0, perturb=0.0)
    assert np.array_equal(off.mix, example.mix)
    on = make_example(pool, seed=3, speakers=2, seconds=3.0, perturb=1.0)
    assert on.sources.shape == example.sources.shape and not np.allclose(on.sources, example.sources)
    # the same placement: each speaker starts where it did unperturbed
    first = lambda x: np.argmax(np.abs(x) > 1e-4, axis=-1)  # noqa: E731
    assert np.array_equal(first(on.sources), first(example.sources))


def test_quiet_share_is_off_by_default_and_changes_only_the_level(pool, example):
    from avsep_mobile.data.mixtures import LEVEL_DB, QUIET_LEVEL_DB

    off = make_example(pool, seed=3, speakers=2, seconds=3.0, quiet=0.0)
    assert np.array_equal(off.mix, example.mix)
    on = make_example(pool, seed=3, speakers=2, seconds=3.0, quiet=1.0)
    # one gain moved: the same mixture, between 0 and 48 dB quieter, its sources with it
    ratio_db = 20 * np.log10(np.linalg.norm(on.mix) / np.linalg.norm(example.mix))
    assert QUIET_LEVEL_DB[0] - LEVEL_DB[1] <= ratio_db < 0
    assert np.allclose(on.mix * (np.linalg.norm(example.mix) / np.linalg.norm(on.mix)), example.mix, atol=1e-5)
    assert np.allclose(on.sources / on.mix.std(), example.sources / example.mix.std(), atol=1e-4)
    levels = [20 * np.log10(make_example(pool, seed=s, seconds=1.0, quiet=q).mix.std()) for q in (0.0, 1.0) for s in range(6)]
    assert max(levels[6:]) < max(levels[:6]) and min(levels[6:]) < min(levels[:6])


def test_speakers_always_have_distinct_voices():
    same = [Utterance(np.ones(16000, np.float32) * 0.1, "espeak:en+m1:p50:s150", f"t{i}") for i in range(4)]
    with pytest.raises(ValueError, match="distinct voices"):
        make_example(same, seed=0, speakers=2)
    mixed = same + [Utterance(np.ones(16000, np.float32) * 0.1, "festival:kal_diphone", "x")]
    assert make_example(mixed, seed=0, speakers=2, seconds=1.0).sources.shape == (2, 16000)


def test_fps_none_draws_25_or_30(pool):
    rates = {make_example(pool, seed=s, seconds=1.0, fps=None).fps for s in range(12)}
    assert rates == {25.0, 30.0}


def test_heldout_set_is_deterministic_and_outside_training_seeds(pool):
    a, b = heldout_examples(pool, count=2), heldout_examples(pool, count=2)
    assert [e.name for e in a] == [f"seed_{HELDOUT_SEED}", f"seed_{HELDOUT_SEED + 1}"]
    assert np.array_equal(a[1].mix, b[1].mix)
    stream = MixtureStream(pool, base_seed=TRAIN_SEED_LIMIT - 3, rank=1, world_size=4)
    seeds = [s for s, _ in zip(stream.seeds(), range(100))]
    assert max(seeds) < HELDOUT_SEED and len(set(seeds)) == 100


def test_stream_ranks_differ_and_batches_stack(pool):
    def first(rank):
        return next(iter(MixtureStream(pool, seconds=1.0, rank=rank, world_size=2)))

    r0, r0_again, r1 = first(0), first(0), first(1)
    assert torch.equal(r0["mix"], r0_again["mix"]) and not torch.equal(r0["mix"], r1["mix"])
    batch = next(iter(torch.utils.data.DataLoader(MixtureStream(pool, seconds=1.0, speakers=3), batch_size=2)))
    assert batch["mix"].shape == (2, 16000) and batch["sources"].shape == (2, 3, 16000)
    assert batch["lips"].shape == (2, 3, 25, 88, 88) and batch["lips"].dtype == torch.uint8
    assert batch["fps"].tolist() == [25.0, 25.0]


# ---------------------------------------------------------------- disk layout


def test_layout_round_trip(tmp_path, example):
    example = Example(example.mix, example.sources, example.lips, example.fps, "mix_000007")
    d = write_example(tmp_path, example)
    assert sorted(os.listdir(d)) == ["lips.npz", "mix.wav", "s1.wav", "s2.wav"]
    back = read_example(d)
    assert back.name == "mix_000007" and back.fps == example.fps
    assert np.array_equal(back.lips, example.lips)
    assert np.abs(back.mix - example.mix).max() <= PCM16_TOL
    assert np.abs(back.sources - example.sources).max() <= PCM16_TOL
    (tmp_path / "not_a_mixture").mkdir()
    write_example(tmp_path, Example(example.mix, example.sources, example.lips, example.fps, "mix_000002"))
    assert [p.name for p in list_examples(tmp_path)] == ["mix_000002", "mix_000007"]
    item = ExampleDirDataset(tmp_path)[1]
    assert item["sources"].shape == (2, 48000) and item["lips"].dtype == torch.uint8 and item["fps"] == 25.0


def _write_lips(d, **arrays):
    np.savez(d / "lips.npz", **arrays)


@pytest.mark.parametrize("arrays,says", [
    (dict(lips=np.zeros((2, 75, 64, 64), np.uint8), fps=25.0), "88, 88"),
    (dict(lips=np.zeros((2, 75, 88, 88), np.float32), fps=25.0), "uint8"),
    (dict(lips=np.zeros((3, 75, 88, 88), np.uint8), fps=25.0), "3 tracks but there are 2 speakers"),
    (dict(lips=np.zeros((2, 75, 88, 88), np.uint8)), "needs arrays 'lips' and 'fps'"),
    (dict(lips=np.zeros((2, 75, 88, 88), np.uint8), fps=500.0), "outside 10..120"),
    (dict(lips=np.zeros((2, 60, 88, 88), np.uint8), fps=25.0), "60 frames at 25 fps but the audio needs 75"),
])
def test_bad_lips_are_refused_with_one_line(tmp_path, example, arrays, says):
    d = write_example(tmp_path, example)
    _write_lips(d, **arrays)
    with pytest.raises(ValueError) as e:
        read_example(d)
    assert says in str(e.value) and "\n" not in str(e.value)


def test_video_length_allows_two_frames_of_rounding(tmp_path, example):
    d = write_example(tmp_path, example)
    _write_lips(d, lips=example.lips[:, :-2], fps=25.0)
    assert read_example(d).lips.shape[1] == 73


def test_missing_or_mismatched_files_are_refused(tmp_path, example):
    d = write_example(tmp_path, example)
    write_wav(d / "s1.wav", example.sources[0][:-100])
    with pytest.raises(AudioError, match="sources must match the mix"):
        read_example(d)
    os.rename(d / "s2.wav", d / "s3.wav")
    with pytest.raises(AudioError, match="s2.wav is missing"):
        read_example(d)
    os.remove(d / "mix.wav")
    with pytest.raises(AudioError, match="no mix.wav"):
        read_example(d)
    with pytest.raises(ValueError, match="no such file"):
        read_lips(tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        read_lips(tmp_path / "junk.npz")


# ---------------------------------------------------------------- CLI


def test_cli_make_writes_the_layout(tmp_path, cache, pool, capsys):
    out = tmp_path / "mixes"
    rc = main(["data", "make", "--out", str(out), "--count", "2", "--seed", str(POOL_SEED), "--pool", str(POOL_SIZE),
               "--seconds", "1.5", "--cache-dir", str(cache), "--json"])
    assert rc == 0
    assert json.loads(capsys.readouterr().out) == {"count": 2, "dir": str(out), "seconds": 1.5, "speakers": 2}
    assert [p.name for p in list_examples(out)] == ["mix_000000", "mix_000001"]
    assert read_example(out / "mix_000001").sources.shape == (2, 24000)


def test_cli_lips_renders_a_speech_file(tmp_path, pool, capsys):
    write_wav(tmp_path / "speech.wav", pool[0].audio)
    assert main(["data", "lips", str(tmp_path / "speech.wav"), "--out", str(tmp_path / "l.npz"), "--fps", "30"]) == 0
    lips, fps = read_lips(tmp_path / "l.npz", n_samples=len(pool[0].audio), speakers=1)
    assert fps == 30.0 and lips.shape[0] == 1


def test_cli_bad_input_is_one_error_line_and_nothing_written(tmp_path, capsys):
    bad = np.zeros(16000, np.float32)
    bad[3] = np.nan
    from scipy.io import wavfile

    wavfile.write(tmp_path / "nan.wav", 16000, bad)
    assert main(["data", "lips", str(tmp_path / "nan.wav"), "--out", str(tmp_path / "l.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert main(["data", "make", "--out", str(tmp_path / "m"), "--count", "0"]) == 2
    assert main(["data", "lips", str(tmp_path / "nan.wav"), "--out", str(tmp_path / "l.npz"), "--fps", "5"]) == 2
    assert sorted(os.listdir(tmp_path)) == ["nan.wav"]


def test_eval_set_keeps_its_voices_when_more_are_installed(monkeypatch):
    """Installing a new training voice must not change the unseen-sentence set
    (every earlier score was measured on it), nor the unseen-voice set."""
    installed = {"festival": list(speech.EVAL_FESTIVAL_VOICES) + ["czech_krb"], "mbrola": [], "flite": ["awb", "rms"]}
    monkeypatch.setattr(speech, "installed_voices", lambda: {k: list(v) for k, v in installed.items()})
    monkeypatch.setattr(speech, "installed_flite_voices", lambda: ["awb", "rms"])
    calls = []
    monkeypatch.setattr(speech, "build_pool", lambda *a, **kw: calls.append(kw))
    speech.build_eval_pool()
    speech.build_unseen_voice_pool()
    assert calls[0]["voices"]["festival"] == list(speech.EVAL_FESTIVAL_VOICES)
    assert calls[0]["festival_share"] == speech.EVAL_FESTIVAL_SHARE
    assert calls[1]["voices"] == {"festival": [], "mbrola": [], "flite": ["awb", "rms"]}
