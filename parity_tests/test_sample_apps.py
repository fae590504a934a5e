"""The sample apps' build files and platform glue, checked where no Android SDK or Swift compiler exists:
the Android app module compiled against stand-ins of the platform classes it calls, the Gradle, AGP and
Kotlin versions against each other, every system property the core's tests read passed by Gradle, a Swift
language mode Xcode knows, no AVSepCore type named like a CryptoKit one, and each app-layer file naming
its job in its first line."""

from __future__ import annotations

import re

import pytest

import app_cores
from test_app_cores import _with_toolchain

ANDROID = app_cores.REPO / "android_sample"
IOS = app_cores.REPO / "ios_sample"

# the minimum Gradle of each AGP minor (developer.android.com/build/releases/gradle-plugin, "Update Gradle"), and the
# newest AGP and Gradle each Kotlin Gradle plugin minor supports (kotlinlang.org/docs/gradle-configure-project)
AGP_MIN_GRADLE = {"8.5": (8, 7), "8.6": (8, 7), "8.7": (8, 9), "8.8": (8, 10, 2), "8.9": (8, 11, 1)}
KGP_MAX = {"2.0": {"agp": (8, 5), "gradle": (8, 8)}, "2.1": {"agp": (8, 7, 2), "gradle": (8, 10)}}


def _version(text: str) -> tuple:
    return tuple(int(x) for x in text.split("."))


def _plugins() -> dict:
    root = (ANDROID / "build.gradle.kts").read_text()
    return dict(re.findall(r'id\("([\w.]+)"\) version "([\d.]+)"', root))


def test_gradle_agp_and_kotlin_versions_exist_together():
    plugins = _plugins()
    agp, kgp = plugins["com.android.application"], plugins["org.jetbrains.kotlin.android"]
    assert plugins["org.jetbrains.kotlin.jvm"] == kgp, "the core and the app must build with one Kotlin"
    wrapper = (ANDROID / "gradle" / "wrapper" / "gradle-wrapper.properties").read_text()
    gradle = _version(re.search(r"gradle-([\d.]+)-(?:bin|all)\.zip", wrapper).group(1))
    agp_minor, kgp_minor = ".".join(agp.split(".")[:2]), ".".join(kgp.split(".")[:2])
    assert agp_minor in AGP_MIN_GRADLE and kgp_minor in KGP_MAX, f"add AGP {agp_minor} / Kotlin {kgp_minor} to the tables first"
    assert gradle >= AGP_MIN_GRADLE[agp_minor], f"AGP {agp} needs Gradle {AGP_MIN_GRADLE[agp_minor]}+, the wrapper has {gradle}"
    assert gradle[:2] <= KGP_MAX[kgp_minor]["gradle"][:2], f"Kotlin {kgp} supports Gradle up to {KGP_MAX[kgp_minor]['gradle']}"
    assert _version(agp)[:2] <= KGP_MAX[kgp_minor]["agp"][:2], f"Kotlin {kgp} supports AGP up to {KGP_MAX[kgp_minor]['agp']}"


def test_build_files_use_kotlin2_options_and_no_toolchain_download():
    for path in (ANDROID / "app" / "build.gradle.kts", ANDROID / "core" / "build.gradle.kts"):
        text = path.read_text()
        assert "kotlinOptions" not in text, f"{path.name}: kotlinOptions is deprecated in Kotlin 2.x; use compilerOptions"
        assert "compilerOptions" in text and "JvmTarget.JVM_17" in text
        assert "jvmToolchain" not in text, f"{path.name}: a toolchain fails where no resolver can provision it"


def test_gpu_delegate_ships_with_its_api():
    deps = re.findall(r'implementation\("([\w.:-]+):[\d.]+"\)', (ANDROID / "app" / "build.gradle.kts").read_text())
    if "com.google.ai.edge.litert:litert-gpu" in deps:
        assert "com.google.ai.edge.litert:litert-gpu-api" in deps, "GpuDelegate needs litert-gpu-api (GpuDelegateFactory.Options)"


def test_gradle_passes_every_property_the_core_tests_read():
    """`./gradlew :core:test` as the README says: a property a test reads without a fallback must be set."""
    tests = (ANDROID / "core" / "src" / "test").rglob("*.kt")
    read = {name for p in tests for name in re.findall(r'getProperty\("(avsep\.\w+)"\)', p.read_text())}
    passed = set(re.findall(r'systemProperty\("(avsep\.\w+)"', (ANDROID / "core" / "build.gradle.kts").read_text()))
    # the replay and bundle tests need an export made in the test session (parity_tests/app_cores.py passes them)
    session_only = {"avsep.bundle", "avsep.calllog", "avsep.out", "avsep.bridge_json"}
    assert read - session_only <= passed, f"build.gradle.kts does not pass {sorted(read - session_only - passed)}"
    for name in passed:
        m = re.search(rf'systemProperty\("{re.escape(name)}", data\.resolve\("([^"]+)"\)', (ANDROID / "core" / "build.gradle.kts").read_text())
        assert m and (app_cores.REPO / "parity_tests" / "data" / m.group(1)).exists(), f"{name}: the file Gradle passes is missing"


@pytest.fixture(scope="module")
def compiled_app(tmp_path_factory):
    return _with_toolchain(app_cores.compile_app, tmp_path_factory.mktemp("android_app"))


