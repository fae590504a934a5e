"""Memory per stream: the peak resident memory of a runtime streaming a
bundle, and the state bytes each speaker slot adds (`avsep bench` reports both).

The memory is measured in a child process that imports the runtime package
only (numpy, the bundle's runtime library; never torch), so the figure is
the runtime's own and not the parent's (which holds torch and the float
model):

    baseline  resident memory once Python, numpy, the runtime library and the
              test vectors are loaded, before the model is
    peak      the child's peak resident memory (VmHWM on Linux) after
              loading the model and streaming the test vectors with state carried
    stream    peak - baseline: what one stream of this bundle costs a process
              that already runs Python and the runtime library

    python -m avsep_mobile.export.stream_memory DIR [--threads 1]   # the child: prints JSON
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from avsep_mobile.runtime.step_state import state_specs

NPZ = "vectors.npz"  # export/vectors.NPZ, named here because that module imports torch

# the runtime library each target's runner loads (imported before the baseline)
RUNTIME_MODULES = {"android": "ai_edge_litert.interpreter", "onnx": "onnxruntime", "ios": "coremltools"}


def state_bytes(signatures: dict) -> dict:
    """Bytes of float32 state, from the signatures (a manifest's or
    signature.signatures'): `per_slot`, one speaker slot's rows of every
    per-slot state; `shared`, the states every slot shares (audio encoder, STFT
    buffer, the residual slot's decoder row); `total` at the exported slot
    count. An app binds `total` in and out on every call of explicit state."""
    slots = _slots(signatures)
    per_slot = shared = total = 0
    for sig in signatures.values():
        for s in state_specs(sig):
            rows = int(s["shape"][0])
            row = int(np.prod(s["shape"][1:])) * 4
            total += rows * row
            if s.get("per_slot"):  # `slots` rows, plus a decoder state's shared residual row
                per_slot += row
                shared += (rows - slots) * row
            else:
                shared += rows * row
    return {"per_slot": per_slot, "shared": shared, "total": total}


def _slots(signatures: dict) -> int:
    """The exported speaker slots: the leading axis of av_step's lip_emb input."""
    sig = signatures["av_step"]
    inputs = sig["inputs"] if isinstance(sig, dict) else [{"name": t.name, "shape": t.shape} for t in sig.inputs]
    return int(next(t["shape"][0] for t in inputs if t["name"] == "lip_emb"))


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_rss_mb() -> float:
    """This process's peak resident memory. Linux: VmHWM, the high-water mark
    of this address space (getrusage's maxrss survives fork + exec, so a child
    would report its parent's peak); elsewhere getrusage."""
    status = Path("/proc/self/status")
    if status.is_file():
        line = next(x for x in status.read_text().splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024  # kB
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # bytes on macOS


def measure_here(bundle_dir, threads: int = 1) -> dict:
    """The child's side: load, stream, report (see the module docstring)."""
    import importlib

    from avsep_mobile.runtime import manifest, runners
    from avsep_mobile.runtime.replay import stream

    bundle_dir = Path(bundle_dir)
    m = manifest.load(bundle_dir)
    importlib.import_module(RUNTIME_MODULES[m["target"]])
    with np.load(bundle_dir / Path(m["test_vectors"]).parent / NPZ) as z:
        vec = {k.replace(".", "/"): z[k] for k in z.files}
    baseline = _rss_mb()
    runner = runners.for_bundle(bundle_dir, m, threads)
    if runner is None:
        return {"skipped": f"{m['target']} models cannot run here"}
    stream(runner, vec, m["signatures"])
    return {"runtime": runner.kind, "baseline_rss_mb": round(baseline, 1), "peak_rss_mb": round(_peak_rss_mb(), 1),
            "stream_mb": round(_peak_rss_mb() - baseline, 1), "torch_imported": "torch" in sys.modules}


def measure(bundle_dir, threads: int = 1, timeout: float = 600.0) -> dict:
    """Run `measure_here` in a fresh child process; its JSON result."""
    cmd = [sys.executable, "-m", "avsep_mobile.export.stream_memory", str(bundle_dir), "--threads", str(threads)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"memory child failed on {bundle_dir}: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="peak resident memory of one stream of a bundle (the child of avsep bench)")
    ap.add_argument("dir", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    print(json.dumps(measure_here(args.dir, args.threads)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
