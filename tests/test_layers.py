"""The import contract in pyproject.toml ([tool.importlinter]) holds: layers
import one way. export/ and quantize/ sit at the top of the repo and appear
inside the package as avsep_mobile/export and avsep_mobile/quantize (symlinks
in the checkout, package-dir when installed), so `lint-imports` sees the
installed layout from the checkout too."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _lint(tree: Path) -> subprocess.CompletedProcess:
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())"
    return subprocess.run([sys.executable, "-c", code], cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)


def test_layers_import_one_way():
    r = _lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 kept, 0 broken" in r.stdout


def _copy(tmp_path: Path) -> Path:
    ignore = shutil.ignore_patterns("*.pt", "*.png", "*.csv", "__pycache__", "calibration_set")
    shutil.copytree(ROOT / "avsep_mobile", tmp_path / "avsep_mobile", ignore=ignore)  # follows the symlinks
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path / "avsep_mobile"


def _append(path: Path, code: str) -> None:
    path.write_text(path.read_text() + "\n\ndef _sneaky():\n    " + code + "  # noqa: F401\n")


def test_a_core_module_importing_export_breaks_the_contract(tmp_path):
    """The check can fail: a lazy import of export from the model is caught."""
    pkg = _copy(tmp_path)
    _append(pkg / "model.py", "from avsep_mobile.export import bundle")
    r = _lint(tmp_path)
    assert r.returncode != 0 and "broken" in r.stdout, r.stdout + r.stderr


def test_the_runtime_importing_torch_breaks_the_contract(tmp_path):
    pkg = _copy(tmp_path)
    _append(pkg / "runtime" / "replay.py", "import torch")
    r = _lint(tmp_path)
    assert r.returncode != 0 and "not allowed to import torch" in r.stdout, r.stdout + r.stderr


def test_the_runtime_importing_the_model_breaks_the_contract(tmp_path):
    pkg = _copy(tmp_path)
    _append(pkg / "runtime" / "signature.py", "from avsep_mobile.model import AVSep")
    r = _lint(tmp_path)
    assert r.returncode != 0 and "broken" in r.stdout, r.stdout + r.stderr


def test_media_io_importing_data_breaks_the_contract(tmp_path):
    pkg = _copy(tmp_path)
    _append(pkg / "audio.py", "from avsep_mobile.data import speech")
    r = _lint(tmp_path)
    assert r.returncode != 0 and "broken" in r.stdout, r.stdout + r.stderr
