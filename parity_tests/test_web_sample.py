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

VARIANTS = ("fp32", "int8")


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
def page(bundles):
    problems = web_browser.missing()
    if problems:
        if sys.platform != "linux":
            pytest.skip("; ".join(problems))
        pytest.fail("the browser toolchain is missing (run ./setup.sh): " + "; ".join(problems))
    web_core.build()
    links = {f"bundles/{k}": v for k, v in bundles.items() if not k.endswith("_key")}
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
