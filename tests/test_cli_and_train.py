"""The command line's contract (JSON out, one-line errors) and training's
(resumable, loss goes down)."""

import json

import numpy as np
import torch

from avsep_mobile import checkpoint
from avsep_mobile.cli import main
from avsep_mobile.model import AVSep, preset
from avsep_mobile.train import TrainConfig, train


def test_info_json_reports_sizes_macs_latency_and_states(capsys):
    assert main(["info", "--preset", "tiny", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["parameters"]["total"] == sum(p.numel() for p in AVSep(preset("tiny")).parameters())
    assert info["macs_per_second"]["audio"] > 0 and info["macs_per_second"]["video"] > 0
    assert info["latency_ms"] == 25.0
    assert "stft_in" in info["states"]["av_step"] and "video_tconv" in info["states"]["lip_step"]


def test_corrupt_checkpoint_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["info", "--checkpoint", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "corrupt" in err and len(err.splitlines()) == 1


def test_mismatched_checkpoint_is_a_one_line_error(tmp_path, capsys):
    model = AVSep(preset("tiny"))
    path = tmp_path / "m.pt"
    checkpoint.save(path, model)
    ck = torch.load(path, weights_only=False)
    ck["config"]["d_model"] = 48  # weights no longer fit the config
    torch.save(ck, path)
    assert main(["info", "--checkpoint", str(path)]) == 2
    assert "does not match" in capsys.readouterr().err


def _synthetic_batches(seed=0, batch=2, seconds=1.0):
    """Two tones with matching mouth brightness: enough signal to learn from."""
    rng = np.random.default_rng(seed)
    n, frames = int(16000 * seconds), int(25 * seconds) + 1
    t = np.arange(n) / 16000
    while True:
        f = rng.uniform(150, 600, (batch, 2, 1))
        env = (np.sin(2 * np.pi * rng.uniform(1, 4, (batch, 2, 1)) * t) > 0).astype(np.float32)
        src = (0.3 * np.sin(2 * np.pi * f * t) * env).astype(np.float32)
        idx = np.minimum((np.arange(frames) / 25 * 16000).astype(int), n - 1)
        lips = np.broadcast_to((env[..., idx] * 200)[..., None, None], (batch, 2, frames, 88, 88)).astype(np.uint8)
        yield {"mix": torch.from_numpy(src.sum(1)), "sources": torch.from_numpy(src), "lips": torch.from_numpy(lips.copy()),
               "fps": torch.full((batch,), 25.0)}


def test_training_lowers_the_loss_and_resumes(tmp_path):
    torch.manual_seed(0)
    tc = TrainConfig(steps=12, batch=2, seconds=1.0, lr=3e-3, warmup=1, save_every=6)
    losses = []
    path = train(preset("tiny"), tc, tmp_path / "run", data=_synthetic_batches(), log=lambda m: None, on_step=losses.append)
    assert path.exists() and (tmp_path / "run" / "last.pt").exists()
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
    resumed = []
    train(preset("tiny"), TrainConfig(**{**vars(tc), "steps": 14}), tmp_path / "run", data=_synthetic_batches(1), on_step=resumed.append)
    assert len(resumed) == 2  # picked up at step 12
    model, meta = checkpoint.load(path)
    assert meta["steps"] == 14


def test_train_init_starts_from_a_checkpoint(tmp_path, monkeypatch, capsys):
    from avsep_mobile.data import speech

    monkeypatch.setattr(speech, "DEFAULT_CACHE", tmp_path / "cache")
    torch.manual_seed(1)
    start = AVSep(preset("tiny"))
    checkpoint.save(tmp_path / "start.pt", start)
    argv = ["train", "--init", str(tmp_path / "start.pt"), "--out", str(tmp_path / "run"), "--steps", "1", "--batch", "1",
            "--seconds", "1.0", "--pool", "6", "--json"]
    assert main(argv) == 0
    model, meta = checkpoint.load(json.loads(capsys.readouterr().out)["checkpoint"])
    assert model.cfg == start.cfg and meta["steps"] == 1
    moved = (_weights(model) - _weights(start)).abs().max()
    fresh = (_weights(model) - _weights(AVSep(preset("tiny")))).abs().max()
    assert 0 < moved < 0.1 * fresh  # one small step from the given weights, not from a new initialisation


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_resume_restores_the_optimizer_state(tmp_path):
    """Stopped at step 2 and resumed, a run ends where the uninterrupted run
    does (Adam's moments are kept in bfloat16, so nearly); resumed with a
    fresh optimizer it does not."""
    tc = TrainConfig(steps=4, batch=2, seconds=1.0, lr=3e-3, warmup=1, save_every=2)

    def run(out, steps, skip=0):
        data = _synthetic_batches(0)
        for _ in range(skip):  # the batches the stopped run already trained on
            next(data)
        torch.manual_seed(0)
        model = AVSep(preset("tiny"))
        train(model.cfg, TrainConfig(**{**vars(tc), "steps": steps}), out, init=model, data=data, log=lambda m: None)
        return _weights(model)

    full = run(tmp_path / "full", 4)
    for name in ("cut", "fresh"):
        run(tmp_path / name, 2)
    resumed = run(tmp_path / "cut", 4, skip=2)
    last = tmp_path / "fresh" / "last.pt"
    ck = torch.load(last, weights_only=False)
    ck["optimizer"] = torch.optim.AdamW(AVSep(preset("tiny")).parameters()).state_dict()  # no moments
    torch.save(ck, last)
    fresh = run(tmp_path / "fresh", 4, skip=2)
    moved = (full - run(tmp_path / "early", 2)).norm()  # how far steps 3-4 take the weights
    assert (resumed - full).norm() < 0.05 * moved
    assert (fresh - full).norm() > 0.2 * moved


def _write_mixture_dir(root, seed=0):
    from avsep_mobile.data.mixtures import Example, write_example

    batch = next(_synthetic_batches(seed, batch=1, seconds=1.0))
    ex = Example(batch["mix"][0].numpy(), batch["sources"][0].numpy(), batch["lips"][0].numpy(), 25.0, f"mix_{seed}")
    return write_example(root, ex)


def test_eval_on_a_mixture_dir_reports_every_figure(tmp_path, capsys):
    _write_mixture_dir(tmp_path / "mixes")
    assert main(["eval", "--preset", "tiny", "--data", str(tmp_path / "mixes"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)["data"]
    assert res["mixtures"] == 1 and len(res["si_snri_db_per_slot"]) == 2
    assert np.isfinite(res["si_snri_db"]) and np.isfinite(res["si_snri_swapped_db"])
    assert 0.0 <= res["follows_own_lips"] <= 1.0


def test_eval_reports_unseen_sentences_and_unseen_voices_and_writes_listening_material(tmp_path, capsys, monkeypatch):
    from avsep_mobile.data import speech

    monkeypatch.setattr(speech, "DEFAULT_CACHE", tmp_path / "cache")
    monkeypatch.setattr(speech, "EVAL_POOL_SIZE", 6)  # CI builds tiny held-out pools
    out = tmp_path / "listen"
    assert main(["eval", "--preset", "tiny", "--count", "1", "--listen", "1", "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert sorted(res) == ["quiet", "recorded_speech", "recorded_speech_camera", "reverberant", "unseen_sentences", "unseen_voices"]
    assert all(r["mixtures"] == 1 and np.isfinite(r["si_snri_db"]) for r in res.values())
    assert json.loads((out / "results.json").read_text()) == res
    for name in res:
        (example,) = (out / name).iterdir()  # --listen 1
        files = sorted(p.name for p in example.iterdir())
        assert files == ["mix.wav", "residual.wav", "separated1.wav", "separated2.wav", "speaker1.wav", "speaker2.wav",
                         "spectrogram.png"]
        assert (example / "spectrogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert read_example_wavs(example)["mix"].shape == (4 * 16000,)


def read_example_wavs(d):
    from avsep_mobile.audio import read_wav

    return {p.stem: read_wav(p)[0] for p in d.glob("*.wav")}


def test_eval_refuses_a_file_as_out_dir(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    assert main(["eval", "--preset", "tiny", "--out", str(tmp_path / "f")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_separate_writes_one_wav_per_slot_and_notes_resampling(tmp_path, capsys):
    from scipy.io import wavfile

    from avsep_mobile.checkpoint import save

    d = _write_mixture_dir(tmp_path / "mixes")
    sr, mix = wavfile.read(d / "mix.wav")
    stereo_32k = np.stack([mix, mix], axis=1).repeat(2, axis=0)  # 32 kHz stereo
    wavfile.write(tmp_path / "stereo.wav", 32000, stereo_32k)
    save(tmp_path / "tiny.pt", AVSep(preset("tiny")))
    argv = ["separate", str(tmp_path / "stereo.wav"), "--lips", str(d / "lips.npz"), "--out", str(tmp_path / "sep"),
            "--checkpoint", str(tmp_path / "tiny.pt"), "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "resampled" in captured.err and "downmix" in captured.err.lower()
    files = json.loads(captured.out)["files"]
    assert len(files) == 2
    sr, out = wavfile.read(files[0])
    assert sr == 16000 and len(out) == len(mix)


def test_separate_refuses_bad_lips_without_writing(tmp_path, capsys):
    d = _write_mixture_dir(tmp_path / "mixes")
    np.savez(tmp_path / "bad.npz", lips=np.zeros((2, 5, 64, 64), np.uint8), fps=25.0)
    argv = ["separate", str(d / "mix.wav"), "--lips", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "sep"), "--checkpoint", "x.pt"]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert not (tmp_path / "sep").exists()
