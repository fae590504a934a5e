"""The sample apps' platform-free cores, run here: the Android `core` module
compiled with kotlinc and its JUnit tests run on the JVM (the case table of
avsep_mobile.runtime.scheduler, manifest and sha256 rules, named state binding,
chunking and flush), and the strict replay: driven over a bundle exported in
this session, the Kotlin core hands its runner at every call exactly the
inputs the Python reference (streaming.stream) hands the bundle's runner.
Swift sources, which need a Mac to build, are parsed with tree-sitter."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import app_cores
import numpy as np
import pytest

from avsep_mobile import device_report
from avsep_mobile.runtime.signature import STATE_OUT_SUFFIX


def _with_toolchain(run, *args):
    """run(*args); a missing Kotlin toolchain fails on Linux (CI), where
    setup.sh installs it, and skips elsewhere."""
    try:
        return run(*args)
    except RuntimeError as e:
        if sys.platform != "linux":
            pytest.skip(str(e))
        pytest.fail(str(e))


def _replay(bundle, tmp_path_factory, name: str) -> dict:
    return _with_toolchain(app_cores.replay, bundle[0], tmp_path_factory.mktemp(name))


@pytest.fixture(scope="session")
def kotlin(android_bundle, tmp_path_factory):
    return _replay(android_bundle, tmp_path_factory, "kotlin_core")


def _junit_ok(proc) -> str:
    assert proc.returncode == 0 and "OK (" in proc.stdout, proc.stdout[-6000:] + proc.stderr[-3000:]
    return proc.stdout


def test_kotlin_core_unit_tests_pass(kotlin):
    out = _junit_ok(kotlin["unit"])
    assert "OK (" in out and int(out.split("OK (")[1].split()[0]) >= 8


@pytest.fixture(scope="session")
def kotlin_ios(ios_bundle, tmp_path_factory):
    """The same core over an iOS 17 bundle (CoreML packages, explicit state): its .mlpackage
    directories are hashed by the exporter's rule, and the recording comes from the CoreML runtime
    (macOS) or the reference evaluator of the ML program (elsewhere)."""
    return _replay(ios_bundle, tmp_path_factory, "kotlin_core_ios")


@pytest.fixture(scope="session")
def kotlin_ios_stateful(ios_stateful_bundle, tmp_path_factory):
    """The iOS 18 stateful package: the caches the manifest lists under coreml.model_states
    stay inside the model (MLState); the core feeds only the other states."""
    return _replay(ios_stateful_bundle, tmp_path_factory, "kotlin_core_ios_stateful")


def test_kotlin_replay_hands_the_runner_the_reference_inputs(kotlin):
    _assert_same_inputs(kotlin)


def test_kotlin_replay_of_an_ios_bundle(kotlin_ios):
    _assert_same_inputs(kotlin_ios)
    report = json.loads(Path(kotlin_ios["report"]).read_text())
    assert device_report.schema_errors(report) == [] and report["target"] == "ios"


def test_kotlin_replay_of_the_ios18_stateful_bundle_feeds_only_explicit_states(kotlin_ios_stateful, ios_stateful_bundle):
    held = json.loads((ios_stateful_bundle[0] / "manifest.json").read_text())["coreml"]["model_states"]
    assert held["av_step"] and held["lip_step"]
    _assert_same_inputs(kotlin_ios_stateful, held={k: set(v) for k, v in held.items()})


def _assert_same_inputs(kotlin, held=None):
    """Every call's inputs equal bit for bit; `held`: names the model keeps inside (the
    Python replay carries them through the evaluator, an app never sees them)."""
    _junit_ok(kotlin["replay"])
    py, kt = app_cores.read_log(kotlin["python_log"]), app_cores.read_log(kotlin["kotlin_log"])
    assert set(py) == set(kt) == {"lip_step", "av_step"}
    for step in py:
        for name in (held or {}).get(step, ()):
            assert name not in kt[step], f"{step}: the core fed the held state {name}"
            py[step].pop(name, None)
        assert set(kt[step]) == set(py[step]), f"{step}: inputs by name differ: {sorted(set(kt[step]) ^ set(py[step]))}"
        for name, ref in py[step].items():
            got = kt[step][name]
            assert got.shape == ref.shape, f"{step}/{name}: {got.shape} calls x values, reference {ref.shape}"
            bad = np.flatnonzero((got.view(np.uint32) != ref.view(np.uint32)).reshape(len(ref), -1).any(1))
            assert bad.size == 0, f"{step}/{name}: first differing call {bad[0]} of {len(ref)}"


def test_kotlin_replay_states_are_the_previous_outputs(kotlin):
    """Beyond equal to Python's feeds: each state input is the previous call's
    X_out, except rows (speaker slots) reset to their initial zeros."""
    kt = app_cores.read_log(kotlin["kotlin_log"])
    outs = app_cores.read_log(kotlin["python_log"], "outputs")
    checked = 0
    for step, ins in kt.items():
        for name, x in ins.items():
            if name + STATE_OUT_SUFFIX not in outs[step]:
                continue
            assert not x[0].any(), f"{step}/{name}: the first call must get the initial state"
            prev = outs[step][name + STATE_OUT_SUFFIX][:-1]
            rows = (x[1:] != prev).reshape(len(prev), x.shape[1], -1).any(-1)  # (calls-1, leading axis)
            reset_rows = x[1:].reshape(len(prev), x.shape[1], -1)[rows]
            assert not reset_rows.any(), f"{step}/{name}: a state input is neither the previous output nor a reset row"
            checked += 1
    assert checked >= 4


def test_kotlin_report_matches_the_schema(kotlin):
    report = json.loads(Path(kotlin["report"]).read_text())
    assert device_report.schema_errors(report) == []
    assert report["calls"]["av_step"] > 0 and report["parity"]["speakers"]["snr_db"] > 60


@pytest.fixture(scope="session")
def kotlin_bridge(tmp_path_factory):
    return _with_toolchain(app_cores.bridge_tests, tmp_path_factory.mktemp("kotlin_bridge"))


def test_kotlin_mouth_bridge_matches_python(kotlin_bridge):
    """Landmark measurements -> (opening, spread) to 1e-12, and the renderer's
    frames within one grey level of avsep separate's (the junit test asserts
    both and prints the worst pixel), from a bridge.json the exporter writes."""
    import re

    out = _junit_ok(kotlin_bridge)
    assert "OK (4 tests)" in out
    worst = re.search(r"max \|kotlin - python\| (\d+) grey levels, (\d+) of (\d+) pixels differ", out)
    assert worst and int(worst.group(1)) <= 1 and int(worst.group(3)) > 0, out


def test_kotlin_core_loads_an_exported_bundles_bridge(kotlin, android_bundle):
    """BridgeConfig.load over a real export: bridge.json passes the sha256 check and holds a renderer per
    slot; an edited bridge.json is refused like any other bundle file."""
    proc = app_cores.junit(app_cores.Toolchain(), kotlin["jar"], ["org.avsep.core.MouthBridgeTest"],
                           {"avsep.bridge_cases": app_cores.REPO / "parity_tests" / "data" / "bridge_cases.json",
                            "avsep.bundle": android_bundle[0]})
    assert "OK (4 tests)" in _junit_ok(proc)


SWIFT = sorted((app_cores.REPO / "ios_sample").rglob("*.swift"))


@pytest.mark.parametrize("path", SWIFT, ids=[str(p.relative_to(app_cores.REPO / "ios_sample")) for p in SWIFT])
def test_swift_source_parses(path):
    """No Swift compiler here: a real Swift grammar (tree-sitter-swift) catches syntax errors."""
    import tree_sitter
    import tree_sitter_swift

    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))
    tree = parser.parse(path.read_bytes())
    errors = []

    def walk(node):
        if node.type == "ERROR" or node.is_missing:
            errors.append(f"line {node.start_point[0] + 1}: {'missing ' + node.type if node.is_missing else node.text[:60]!r}")
        for child in node.children:
            walk(child)

    walk(tree.root_node)
    assert not errors, f"{path.name}: " + "; ".join(errors[:5])


def test_swift_core_tests_read_the_same_case_tables():
    tests = [p.read_text() for p in (app_cores.REPO / "ios_sample" / "Tests").rglob("*.swift")]
    for table in ("schedule_cases.json", "bridge_cases.json", "face_cases.json"):
        assert any(table in text for text in tests), table


def test_app_schedule_defaults_are_the_reference_defaults():
    """The live defaults (offset, video wait, start-up wait) are those of avsep_mobile.runtime.scheduler."""
    import re

    from avsep_mobile.runtime.scheduler import Scheduler

    ref = Scheduler(16000, 160, 1)
    want = {"offset": ref.offset_ns, "maxVideoWait": ref.max_video_wait_ns, "startupWait": ref.startup_wait_ns}
    for path in (app_cores.CORE / "main" / "kotlin" / "org" / "avsep" / "core" / "Scheduler.kt",
                 app_cores.REPO / "ios_sample" / "Sources" / "AVSepCore" / "Scheduler.swift"):
        text = path.read_text()
        for key, value in want.items():
            found = {int(v.replace("_", "")) for v in re.findall(rf"\b{key}Ns\s*[:=][^=\n]*?=\s*(-?[0-9_]+)\b", text)}
            assert found == {value}, f"{path.name}: {key}Ns defaults {found}, the reference has {value}"


def test_kotlin_core_verifies_a_bundle_signed_by_python(kotlin, android_bundle, tmp_path):
    """`avsep export --sign`'s signature (export/signing.py) is what the Android
    core checks before loading: it accepts it, and refuses an altered manifest,
    another key and a missing manifest.sig."""
    import shutil

    from avsep_mobile.export import signing

    bundle = tmp_path / "signed"
    shutil.copytree(android_bundle[0], bundle)
    private, public = signing.keygen(tmp_path / "keys")
    signing.sign_bundle(bundle, signing.load_private(private))
    proc = app_cores.junit(app_cores.Toolchain(), kotlin["jar"], ["org.avsep.core.SigningTest"],
                           {"avsep.signed_bundle": bundle, "avsep.public_key": public})
    out = _junit_ok(proc)
    assert "OK (4 tests)" in out and f"signature verified: {bundle}" in out


@pytest.fixture(scope="session")
def kotlin_faces(tmp_path_factory):
    return _with_toolchain(app_cores.face_tests, tmp_path_factory.mktemp("kotlin_faces"))


def test_kotlin_face_slots_clock_and_crop_match_python(kotlin_faces):
    """Slot tracking (keep a face for the grace period, free, hand over, hold the last crop), the schedule's
    resets that follow, the camera-to-audio clock and the mouth's measurements to 1e-9, and PIL's crop
    pixel for pixel, from a table the runtime writes now (app_cases.face_cases)."""
    import re

    out = _junit_ok(kotlin_faces)
    assert "OK (5 tests)" in out
    differ = re.search(r"mouth crops: (\d+) of (\d+) pixels differ", out)
    assert differ and int(differ.group(1)) == 0 and int(differ.group(2)) > 0, out


def test_face_table_is_what_the_runtime_writes():
    """The committed parity_tests/data/face_cases.json (what `gradle :core:test` and the Swift tests read)."""
    from avsep_mobile import app_cases

    committed = json.loads((app_cores.REPO / app_cases.FACES_FILE).read_text())
    assert committed == json.loads(json.dumps(app_cases.face_cases())), \
        f"regenerate: python -m avsep_mobile.app_cases --faces {app_cases.FACES_FILE}"


def test_face_table_keeps_a_briefly_missing_face():
    """The table holds the case the apps got wrong: a face gone for less than the grace period keeps its slot,
    its track id and its state (no reset), and its slot holds the last crop meanwhile."""
    from avsep_mobile import app_cases

    case = next(c for c in app_cases.face_cases()["tracking"] if c["name"] == "missing_under_grace")
    gone = [k for k, f in enumerate(case["frames"]) if not f["faces"]]
    assert gone and gone[-1] + 1 < len(case["frames"])
    back = case["expect"][gone[-1] + 1]
    assert back["track_ids"][0] == case["expect"][0]["track_ids"][0] and back["reset"] == [0.0, 0.0] and back["started"] == []
    assert all(case["expect"][k]["crop_frame"][0] == gone[0] - 1 and case["expect"][k]["face_ids"][0] == -1 for k in gone)


SIGNED_FIXTURE = app_cores.REPO / "parity_tests" / "data" / "signed_bundle"


def test_signed_fixture_is_what_export_signing_writes(tmp_path):
    """parity_tests/data/signed_bundle, which `gradle :core:test` hands SigningTest, is byte for byte what
    export/signing.py signs now (app_cores.signed_toy_bundle; Ed25519 is deterministic)."""
    fresh = app_cores.signed_toy_bundle(tmp_path / "signed")
    names = sorted(p.name for p in SIGNED_FIXTURE.iterdir())
    assert names == sorted(p.name for p in fresh.iterdir())
    for name in names:
        assert (SIGNED_FIXTURE / name).read_bytes() == (fresh / name).read_bytes(), \
            f"{name}: regenerate with app_cores.signed_toy_bundle(Path('parity_tests/data/signed_bundle'))"


def test_kotlin_core_verifies_the_committed_signed_fixture(kotlin):
    """What `gradle :core:test` runs: SigningTest over the committed fixture, with BouncyCastle's Ed25519."""
    proc = app_cores.junit(app_cores.Toolchain(), kotlin["jar"], ["org.avsep.core.SigningTest"],
                           {"avsep.signed_bundle": SIGNED_FIXTURE, "avsep.public_key": SIGNED_FIXTURE / "signing.pub"})
    out = _junit_ok(proc)
    assert "OK (4 tests)" in out and f"signature verified: {SIGNED_FIXTURE}" in out


def test_kotlin_report_with_a_live_session_matches_the_schema(kotlin):
    """The last live session's drops (seconds run, microphone and speaker audio dropped) go into the device report
    under "live": the blocks Kotlin writes validate inside a real report, a negative drop does not."""
    proc = app_cores.junit(app_cores.Toolchain(), kotlin["jar"], ["org.avsep.core.ReportLiveTest"])
    import re

    # JUnit's progress dots can share a line with the first one
    blocks = [json.loads(m.group(1)) for m in re.finditer(r"live (\{.*\})$", _junit_ok(proc), re.M)]
    assert len(blocks) == 2
    report = json.loads(Path(kotlin["report"]).read_text())
    for live in blocks:
        assert device_report.schema_errors({**report, "live": live}) == [], live
    assert device_report.schema_errors({**report, "live": {**blocks[0], "dropped_output_s": -1.0}})
