"""`avsep run BUNDLE INPUT`: an exported bundle separates a video, or a mix
with its lips file, through the torch-free runtime, and equals `avsep
separate` with the bundle's own model within the bundle's parity thresholds."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from avsep_mobile import checkpoint
from avsep_mobile.audio import read_audio, write_wav
from avsep_mobile.cli import main
from avsep_mobile.data.lips import render_lips
from avsep_mobile.export import bundle, thresholds
from avsep_mobile.metrics import snr_db
from avsep_mobile.model import AVSep, preset
from tests.media_clips import speech, write_clip

SECONDS = 2.0


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A random tiny model's checkpoint and its fp32 Android and ONNX bundles."""
    work = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    model = AVSep(preset("tiny")).eval()
    checkpoint.save(work / "tiny.pt", model)
    dirs = {}
    for target in ("android", "onnx"):
        dirs[target] = work / target
        report = bundle.export(target, model, dirs[target], precision="fp32", seconds=1.0, progress=False)
        assert report["passed"], (target, report["failed"], report.get("outputs"), report.get("band"))
    return work / "tiny.pt", dirs


@pytest.fixture(scope="module")
def voices():
    return speech(SECONDS, seed=5, voices=2)


def _run(capsys, *argv):
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr()


def _outputs(d, speakers=2):
    return [read_audio(d / f"speaker{s + 1}.wav")[0] for s in range(speakers)] + [read_audio(d / "residual.wav")[0]]


def _assert_parity(ref_dir, got_dir):
    floor = thresholds.FP32_MIN_SNR_DB
    for ref, got in zip(_outputs(ref_dir), _outputs(got_dir)):
        assert ref.shape == got.shape
        assert snr_db(ref, got) >= floor, snr_db(ref, got)


@pytest.mark.parametrize("target", ["android", "onnx"])
def test_run_a_video_equals_separate_with_the_bundles_model(exported, voices, target, tmp_path, capsys):
    ckpt, dirs = exported
    clip = write_clip(tmp_path / "two.mp4", voices)
    rc, cap = _run(capsys, "separate", clip, "--checkpoint", ckpt, "--out", tmp_path / "ref", "--json")
    assert rc == 0, cap.err
    rc, cap = _run(capsys, "run", dirs[target], clip, "--out", tmp_path / "got", "--json")
    assert rc == 0, cap.err
    ref, got = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("ref", "got"))
    assert got["faces"] == ref["faces"] == 2 and got["slots"] == ref["slots"]
    _assert_parity(tmp_path / "ref", tmp_path / "got")


def _mix_with_lips(voices, d):
    """mix.wav and lips.npz of the two voices in d."""
    write_wav(d / "mix.wav", (voices[0] + voices[1]).astype(np.float32))
    np.savez(d / "lips.npz", lips=np.stack([render_lips(v, seed=i) for i, v in enumerate(voices)]), fps=np.float32(25.0))


def test_run_a_mix_with_lips_equals_separate(exported, voices, tmp_path, capsys):
    ckpt, dirs = exported
    _mix_with_lips(voices, tmp_path)
    rc, cap = _run(capsys, "separate", tmp_path / "mix.wav", "--lips", tmp_path / "lips.npz", "--checkpoint", ckpt,
                   "--out", tmp_path / "ref")
    assert rc == 0, cap.err
    rc, cap = _run(capsys, "run", dirs["android"], tmp_path / "mix.wav", "--lips", tmp_path / "lips.npz", "--out", tmp_path / "got")
    assert rc == 0, cap.err
    _assert_parity(tmp_path / "ref", tmp_path / "got")


@pytest.mark.parametrize("target", ["android", "onnx"])
def test_run_with_held_state_equals_explicit_state(exported, voices, target, tmp_path, capsys):
    _, dirs = exported
    _mix_with_lips(voices, tmp_path)
    for out, held in (("explicit", []), ("held", ["--held-state"])):
        rc, cap = _run(capsys, "run", dirs[target], tmp_path / "mix.wav", "--lips", tmp_path / "lips.npz", "--out", tmp_path / out, *held)
        assert rc == 0, cap.err
    for ref, got in zip(_outputs(tmp_path / "explicit"), _outputs(tmp_path / "held")):
        assert snr_db(ref, got) >= thresholds.HELD_STATE_MIN_SNR_DB, snr_db(ref, got)


def test_run_refuses_a_changed_bundle_in_one_line(exported, voices, tmp_path, capsys):
    import shutil

    _, dirs = exported
    bad = tmp_path / "bad"
    shutil.copytree(dirs["onnx"], bad)
    model_file = next(p for p in bad.rglob("*.onnx"))
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 1
    model_file.write_bytes(bytes(data))
    write_wav(tmp_path / "mix.wav", (voices[0] + voices[1]).astype(np.float32))
    rc, cap = _run(capsys, "run", bad, tmp_path / "mix.wav", "--lips", "x.npz", "--out", tmp_path / "o")
    assert rc != 0 and "sha256 mismatch" in cap.err and len(cap.err.strip().splitlines()) == 1, cap.err
    assert not (tmp_path / "o").exists()


def test_run_imports_no_torch(exported, voices, tmp_path):
    """The whole `avsep run` path, in a fresh interpreter where torch cannot be imported."""
    _, dirs = exported
    write_wav(tmp_path / "mix.wav", (voices[0] + voices[1]).astype(np.float32))
    lips = np.stack([render_lips(v, seed=i) for i, v in enumerate(voices)])
    np.savez(tmp_path / "lips.npz", lips=lips, fps=np.float32(25.0))
    code = ("import sys\n"
            "class NoTorch:\n"  # any `import torch...` now fails, as where torch is not installed
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'torch': raise ModuleNotFoundError(name)\n"
            "sys.meta_path.insert(0, NoTorch())\n"
            "from avsep_mobile.cli import main\n"
            f"sys.exit(main(['run', {str(dirs['android'])!r}, {str(tmp_path / 'mix.wav')!r}, '--lips', "
            f"{str(tmp_path / 'lips.npz')!r}, '--out', {str(tmp_path / 'o')!r}]))")
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o" / "speaker2.wav").is_file()
