"""Every refused argument or combination is one `error:` line and exit code 2,
before any model is loaded (so before minutes of calibration or conversion)."""

import pytest

from avsep_mobile import checkpoint
from avsep_mobile.cli import main


@pytest.fixture
def no_model(monkeypatch):
    """Fails the test if a command gets as far as loading a model."""

    def refuse(*a, **k):
        raise AssertionError("a model was loaded before the arguments were checked")

    monkeypatch.setattr(checkpoint, "load", refuse)
    monkeypatch.setattr(checkpoint, "load_raw", refuse)


def _mixture_dir(root, speakers: int):
    d = root / "mix_000000"
    d.mkdir(parents=True)
    for name in ["mix.wav", "lips.npz"] + [f"s{i + 1}.wav" for i in range(speakers)]:
        (d / name).write_bytes(b"")
    return root


REFUSED = [
    (["export", "ios", "--stateful", "--precision", "fp32"], "--stateful needs fp16 compute"),
    (["export", "ios", "--stateful", "--precision", "fp16", "--ios-target", "17"], "--stateful needs iOS 18"),
    (["export", "android", "--stateful", "--precision", "fp16"], "--stateful applies to ios only"),
    (["export", "onnx", "--stateful"], "--stateful applies to ios only"),
    (["export", "android", "--ios-target", "18"], "--ios-target applies to ios only"),
    (["export", "android", "--chunk-hops", "0"], "--chunk-hops must be >= 1"),
    (["export", "ios", "--speakers", "0"], "--speakers and --chunk-hops must be >= 1"),
    (["export", "onnx", "--precision", "fp16"], "precision 'fp16' is not supported for onnx"),
    (["export", "tvos"], "unknown target 'tvos'"),
    (["export", "android", "--int8-scheme", "w8a8"], "int8 scheme 'w8a8' is not available for android"),
    (["export", "ios", "--int8-scheme", "static"], "int8 scheme 'static' is not available for ios"),
    (["export", "android", "--precision", "fp32", "--int8-scheme", "dynamic"], "apply to --precision int8 only"),
    (["export", "ios", "--precision", "fp16", "--calib-data", "."], "apply to --precision int8 only"),
    (["export", "android", "--speakers", "5"], "shipped calibration set mixes at most 4 speakers"),
    (["export", "android", "--speakers", "7", "--calib-data", "x"], "task gate mixes at most 6 speakers"),
    (["export", "android", "--checkpoint", "x.pt", "--preset", "tiny"], "--checkpoint or --preset, not both"),
    (["info", "--chunk-hops", "0"], "--chunk-hops must be >= 1"),
    (["train", "--steps", "0"], "--steps must be >= 1"),
    (["train", "--seconds", "0.1"], "--seconds must be >= 0.5"),
    (["train", "--attn-window", "8"], "give --init too"),
    (["eval", "--count", "0"], "--count must be >= 1"),
    (["prune", "--out", "x.pt", "--macs", "0"], "0 < --macs <= 1"),
    (["distill", "--teacher", "x.pt", "--lr", "0"], "--lr > 0"),
    (["train", "--rooms", "1.5"], "--rooms is a share, within 0..1, got 1.5"),
    (["distill", "--teacher", "x.pt", "--recorded", "-0.1"], "--recorded is a share, within 0..1"),
    (["quantize", "--mixtures", "0"], "--mixtures must be >= 1"),
    (["data", "pack", "x", "--pool", "1"], "need --pool >= 2"),
    (["data", "pack", "x", "--opus-level", "1.5"], "--opus-level is libsndfile's compression level, within 0..1"),
    (["train", "--workers", "0"], "--workers must be >= 1"),
    (["train", "--minutes", "0"], "--minutes must be > 0"),
]


@pytest.mark.parametrize("argv,message", REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_refused_before_any_work(argv, message, no_model, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err


def test_calib_data_missing_or_empty_or_wrong_speakers(tmp_path, no_model, capsys):
    (tmp_path / "empty").mkdir()
    _mixture_dir(tmp_path / "three", 3)
    cases = [(tmp_path / "missing", "is not a directory"), (tmp_path / "empty", "holds no mixtures"),
             (tmp_path / "three", "has 3 speakers, the export 2: pass --speakers 3")]
    for path, message in cases:
        assert main(["export", "ios", "--calib-data", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err


def test_separate_refuses_a_file_as_out_dir(tmp_path, no_model, capsys):
    out = tmp_path / "out"
    out.write_text("")
    assert main(["separate", "mix.wav", "--lips", "lips.npz", "--out", str(out)]) == 2
    assert "is a file" in capsys.readouterr().err


def test_unknown_choice_is_refused_by_the_parser(no_model, capsys):
    with pytest.raises(SystemExit) as e:
        main(["export", "android", "--int8-scheme", "int4"])
    assert e.value.code == 2
    assert "invalid choice: 'int4'" in capsys.readouterr().err


def test_train_and_distill_take_the_same_data_mix(tmp_path, monkeypatch):
    """`avsep distill` mixes its data by the same flags as `avsep train`
    (avsep_mobile/train_flags.py): each flag reaches TrainConfig, and distill's
    defaults stay those of the shipped students' recipe (synthesised, dry)."""
    import avsep_mobile.quantize.distill as distill_module
    import avsep_mobile.train as train_module
    from avsep_mobile.model import AVSep, preset

    seen = {}
    monkeypatch.setattr(train_module, "train", lambda cfg, tc, out, init=None: seen.setdefault("train", tc) and out / "model.pt")
    monkeypatch.setattr(distill_module, "distill", lambda t, s, tc, out, weights=None: seen.setdefault("distill", tc) and out / "model.pt")
    teacher = tmp_path / "teacher.pt"
    checkpoint.save(teacher, AVSep(preset("tiny")), {})
    mix = ["--voice-perturb", "0.1", "--rooms", "0.2", "--recorded", "0.3", "--mouth-augment", "0.4", "--data-share", "0.6",
           "--quiet", "0.7", "--data", str(tmp_path / "index")]
    assert main(["train", "--preset", "tiny", "--out", str(tmp_path / "a"), *mix]) == 0
    assert main(["distill", "--teacher", str(teacher), "--student-preset", "tiny", "--out", str(tmp_path / "b"), *mix]) == 0
    for tc in seen.values():
        got = (tc.voice_perturb, tc.room_share, tc.recorded_share, tc.mouth_augment, tc.data_share, tc.quiet_share, tc.data_index)
        assert got == (0.1, 0.2, 0.3, 0.4, 0.6, 0.7, str(tmp_path / "index"))
    seen.clear()
    assert main(["distill", "--teacher", str(teacher), "--student-preset", "tiny", "--out", str(tmp_path / "c")]) == 0
    tc = seen["distill"]
    assert (tc.voice_perturb, tc.room_share, tc.recorded_share, tc.mouth_augment, tc.quiet_share, tc.data_index) == (0, 0, 0, 0, 0, None)
