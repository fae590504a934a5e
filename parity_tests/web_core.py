"""Builds the Android sample's core for the browser: kotlinc-js (the npm
kotlin-compiler that app_cores.py uses for the JVM) compiles the core's
platform-free rules plus the @JsExport seams of src/js into one ES module,
web_sample/build/core/avsep-core.mjs, which web_sample/ imports; and runs the
core's case tables under node against that module (web/case_tables.mjs).

The JVM build compiles every file; the JS build leaves out jvm/ folders and the
files in JVM_ONLY, each for the reason given there."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from app_cores import CASES, CORE, KOTLIN_HOME, REPO

MAIN = CORE / "main" / "kotlin"
SEAMS = CORE / "js" / "kotlin"
WEB = REPO / "web_sample"
OUT = WEB / "build" / "core"
MODULE = "avsep-core"
BRIDGE_CASES = REPO / "parity_tests" / "data" / "bridge_cases.json"
FACE_CASES = REPO / "parity_tests" / "data" / "face_cases.json"
RUNNER = Path(__file__).parent / "web" / "case_tables.mjs"

# core files that stay on the JVM, and why (everything else in src/main must compile for both)
JVM_ONLY = {
    "Arrays.kt": "reads test-vector .bin files through java.io.File and java.nio.ByteBuffer (the page fetches them)",
    "Bundle.kt": "the manifest through org.json, sha256 through java.security.MessageDigest (the page: Web Crypto)",
    "Signing.kt": "Ed25519 through java.security (the page: Web Crypto's Ed25519 where the browser has it)",
    "StepState.kt": "its TensorSpec/StepSpec live in Bundle.kt; the page binds LiteRT.js tensors by the same names itself",
    "StreamCore.kt": "a synchronous StepRunner on JVM threads (synchronized, ConcurrentLinkedQueue); LiteRT.js steps are Promises",
    "Replay.kt": "drives StreamCore and times with System.nanoTime",
    "Report.kt": "writes device_report.json with org.json and java.io.File",
}


def kotlinc_js() -> Path:
    return KOTLIN_HOME / "node_modules" / "kotlin-compiler" / "bin" / "kotlinc-js"


def stdlib_js() -> Path:
    return KOTLIN_HOME / "node_modules" / "kotlin-compiler" / "lib" / "kotlin-stdlib-js.klib"


def common_sources() -> list[Path]:
    """src/main files that compile for both: not under a jvm/ folder, not in JVM_ONLY."""
    return [p for p in sorted(MAIN.rglob("*.kt")) if "jvm" not in p.relative_to(MAIN).parts[:-1] and p.name not in JVM_ONLY]


def sources() -> list[Path]:
    return common_sources() + sorted(SEAMS.rglob("*.kt"))


def missing() -> list[str]:
    out = [str(p) for p in (kotlinc_js(), stdlib_js()) if not p.is_file()]
    return out + ([] if shutil.which("node") else ["node (Node.js)"])


def build(cache: Path = KOTLIN_HOME.parent / "build") -> Path:
    """web_sample/build/core/avsep-core.mjs, compiled once per source hash (cached
    outside the repo, copied in); raises with kotlinc-js's message on an error."""
    if missing():
        raise RuntimeError("the Kotlin/JS toolchain is missing (run ./setup.sh): " + ", ".join(missing()))
    srcs = sources()
    h = hashlib.sha256((kotlinc_js().parent.parent / "package.json").read_bytes())
    for p in srcs:
        h.update(p.relative_to(CORE).as_posix().encode() + b"\0" + p.read_bytes())
    cached = cache / f"{MODULE}-js-{h.hexdigest()[:16]}.mjs"
    if not cached.is_file():
        work = cache / f"{MODULE}-js.{os.getpid()}.tmp"
        shutil.rmtree(work, ignore_errors=True)
        common = ",".join(str(p) for p in common_sources())
        # -Xmulti-platform + -Xcommon-sources: the core's files are common code, so kotlin.concurrent.Volatile resolves
        steps = [["-Xmulti-platform", f"-Xcommon-sources={common}", "-ir-output-dir", str(work / "klib"), "-ir-output-name", MODULE,
                  "-nopack", "-libraries", str(stdlib_js()), *map(str, srcs)],
                 ["-ir-output-dir", str(work / "js"), "-ir-output-name", MODULE, "-Xir-produce-js", f"-Xinclude={work / 'klib'}",
                  "-libraries", str(stdlib_js()), "-module-kind", "es", "-target", "es2015"]]
        for args in steps:
            r = subprocess.run([str(kotlinc_js()), "-nowarn", *args], capture_output=True, text=True,
                               env={**os.environ, "JAVA_OPTS": "-Xmx1g"}, timeout=900)
            if r.returncode != 0:
                errors = "\n".join(line for line in (r.stdout + r.stderr).splitlines() if ": error:" in line) or r.stderr[-3000:]
                raise RuntimeError(f"kotlinc-js failed (a core file that cannot compile for JS belongs in web_core.JVM_ONLY "
                                   f"or a jvm/ folder):\n{errors}")
        os.replace(work / "js" / f"{MODULE}.mjs", cached)
        shutil.rmtree(work, ignore_errors=True)
    target = OUT / f"{MODULE}.mjs"
    if not target.is_file() or target.read_bytes() != cached.read_bytes():
        OUT.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(cached, tmp)
        os.replace(tmp, target)
    return target


def face_models() -> Path:
    """web_sample/build/faces/: the detector and face mesh .tflite files `avsep separate` runs (from the mediapipe
    0.10.21 wheel), copied where the page looks for them by default."""
    from avsep_mobile.runtime import faces

    out = WEB / "build" / "faces"
    out.mkdir(parents=True, exist_ok=True)
    for rel in (faces.DETECTOR_FILE, faces.MESH_FILE):
        src, dst = faces.model_path(rel), out / Path(rel).name
        if not dst.is_file() or dst.stat().st_size != src.stat().st_size:
            shutil.copyfile(src, dst)
    return out


def case_tables(module: Path, extra: dict[str, Path] | None = None) -> dict:
    """Runs web/case_tables.mjs under node over the core's case tables; returns its
    JSON summary ({"table": {"cases": n, "failures": [...]}, ...})."""
    tables = {"schedule": CASES, "bridge": BRIDGE_CASES, "faces": FACE_CASES, **(extra or {})}
    r = subprocess.run(["node", str(RUNNER), str(module), json.dumps({k: str(v) for k, v in tables.items()})],
                       capture_output=True, text=True, timeout=300)
    if r.returncode not in (0, 1) or not r.stdout.strip():
        raise RuntimeError(f"node {RUNNER.name} crashed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


if __name__ == "__main__":  # python3 parity_tests/web_core.py: what the page loads, for serving it by hand
    print(build())
    print(face_models())
