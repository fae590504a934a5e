"""Training where nothing can be synthesised (a lent GPU machine): a training
pack carries the pools Opus-coded, `avsep train --pack` mixes from it alone,
loader workers draw distinct mixtures, and a wall-clock budget ends the
schedule and the run."""

import json

import numpy as np
import pytest
import torch

from avsep_mobile.cli import main
from avsep_mobile.data import recorded, speech
from avsep_mobile.data.mixtures import MixtureStream
from avsep_mobile.data.pack import load_pack, write_pack
from avsep_mobile.data.speech import Pool, Utterance
from avsep_mobile.train import TrainConfig, lr_at, progress, train
from tests.test_cli_and_train import _synthetic_batches

POOL, RECORDED = 12, 6  # utterances: small, real pools (espeak-ng, festival, klettres-data)


def _voiced(seconds: float, f0: float, seed: int) -> np.ndarray:
    """A speech-like test signal: a gliding harmonic tone, syllable-gated."""
    t = np.arange(int(16000 * seconds)) / 16000
    f = f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t + seed))
    phase = 2 * np.pi * np.cumsum(f) / 16000
    tone = sum(np.sin(k * phase) / k for k in range(1, 8))
    return (0.2 * tone * (np.sin(2 * np.pi * 3 * t + seed) > -0.3)).astype(np.float32)


def test_opus_pool_keeps_every_utterance_in_place(tmp_path):
    utts = [Utterance(_voiced(s, f0, i), f"v{i}", f"text {i}") for i, (s, f0) in enumerate([(0.73, 120), (1.5, 210), (0.41, 95)])]
    pool = Pool.of(utts, {"count": 3})
    pool.save(tmp_path, opus_level=0.96)
    assert not (tmp_path / "audio.npy").exists() and (tmp_path / "audio.opus").stat().st_size < pool.pcm.nbytes / 5
    back = Pool.load(tmp_path)
    assert len(back) == 3 and [u.voice for u in back] == ["v0", "v1", "v2"] and back.meta == {"count": 3}
    for u, b in zip(utts, back):
        assert len(b.audio) == len(u.audio)
        lags = {k: float(np.dot(u.audio[50:-50], np.roll(b.audio, k)[50:-50])) for k in range(-20, 21)}
        assert max(lags, key=lags.get) == 0  # sample-aligned: the codec's pre-skip is trimmed
        snr = 10 * np.log10(np.sum(u.audio**2) / np.sum((u.audio - b.audio) ** 2))
        assert snr > 6, snr


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    root = tmp_path_factory.mktemp("pack")
    info = write_pack(root / "pack", POOL, 0, RECORDED, cache_dir=root / "cache", progress=False)
    return root / "pack", info


def test_pack_holds_both_pools_and_says_what_they_are(pack):
    d, info = pack
    assert json.loads((d / "pack.json").read_text()) == info
    assert {n: p["utterances"] for n, p in info["pools"].items()} == {"speech": POOL, "recorded": RECORDED}
    assert info["pools"]["recorded"]["key"]["family"] == "train"  # the held-out speakers never travel
    speech_pool, rec = load_pack(d, recorded=True)
    assert (len(speech_pool), len(rec)) == (POOL, RECORDED)
    with pytest.raises(ValueError, match="not a training pack"):
        load_pack(d / "speech", recorded=False)


def test_training_from_a_pack_synthesises_nothing(pack, tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a pool was synthesised although --pack was given")

    monkeypatch.setattr(speech, "synthesise_pool", refuse)
    monkeypatch.setattr(recorded, "make_utterances", refuse)
    monkeypatch.setenv("AVSEP_CACHE", str(tmp_path / "empty-cache"))
    out = tmp_path / "run"
    assert main(["train", "--preset", "tiny", "--out", str(out), "--steps", "2", "--batch", "2", "--seconds", "1.0",
                 "--pack", str(pack[0]), "--rooms", "0.5", "--recorded", "0.5", "--workers", "2"]) == 0
    assert (out / "model.pt").is_file() and len((out / "log.csv").read_text().splitlines()) == 3
    assert not (tmp_path / "empty-cache").exists()


def test_pack_without_recorded_pool_refuses_recorded_share(tmp_path, capsys):
    d = tmp_path / "pack"
    (d / "speech").mkdir(parents=True)
    (d / "pack.json").write_text("{}")
    assert main(["train", "--preset", "tiny", "--out", str(tmp_path / "run"), "--pack", str(d), "--steps", "1"]) == 2
    assert "holds no recorded-speech pool: pass --recorded 0" in capsys.readouterr().err
    assert main(["train", "--preset", "tiny", "--out", str(tmp_path / "run"), "--pack", str(tmp_path), "--steps", "1"]) == 2
    assert "is not a training pack" in capsys.readouterr().err


def test_loader_workers_draw_distinct_mixtures(pack):
    pool, _ = load_pack(pack[0], recorded=False)
    loader = torch.utils.data.DataLoader(MixtureStream(pool, seconds=0.5, base_seed=7), batch_size=1, num_workers=2)
    mixes = []
    for batch in loader:
        mixes.append(batch["mix"].numpy().tobytes())
        if len(mixes) == 6:
            break
    assert len(set(mixes)) == 6


def test_time_budget_ends_the_schedule_and_the_run(tmp_path):
    tc = TrainConfig(steps=1000, warmup=10, lr=1e-3, minutes=2.0)
    assert progress(100, 60.0, tc) == 0.5 and progress(900, 60.0, tc) == 0.9  # whichever is further
    assert lr_at(100, tc, 60.0) < lr_at(100, tc, 0.0) and lr_at(100, tc, 120.0) == pytest.approx(0.05 * tc.lr)
    assert lr_at(100, TrainConfig(steps=1000, warmup=10, lr=1e-3), 1e9) == lr_at(100, TrainConfig(steps=1000, warmup=10, lr=1e-3))
    model_tc = TrainConfig(steps=1000, batch=2, seconds=1.0, warmup=1, minutes=1e-6)
    from avsep_mobile.model import AVSep, preset

    model = AVSep(preset("tiny"))
    train(model.cfg, model_tc, tmp_path / "run", init=model, data=_synthetic_batches(), log=lambda m: None)
    rows = (tmp_path / "run" / "log.csv").read_text().splitlines()[1:]
    assert len(rows) == 1  # one step, then the budget was spent: saved and stopped
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["step"] == 1
