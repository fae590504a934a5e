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
