"""Builds and runs the sample apps' platform-free cores here: the Android
`core` module (Kotlin/JVM) with the Kotlin compiler and junit that setup.sh
installs, and a call log of what the Python reference hands its runner, for
the strict replay (test_app_cores.py)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

from avsep_mobile import app_cases
from avsep_mobile.export import vectors
from avsep_mobile.runtime import manifest, mouth_bridge, runners
from avsep_mobile.runtime.replay import stream

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "android_sample" / "core" / "src"
CASES = REPO / "parity_tests" / "data" / "schedule_cases.json"
KOTLIN_HOME = Path(os.environ.get("AVSEP_KOTLIN_HOME", Path.home() / ".cache" / "avsep" / "kotlin"))
JARS = {"org.json": "com.android.json.jar", "junit": "junit4.jar", "hamcrest": "hamcrest.jar", "bouncycastle": "bcprov.jar"}
JUNIT_CLASSES = ["org.avsep.core.CaseTableTest", "org.avsep.core.ManifestTest", "org.avsep.core.StreamCoreTest",
                 "org.avsep.core.Ed25519VectorsTest"]
APP = REPO / "android_sample" / "app"
STAND_INS = REPO / "parity_tests" / "android_stand_ins"


class Toolchain:
    """kotlinc, the Kotlin stdlib and the junit/hamcrest/org.json jars (./setup.sh installs them)."""

    def __init__(self):
        self.kotlinc = KOTLIN_HOME / "node_modules" / "kotlin-compiler" / "bin" / "kotlinc"
        self.stdlib = KOTLIN_HOME / "node_modules" / "kotlin-compiler" / "lib" / "kotlin-stdlib.jar"
        dirs = [KOTLIN_HOME / "deb" / "usr" / "share" / "java", Path("/usr/share/java")]
        self.jars = {}
        for key, name in JARS.items():
            found = [d / name for d in dirs if (d / name).is_file()]
            self.jars[key] = found[0] if found else None
        self.java = shutil.which("java")

    def missing(self) -> list[str]:
        out = [str(p) for p in (self.kotlinc, self.stdlib) if not p.is_file()]
        out += [f"{JARS[k]} (Debian: junit4 libhamcrest-java libandroid-json-java libbcprov-java)" for k, v in self.jars.items() if v is None]
        return out + ([] if self.java else ["java (a JRE 17)"])

    def classpath(self, *extra) -> str:
        return os.pathsep.join(str(p) for p in [*extra, self.stdlib, *self.jars.values()])


def toolchain() -> Toolchain:
    """The installed toolchain, or a RuntimeError naming what is missing."""
    tc = Toolchain()
    if tc.missing():
        raise RuntimeError("the Kotlin toolchain is missing (run ./setup.sh): " + ", ".join(tc.missing()))
    return tc


def build(tc: Toolchain, cache: Path = KOTLIN_HOME.parent / "build") -> Path:
    """Compile core/src/main + core/src/test into one jar, cached by the sources' hash."""
    sources = sorted(CORE.rglob("*.kt"))
    h = hashlib.sha256((tc.kotlinc.parent.parent / "package.json").read_bytes())  # the compiler's version
    for p in sources:
        h.update(p.relative_to(CORE).as_posix().encode() + b"\0" + p.read_bytes())
    jar = cache / f"avsep-core-{h.hexdigest()[:16]}.jar"
    if jar.is_file():
        return jar
    cache.mkdir(parents=True, exist_ok=True)
    tmp = jar.with_suffix(f".{os.getpid()}.tmp.jar")
    cmd = [str(tc.kotlinc), "-nowarn", "-jvm-target", "17", "-cp", tc.classpath(), "-d", str(tmp),
           str(CORE / "main" / "kotlin"), str(CORE / "test" / "kotlin")]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "JAVA_OPTS": "-Xmx1g"}, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"kotlinc failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    os.replace(tmp, jar)
    return jar


