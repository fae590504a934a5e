"""web_sample/ end to end in headless Chromium (Debian's, driven by
Playwright): the page opens Android bundles exported in this session (the
default int8 and fp32), checks them (sha256 through Web Crypto, Ed25519),
replays their test vectors on LiteRT.js through the Kotlin core's schedule
compiled to JavaScript, and writes a device report; one browser serves every
test of the module."""

from __future__ import annotations

import base64
import json
import shutil
import sys

import numpy as np
import pytest

import web_browser
import web_core
from avsep_mobile import device_report
from avsep_mobile.export import thresholds, vectors
from avsep_mobile.metrics import snr_db
from avsep_mobile.runtime import manifest, runners
from avsep_mobile.runtime.replay import stream
from avsep_mobile.runtime.separator import Separator

VARIANTS = ("fp32", "int8")
CLIP_SECONDS = 3.0


@pytest.fixture(scope="module")
def bundles(android_bundle, android_int8_bundle, tmp_path_factory):
    """The two variants, a copy of fp32 with one byte of its model changed, and a signed copy."""
    from avsep_mobile.export import signing

    work = tmp_path_factory.mktemp("web_bundles")
    tampered = work / "tampered"
    shutil.copytree(android_bundle[0], tampered)
    model = tampered / json.loads((tampered / "manifest.json").read_text())["model_files"]["av_step"]
    raw = bytearray(model.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    model.write_bytes(bytes(raw))
    signed = work / "signed"
    shutil.copytree(android_bundle[0], signed)
    private, public = signing.keygen(work / "keys")
    signing.sign_bundle(signed, signing.load_private(private))
    _, other = signing.keygen(work / "other_keys")
    return {"fp32": android_bundle[0], "int8": android_int8_bundle[0], "tampered": tampered, "signed": signed,
            "public_key": public.read_text().strip(), "other_key": other.read_text().strip()}


@pytest.fixture(scope="module")
def voices():
    from tests.media_clips import speech

    return speech(CLIP_SECONDS, seed=5, voices=2)


@pytest.fixture(scope="module")
def clip(tmp_path_factory, voices):
    """Two real faces side by side, each mouth opened by its own synthesised voice, the voices mixed (H.264 + AAC)."""
    from tests.media_clips import write_clip

    return write_clip(tmp_path_factory.mktemp("web_clip") / "two_faces.mp4", voices)


@pytest.fixture(scope="module")
def clip_30fps(tmp_path_factory, voices):
    """The same at 30 frames per second: the lip_fps gate takes 25 of every 30 pictures."""
    from tests.media_clips import write_clip

    return write_clip(tmp_path_factory.mktemp("web_clip30") / "two_faces_30.mp4", voices, fps=30.0)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A folder the server shows at /files/: tests put their inputs there."""
    return tmp_path_factory.mktemp("web_files")


@pytest.fixture(scope="module")
def page(bundles, clip, clip_30fps, served):
    problems = web_browser.missing()
    if problems:
        if sys.platform != "linux":
            pytest.skip("; ".join(problems))
        pytest.fail("the browser toolchain is missing (run ./setup.sh): " + "; ".join(problems))
    web_core.build()
    web_core.face_models()
    links = {f"bundles/{k}": v for k, v in bundles.items() if not k.endswith("_key")}
    links |= {"media/two_faces.mp4": clip, "media/two_faces_30.mp4": clip_30fps, "files": served}
    with web_browser.serve(links) as url, web_browser.page(url) as pg:
        yield pg
        assert pg.errors == [], pg.errors


@pytest.fixture(scope="module")
def reports(page):
    """Each variant opened and benchmarked (one warm-up and two timed passes of its test vectors)."""
    out = {}
    for v in VARIANTS:
        opened = page.evaluate("([url]) => avsep.open(url)", [f"/bundles/{v}/"])
        assert opened["precision"] == v and opened["files"] > 5
        out[v] = {"report": page.evaluate("avsep.benchmark(2)"), "outputs": page.evaluate("avsep.replayOutputs()")}
    return out


@pytest.mark.parametrize("variant", VARIANTS)
def test_browser_replay_matches_the_recorded_float_outputs(reports, variant):
    """LiteRT.js against the float torch outputs in the bundle, by the export's own gate (fp32 >= 60 dB SNR,
    int8 >= its int8 gate), with the Kotlin schedule holding exactly the reference's frames."""
    report = reports[variant]["report"]
    metric, minimum = thresholds.gate(variant)
    for name in thresholds.GATED_OUTPUTS:
        assert report["parity"][name][metric] >= minimum, (name, report["parity"][name])
    assert report["schedule"]["held_frames_equal_lip_call"] is True


