"""The aarch64 runtimes on this machine, in the emulated userland of
arm64_userland.py: a runner that drives a bundle's models in the aarch64
LiteRT / onnxruntime wheels (the kernels phones run: XNNPACK's NEON,
dot-product and i8mm paths) from the host's replay loop, and `avsep run`
itself in the guest (run_avsep)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import arm64_stream
from .arm64_userland import (
    GUEST_SCRIPT,
    PROFILES,
    PYTHON,
    SetupError,
    _guest_env,
    _last_line,
    profile,
    qemu,
    sysroot,
)


def run_avsep(argv: list[str], cpu: str = "cortex-a53", timeout: float = 1800) -> subprocess.CompletedProcess:
    """`avsep ARGV` in the emulated arm64 userland: the light install's code
    path (no torch) on the aarch64 runtimes, with this checkout's package
    copied in (pure Python; the host's site-packages never enter the guest)."""
    overlay = profile(cpu)
    pkg = Path(sys.modules["avsep_mobile"].__file__).resolve().parent  # the checkout's symlinks are followed
    with tempfile.TemporaryDirectory(prefix="avsep-guest-") as tmp:
        shutil.copytree(pkg, Path(tmp) / "avsep_mobile", ignore=shutil.ignore_patterns("__pycache__", "*.pt", "calibration_set"))
        _copy_face_models(Path(tmp))
        code = f"import sys; sys.path.insert(0, {tmp!r}); from avsep_mobile.cli import main; sys.exit(main({list(argv)!r}))"
        return subprocess.run([qemu(), "-L", str(overlay), "-cpu", PROFILES[cpu][0], str(sysroot() / PYTHON), "-I", "-c", code],
                              capture_output=True, text=True, env=_guest_env(), timeout=timeout)


def _copy_face_models(dest: Path) -> None:
    """The face detector and mesh .tflite files where the guest finds them: a
    `mediapipe` folder holding only them, as `pip install --no-deps` leaves it."""
    from avsep_mobile.runtime import faces

    (dest / "mediapipe").mkdir()
    (dest / "mediapipe" / "__init__.py").touch()
    for name in (faces.DETECTOR_FILE, faces.MESH_FILE):
        try:
            src = faces.model_path(name)
        except faces.FaceModelError:
            return  # the guest says what is missing when a video needs them
        (dest / "mediapipe" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dest / "mediapipe" / name)


class GuestError(RuntimeError):
    pass


class Arm64Runner:
    """A bundle's steps in the aarch64 runtime under qemu, behind the runner
    interface of export/runners.py (run / input_names / output_names / reset),
    so avsep_mobile.streaming.stream replays test vectors through it.

    After use: `info` (runtime, providers, the CPU as the guest sees it),
    `seconds` (emulated compute seconds per step), `log()` (the runtime's
    stderr, e.g. XNNPACK's delegate lines). Close it (or use `with`)."""

    kind = "arm64"

    def __init__(self, bundle_dir, manifest: dict, cpu: str = "cortex-a53"):
        """cpu: a PROFILES name."""
        target = manifest["target"]
        if target not in ("android", "onnx"):
            raise SetupError(f"arm64 runs android and onnx bundles; {bundle_dir} is a {target} bundle")
        overlay = profile(cpu)
        bundle_dir = Path(bundle_dir).resolve()
        models = [f"{step}={bundle_dir / f}" for step, f in manifest["model_files"].items()]
        cmd = [qemu(), "-L", str(overlay), "-cpu", PROFILES[cpu][0], str(sysroot() / PYTHON), "-I", str(GUEST_SCRIPT), "--target", target]
        for m in models:
            cmd += ["--model", m]
        self.cpu = cpu
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=_guest_env())
        header, _ = self._recv()
        self.steps = header["steps"]
        self.info = {k: header[k] for k in ("runtime", "cpu", "machine", "numpy")}
        self.seconds = {step: 0.0 for step in self.steps}
        self.calls = {step: 0 for step in self.steps}

    def _recv(self):
        header, arrays = arm64_stream.read_msg(self.proc.stdout, np)
        if header is None:
            rc = self.proc.wait()
            raise GuestError(f"the arm64 runtime exited (status {rc}) under -cpu {PROFILES[self.cpu][0]}: {_last_line(self.log())}")
        if header["op"] == "error":
            raise GuestError(f"arm64 runtime under -cpu {PROFILES[self.cpu][0]}: {header['message']}")
        return header, arrays

    def input_names(self, step: str) -> list[str]:
        return list(self.steps[step]["inputs"])

    def output_names(self, step: str) -> list[str]:
        return list(self.steps[step]["outputs"])

    def run(self, step: str, feeds: dict) -> dict:
        if step not in self.steps:
            raise ValueError(f"the bundle has no step {step!r}")
        x = {n: np.ascontiguousarray(feeds[n], dtype=np.float32) for n in self.input_names(step)}
        try:
            arm64_stream.write_msg(self.proc.stdin, np, {"op": "run", "step": step}, x)
        except BrokenPipeError:
            self._recv()  # raises with the guest's reason
        header, out = self._recv()
        self.seconds[step] += header["seconds"]
        self.calls[step] += 1
        return out

    def reset(self) -> None:
        pass  # every state is explicit: the replay loop feeds initial states

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def kernel_lines(self) -> list[str]:
        """What the runtime itself said about its kernels (XNNPACK delegate lines)."""
        keys = ("xnnpack", "delegate", "kernel")
        return sorted({ln.strip() for ln in self.log().splitlines() if any(k in ln.lower() for k in keys)})

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                arm64_stream.write_msg(self.proc.stdin, np, {"op": "quit"})
                self.proc.stdin.close()
                self.proc.wait(timeout=60)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        self._log.close()
