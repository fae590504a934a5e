"""Android's and onnxruntime's arm64 kernels, run here under qemu-user: the
tiny model's bundles (android fp32 / fp16 / int8 dynamic / int8 static, onnx
fp32 / int8) streamed through the aarch64 runtimes under a baseline ARMv8.0
core (cortex-a53) and one with dot product and i8mm (max) meet the bundle's
parity gate against float and stay close to the x86 run of the same file.

Needs qemu-user-static (./setup.sh installs it); the userland is built once
(about 30 s, `avsep arm64-setup`) and cached in ~/.cache/avsep/arm64."""

from __future__ import annotations

import json
import shutil

import pytest
from tiny_data import tiny_calibration

from avsep_mobile.export import (
    arm64,
    arm64_userland,
    arm64_verify,
    bundle,
    signing,
    thresholds,
)
from avsep_mobile.runtime import manifest
from avsep_mobile.runtime.signing import check_signature, load_public

needs_qemu = pytest.mark.skipif(shutil.which("qemu-aarch64-static") is None and shutil.which("qemu-aarch64") is None,
                                reason="qemu-user-static is not installed (./setup.sh installs it)")

PROFILES = ("cortex-a53", "max")
CALLS = 120  # av_step calls streamed per check (1.2 s of audio): enough for state to matter, short under emulation
# variant -> (fixture or export kwargs)
VARIANTS = {
    "android-fp32": "android_bundle",
    "android-fp16": {"target": "android", "precision": "fp16"},
    "android-int8-dynamic": "android_int8_bundle",
    "android-int8-static": {"target": "android", "precision": "int8", "int8_scheme": "static"},
    "onnx-fp32": "onnx_bundle",
    "onnx-int8": "onnx_int8_bundle",
}


@pytest.fixture(scope="session")
def userland():
    return arm64_userland.setup()


@pytest.fixture(scope="session")
def arm64_results(request, tmp_path_factory, tiny_model, userland):
    """{variant: (bundle dir, arm64_verify.check result)}, made on first use."""
    cache: dict = {}

    def get(variant):
        if variant not in cache:
            spec = VARIANTS[variant]
            if isinstance(spec, str):
                out, report = request.getfixturevalue(spec)
            else:
                out = tmp_path_factory.mktemp(variant) / "bundle"
                calib = tiny_calibration(tiny_model) if spec["precision"] == "int8" else None
                report = bundle.export(spec["target"], tiny_model, out, precision=spec["precision"], int8_scheme=spec.get("int8_scheme"),
                                       checkpoint=bundle.checkpoint_info(None, "tiny"), progress=False, gate_mixtures=0,
                                       calib_examples=calib)
            assert report["passed"], report
            cache[variant] = (out, arm64_verify.check(out, PROFILES, max_calls=CALLS))
        return cache[variant]

    return get


@pytest.mark.slow
@needs_qemu
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_arm64_matches_float_and_x86(variant, arm64_results):
    _, result = arm64_results(variant)
    assert result["calls"]["av_step"] == CALLS
    assert [r["cpu"] for r in result["rows"]] == list(PROFILES)
    metric, minimum = thresholds.gate(result["precision"])
    for row in result["rows"]:
        assert row["machine"] == "aarch64", row["cpu"]
        for out in thresholds.GATED_OUTPUTS:  # the bundle's own gate, on arm64 kernels
            assert row["outputs"][out][metric] >= minimum, (row["cpu"], out, row["outputs"][out])
        assert row["passed"], row["failed"]
        vs_x86 = row["vs_x86"]["speakers"]["snr_db"]
        if result["precision"] == "fp32":  # arm64 and x86 fp32 differ by rounding only
            assert vs_x86 >= thresholds.FP32_MIN_SNR_DB, (row["cpu"], vs_x86)
        else:  # fp16 / int8 kernels may round differently, but stay within the precision's gate of x86
            assert row["vs_x86"]["speakers"][metric] >= minimum, (row["cpu"], row["vs_x86"]["speakers"])
        assert row["emulated_seconds_per_audio_second"] > 0
    assert result["passed"]


@pytest.mark.slow
@needs_qemu
@pytest.mark.parametrize("variant", ["android-fp32", "onnx-fp32"])
def test_arm64_profiles_expose_both_kernel_families(variant, arm64_results):
    """cortex-a53 has neither dot product nor i8mm (ARMv8.0 NEON kernels), max
    has both; each row says which runtime ran and what it reported."""
    _, result = arm64_results(variant)
    rows = {r["cpu"]: r for r in result["rows"]}
    assert not {"asimddp", "i8mm"} & set(rows["cortex-a53"]["cpu_features"])
    assert {"asimddp", "i8mm"} <= set(rows["max"]["cpu_features"])
    assert rows["cortex-a53"]["midr"] == "0x410fd034"  # Cortex-A53 r0p4, so XNNPACK may pick its A53-tuned kernels
    for row in rows.values():
        if result["target"] == "android":
            assert row["runtime"]["runtime"] == "ai-edge-litert"
            assert any("XNNPACK" in line for line in row["runtime_log"]), row["runtime_log"]
        else:
            assert row["runtime"]["runtime"] == "onnxruntime"
            assert row["runtime"]["providers"] == ["CPUExecutionProvider"]


