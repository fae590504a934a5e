"""Reading and checking a bundle's manifest.json (`avsep verify`, and every
runtime before it loads a model; the apps' Bundle.kt / Bundle.swift). Writing
it is the exporter's (export/manifest_build.py).

`files` covers every file of the bundle except manifest.json and manifest.sig.
An .mlpackage directory gets one entry whose sha256 is the sha256 of the lines
`relpath + "\\0" + sha256hex(file) + "\\n"` over its files in sorted relative-path
order (the sample apps implement exactly this rule).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

FORMAT = "avsep-manifest/1"
NAME = "manifest.json"
SIG_NAME = "manifest.sig"  # runtime/signing.py: written after the manifest, so not listed in it
REQUIRED = ("target", "files", "model_files", "signatures")
PRECISIONS = ("fp32", "fp16", "int8", "int4")  # the schema's "precision" enum


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_dir(path) -> str:
    path = Path(path)
    files = sorted((p.relative_to(path).as_posix(), p) for p in path.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for rel, p in files:
        h.update(f"{rel}\0{sha256_file(p)}\n".encode())
    return h.hexdigest()


def _bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def file_entries(bundle_dir) -> dict:
    """{relpath: {"sha256", "bytes"}} for every file (an .mlpackage as one entry)."""
    bundle_dir = Path(bundle_dir)
    entries, packages = {}, [p for p in bundle_dir.rglob("*.mlpackage") if p.is_dir()]
    for p in packages:
        entries[p.relative_to(bundle_dir).as_posix()] = {"sha256": sha256_dir(p), "bytes": _bytes(p)}
    for p in sorted(bundle_dir.rglob("*")):
        if not p.is_file() or p.name in (NAME, SIG_NAME) and p.parent == bundle_dir or any(pkg in p.parents for pkg in packages):
            continue
        entries[p.relative_to(bundle_dir).as_posix()] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
    return dict(sorted(entries.items()))


def schema() -> dict:
    from importlib import resources

    return json.loads(resources.files("avsep_mobile").joinpath("schemas", "manifest.schema.json").read_text())


def schema_problems(manifest: dict) -> list[str]:
    """Where `manifest` breaks avsep_mobile/schemas/manifest.schema.json (empty when it conforms)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    return [f"manifest {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path)))]


def load(bundle_dir) -> dict:
    path = Path(bundle_dir) / NAME
    if not path.is_file():
        raise ValueError(f"{bundle_dir} has no {NAME}: not an avsep export (run `avsep export ...`)")
    try:
        m = json.loads(path.read_bytes())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e.msg} at line {e.lineno}): re-export the bundle") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 JSON: re-export the bundle") from None
    if not isinstance(m, dict):
        raise ValueError(f"{path} is not a JSON object: re-export the bundle")
    if m.get("format") != FORMAT:
        raise ValueError(f"{path} has format {m.get('format')!r}, expected {FORMAT!r}: re-export it with this version of avsep")
    missing = [k for k in REQUIRED if k not in m]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: it is damaged; re-export the bundle")
    if not isinstance(m["files"], dict) or not all(isinstance(e, dict) and isinstance(e.get("sha256"), str) for e in m["files"].values()):
        raise ValueError(f"{path} has a malformed files list (each entry needs a sha256): re-export the bundle")
    return m


def verify(bundle_dir, m: dict | None = None) -> list[str]:
    """Problems found (empty when the bundle is intact and its parity passed).
    m: the manifest already loaded from bundle_dir (so the one checked is the one used)."""
    bundle_dir = Path(bundle_dir)
    m = load(bundle_dir) if m is None else m
    problems = schema_problems(m)
    for rel, entry in m["files"].items():
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            problems.append(f"{rel}: points outside the bundle")
            continue
        p = bundle_dir / rel
        if not p.exists():
            problems.append(f"{rel}: missing")
            continue
        digest = sha256_dir(p) if p.is_dir() else sha256_file(p)
        if digest != entry["sha256"]:
            problems.append(f"{rel}: sha256 mismatch")
    listed = set(m["files"])
    for rel in file_entries(bundle_dir):
        if rel not in listed:
            problems.append(f"{rel}: not in the manifest")
    for step, f in m.get("model_files", {}).items():
        if f not in listed:
            problems.append(f"model file for {step} ({f}) not in the manifest")
    report = bundle_dir / m.get("parity_report", "parity_report.json")
    try:
        r = json.loads(report.read_text())
        passed = r.get("passed") is True
    except (OSError, json.JSONDecodeError):
        r, passed = {}, False
    if not passed:
        problems.append(f"{report.name}: parity gate not passed")
    if r.get("arm64", {}).get("passed") is False:  # rows recorded by `avsep verify --arch arm64 --write`
        problems.append(f"{report.name}: arm64 parity gate not passed ({', '.join(r['arm64'].get('failed', []))})")
    return problems
