"""Where one streaming attention step's time goes in LiteRT, and what other
exact forms of it cost, in one interleaved run (Invoke only, one thread).

The step is the exported one (export/folds.py, "single_query" and
"const_bias"): one query frame of N slots attends over the cache of the last
W frames plus its own, mobile's sizes (N = 2, D = 128, H = 4, dh = 32,
W = 16). Forms, each checked against "today" before it is timed:

- today: one kv cache (N, 2H, W, dh); concat the new frame, slice k and v,
  multiply-and-sum scores, softmax, multiply-and-sum values, the new cache a
  slice of the concat;
- kv_split: separate k and v caches (no k/v slices; the state layout changes);
- matmul: scores and values as BATCH_MATMUL (what CoreML keeps);
- parts: scores over the cache and over the new frame apart, no concat before
  the scores (the new cache is still a concat);
- shift_only: the cache shift alone (concat + slice), the floor of any form
  that keeps a sliding cache in explicit state;
- with_linears: today with its q, kv and out projections (fp32), the whole
  attention as the graph holds it.

    python benchmarks/attention_forms.py [--rounds 30] [--per-round 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch
from anchor import _quiet, cpu_name  # beside this script (its folder is on sys.path)
from torch import Tensor, nn

N, D, H, DH, W = 2, 128, 4, 32, 16


class Today(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("bias", torch.randn(H, W + 1, generator=torch.Generator().manual_seed(1)))

    def forward(self, q: Tensor, kv_new: Tensor, cache: Tensor):
        kv = torch.cat([cache, kv_new.reshape(N, 2 * H, 1, DH)], 2)  # (N, 2H, W + 1, dh)
        k, v = kv[:, :H], kv[:, H:]
        att = torch.softmax((q.reshape(N, H, 1, DH) * k).sum(-1) + self.bias, -1)  # (N, H, W + 1)
        return (att.unsqueeze(-1) * v).sum(2).reshape(N, 1, H * DH), kv[:, :, 1:]


class KVSplit(Today):
    def forward(self, q, kv_new, k_cache, v_cache):
        k = torch.cat([k_cache, kv_new[..., : H * DH].reshape(N, H, 1, DH)], 2)
        v = torch.cat([v_cache, kv_new[..., H * DH :].reshape(N, H, 1, DH)], 2)
        att = torch.softmax((q.reshape(N, H, 1, DH) * k).sum(-1) + self.bias, -1)
        return (att.unsqueeze(-1) * v).sum(2).reshape(N, 1, H * DH), k[:, :, 1:], v[:, :, 1:]


class Matmul(Today):
    def forward(self, q, kv_new, cache):
        kv = torch.cat([cache, kv_new.reshape(N, 2 * H, 1, DH)], 2)
        k, v = kv[:, :H], kv[:, H:]
        att = torch.softmax(torch.matmul(q.reshape(N, H, 1, DH), k.transpose(2, 3)) + self.bias[:, None], -1)  # (N, H, 1, W + 1)
        return torch.matmul(att, v).reshape(N, 1, H * DH), kv[:, :, 1:]


class Parts(Today):
    def forward(self, q, kv_new, cache):
        new = kv_new.reshape(N, 2 * H, 1, DH)
        q4 = q.reshape(N, H, 1, DH)
        logits = torch.cat([(q4 * cache[:, :H]).sum(-1), (q4 * new[:, :H]).sum(-1)], -1)
        att = torch.softmax(logits + self.bias, -1)
        y = (att[..., :W, None] * cache[:, H:]).sum(2) + att[..., W:] * new[:, H:, 0]
        return y.reshape(N, 1, H * DH), torch.cat([cache[:, :, 1:], new], 2)


class ShiftOnly(nn.Module):
    def forward(self, q, kv_new, cache):
        kv = torch.cat([cache, kv_new.reshape(N, 2 * H, 1, DH)], 2)
        return q * 1.0, kv[:, :, 1:]


class WithLinears(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.kv, self.out, self.core = nn.Linear(D, H * DH), nn.Linear(D, 2 * H * DH), nn.Linear(H * DH, D), Today()

    def forward(self, x, mem, cache):
        y, cache = self.core(self.q(x), self.kv(mem), cache)
        return self.out(y), cache


def _inputs() -> dict[str, tuple]:
    g = torch.Generator().manual_seed(0)
    q, kv_new, cache = torch.randn(N, 1, H * DH, generator=g), torch.randn(N, 1, 2 * H * DH, generator=g), torch.randn(N, 2 * H, W, DH, generator=g)
    x, mem = torch.randn(N, 1, D, generator=g), torch.randn(N, 1, D, generator=g)
    base = (q, kv_new, cache)
    return {"today": base, "kv_split": (q, kv_new, cache[:, :H].contiguous(), cache[:, H:].contiguous()), "matmul": base,
            "parts": base, "shift_only": base, "with_linears": (x, mem, cache)}


FORMS = {"today": Today, "kv_split": KVSplit, "matmul": Matmul, "parts": Parts, "shift_only": ShiftOnly, "with_linears": WithLinears}


def _interpreter(module: nn.Module, args: tuple):
    import litert_torch
    from ai_edge_litert.interpreter import Interpreter

    with _quiet():
        content = bytes(litert_torch.convert(module.eval(), args).model_content())
    interp = Interpreter(model_content=content, num_threads=1)
    interp.allocate_tensors()
    for d, a in zip(interp.get_input_details(), args):
        interp.set_tensor(d["index"], a.numpy().copy())
    interp.invoke()
    outs = sorted((interp.get_tensor(d["index"]) for d in interp.get_output_details()), key=lambda a: a.ndim)
    return interp, outs, len(interp._get_ops_details())


def main(argv=None) -> int:
    from avsep_mobile.export.bench import add_interleaved_args, interleaved

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_interleaved_args(ap, dirs=False, per_round=300)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    from avsep_mobile.metrics import snr_db

    inputs = _inputs()
    with torch.no_grad():
        ref_y, ref_cache = (t.numpy() for t in Today()(*inputs["today"]))
    calls, ops, parity = {}, {}, {}
    for name, form in FORMS.items():
        interp, outs, ops[name] = _interpreter(form(), inputs[name])
        if name in ("today", "matmul", "parts"):  # the same function as today's: checked before it is timed
            parity[name] = round(float(min(snr_db(ref_y, outs[0]), snr_db(ref_cache, outs[1]))), 1)
        elif name == "kv_split":
            parity[name] = round(float(min(snr_db(ref_y, outs[0]), snr_db(ref_cache, np.concatenate(outs[1:], 1)))), 1)
        calls[name] = interp.invoke
    calls["today (A/A)"] = _interpreter(Today(), inputs["today"])[0].invoke
    times = interleaved(calls, rounds=args.rounds, per_round=args.per_round)
    base = times["today"]["p10_ms"]
    result = {"cpu": cpu_name(), "sizes": {"N": N, "D": D, "H": H, "dh": DH, "W": W}, "ops": ops, "parity_db": parity,
              "p10_us": {k: round(v["p10_ms"] * 1000, 3) for k, v in times.items()},
              "over_today_p10": {k: round(v["p10_ms"] / base, 3) for k, v in times.items()}}
    print(f"one attention step, LiteRT Invoke only, 1 thread, {args.rounds} interleaved rounds x {args.per_round}; {result['cpu']}")
    print(f"  {'form':16s} {'ops':>4s} {'p10 us':>8s} {'/ today':>8s}  parity vs today")
    for k in times:
        print(f"  {k:16s} {ops.get(k.split()[0], ''):>4} {result['p10_us'][k]:8.2f} {result['over_today_p10'][k]:8.3f}  "
              f"{parity.get(k, '')}{' dB' if k in parity else ''}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