@pytest.mark.parametrize("variant", VARIANTS)
def test_browser_matches_x86_litert(reports, bundles, variant):
    """The page's outputs against Python's LiteRT on this x86 CPU over the same vectors (runtime.replay.stream)."""
    bundle = bundles[variant]
    m = manifest.load(bundle)
    vec = vectors.load_bins(bundle / "test_vectors")
    ref = stream(runners.for_bundle(bundle, m, threads=1), vec, m["signatures"])
    got = {k: np.frombuffer(base64.b64decode(v), "<f4") for k, v in reports[variant]["outputs"].items() if k != "held_lips"}
    metric, minimum = thresholds.gate(variant)
    for name, key in (("speakers", "av_step/speakers"), ("lip_emb", "lip_step/lip_emb")):
        want = ref[key].reshape(-1)
        assert got[name].shape == want.shape
        assert snr_db(want, got[name]) >= minimum, (variant, name, snr_db(want, got[name]))


@pytest.mark.parametrize("variant", VARIANTS)
def test_browser_device_report_matches_the_schema(reports, bundles, variant):
    report = reports[variant]["report"]
    assert device_report.schema_errors(report) == []
    assert report["manifest_sha256"] == manifest.sha256_file(bundles[variant] / "manifest.json")
    assert "Chrom" in report["device"] and report["runner"].startswith("litertjs-wasm")


def test_page_rejects_a_bundle_with_one_changed_byte(page, bundles):
    err = page.evaluate("avsep.open('/bundles/tampered/').then(() => 'opened', (e) => e.message)")
    model_file = json.loads((bundles["tampered"] / "manifest.json").read_text())["model_files"]["av_step"]
    assert err.startswith(f"sha256 mismatch for {model_file}"), err
    assert "sha256 mismatch" in page.text_content("#bundle-status")


def test_page_checks_the_ed25519_signature(page, bundles):
    """Chromium's Web Crypto has Ed25519: the signed copy verifies with its key and fails with another."""
    ok = page.evaluate("([k]) => avsep.open('/bundles/signed/', k)", [bundles["public_key"]])
    assert ok["signature"] == "Ed25519 signature verified"
    err = page.evaluate("([k]) => avsep.open('/bundles/signed/', k).then(() => 'opened', (e) => e.message)", [bundles["other_key"]])
    assert err.startswith("manifest.sig does not match manifest.json for this key"), err


@pytest.fixture(scope="module")
def separated(page, bundles, clip, tmp_path_factory):
    """The clip separated by the page (fp32 bundle) and by `avsep separate`'s separate_video on the same bundle."""
    from avsep_mobile.separate_video import separate_video

    page.evaluate("avsep.open('/bundles/fp32/')")
    web = page.evaluate("avsep.separateVideo('/media/two_faces.mp4', 'build/faces/')")
    ref_dir = tmp_path_factory.mktemp("web_ref") / "out"
    sep = _Recorded.open(bundles["fp32"], threads=1)
    ref = separate_video(sep, clip, ref_dir)
    ref["crop_means"] = np.array(sep.crop_means)
    return web, ref, ref_dir


class _Recorded(Separator):
    """Keeps each slot's mean crop level per frame: what lip_step was shown."""

    def frame(self, t_ns, crops, faces):
        self.__dict__.setdefault("crop_means", []).append(np.asarray(crops, np.float64).reshape(len(crops), -1).mean(1))
        return super().frame(t_ns, crops, faces)


def test_page_separates_a_two_face_video_as_avsep_separate_does(separated):
    """Each WAV the page offers against avsep separate's on the same video and bundle. The page decodes the sound in
    the browser (Chromium trims the AAC encoder's end padding, PyAV keeps it: 128 more samples), so the common
    length is compared; faces, slots and the schedule must agree exactly."""
    import io

    import soundfile as sf

    web, ref, ref_dir = separated
    assert web["summary"]["faces"] == ref["faces"] == 2
    assert [s["faces"] for s in web["summary"]["slots"]] == [s["faces"] for s in ref["slots"]]
    assert web["summary"]["video"]["frames_with_face"] == ref["video"]["frames_with_face"] > 0
    # the mouths the page drew follow the ones avsep separate drew, frame by frame (the browser's YUV -> RGB differs
    # from PyAV's by up to 3 levels per channel, which moves the landmarks a little); a picture that did not change
    # with the seek (a stale frame) is off by several levels
    means = np.array(web["summary"]["crop_means"])
    assert means.shape == ref["crop_means"].shape and np.ptp(ref["crop_means"][:, 0]) > 4 / 255
    assert np.abs(means - ref["crop_means"]).max() < 1 / 255, np.abs(means - ref["crop_means"]).max() * 255
    names = [f"speaker{s + 1}.wav" for s in range(2)] + ["residual.wav"]
    assert sorted(web["files"]) == sorted(names)
    for name in names:
        got, sr = sf.read(io.BytesIO(base64.b64decode(web["files"][name])), dtype="float32")
        want, _ = sf.read(ref_dir / name, dtype="float32")
        assert sr == 16000 and abs(len(got) - len(want)) <= 1024 and len(got) >= CLIP_SECONDS * sr - 1
        n = min(len(got), len(want))
        assert snr_db(want[:n], got[:n]) >= thresholds.FP32_MIN_SNR_DB, (name, snr_db(want[:n], got[:n]))


