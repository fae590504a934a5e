"""What graph could reach DTLN's cost: smaller variants of the mobile preset,
exported android int8 (the default recipe) and timed per audio second
against DTLN LiteRT int8 (anchor.py, stock recipe, the faster of its forms)
in one interleaved run, one thread.

Speed does not depend on the weights, so the variants are untrained (seeded
initialisation, BatchNorm statistics at their defaults); quality is not
measured here: a variant worth having still needs training. Each row gives
the windowed attentions the av_step holds, its LiteRT op count, its MACs per
audio second (`avsep info`'s count) and the ratio to DTLN int8, at K hops
per call (latency 25 + 10 (K - 1) ms at the preset's 10 ms hop, 40 + 20 (K -
1) ms at the shipped default's 20 ms; DTLN's is 32 ms).

    python benchmarks/architecture_floor.py [--rounds 15] [--per-round 20] [--json out.json] [--chunk-hops 1 2]
                                           [--variants "1 fusion block" "decoder attention only"]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import torch
from anchor import (  # beside this script
    SHIFT,
    SR,
    DTLNStep,
    SplitDTLN,
    _cycle,
    _quiet,
    cpu_name,
    dtln_feeds,
    export_dtln,
)

# name -> overrides of the mobile preset; each drops a part of the per-frame graph
HOP_20MS = {"fusion_layers": 1, "hop_length": 320, "win_length": 640, "n_fft": 1024, "attn_window": 8}  # the shipped default's graph
VARIANTS = {
    "mobile (shipped)": {},
    "1 fusion block": {"fusion_layers": 1},
    "1 audio layer, 1 fusion block": {"audio_layers": 1, "fusion_layers": 1},
    "no audio layer, 1 fusion block": {"audio_layers": 0, "fusion_layers": 1},
    "no audio layer, 1 fusion block, d 96": {"audio_layers": 0, "fusion_layers": 1, "d_model": 96, "n_heads": 3},
    # one attention (the decoder's cross-attention, one row per slot and the residual), no fusion: near what
    # every family with this front end keeps (STFT, audio CNN, masks and inverse STFT per slot, the lip step).
    # With no attention at all (decoder_layers 0) XNNPACK fails to prepare the graph (litert 2.3.0)
    "decoder attention only": {"audio_layers": 0, "fusion_layers": 0},
    # half the frame rate: a 40 ms window every 20 ms (latency 40 ms at one hop per call), the same 160 ms of
    # attention (8 frames); every per-frame op runs 50 times a second instead of 100
    "1 fusion block, 20 ms hop": HOP_20MS,
    # the shipped default's graph (the row above) with one thing cheaper each: a 640-point DFT (321 bins, not 513);
    # a 22 x 22 mouth for the lip step (pool 4, not 2), which runs 25 times a second at any hop; no audio self-attention
    "1 fusion block, 20 ms hop, n_fft 640": {**HOP_20MS, "n_fft": 640},
    "1 fusion block, 20 ms hop, video pool 4": {**HOP_20MS, "video_pool": 4},
    "no audio layer, 1 fusion block, 20 ms hop": {**HOP_20MS, "audio_layers": 0},
    # the levers together, on the 640-point graph
    "1 audio layer, 1 fusion block, 20 ms hop, n_fft 640": {**HOP_20MS, "n_fft": 640, "audio_layers": 1},
    "no audio layer, 1 fusion block, 20 ms hop, n_fft 640": {**HOP_20MS, "n_fft": 640, "audio_layers": 0},
    "1 audio layer, 1 fusion block, 20 ms hop, n_fft 640, video pool 4":
        {**HOP_20MS, "n_fft": 640, "audio_layers": 1, "video_pool": 4},
    "no audio layer, 1 fusion block, 20 ms hop, n_fft 640, video pool 4":
        {**HOP_20MS, "n_fft": 640, "audio_layers": 0, "video_pool": 4},
    # the same ops with twice the feed-forward units: where a call's time is per op, not per multiply-add
    "no audio layer, 1 fusion block, 20 ms hop, n_fft 640, video pool 4, ffn 512":
        {**HOP_20MS, "n_fft": 640, "audio_layers": 0, "video_pool": 4, "ffn_dim": 512},
}


def attentions(model) -> int:
    from avsep_mobile.model import WindowedAttention

    return sum(isinstance(m, WindowedAttention) for m in model.modules()) - model.cfg.video_layers  # the av_step's only


def main(argv=None) -> int:

    from avsep_mobile.export import tflite, vectors
    from avsep_mobile.export.bench import add_interleaved_args, interleaved
    from avsep_mobile.export.profile import litert_step_op_counts, record_feeds
    from avsep_mobile.info import model_info
    from avsep_mobile.model import AVSep, ModelConfig, preset
    from avsep_mobile.quantize import int8
    from avsep_mobile.runtime import signature
    from avsep_mobile.runtime.runners import TFLiteRunner

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_interleaved_args(ap, dirs=False)
    ap.set_defaults(rounds=15)
    ap.add_argument("--chunk-hops", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS), metavar="NAME",
                    help=f"the variants to time (default all: {'; '.join(VARIANTS)})")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    load_start = os.getloadavg()[0]

    calls, rows = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dtln = export_dtln(tmp)["paths"]
        dtln_calls = [{k: v.numpy() for k, v in dtln_feeds(n).items()} for n in range(100)]
        calls["dtln_fused"] = _cycle(TFLiteRunner(dtln["dtln_fused_tflite_int8"], 1), "dtln",
                                     [{k: f[k] for k in ("pcm", *DTLNStep.STATES)} for f in dtln_calls])
        calls["dtln_split"] = SplitDTLN(TFLiteRunner(dtln["dtln_split_tflite_int8"], 1).run, dtln_calls)
        for i, (name, overrides) in enumerate(VARIANTS.items()):
            if name not in args.variants:
                continue
            torch.manual_seed(i)
            model = AVSep(ModelConfig.from_dict({**preset("mobile").to_dict(), **overrides})).eval()
            for k in args.chunk_hops:
                d = tmp / f"v{i}_k{k}"
                d.mkdir()
                with _quiet():
                    path = tflite.convert(model, 2, k, d, "int8", quant_config=int8.hook_for("android", model, 2, k))[0]
                sigs = signature.signatures(model, 2, k)
                feeds = record_feeds(model, 2, k, vectors.make(model, 2, k, seconds=1.0), sigs, threads=1)
                runner = TFLiteRunner(path, 1)
                for s in ("av_step", "lip_step"):
                    calls[f"{name}|{k}|{s}"] = _cycle(runner, s, feeds[s])
                rows[(name, k)] = {"attentions": attentions(model), "ops": sum(litert_step_op_counts(path, "av_step").values()),
                                   "mmacs_per_s": model_info(model, 2, k)["macs_per_second"]["total"] / 1e6,
                                   "calls_per_s": model.cfg.sample_rate / (model.cfg.hop_length * k)}
        times = interleaved(calls, rounds=args.rounds, per_round=args.per_round)

    dtln_ms = min(times["dtln_fused"]["p10_ms"], times["dtln_split"]["p10_ms"]) * SR / SHIFT
    print(f"{cpu_name()}, one thread, {args.rounds} rounds of {args.per_round}, load {load_start:.2f} -> {os.getloadavg()[0]:.2f}; "
          f"DTLN int8 {dtln_ms:.2f} ms per audio second (p10, the faster form)")
    print("| variant | hops per call | av_step attentions | LiteRT av_step ops | M MAC/s | ms per audio second | / DTLN int8 |")
    print("|---|---|---|---|---|---|---|")
    for (name, k), row in rows.items():
        ms = times[f"{name}|{k}|av_step"]["p10_ms"] * row["calls_per_s"] + times[f"{name}|{k}|lip_step"]["p10_ms"] * 25
        row.update(ms_per_s=round(ms, 3), ratio=round(ms / dtln_ms, 3))
        print(f"| {name} | {k} | {row['attentions']} | {row['ops']} | {row['mmacs_per_s']:.0f} | {ms:.2f} | {ms / dtln_ms:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_name(), "dtln_ms_per_s": dtln_ms,
                                         "rows": [{"variant": n, "hops": k, **r} for (n, k), r in rows.items()]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
