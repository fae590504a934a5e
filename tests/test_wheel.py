"""What a user gets from `pip install`: a wheel with everything inside the
avsep_mobile namespace (checkpoints, calibration set, schemas), an `avsep`
that exports outside the checkout with no speech synthesiser, and output that
holds only avsep's own lines."""

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# a tqdm bar as avsep draws it: "desc: 33%|..." or "desc: 0it [...]"
BAR = re.compile(r"^\s*[\w .()-]+:\s+(\d+%|\d+it)")


def _foreign_lines(stderr: str) -> list[str]:
    """stderr lines that are not avsep's progress bars (tqdm redraws with \\r and ESC[A)."""
    parts = re.split(r"[\r\n]", stderr.replace("\x1b[A", ""))
    return [p for p in parts if p.strip() and not BAR.match(p)]


def _check_quiet_export(proc, out: Path) -> None:
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("\n") == 1 and proc.stdout.startswith(f"wrote {out}: numerics by LiteRT runtime"), proc.stdout
    assert _foreign_lines(proc.stderr) == [], _foreign_lines(proc.stderr)[:10]


def test_default_export_prints_only_avsep_lines(tmp_path):
    out = tmp_path / "android"
    proc = subprocess.run([sys.executable, "-m", "avsep_mobile.cli", "export", "android", "--preset", "tiny",
                           "--precision", "fp32", "--out", str(out)],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    _check_quiet_export(proc, out)


def _build_wheel(tmp_path: Path) -> Path:
    """The wheel of a copy of the checkout (so the build leaves nothing in the repo)."""
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for d in ("avsep_mobile", "export", "quantize"):
        shutil.copytree(REPO / d, src / d, ignore=ignore)
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / f, src / f)
    # --no-build-isolation: setuptools comes from this environment, no network needed
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"),
                    str(src)], check=True, capture_output=True, timeout=600)
    (wheel,) = (tmp_path / "dist").glob("avsep_mobile-*.whl")
    return wheel


@pytest.mark.slow
def test_wheel_installs_in_a_fresh_venv_and_exports_without_a_synthesiser(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert "export" not in top and "quantize" not in top, sorted(top)
    for required in ("avsep_mobile/export/bundle.py", "avsep_mobile/quantize/int8.py", "avsep_mobile/checkpoints/mobile.pt",
                     "avsep_mobile/calibration_set/calibration.flac", "avsep_mobile/calibration_set/gate.flac",
                     "avsep_mobile/calibration_set/index.json", "avsep_mobile/schemas/manifest.schema.json"):
        assert required in names, required

    # a fresh venv that reuses the heavy dependencies already installed here
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=300)
    py, avsep = venv / "bin" / "python", venv / "bin" / "avsep"
    subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], check=True,
                   capture_output=True, timeout=600)
    cwd = tmp_path / "elsewhere"  # not the checkout, so nothing of the repo is importable from cwd
    cwd.mkdir()
    # PATH holds only the venv: no espeak-ng, festival or flite
    env = {**os.environ, "PATH": str(venv / "bin"), "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    where = subprocess.run([str(py), "-c", "import avsep_mobile.export.bundle as b, avsep_mobile.calibration as c; "
                            "print(b.__file__); print(c.SET_DIR)"], capture_output=True, text=True, cwd=cwd, env=env, check=True)
    assert all(line.startswith(str(venv)) for line in where.stdout.split()), where.stdout

    out = tmp_path / "bundle"
    proc = subprocess.run([str(avsep), "export", "android", "--precision", "fp32", "--out", str(out)],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=1800)
    _check_quiet_export(proc, out)
    verify = subprocess.run([str(avsep), "verify", str(out)], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    assert verify.returncode == 0, verify.stderr


@pytest.mark.slow
def test_the_light_install_runs_a_bundle_without_torch(tmp_path):
    """`pip install avsep-mobile` (no extra) in a venv that sees nothing of this
    environment: no torch can be imported, and `avsep run` separates a mix with
    its lips through a bundle exported here, equal to the full install's run."""
    import numpy as np

    from avsep_mobile.audio import read_audio, write_wav
    from avsep_mobile.cli import main
    from avsep_mobile.data.lips import render_lips
    from avsep_mobile.metrics import snr_db
    from tests.media_clips import speech

    wheel = _build_wheel(tmp_path)
    venv = tmp_path / "light"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py, avsep = venv / "bin" / "python", venv / "bin" / "avsep"
    pip = subprocess.run([str(py), "-m", "pip", "install", "-q", str(wheel)], capture_output=True, text=True, timeout=1200)
    assert pip.returncode == 0, pip.stderr[-3000:]
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {**os.environ, "PATH": str(venv / "bin")}
    env.pop("PYTHONPATH", None)
    probe = subprocess.run([str(py), "-c", "import importlib.util as u, avsep_mobile.runtime as r; "
                            "print(u.find_spec('torch') is None, r.__file__)"], capture_output=True, text=True, cwd=cwd, env=env)
    assert probe.returncode == 0 and probe.stdout.split()[0] == "True", probe.stdout + probe.stderr
    assert probe.stdout.split()[1].startswith(str(venv))

    bundle = tmp_path / "android"
    assert main(["export", "android", "--preset", "tiny", "--precision", "fp32", "--out", str(bundle)]) == 0
    voices = speech(2.0, seed=7, voices=2)
    write_wav(tmp_path / "mix.wav", (voices[0] + voices[1]).astype(np.float32))
    np.savez(tmp_path / "lips.npz", lips=np.stack([render_lips(v, seed=i) for i, v in enumerate(voices)]), fps=np.float32(25))
    args = [str(bundle), str(tmp_path / "mix.wav"), "--lips", str(tmp_path / "lips.npz")]
    light = subprocess.run([str(avsep), "run", *args, "--out", str(tmp_path / "light_out")], capture_output=True, text=True,
                           cwd=cwd, env=env, timeout=600)
    assert light.returncode == 0, light.stderr[-3000:]
    assert main(["run", *args, "--out", str(tmp_path / "full_out")]) == 0
    for name in ("speaker1.wav", "speaker2.wav", "residual.wav"):
        a, b = read_audio(tmp_path / "full_out" / name)[0], read_audio(tmp_path / "light_out" / name)[0]
        assert a.shape == b.shape and (np.array_equal(a, b) or snr_db(a, b) >= 60.0)