@pytest.mark.slow
@needs_qemu
def test_record_adds_arm64_rows_and_keeps_the_bundle_verifiable(arm64_results, tmp_path):
    src, result = arm64_results("android-fp32")
    out = tmp_path / "bundle"
    shutil.copytree(src, out)
    before = json.loads((out / "manifest.json").read_text())["files"]
    arm64_verify.record(out, result)
    assert manifest.verify(out) == []  # every sha256 still matches, the new report files included
    m = json.loads((out / "manifest.json").read_text())
    assert m["architectures_checked"]["arm64"] == {"passed": True, "by": "qemu-user", "cpus": list(PROFILES)}
    assert m["architectures_checked"]["x86_64"]["passed"] is True
    changed = {k for k in m["files"] if m["files"][k] != before[k]}
    assert changed == {"parity_report.json", "parity_report.md"}
    r = json.loads((out / "parity_report.json").read_text())
    assert r["passed"] and [row["cpu"] for row in r["arm64"]["rows"]] == list(PROFILES)
    md = (out / "parity_report.md").read_text()
    assert md.count(arm64_verify.MD_HEADING) == 1 and "cortex-a53" in md and "real-time" not in md.lower()
    arm64_verify.record(out, result)  # recording again replaces the section
    assert (out / "parity_report.md").read_text().count(arm64_verify.MD_HEADING) == 1
    assert manifest.verify(out) == []


@pytest.mark.slow
@needs_qemu
def test_failed_arm64_row_fails_verify(arm64_results, tmp_path):
    """A recorded arm64 failure makes `avsep verify` refuse the bundle."""
    src, result = arm64_results("android-fp32")
    out = tmp_path / "bundle"
    shutil.copytree(src, out)
    failing = json.loads(json.dumps(result))
    failing["rows"][0]["passed"], failing["rows"][0]["failed"] = False, ["speakers"]
    failing["passed"], failing["failed"] = False, ["cortex-a53:speakers"]
    arm64_verify.record(out, failing)
    problems = manifest.verify(out)
    assert problems == ["parity_report.json: arm64 parity gate not passed (cortex-a53:speakers)"]
    assert "**FAILED**" in (out / "parity_report.md").read_text()


@pytest.mark.slow
@needs_qemu
def test_signed_bundle_is_re_signed_or_refused(arm64_results, tmp_path):
    src, result = arm64_results("android-fp32")
    out = tmp_path / "bundle"
    shutil.copytree(src, out)
    priv_path, pub_path = signing.keygen(tmp_path / "keys")
    signing.sign_bundle(out, signing.load_private(priv_path))
    with pytest.raises(ValueError, match="--sign KEY"):
        arm64_verify.record(out, result)
    arm64_verify.record(out, result, signing.load_private(priv_path))
    check_signature(out, load_public(pub_path))
    assert manifest.verify(out) == []


def test_arm64_check_without_userland_is_one_line(android_bundle, tmp_path, monkeypatch, capsys):
    from avsep_mobile.cli import main

    monkeypatch.setenv("AVSEP_ARM64_HOME", str(tmp_path / "none"))
    assert main(["verify", str(android_bundle[0]), "--arch", "arm64"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "run `avsep arm64-setup` first" in err


def test_arm64_setup_without_qemu_is_one_line(tmp_path, monkeypatch, capsys):
    from avsep_mobile.cli import main

    monkeypatch.setenv("AVSEP_ARM64_HOME", str(tmp_path / "none"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no qemu-aarch64 on it
    assert main(["arm64-setup"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "qemu-aarch64 not found" in err and "qemu-user-static" in err
    assert not (tmp_path / "none").exists()


def test_unknown_cpu_profile_is_refused(android_bundle, capsys):
    from avsep_mobile.cli import main

    assert main(["verify", str(android_bundle[0]), "--arch", "arm64", "--cpu", "cortex-a53,pentium"]) == 2
    assert "unknown --cpu 'pentium'" in capsys.readouterr().err


@needs_qemu
def test_avsep_run_on_emulated_arm64_equals_x86_on_a_video(userland, android_bundle, tmp_path):
    """The light install's `avsep run` inside the arm64 userland (aarch64
    LiteRT, face detector and mesh, PyAV, scipy, soundfile), on a two-face
    clip, equals the x86 run within the device parity floor of the bundle's
    precision."""
    import numpy as np

    from avsep_mobile.audio import read_audio
    from avsep_mobile.cli import main
    from avsep_mobile.metrics import snr_db
    from tests.media_clips import speech, write_clip

    out, _ = android_bundle
    clip = write_clip(tmp_path / "two.mp4", speech(1.0, seed=9, voices=2))
    assert main(["run", str(out), str(clip), "--out", str(tmp_path / "x86")]) == 0
    r = arm64.run_avsep(["run", str(out), str(clip), "--out", str(tmp_path / "arm64")])
    assert r.returncode == 0, r.stderr[-2000:]
    x86, guest = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("x86", "arm64"))
    assert guest["faces"] == x86["faces"] == 2 and guest["slots"] == x86["slots"]
    floor = thresholds.DEVICE_MIN_SNR_DB[manifest.load(out)["precision"]]
    for name in ("speaker1.wav", "speaker2.wav", "residual.wav"):
        a, b = read_audio(tmp_path / "x86" / name)[0], read_audio(tmp_path / "arm64" / name)[0]
        assert a.shape == b.shape and (np.array_equal(a, b) or snr_db(a, b) >= floor), (name, snr_db(a, b))