def test_page_takes_the_frames_avsep_separate_takes_from_a_30fps_video(page, bundles, clip_30fps, tmp_path):
    """Every picture decoded once, in order, and the lip_fps gate keeping the same 25 of each 30, with the same mouths."""
    from avsep_mobile.separate_video import separate_video

    page.evaluate("avsep.open('/bundles/fp32/')")
    web = page.evaluate("avsep.separateVideo('/media/two_faces_30.mp4', 'build/faces/')")["summary"]
    sep = _Recorded.open(bundles["fp32"], threads=1)
    ref = separate_video(sep, clip_30fps, tmp_path / "out")
    for key in ("frames_decoded", "frames_used", "frames_with_face"):
        assert web["video"][key] == ref["video"][key], (key, web["video"][key], ref["video"][key])
    assert ref["video"]["frames_decoded"] > ref["video"]["frames_used"]
    assert np.abs(np.array(web["crop_means"]) - np.array(sep.crop_means)).max() < 1 / 255


def test_page_separates_audio_with_a_lips_file(page, bundles, served):
    """audio + lips.npz through the page against runtime.separator.separate_lips (stream_separate's schedule)."""
    import io

    import soundfile as sf

    from avsep_mobile.audio import write_wav
    from avsep_mobile.runtime.separator import separate_lips

    rng = np.random.default_rng(4)
    n, fps = 16000 + 123, 25.0
    mix = (0.3 * np.sin(2 * np.pi * 180 * np.arange(n) / 16000) + 0.05 * rng.standard_normal(n)).astype(np.float32)
    lips = rng.integers(0, 256, (2, int(n / 16000 * fps) + 1, 88, 88), dtype=np.uint8)
    write_wav(served / "mix.wav", mix)
    np.savez(served / "lips.npz", lips=lips, fps=np.float32(fps))
    mix_read, _ = sf.read(served / "mix.wav", dtype="float32")
    m = manifest.load(bundles["fp32"])
    want = separate_lips(runners.for_bundle(bundles["fp32"], m, threads=1), m["signatures"], m, mix_read, lips, fps)
    page.evaluate("avsep.open('/bundles/fp32/')")
    web = page.evaluate("([a, l]) => avsep.separateAudio(a, l)", ["/files/mix.wav", "/files/lips.npz"])
    for s in range(2):
        got, _ = sf.read(io.BytesIO(base64.b64decode(web["files"][f"speaker{s + 1}.wav"])), dtype="float32")
        ref = np.round(np.clip(want["speakers"][s], -1, 1) * 32767) / 32767  # as written to WAV
        assert len(got) == n and snr_db(ref, got) >= thresholds.FP32_MIN_SNR_DB, snr_db(ref, got)


def test_live_path_runs_on_chromiums_fake_camera_and_microphone(page, bundles):
    """No camera or microphone headless: Chromium's fake devices (a test pattern and a tone) stand in. The live path
    must take every sample it heard through the apps' live schedule and give each one back; the pattern holds no
    face, so every chunk goes out with every slot inactive, and each holds a frame no older than the one before."""
    import time

    page.evaluate("avsep.open('/bundles/fp32/')")
    started = page.evaluate("avsep.liveStart('build/faces/')")
    assert started["sampleRate"] == 16000 and any(t.startswith("video: fake") for t in started["tracks"]), started
    page.select_option("#live-hear", "0")  # speaker 1 played as it comes (Chromium's fake audio output)
    time.sleep(2.0)
    r = page.evaluate("avsep.liveStop()")
    heard = r["counts"]["samples"]
    assert heard > 8000 and r["samples"] == heard and r["counts"]["accepted"] > 5, r["counts"]
    assert 0 < r["counts"]["played"] <= heard  # speaker 1's voice went to the output as it came
    m = manifest.load(bundles["fp32"])
    chunks = -(-(heard + m["output_delay_samples"]) // m["chunk_samples"])  # the flush: every sample leaves the delay
    assert abs(len(r["plans"]) - chunks) <= 1, (len(r["plans"]), chunks)
    assert all(p["active"] == [0, 0] for p in r["plans"])
    lips = [p["lip"] for p in r["plans"]]
    assert lips == sorted(lips) and lips[-1] >= 0


def test_page_opens_a_bundle_from_a_picked_folder(page, bundles):
    """The folder picker (no one to click it headless): Playwright hands the input the bundle folder as a user would."""
    page.set_input_files("#bundle-folder", str(bundles["int8"]))
    page.click("#open")
    page.wait_for_function("document.querySelector('#bundle-status').textContent.startsWith('android int8')", timeout=60_000)
    assert "files sha256-checked" in page.text_content("#bundle-status")
