"""`avsep data import DIR` on a small corpus of generated talking-face clips
(tests/media_clips.py: a real face photo, its jaw moved by real speech), and
`avsep train --data INDEX` on the result."""

import json

import numpy as np
import pytest
import torch

from avsep_mobile.audio import write_wav
from avsep_mobile.cli import main
from avsep_mobile.data.clips import ClipIndex, mix_clips
from avsep_mobile.model import preset
from avsep_mobile.train import TrainConfig, train
from tests.media_clips import speech, write_clip

SECONDS = 2.4


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """DIR/<speaker>/<clip>.mp4: three good clips of three voices (one with a clean
    .wav beside it), one with no face, one cut short, one with no audio track."""
    root = tmp_path_factory.mktemp("clips")
    a, b, c = speech(SECONDS, seed=4, voices=3)
    for name, track in (("anna/a1.mp4", a), ("ben/b1.mp4", b), ("cleo/c1.mp4", c), ("dan/noface.mp4", a)):
        (root / name).parent.mkdir(exist_ok=True)
        write_clip(root / name, [track], faces_present=(lambda i, t: False) if "noface" in name else None)
    write_wav(root / "cleo" / "c1.wav", c)  # a clean recording replaces the clip's AAC track
    (root / "eve").mkdir()
    full = write_clip(root / "eve" / "full.mp4", [b]).read_bytes()
    (root / "eve" / "truncated.mp4").write_bytes(full[: len(full) // 2])
    (root / "eve" / "full.mp4").unlink()
    (root / "finn").mkdir()
    write_clip(root / "finn" / "mute.mov", [c], audio=False)
    return root


@pytest.fixture(scope="module")
def index(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("index") / "idx"
    assert main(["data", "import", str(corpus), "--out", str(out), "--json"]) == 0
    return out


def test_import_indexes_the_good_clips_and_lists_the_bad_with_their_reason(index, capsys):
    meta = json.loads((index / "index.json").read_text())
    assert sorted(c["source"] for c in meta["clips"]) == ["anna/a1.mp4", "ben/b1.mp4", "cleo/c1.mp4"]
    assert sorted(c["speaker"] for c in meta["clips"]) == ["anna", "ben", "cleo"]
    reasons = {s["source"]: s["reason"] for s in meta["skipped"]}
    assert sorted(reasons) == ["dan/noface.mp4", "eve/truncated.mp4", "finn/mute.mov"]
    assert "no usable face" in reasons["dan/noface.mp4"]
    assert "no audio track" in reasons["finn/mute.mov"]
    assert "not a readable video" in reasons["eve/truncated.mp4"] or "damaged" in reasons["eve/truncated.mp4"]
    for c in meta["clips"]:
        with np.load(index / "clips" / f"{c['id']}.npz") as z:
            audio, lips = z["audio"], z["lips"]
        assert audio.dtype == np.int16 and abs(len(audio) / 16000 - SECONDS) < 0.1
        assert lips.dtype == np.uint8 and lips.shape[1:] == (88, 88) and len(lips) == int(np.ceil(len(audio) / 640))
        assert c["face_share"] >= 0.8


def test_a_clean_recording_beside_a_clip_is_its_audio(index, corpus):
    from avsep_mobile.audio import read_audio

    meta = json.loads((index / "index.json").read_text())
    (cleo,) = [c for c in meta["clips"] if c["speaker"] == "cleo"]
    with np.load(index / "clips" / f"{cleo['id']}.npz") as z:
        audio = z["audio"] / 32767
    clean, _ = read_audio(corpus / "cleo" / "c1.wav")
    np.testing.assert_allclose(audio, clean, atol=2 / 32767)


def test_a_second_run_reuses_the_cache(corpus, index, capsys):
    before = (index / "index.json").read_text()
    capsys.readouterr()
    assert main(["data", "import", str(corpus), "--out", str(index), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["made"] == 0 and res["cached"] == 6 and res["clips"] == 3 and len(res["skipped"]) == 3
    assert (index / "index.json").read_text() == before


def test_bad_input_is_one_error_line(tmp_path, capsys):
    assert main(["data", "import", str(tmp_path / "nowhere"), "--out", str(tmp_path / "i")]) == 2
    assert "not a directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["data", "import", str(tmp_path / "empty"), "--out", str(tmp_path / "i")]) == 2
    assert "no video files" in capsys.readouterr().err and not (tmp_path / "i").exists()


def test_clip_mixtures_pair_each_target_with_its_own_mouth(index):
    idx = ClipIndex(index)
    ex = mix_clips(idx, seed=3, speakers=2, seconds=1.6)
    assert ex["sources"].shape == (2, 25600) and ex["lips"].shape == (2, 40, 88, 88)
    torch.testing.assert_close(ex["mix"], ex["sources"].sum(0), atol=0.05, rtol=0)  # + noise at 10-30 dB
    again = mix_clips(idx, seed=3, speakers=2, seconds=1.6)
    torch.testing.assert_close(ex["mix"], again["mix"])


def test_training_on_the_index_lowers_the_loss(index, tmp_path):
    torch.manual_seed(0)
    tc = TrainConfig(steps=12, batch=2, seconds=1.0, lr=3e-3, warmup=1, save_every=12, data_index=str(index),
                     data_share=1.0)
    losses = []
    path = train(preset("tiny"), tc, tmp_path / "run", log=lambda m: None, on_step=losses.append)
    assert path.exists()
    assert np.mean(losses[-4:]) < np.mean(losses[:4])


def test_train_refuses_a_folder_that_is_not_an_index(tmp_path, capsys):
    assert main(["train", "--preset", "tiny", "--data", str(tmp_path), "--data-share", "1", "--steps", "1",
                 "--out", str(tmp_path / "run")]) == 2
    assert "avsep data import" in capsys.readouterr().err and not (tmp_path / "run").exists()