def junit(tc: Toolchain, jar: Path, classes: list[str], props: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [tc.java, *[f"-D{k}={v}" for k, v in (props or {}).items()], "-cp", tc.classpath(jar), "org.junit.runner.JUnitCore", *classes]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


class Recording:
    """Wraps a runner; keeps every call's inputs (data and states, by name) and outputs."""

    def __init__(self, runner, sigs: dict):
        self.runner, self.kind = runner, runner.kind
        self.names = {step: [t["name"] for t in sig["inputs"] + sig["states"]] for step, sig in sigs.items()}
        self.calls = {step: [] for step in sigs}

    def __getattr__(self, name):
        return getattr(self.runner, name)

    def run(self, step, feeds):
        out = self.runner.run(step, feeds)
        ins = {n: np.array(feeds[n], np.float32) for n in self.names[step] if n in feeds}
        self.calls[step].append((ins, {k: np.array(v, np.float32) for k, v in out.items()}))
        return out


def write_log(calls: dict, out_dir: Path, with_outputs: bool = True) -> None:
    """index.json + one little-endian float32 .bin per tensor, first axis = call (Kotlin's ArrayFile)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    index = {}
    for step, log in calls.items():
        entry = {"calls": len(log)}
        for side, k in (("inputs", 0), ("outputs", 1)):
            if side == "outputs" and not with_outputs:
                continue
            entry[side] = {}
            for name in log[0][k]:
                a = np.stack([c[k][name] for c in log]).astype("<f4")
                rel = f"{step}/{side}/{name}.bin"
                (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
                (out_dir / rel).write_bytes(a.tobytes())
                entry[side][name] = {"file": rel, "shape": list(a.shape), "dtype": "float32"}
        index[step] = entry
    (out_dir / "index.json").write_text(json.dumps(index, indent=1))


def read_log(log_dir: Path, side: str = "inputs") -> dict[str, dict[str, np.ndarray]]:
    index = json.loads((log_dir / "index.json").read_text())
    return {step: {name: np.fromfile(log_dir / e["file"], "<f4").reshape(e["shape"]) for name, e in entry[side].items()}
            for step, entry in index.items()}


def record_reference(bundle_dir: Path, out_dir: Path) -> dict:
    """Replays the bundle's test vectors (read from the .bin files, as an app
    does) through the bundle's runner with streaming.stream, the one replay
    loop, and writes what each call was given and returned."""
    m = manifest.load(bundle_dir)
    vec = vectors.load_bins(bundle_dir / Path(m["test_vectors"]).parent)
    runner = runners.for_bundle(bundle_dir, m, threads=1)
    if runner is None:
        raise RuntimeError(f"no runner for a {m['target']} bundle on this machine")
    rec = Recording(runner, m["signatures"])
    stream(rec, vec, m["signatures"])
    write_log(rec.calls, out_dir)
    return rec.calls


_DONE: dict = {}


def replay(bundle_dir: Path, work: Path) -> dict:
    """Once per session: build the core, run its unit tests, record the Python
    reference over the bundle and run the Kotlin replay against the recording.
    Returns paths and the junit outputs; raises with the reason when the
    toolchain is missing (./setup.sh installs it)."""
    key = str(bundle_dir)
    if key in _DONE:
        return _DONE[key]
    tc = toolchain()
    jar = build(tc)
    unit = junit(tc, jar, JUNIT_CLASSES, {"avsep.cases": CASES})
    log, out = work / "python_calls", work / "kotlin"
    record_reference(bundle_dir, log)
    rep = junit(tc, jar, ["org.avsep.core.ReplayTest"], {"avsep.bundle": bundle_dir, "avsep.calllog": log, "avsep.out": out})
    _DONE[key] = {"jar": jar, "unit": unit, "replay": rep, "python_log": log, "kotlin_log": out / "kotlin_calls",
                  "report": out / "device_report.json"}
    return _DONE[key]


def bridge_tests(work: Path, slots: int = 2) -> subprocess.CompletedProcess:
    """The core's MouthBridgeTest against a case table and a mouth_bridge.json that
    Python writes now (avsep_mobile/mouth_bridge.py), not the committed copy."""
    tc = toolchain()
    jar = build(tc)
    cases, config = work / "bridge_cases.json", work / mouth_bridge.FILE
    cases.write_text(json.dumps(app_cases.bridge_cases()))
    config.write_text(json.dumps(mouth_bridge.config(slots)))
    return junit(tc, jar, ["org.avsep.core.MouthBridgeTest"], {"avsep.bridge_cases": cases, "avsep.bridge_json": config})


def face_tests(work: Path) -> subprocess.CompletedProcess:
    """The core's FaceCaseTest (slot tracking, mouth geometry and crop, camera clock) against the table
    app_cases.face_cases() writes now from the runtime, not the committed copy."""
    tc = toolchain()
    jar = build(tc)
    cases = work / "face_cases.json"
    cases.write_text(json.dumps(app_cases.face_cases()))
    return junit(tc, jar, ["org.avsep.core.FaceCaseTest"], {"avsep.face_cases": cases})


# the fixture's key: derived, never stored, so anyone can re-sign the fixture and no one mistakes it for a real key
FIXTURE_SEED = hashlib.sha256(b"avsep-mobile signed_bundle test fixture, not a real key").digest()


def signed_toy_bundle(out_dir: Path) -> Path:
    """A toy bundle (the Kotlin ToyBundle's manifest and its 3-byte model) signed by export/signing.py, the code
    `avsep export --sign` runs, with a key derived from FIXTURE_SEED; signing.pub beside it. Ed25519 is
    deterministic, so the committed parity_tests/data/signed_bundle (what `gradle :core:test` reads) is
    exactly what this writes."""
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from avsep_mobile.export import signing
    from avsep_mobile.runtime import signing as runtime_signing

    out_dir.mkdir(parents=True, exist_ok=True)
    model = b"\x01\x02\x03"
    (out_dir / "model.bin").write_bytes(model)
    t = lambda name, *shape, per_slot=None: {"name": name, "shape": list(shape), "dtype": "float32",  # noqa: E731
                                             **({} if per_slot is None else {"init": 0.0, "per_slot": per_slot})}
    key = ed25519.Ed25519PrivateKey.from_private_bytes(FIXTURE_SEED)
    m = {"format": "avsep-manifest/1", "target": "android", "precision": "fp32", "sample_rate": 400, "hop_samples": 4,
         "chunk_hops": 1, "chunk_samples": 4, "speakers": 2, "crop_size": 2, "lip_fps": 25.0, "latency_ms": 25.0,
         "output_delay_samples": 6, "flush_hops": 2, "model_files": {"lip_step": "model.bin", "av_step": "model.bin"},
         "files": {"model.bin": {"sha256": hashlib.sha256(model).hexdigest(), "bytes": len(model)}},
         "signatures": {"lip_step": {"inputs": [t("crops", 2, 1, 2, 2)], "outputs": [t("lip_emb", 2, 3)],
                                     "states": [t("lip_c", 2, 3, per_slot=True)]},
                        "av_step": {"inputs": [t("pcm", 1, 4), t("lip_emb", 2, 3), t("active", 2)],
                                    "outputs": [t("speakers", 2, 4), t("residual", 1, 4)],
                                    "states": [t("ola", 1, 4, per_slot=False), t("dec", 2, 3, per_slot=True)]}},
         **signing.manifest_fields(key)}
    (out_dir / "manifest.json").write_text(json.dumps(m, indent=1) + "\n")
    signing.sign_bundle(out_dir, key)
    (out_dir / signing.PUBLIC_NAME).write_bytes(base64.b64encode(runtime_signing.raw_public(key.public_key())) + b"\n")
    return out_dir


def build_config(work: Path) -> Path:
    """The BuildConfig class AGP generates for the app: one String field per buildConfigField of app/build.gradle.kts,
    with an empty value (the build's -P properties are not set here)."""
    fields = re.findall(r'buildConfigField\("String",\s*"(\w+)"', (APP / "build.gradle.kts").read_text())
    java = work / "org" / "avsep" / "sample" / "BuildConfig.java"
    java.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f'    public static final String {name} = "";\n' for name in fields)
    java.write_text(f"package org.avsep.sample;\npublic final class BuildConfig {{\n{body}}}\n")
    return work


def compile_app(work: Path) -> subprocess.CompletedProcess:
    """kotlinc over the Android app module's sources against the core and the stand-ins of the Android, CameraX,
    LiteRT and MediaPipe classes they call (parity_tests/android_stand_ins: each names the API version its
    signatures are copied from), at the Kotlin language and API version the app's Gradle plugin builds with."""
    tc = toolchain()
    jar = build(tc)
    kotlin = re.search(r'id\("org.jetbrains.kotlin.android"\) version "(\d+\.\d+)', (REPO / "android_sample" / "build.gradle.kts").read_text())
    version = kotlin.group(1)
    cmd = [str(tc.kotlinc), "-language-version", version, "-api-version", version, "-jvm-target", "17",
           "-cp", tc.classpath(jar), "-d", str(work / "app.jar"),
           str(APP / "src" / "main" / "java"), str(STAND_INS), str(build_config(work / "generated"))]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "JAVA_OPTS": "-Xmx1g"}, timeout=900)