def test_android_app_compiles_against_the_platform_stand_ins(compiled_app):
    out = compiled_app.stdout + compiled_app.stderr
    assert compiled_app.returncode == 0, out[-6000:]
    warnings = [line for line in out.splitlines() if "warning:" in line and "language version" not in line]
    assert not warnings, "\n".join(warnings)


def test_every_stand_in_names_the_api_version_it_copies():
    for path in sorted(app_cores.STAND_INS.rglob("*.*")):
        first = path.read_text().splitlines()[0]
        assert re.match(r"// Stand-in .*signature copied from .*\d", first), f"{path.relative_to(app_cores.STAND_INS)}: {first}"


def test_swift_language_mode_exists():
    """xcodebuild accepts SWIFT_VERSION 4.0, 4.2, 5.0 or 6.0 ('5.9' stops the build); SwiftPM 6 tools say the same in Package.swift."""
    modes = re.findall(r'SWIFT_VERSION:\s*"([\d.]+)"', (IOS / "project.yml").read_text())
    assert modes and set(modes) <= {"4.0", "4.2", "5.0", "6.0"}, modes
    package = (IOS / "Package.swift").read_text()
    tools = _version(re.match(r"// swift-tools-version:\s*([\d.]+)", package).group(1))
    if "swiftLanguageModes" in package:
        assert tools >= (6, 0), "swiftLanguageModes needs swift-tools-version 6.0"


# CryptoKit's top-level types: a public AVSepCore type of the same name makes `SHA256` ambiguous in any file that imports both
CRYPTOKIT_TYPES = {"SHA256", "SHA384", "SHA512", "Insecure", "HMAC", "HKDF", "SymmetricKey", "SymmetricKeySize", "Curve25519",
                   "P256", "P384", "P521", "AES", "ChaChaPoly", "SharedSecret", "Digest", "HashFunction", "CryptoKitError"}


def test_no_core_type_shadows_cryptokit():
    declared = set()
    for path in (IOS / "Sources" / "AVSepCore").glob("*.swift"):
        declared |= set(re.findall(r"public\s+(?:final\s+)?(?:struct|class|enum|protocol|actor)\s+(\w+)", path.read_text()))
    assert not declared & CRYPTOKIT_TYPES, sorted(declared & CRYPTOKIT_TYPES)


APP_LAYER = sorted((ANDROID / "app" / "src" / "main" / "java").rglob("*.kt")) + sorted((IOS / "Sources" / "AVSepApp").glob("*.swift")) \
    + sorted((IOS / "Sources" / "AVSepKit").glob("*.swift"))


@pytest.mark.parametrize("path", APP_LAYER, ids=[p.name for p in APP_LAYER])
def test_app_layer_file_names_its_job_first(path):
    first = path.read_text().splitlines()[0]
    assert re.match(r"// (Glue|Screen|App|Platform)[^:]*: \S", first), f"{path.name}: the first line should name its job, got {first!r}"


def test_ios_audio_ring_is_lock_free_and_counts_every_drop(tmp_path):
    """The ring the iOS sink and source nodes use on their real-time threads (Sources/AVSepRing, C11 atomics), driven
    from two threads by parity_tests/ring_check.c with ThreadSanitizer where the compiler has it: every sample out
    in order, channel 0 only, and the samples missing from the sequence exactly the dropped count."""
    import shutil
    import subprocess

    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler")
    ring = IOS / "Sources" / "AVSepRing"
    sources = [str(app_cores.REPO / "parity_tests" / "ring_check.c"), str(ring / "avsep_ring.c")]
    base = [cc, "-std=c11", "-O1", "-g", "-pthread", f"-I{ring / 'include'}", *sources, "-o"]
    exe = tmp_path / "ring_check"
    built = subprocess.run(base[:3] + ["-fsanitize=thread"] + base[3:] + [str(exe)], capture_output=True, text=True)
    if built.returncode != 0:  # no ThreadSanitizer runtime: the ordering checks still run
        built = subprocess.run(base + [str(exe)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "ThreadSanitizer" not in run.stderr, run.stdout + run.stderr[-3000:]
    dropped = int(re.search(r"dropped (\d+)", run.stdout).group(1))
    assert dropped > 0, "the check must overrun the ring to test the drop count: " + run.stdout


def _manifest_keys() -> set:
    import json

    return set(json.loads((app_cores.REPO / "avsep_mobile" / "schemas" / "manifest.schema.json").read_text())["properties"])


def test_apps_read_only_manifest_keys_the_schema_defines():
    """A key the exporter never writes (the old mouth_crop_scale) would silently fall back to a guess in the apps."""
    kotlin = (ANDROID / "core" / "src" / "main" / "kotlin" / "org" / "avsep" / "core" / "Bundle.kt").read_text()
    read = set(re.findall(r'\bjson\.(?:get|opt)\w*\("(\w+)"', kotlin))
    swift = (IOS / "Sources" / "AVSepCore" / "Bundle.swift").read_text()
    manifest = swift[swift.index("public struct Manifest"):]
    keys = manifest[manifest.index("enum CodingKeys"):]
    keys = keys[:keys.index("}")]
    for line in keys.splitlines():
        line = line.strip()
        if line.startswith("case "):
            named = re.fullmatch(r'case \w+ = "(\w+)"', line)
            read |= {named.group(1)} if named else {k.strip() for k in line[len("case "):].split(",")}
    assert read and read <= _manifest_keys(), f"not in manifest.schema.json: {sorted(read - _manifest_keys())}"
