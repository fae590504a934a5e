"""The arm64 Debian userland that qemu-user runs on this x86 machine, and its
CPU profiles: built once, checked, found (the runners over it: arm64.py).

Userland, built once by `avsep arm64-setup` under ~/.cache/avsep/arm64
($XDG_CACHE_HOME honoured; AVSEP_ARM64_HOME overrides):

  sysroot/     Debian bookworm arm64 python3.11 and the libraries it and the
               wheels need, unpacked from .debs (no second debootstrap stage:
               nothing is configured or run as root); the aarch64 cp311 wheels
               of numpy, ai-edge-litert and onnxruntime, and of the rest of
               the light install (`avsep run`: run_avsep), at the host's
               versions, in sysroot/usr/lib/python3/dist-packages.
               sysroot/avsep-userland.json records what it holds.
  profiles/<name>/  one overlay per CPU profile (PROFILES): symlinks into sysroot plus
               the /proc/cpuinfo and /sys/devices/system/cpu files an arm64
               kernel would show for that CPU (qemu-user passes the x86 host's
               through, which crashes onnxruntime's cpuinfo, and XNNPACK picks
               per-core kernels such as the Cortex-A53 ones from the MIDR).

The .debs come through apt-get with a private state dir (no `dpkg
--add-architecture`, nothing changed on the host) from this machine's own
Debian apt sources; the wheels through pip download.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from importlib import metadata as importlib_metadata
from pathlib import Path

from avsep_mobile.atomic import atomic_dir

from . import arm64_stream

FORMAT = "avsep-arm64-userland/1"
STAMP = "avsep-userland.json"
GUEST_SCRIPT = Path(arm64_stream.__file__).resolve()
SUITE = "bookworm"  # python3.11, the cp311 of the aarch64 wheels
DEBIAN_PACKAGES = ("python3.11-minimal", "libpython3.11-stdlib", "libstdc++6", "libgcc-s1")
PYTHON = "usr/bin/python3.11"
WHEEL_PLATFORMS = ("manylinux_2_28_aarch64", "manylinux_2_27_aarch64", "manylinux2014_aarch64")
# the same runtime versions as the host, so arm64 vs x86 differ by kernels only
RUNTIMES = {"numpy": "2.3.5", "ai-edge-litert": "2.3.0", "onnxruntime": "1.32.0"}
# the rest of the light install (pyproject's dependencies), so `avsep run` runs in
# the guest as on a Raspberry Pi; pip resolves what they need in turn
RUN_DEPENDENCIES = {"scipy": "1.17.1", "soundfile": "0.14.0", "av": "18.1.0", "pillow": "13.0.0", "jsonschema": "4.26.0",
                    "cryptography": "48.0.0", "tqdm": "4.70.1"}
MIN_FREE_BYTES = 900 << 20  # about 450 MB unpacked plus downloads
# profile name -> (qemu -cpu argument, what XNNPACK / MLAS can use on it)
PROFILES = {
    "cortex-a53": ("cortex-a53", "ARMv8.0 baseline: NEON only (no dot product, no fp16 arithmetic, no i8mm); A53-tuned kernels"),
    "cortex-a76": ("cortex-a76", "ARMv8.2: NEON dot product and fp16 arithmetic, no i8mm"),
    "neoverse-n1": ("neoverse-n1", "ARMv8.2: NEON dot product and fp16 arithmetic, no i8mm"),
    # SME off: with it, LiteRT 2.3.0's int8 dynamic kernels give garbage under
    # qemu 7.2 (tiny model lip_emb 1.4 dB vs 41 dB without SME); whether qemu's
    # young SME emulation or the kernels are wrong is unproven, and phones with
    # SME are still rare. "max-sme" keeps it for whoever wants to look.
    "max": ("max,sme=off", "dot product, i8mm, fp16 and bf16 arithmetic, SVE2 (qemu's max CPU without SME)"),
    "max-sme": ("max", "qemu's max CPU with SME (see the note in arm64.py: int8 dynamic fails under qemu 7.2)"),
}
DEFAULT_PROFILES = ("cortex-a53", "max")


class SetupError(ValueError):
    """A one-line, actionable reason the userland cannot be built or used."""


def home() -> Path:
    if os.environ.get("AVSEP_ARM64_HOME"):
        return Path(os.environ["AVSEP_ARM64_HOME"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "avsep" / "arm64"


def qemu() -> str:
    exe = shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")
    if exe is None:
        sudo = "" if _is_root() else "sudo "
        raise SetupError(f"qemu-aarch64 not found: install it with `{sudo}apt-get install qemu-user-static` (or run ./setup.sh)")
    return exe


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def wanted() -> dict:
    """What a userland must hold to be current: the host's runtime versions."""
    versions = {}
    for dist, fallback in {**RUNTIMES, **RUN_DEPENDENCIES}.items():
        try:
            versions[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            versions[dist] = fallback
    return {"format": FORMAT, "suite": SUITE, "debian": list(DEBIAN_PACKAGES), "wheels": versions}


def stamp(root: Path | None = None) -> dict | None:
    try:
        return json.loads(((root or home()) / "sysroot" / STAMP).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def sysroot() -> Path:
    """The ready userland, or a SetupError telling the user to build it."""
    s = stamp()
    if s is None:
        raise SetupError(f"no arm64 userland in {home()}: run `avsep arm64-setup` first (about a minute, {MIN_FREE_BYTES >> 20} MB)")
    if {k: s.get(k) for k in wanted()} != wanted():
        raise SetupError(f"the arm64 userland in {home()} holds other runtime versions than this host: run `avsep arm64-setup` again")
    return home() / "sysroot"


def setup(force: bool = False, log=None) -> dict:
    """Build the userland unless a current one is cached. Returns
    {"home", "cached", "seconds", "stamp"}. Raises SetupError (one line)."""
    log = log or (lambda msg: None)
    t0 = time.perf_counter()
    root = home()
    exe = qemu()
    s = stamp(root)
    if not force and s is not None and {k: s.get(k) for k in wanted()} == wanted():
        return {"home": str(root), "cached": True, "seconds": time.perf_counter() - t0, "stamp": s}
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise SetupError(f"{tool} not found: the arm64 userland is built from Debian packages and needs a Debian or Ubuntu host")
    _check_space(root)
    root.mkdir(parents=True, exist_ok=True)
    with atomic_dir(root / "sysroot") as tmp, tempfile.TemporaryDirectory(dir=root, prefix=".download-") as dl:
        dl = Path(dl)
        log(f"downloading arm64 Debian {SUITE} packages: {', '.join(DEBIAN_PACKAGES)}")
        debs = _apt_download(dl / "apt")
        for deb in debs:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
        log("downloading aarch64 wheels: " + ", ".join(f"{k}=={v}" for k, v in wanted()["wheels"].items()))
        site = tmp / "usr" / "lib" / "python3" / "dist-packages"
        for whl in _pip_download(dl / "wheels"):
            _unpack_wheel(whl, site)
        log("checking that the emulated python imports numpy, ai-edge-litert and onnxruntime")
        probe = _smoke_test(exe, tmp)
        s = {**wanted(), "debs": sorted(d.name for d in debs), "probe": probe, "built_on": platform.platform()}
        (tmp / STAMP).write_text(json.dumps(s, indent=2) + "\n")
    shutil.rmtree(root / "profiles", ignore_errors=True)  # overlays point into the old sysroot
    return {"home": str(root), "cached": False, "seconds": time.perf_counter() - t0, "stamp": s}


def _check_space(root: Path) -> None:
    existing = root
    while not existing.exists():
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if free < MIN_FREE_BYTES:
        raise SetupError(f"only {free >> 20} MB free under {existing}: the arm64 userland needs {MIN_FREE_BYTES >> 20} MB; "
                         "free some space or set AVSEP_ARM64_HOME to a bigger disk")


def _apt_download(state: Path) -> list[Path]:
    """The .debs of DEBIAN_PACKAGES and their dependencies for arm64, resolved
    by apt against an empty dpkg status, from this machine's apt sources."""
    for d in ("lists/partial", "cache/archives/partial"):
        (state / d).mkdir(parents=True, exist_ok=True)
    (state / "status").touch()
    opts = ["-o", "APT::Architecture=arm64", "-o", "APT::Architectures=arm64", "-o", f"Dir::State={state}",
            "-o", f"Dir::State::Lists={state}/lists", "-o", f"Dir::State::status={state}/status",
            "-o", f"Dir::Cache={state}/cache", "-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root" if _is_root() else "quiet=1",
            "-qq"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
    r = subprocess.run(["apt-get", *opts, "update"], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SetupError(f"apt-get update for arm64 failed: {_last_line(r.stderr)} (the host's apt sources must reach a Debian mirror)")
    r = subprocess.run(["apt-get", *opts, "install", "-y", "--download-only", "--no-install-recommends", *DEBIAN_PACKAGES],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SetupError(f"arm64 packages not found in this machine's apt sources ({_last_line(r.stderr)}): "
                         f"the userland needs Debian {SUITE} ({' '.join(DEBIAN_PACKAGES)})")
    debs = sorted((state / "cache" / "archives").glob("*.deb"))
    if not any(d.name.startswith("python3.11-minimal_") for d in debs):
        raise SetupError(f"this machine's apt sources gave no arm64 python3.11: the userland needs Debian {SUITE} sources")
    return debs


def _pip_download(dest: Path) -> list[Path]:
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--python-version", "3.11",
           "--implementation", "cp", "-d", str(dest)]
    for p in WHEEL_PLATFORMS:
        cmd += ["--platform", p]
    cmd += [f"{k}=={v}" for k, v in wanted()["wheels"].items()]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SetupError(f"pip could not download the aarch64 wheels: {_last_line(r.stderr)}")
    return sorted(dest.glob("*.whl"))


def _unpack_wheel(whl: Path, site: Path) -> None:
    with zipfile.ZipFile(whl) as z:
        for info in z.infolist():
            parts = info.filename.split("/")
            if parts[0].endswith(".data"):  # <dist>.data/{purelib,platlib}/... lands in site; scripts/headers are not needed
                if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                    continue
                parts = parts[2:]
            target = site.joinpath(*parts)
            if info.is_dir():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            mode = info.external_attr >> 16
            if mode & 0o111:
                target.chmod(0o755)


def _smoke_test(exe: str, root: Path) -> dict:
    """Import both runtimes under the baseline CPU; returns the probe."""
    overlay = _make_overlay(exe, root, root.parent / f".{root.name}-smoke", "cortex-a53")
    try:
        code = "import numpy, ai_edge_litert.interpreter, onnxruntime; print(onnxruntime.__version__)"
        r = subprocess.run([exe, "-L", str(overlay), "-cpu", "cortex-a53", str(root / PYTHON), "-I", "-c", code],
                           capture_output=True, text=True, env=_guest_env(), timeout=600)
        if r.returncode != 0:
            raise SetupError(f"the emulated python could not import the aarch64 runtimes: {_last_line(r.stderr)}")
        return json.loads((overlay / "probe.json").read_text())
    finally:
        shutil.rmtree(overlay, ignore_errors=True)


def _guest_env() -> dict:
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def profile(cpu: str) -> Path:
    """The -L overlay for a qemu CPU model (made once, then cached)."""
    if cpu not in PROFILES:
        raise SetupError(f"unknown arm64 CPU profile {cpu!r}: choose from {', '.join(PROFILES)}")
    root = sysroot()
    overlay = home() / "profiles" / cpu
    try:
        current = json.loads((overlay / "probe.json").read_text()).get("cpu") == PROFILES[cpu][0]
    except (OSError, json.JSONDecodeError):
        current = False
    if not current:
        with atomic_dir(overlay) as tmp:
            _make_overlay(qemu(), root, tmp, PROFILES[cpu][0])
    return overlay


def _make_overlay(exe: str, root: Path, overlay: Path, cpu: str) -> Path:
    """qemu-user looks each absolute path up under -L first, then on the host:
    symlink the userland's top folders and add an arm64 kernel's CPU files."""
    overlay.mkdir(parents=True, exist_ok=True)
    for top in root.iterdir():
        if top.is_dir() and top.name not in ("proc", "sys") and not (overlay / top.name).exists():
            (overlay / top.name).symlink_to(top.resolve())
    r = subprocess.run([exe, "-L", str(overlay), "-cpu", cpu, str(root / PYTHON), "-I", str(GUEST_SCRIPT), "--probe"],
                       capture_output=True, text=True, env=_guest_env(), timeout=300)
    if r.returncode != 0:
        raise SetupError(f"the emulated python does not start under -cpu {cpu}: {_last_line(r.stderr)}")
    probe = json.loads(r.stdout)
    (overlay / "proc").mkdir(exist_ok=True)
    (overlay / "proc" / "cpuinfo").write_text(_cpuinfo(probe))
    cpus = overlay / "sys" / "devices" / "system" / "cpu"
    cpus.mkdir(parents=True, exist_ok=True)
    for f in ("possible", "present", "online"):  # one core: the runners use one thread
        (cpus / f).write_text("0\n")
    (overlay / "probe.json").write_text(json.dumps({"cpu": cpu, **probe}, indent=2) + "\n")
    return overlay


def _cpuinfo(probe: dict) -> str:
    """/proc/cpuinfo as an arm64 Linux kernel writes it, for one core."""
    midr = int(probe["midr"], 16) if probe.get("midr") else 0
    return (f"processor\t: 0\nBogoMIPS\t: 100.00\nFeatures\t: {' '.join(probe['features'])}\n"
            f"CPU implementer\t: {midr >> 24 & 0xFF:#04x}\nCPU architecture: 8\nCPU variant\t: {midr >> 20 & 0xF:#x}\n"
            f"CPU part\t: {midr >> 4 & 0xFFF:#05x}\nCPU revision\t: {midr & 0xF}\n\n")
