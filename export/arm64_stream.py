"""Runs INSIDE the emulated aarch64 Python (export/arm64.py starts it under
qemu-user): serves `run(step, feeds)` calls on a bundle's model files through
the aarch64 LiteRT or onnxruntime, so the host's one replay loop
(avsep_mobile.streaming.stream) drives the arm64 kernels with state carried.

Imports only the standard library, numpy and the runtime: the userland has no
torch and must not need the rest of the package.

Protocol on stdin/stdout, one message each way per call: a 4-byte
little-endian header length, a JSON header {"op": ..., "arrays": [[name,
dtype, shape], ...], ...}, then the raw little-endian C-order bytes of each
array in header order.
  guest -> host first: {"op": "ready", "steps": {step: {"inputs", "outputs"}},
                        "runtime": {...}, "cpu": {...}}
  host -> guest: {"op": "run", "step": S} + inputs -> {"op": "out", "seconds": t} + outputs
  host -> guest: {"op": "quit"}
  any failure: {"op": "error", "message": "..."} and exit 1.

`--probe` prints the CPU as the runtime sees it (hwcaps, MIDR) as one JSON
line and exits; it imports no runtime.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import mmap
import os
import struct
import sys
import time

AT_HWCAP, AT_HWCAP2 = 16, 26
# the Linux arm64 hwcap bits the int8/fp16 kernel choice depends on
HWCAP_BITS = {"fp": 0, "asimd": 1, "fphp": 9, "asimdhp": 10, "cpuid": 11, "asimdrdm": 12, "asimddp": 20, "sve": 22, "asimdfhm": 23}
HWCAP2_BITS = {"sve2": 1, "svei8mm": 9, "i8mm": 13, "bf16": 14, "sme": 23}


def cpu_probe() -> dict:
    libc = ctypes.CDLL(None)
    libc.getauxval.restype = ctypes.c_ulong
    libc.getauxval.argtypes = [ctypes.c_ulong]
    hw, hw2 = libc.getauxval(AT_HWCAP), libc.getauxval(AT_HWCAP2)
    features = [n for n, b in HWCAP_BITS.items() if hw >> b & 1] + [n for n, b in HWCAP2_BITS.items() if hw2 >> b & 1]
    return {"hwcap": hex(hw), "hwcap2": hex(hw2), "features": features, "midr": hex(_midr()) if hw >> HWCAP_BITS["cpuid"] & 1 else None}


def _midr() -> int:
    """MIDR_EL1 through `mrs x0, midr_el1; ret` (EL0 may read it when the
    kernel, here qemu, advertises HWCAP_CPUID)."""
    code = struct.pack("<II", 0xD5380000, 0xD65F03C0)
    buf = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    buf.write(code)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    value = int(ctypes.CFUNCTYPE(ctypes.c_uint64)(addr)())
    return value


class TFLite:
    def __init__(self, path: str):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=path, num_threads=1)
        self.runners, self.outputs = {}, {}
        for step in self.interpreter.get_signature_list():
            r = self.interpreter.get_signature_runner(step)
            self.runners[step] = r
            # the signature map can point at a stale tensor after static
            # quantization: read outputs by output details (as export/runners.py)
            self.outputs[step] = {n: d["index"] for n, d in r.get_output_details().items()}

    def names(self) -> dict:
        return {s: {"inputs": list(r.get_input_details()), "outputs": list(self.outputs[s])} for s, r in self.runners.items()}

    def run(self, step: str, feeds: dict) -> dict:
        r = self.runners[step]
        r(**feeds)
        sub = getattr(r, "_subgraph_index", 0)
        return {n: self.interpreter.get_tensor(i, sub) for n, i in self.outputs[step].items()}

    def runtime(self) -> dict:
        import ai_edge_litert

        return {"runtime": "ai-edge-litert", "version": getattr(ai_edge_litert, "__version__", None)}


class ONNX:
    def __init__(self, paths: dict):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
        self.sessions = {s: ort.InferenceSession(p, opts, providers=["CPUExecutionProvider"]) for s, p in paths.items()}
        self.ort = ort

    def names(self) -> dict:
        return {s: {"inputs": [i.name for i in x.get_inputs()], "outputs": [o.name for o in x.get_outputs()]} for s, x in self.sessions.items()}

    def run(self, step: str, feeds: dict) -> dict:
        s = self.sessions[step]
        names = [o.name for o in s.get_outputs()]
        return dict(zip(names, s.run(names, feeds)))

    def runtime(self) -> dict:
        providers = sorted({p for s in self.sessions.values() for p in s.get_providers()})
        return {"runtime": "onnxruntime", "version": self.ort.__version__, "providers": providers}


def read_msg(f, np):
    raw = f.read(4)
    if len(raw) < 4:
        return None, {}
    header = json.loads(f.read(struct.unpack("<I", raw)[0]))
    arrays = {}
    for name, dtype, shape in header.get("arrays", []):
        dt = np.dtype(dtype).newbyteorder("<")
        n = dt.itemsize * int(np.prod(shape, dtype=np.int64))
        arrays[name] = np.frombuffer(f.read(n), dtype=dt).reshape(shape).astype(dt.newbyteorder("="))
    return header, arrays


def write_msg(f, np, header: dict, arrays: dict | None = None) -> None:
    arrays = {k: np.ascontiguousarray(v) for k, v in (arrays or {}).items()}
    header = dict(header, arrays=[[k, v.dtype.newbyteorder("<").str, list(v.shape)] for k, v in arrays.items()])
    blob = json.dumps(header).encode()
    f.write(struct.pack("<I", len(blob)) + blob)
    for v in arrays.values():
        f.write(v.astype(v.dtype.newbyteorder("<"), copy=False).tobytes())
    f.flush()


def serve(args) -> int:
    # native code may print to fd 1: keep the protocol on a private copy of it
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inp = sys.stdin.buffer
    import numpy as np

    try:
        files = dict(m.split("=", 1) for m in args.model)
        model = TFLite(next(iter(set(files.values())))) if args.target == "android" else ONNX(files)
        names = model.names()
        missing = sorted(set(files) - set(names))
        if missing:
            raise ValueError(f"model has no step {', '.join(missing)}")
        write_msg(out, np, {"op": "ready", "steps": names, "runtime": model.runtime(), "cpu": cpu_probe(),
                            "machine": os.uname().machine, "numpy": np.__version__})
        while True:
            header, arrays = read_msg(inp, np)
            if header is None or header["op"] == "quit":
                return 0
            t0 = time.perf_counter()
            res = model.run(header["step"], {k: v.astype(np.float32, copy=False) for k, v in arrays.items()})
            write_msg(out, np, {"op": "out", "seconds": time.perf_counter() - t0}, {k: np.asarray(v) for k, v in res.items()})
    except Exception as e:  # reported to the host as one message, not a traceback
        write_msg(out, np, {"op": "error", "message": f"{type(e).__name__}: {e}"})
        return 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--probe", action="store_true")
    p.add_argument("--target", choices=["android", "onnx"])
    p.add_argument("--model", action="append", default=[], help="step=path")
    args = p.parse_args(argv)
    if args.probe:
        print(json.dumps(cpu_probe()))
        return 0
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
