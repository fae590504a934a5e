"""Writing manifest.json: what a bundle holds, built at export time. Reading
and checking it is the runtime's (runtime/manifest.py)."""

from __future__ import annotations

import json
import platform
from importlib import metadata as importlib_metadata
from pathlib import Path

from avsep_mobile.runtime import signature
from avsep_mobile.runtime.manifest import FORMAT, NAME, file_entries, schema_problems

PACKAGES = {
    "avsep_mobile": "avsep-mobile", "torch": "torch", "coremltools": "coremltools", "litert_torch": "litert-torch",
    "ai_edge_litert": "ai-edge-litert", "onnx": "onnx", "onnxruntime": "onnxruntime", "numpy": "numpy",
}


def versions() -> dict:
    out = {}
    for key, dist in PACKAGES.items():
        try:
            out[key] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            out[key] = None
    out["python"] = platform.python_version()
    return out


def io_formats(sigs: dict, lip_fps: float) -> dict:
    """{"step/name": shape, dtype, axes, value range, meaning} of every data
    input and output: what an app puts in and takes out (shapes from the signature)."""
    spec = {f"{n}/{t['name']}": t for n, s in sigs.items() for t in s["inputs"] + s["outputs"]}
    known = {
        "lip_step/crops": {"axes": ["slot", "channel", "row", "column"], "range": [0.0, 1.0],
                           "pixels": "grayscale luma: a uint8 pixel p is fed as p / 255",
                           "grayscale": True, "mouth_centred": True,
                           "rate": f"{lip_fps:g} calls per second of audio (lip_fps); av_step holds each slot's latest lip_emb",
                           "meaning": "one mouth crop per speaker slot: mouth centre at the crop centre, upright, "
                                      "mouth width about 0.6 of the crop (data/lips.py draws the training crops)"},
        "lip_step/lip_emb": {"axes": ["slot", "feature"], "meaning": "lip embedding per slot: feed to av_step/lip_emb"},
        "av_step/pcm": {"axes": ["channel", "sample"], "range": [-1.0, 1.0],
                        "meaning": "the next chunk_samples of mono PCM at sample_rate"},
        "av_step/lip_emb": {"axes": ["slot", "feature"], "meaning": "lip_step/lip_emb of the latest camera frame, per slot (sample and hold)"},
        "av_step/active": {"axes": ["slot"], "range": [0.0, 1.0], "meaning": "1.0 while the slot has a face, 0.0 for an empty slot"},
        "av_step/speakers": {"axes": ["slot", "sample"], "range": [-1.0, 1.0],
                             "meaning": "each slot's separated speech, the input delayed by output_delay_samples"},
        "av_step/residual": {"axes": ["channel", "sample"], "range": [-1.0, 1.0],
                             "meaning": "the delayed mixture minus the speakers (noise, voices in no slot)"},
    }
    out = {}
    for key, t in spec.items():
        axes = [f"axis{i}" for i in range(len(t["shape"]))]
        out[key] = {"shape": list(t["shape"]), "dtype": t["dtype"], "axes": axes, "meaning": "", **known.get(key, {})}
    return out


def build(bundle_dir, target: str, precision: str, model, speakers: int, chunk_hops: int, model_files: dict,
          checkpoint: dict, extra: dict | None = None, lip_fps: float = 25.0) -> dict:
    meta = signature.metadata(model.cfg, speakers, chunk_hops, lip_fps)
    sigs = signature.signatures(model, speakers, chunk_hops)
    m = {"format": FORMAT, "target": target, "precision": precision}
    m.update({k: meta[k] for k in ("sample_rate", "hop_samples", "chunk_hops", "chunk_samples", "speakers", "crop_size",
                                    "lip_fps", "latency_ms", "output_delay_samples", "flush_hops")})
    m["model_files"] = model_files
    m["files"] = file_entries(bundle_dir)
    m["signatures"] = {n: s.to_json() for n, s in sigs.items()}
    m["io"] = io_formats(m["signatures"], meta["lip_fps"])
    m["config"] = model.cfg.to_dict()
    m["checkpoint"] = checkpoint
    m["versions"] = versions()
    m["test_vectors"] = "test_vectors/index.json"
    m["parity_report"] = "parity_report.json"
    m.update(extra or {})
    return m


def write(bundle_dir, manifest: dict) -> Path:
    """Write manifest.json after checking it against the schema (a failure is a bug in the exporter)."""
    problems = schema_problems(manifest)
    if problems:
        raise RuntimeError(f"the manifest to write breaks its schema: {problems[0]}")
    path = Path(bundle_dir) / NAME
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path
