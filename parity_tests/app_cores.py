"""Builds and runs the sample apps' platform-free cores here: the Android
`core` module (Kotlin/JVM) with the Kotlin compiler and junit that setup.sh
installs, and a call log of what the Python reference hands its runner, for
the strict replay (test_app_cores.py)."""

from __future__ import annotations

import hashlib
import json
import os
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
JARS = {"org.json": "com.android.json.jar", "junit": "junit4.jar", "hamcrest": "hamcrest.jar"}
JUNIT_CLASSES = ["org.avsep.core.CaseTableTest", "org.avsep.core.ManifestTest", "org.avsep.core.StreamCoreTest"]


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
        out += [f"{JARS[k]} (Debian: junit4 libhamcrest-java libandroid-json-java)" for k, v in self.jars.items() if v is None]
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
