"""Soak: stream an hour (or more) through exported models with the state
carried, as an app does, and check at intervals that nothing drifts.

    OMP_NUM_THREADS=1 python3 benchmarks/soak.py                 # shipped model: TFLite + ONNX, fp32 + int8
    OMP_NUM_THREADS=1 python3 benchmarks/soak.py --bundle dist/android --hours 0.1

The input is made on the fly in blocks (two speech-like talkers with pauses and
their rendered mouths; block b depends only on b), so memory stays flat for
any length. At every checkpoint (the first after one window, then every
--interval-min, and at the end) the last --window-s seconds of the carried
stream are compared with two FRESH runs over the same window, each started
from zero state `warm-up` seconds before it: the float torch model (the
deviation: export error plus any drift) and the same exported model (drift
alone: the model's memory is finite, so once the warm-up covers its
receptive field a carried stream must equal a fresh one). The warm-up is twice
`receptive_field_hops`, rounded up to whole seconds.

Prints a table per model and a one-line summary: hours streamed, worst SNR vs
the fresh float and the fresh same-model runs, max |state| per interval, RSS
at start and end. With several bundles each runs in its own process, so each
RSS is that runtime's alone.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FPS = 25.0


def receptive_field_hops(cfg, fps: float = FPS) -> int:
    """An upper bound, in hops, on how far back an output sample can depend on
    the input: the STFT window and overlap-add, the causal convs, every
    windowed attention (a fusion layer chains three: a2v, v2a, self), and the
    lip path (temporal conv, video attention, one held frame) in hops."""
    win_hops = -(-cfg.win_length // cfg.hop_length)
    hops_per_frame = math.ceil(cfg.sample_rate / fps / cfg.hop_length)
    lip_frames = (cfg.video_tconv_kernel - 1) + cfg.video_window * cfg.video_layers + 1
    return (2 * (win_hops - 1) + 2 * len(cfg.audio_channels) + cfg.attn_window * (cfg.audio_layers + 3 * cfg.fusion_layers + cfg.decoder_layers)
            + lip_frames * hops_per_frame)


def warmup_seconds(cfg, fps: float = FPS) -> float:
    return float(math.ceil(2 * receptive_field_hops(cfg, fps) * cfg.hop_length / cfg.sample_rate))


class Source:
    """Two talkers and their rendered mouths, made in blocks of block_s
    seconds; block b is a pure function of (seed, b), so any window can be
    made again for a fresh run. A talker track (a speech-like harmonic tone
    with syllables and pauses, and the mouth render_lips draws from it) is
    drawn from a pool of `pool` tracks made once (rendering mouths costs more
    than streaming them); each block pairs two tracks with its own gains and
    noise, so an hour never repeats a block."""

    def __init__(self, cfg, speakers: int = 2, block_s: float = 10.0, fps: float = FPS, seed: int = 0, pool: int = 12):
        from avsep_mobile.data.lips import render_lips
        from avsep_mobile.export.vectors import speech_like

        self.cfg, self.speakers, self.fps, self.seed = cfg, speakers, fps, seed
        self.block_samples = int(round(block_s * cfg.sample_rate))
        self.block_frames = int(round(block_s * fps))
        assert self.block_samples / cfg.sample_rate * fps == self.block_frames, "a block must hold whole camera frames"
        assert pool >= speakers, f"the pool needs at least {speakers} tracks"
        sr, n = cfg.sample_rate, self.block_samples
        self.tracks = []  # (speech (n,), mouths uint8 (frames, 88, 88))
        for k in range(pool):
            rng = np.random.default_rng([seed, 1 << 20, k])
            x = speech_like(n / sr, sr, rng.uniform(90, 260), rng.uniform(2.5, 5.5), int(rng.integers(1 << 30)))
            # talk in turns: 1-4 s spoken, 0.3-2 s silent, with 20 ms ramps
            gate, t = np.zeros(n, np.float32), int(rng.uniform(0, 1.5) * sr)
            while t < n:
                on = int(rng.uniform(1, 4) * sr)
                gate[t : t + on] = 1
                t += on + int(rng.uniform(0.3, 2) * sr)
            x = (x * np.convolve(gate, np.ones(320, np.float32) / 320, mode="same")).astype(np.float32)
            self.tracks.append((x, render_lips(x, sr, fps, seed=int(rng.integers(1 << 30)))[: self.block_frames]))
        self._cache: dict[int, tuple] = {}

    def block(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """(pcm (block_samples,), crops (block_frames, S, 1, 88, 88) in [0, 1])."""
        if b not in self._cache:
            if len(self._cache) >= 3:  # the current, the next (the frame at a block's end) and one back
                del self._cache[min(self._cache)]
            self._cache[b] = self._make(b)
        return self._cache[b]

    def _make(self, b: int):
        rng = np.random.default_rng([self.seed, b])
        picks = rng.choice(len(self.tracks), self.speakers, replace=False)
        gains = rng.uniform(0.15, 0.45, self.speakers)
        mix = sum(g * self.tracks[k][0] for g, k in zip(gains, picks))
        mix = mix + 1e-3 * rng.standard_normal(self.block_samples)
        crops = np.stack([self.tracks[k][1] for k in picks], axis=1)  # (frames, S, 88, 88)
        return mix.astype(np.float32), (crops.astype(np.float32) / 255.0)[:, :, None]

    def pcm(self, c: int, chunk: int) -> np.ndarray:
        b, i = divmod(c * chunk, self.block_samples)
        return self.block(b)[0][i : i + chunk][None]

    def crops(self, j: int) -> np.ndarray:
        b, i = divmod(j, self.block_frames)
        return self.block(b)[1][i]

    def frame_of(self, c: int, chunk: int) -> int:
        """The camera frame av_step chunk c holds (streaming.held_lip_index, unbounded)."""
        return int(math.floor((c + 1) * chunk / self.cfg.sample_rate * self.fps + 1e-9))


class Stream:
    """One runner streaming chunks [start, ...) with its own state, from zero."""

    def __init__(self, runner, sigs: dict, src: Source, chunk: int, start: int = 0):
        from avsep_mobile.runtime.signature import STATE_OUT_SUFFIX

        self.runner, self.src, self.chunk, self.suffix = runner, src, chunk, STATE_OUT_SUFFIX
        self.state = {step: {s["name"]: np.full(tuple(s["shape"]), s.get("init") or 0.0, np.float32) for s in sig["states"]}
                      for step, sig in sigs.items()}
        self.c = start
        self.next_frame = min(src.frame_of(start - 1, chunk) + 1, src.frame_of(start, chunk)) if start > 0 else 0
        self.emb = None
        self.active = np.ones(src.speakers, np.float32)

    def _call(self, step: str, data: dict) -> dict:
        out = self.runner.run(step, {**data, **self.state[step]})
        for name in self.state[step]:
            self.state[step][name] = out[name + self.suffix]
        return out

    def step(self) -> tuple[np.ndarray, np.ndarray]:
        """Run chunk self.c (and the camera frames due before it): (speakers (S, chunk), residual (1, chunk))."""
        due = self.src.frame_of(self.c, self.chunk)
        while self.next_frame <= due:
            self.emb = self._call("lip_step", {"crops": self.src.crops(self.next_frame)})["lip_emb"]
            self.next_frame += 1
        out = self._call("av_step", {"pcm": self.src.pcm(self.c, self.chunk), "lip_emb": self.emb, "active": self.active})
        self.c += 1
        return np.asarray(out["speakers"]), np.asarray(out["residual"])

    def run_until(self, end: int, keep_from: int) -> np.ndarray:
        """Step up to chunk `end`; the outputs from chunk keep_from on, (S+1, samples)."""
        kept = []
        while self.c < end:
            keep = self.c >= keep_from
            spk, res = self.step()
            if keep:
                kept.append(np.concatenate([spk, res]))
        return np.concatenate(kept, axis=1)

    def state_max(self) -> dict[str, float]:
        return {f"{step}.{n}": float(np.max(np.abs(v))) for step, st in self.state.items() for n, v in st.items()}


def _snr(ref: np.ndarray, got: np.ndarray) -> float:
    from avsep_mobile.metrics import snr_db

    return snr_db(ref, got)


def _torch_runner(model, speakers, chunk_hops):
    try:
        from avsep_mobile.streaming import TorchRunner
    except ImportError:  # before the float runner moved into streaming
        from avsep_mobile.runtime.runners import TorchRunner
    return TorchRunner(model, speakers, chunk_hops)


def soak(bundle_dir, model, hours: float = 1.0, interval_s: float = 600.0, window_s: float = 10.0, warmup_s: float | None = None,
         block_s: float = 10.0, pool: int = 12, state_every: int = 25, progress=None, on_row=None) -> dict:
    """Stream `hours` of audio through the bundle; `model`: its float model."""
    import psutil

    from avsep_mobile.runtime import manifest, runners

    bundle_dir = Path(bundle_dir)
    m = manifest.load(bundle_dir)
    cfg = model.cfg
    speakers, chunk_hops, chunk = m["speakers"], m["chunk_hops"], m["chunk_samples"]
    sigs = m["signatures"]
    runner = runners.for_bundle(bundle_dir, m, threads=1)
    if runner is None:
        raise ValueError(f"{bundle_dir}: its models cannot run on this machine (CoreML needs macOS)")
    torch_runner = _torch_runner(model, speakers, chunk_hops)
    warmup_s = warmup_seconds(cfg) if warmup_s is None else warmup_s
    src = Source(cfg, speakers, block_s, pool=pool)
    per_s = cfg.sample_rate / chunk
    total = int(round(hours * 3600 * per_s))
    win, warm = int(round(window_s * per_s)), int(round(warmup_s * per_s))
    checks = []
    for k in sorted({min(total, max(win, warm + win))} | set(range(int(round(interval_s * per_s)), total + 1, int(round(interval_s * per_s)))) | {total}):
        if k - (checks[-1] if checks else 0) >= win:  # windows never overlap
            checks.append(k)
    proc = psutil.Process()

    carried = Stream(runner, sigs, src, chunk)
    carried.run_until(1, 0)  # load and warm the interpreters before the first RSS reading
    carried = Stream(runner, sigs, src, chunk)
    rss_start = proc.memory_info().rss
    rows, interval_max, state_max = [], 0.0, {}
    busy = 0.0
    for k in checks:
        t0 = time.perf_counter()
        while carried.c < k - win:
            carried.step()
            if carried.c % state_every == 0:
                sm = carried.state_max()
                interval_max = max(interval_max, max(sm.values()))
                for n, v in sm.items():
                    state_max[n] = max(state_max.get(n, 0.0), v)
            if progress is not None and carried.c % 1000 == 0:
                progress(carried.c, total)
        got = carried.run_until(k, k - win)
        busy += time.perf_counter() - t0
        sm = carried.state_max()
        interval_max = max(interval_max, max(sm.values()))
        for n, v in sm.items():
            state_max[n] = max(state_max.get(n, 0.0), v)
        start = max(0, k - win - warm)
        ref_float = Stream(torch_runner, sigs, src, chunk, start).run_until(k, k - win)
        ref_same = Stream(runner, sigs, src, chunk, start).run_until(k, k - win)
        rows.append({
            "minutes": round(k / per_s / 60, 3),
            "fresh_from_s": round(start / per_s, 2),
            "snr_vs_fresh_float_db": _snr(ref_float, got),
            "snr_vs_fresh_same_db": _snr(ref_same, got),
            "max_abs_err_vs_fresh_same": float(np.max(np.abs(ref_same - got))),
            "state_max_abs": interval_max,
            "rss_mb": proc.memory_info().rss / 2**20,
            "rtf": busy / (k / per_s),
        })
        interval_max = 0.0
        if on_row is not None:
            on_row(rows[-1])
        if progress is not None:
            progress(carried.c, total)
    worst = min(rows, key=lambda r: r["snr_vs_fresh_float_db"])
    return {
        "bundle": str(bundle_dir), "runtime": runner.kind, "precision": m["precision"], "target": m["target"],
        "hours": total / per_s / 3600, "interval_s": interval_s, "window_s": window_s, "warmup_s": warmup_s,
        "receptive_field_hops": receptive_field_hops(cfg), "chunk_samples": chunk,
        "rows": rows,
        "worst_snr_vs_fresh_float_db": worst["snr_vs_fresh_float_db"],
        "first_snr_vs_fresh_float_db": rows[0]["snr_vs_fresh_float_db"],
        "worst_snr_vs_fresh_same_db": min(r["snr_vs_fresh_same_db"] for r in rows),
        "state_max_abs": max(state_max.values()), "state_max_name": max(state_max, key=state_max.get),
        "state_max_first_interval": rows[0]["state_max_abs"], "state_max_last_interval": rows[-1]["state_max_abs"],
        "rss_mb_start": rss_start / 2**20, "rss_mb_end": proc.memory_info().rss / 2**20,
        "rss_mb_peak_checkpoint": max(r["rss_mb"] for r in rows),
        "rtf": rows[-1]["rtf"],
    }


def _db(x: float) -> str:
    return "exact" if math.isinf(x) else f"{x:.1f}"


def format_table(r: dict) -> str:
    same = r["runtime"]
    lines = [f"{Path(r['bundle']).name} ({r['target']} {r['runtime']} {r['precision']}): {r['hours']:.2f} h streamed, RTF {r['rtf']:.3f}, "
             f"window {r['window_s']:g} s, fresh runs warm up {r['warmup_s']:g} s (receptive field <= {r['receptive_field_hops']} hops)",
             f"  {'t (min)':>8}  {'vs fresh float (dB)':>19}  {'vs fresh ' + same + ' (dB)':>20}  {'max |state|':>11}  {'RSS (MB)':>8}"]
    for row in r["rows"]:
        lines.append(f"  {row['minutes']:8.2f}  {_db(row['snr_vs_fresh_float_db']):>19}  {_db(row['snr_vs_fresh_same_db']):>20}  "
                     f"{row['state_max_abs']:11.3g}  {row['rss_mb']:8.1f}")
    return "\n".join(lines)


def summary(r: dict) -> str:
    return (f"{Path(r['bundle']).name}: {r['hours']:.2f} h, worst {_db(r['worst_snr_vs_fresh_float_db'])} dB vs fresh float "
            f"(first {_db(r['first_snr_vs_fresh_float_db'])}), worst {_db(r['worst_snr_vs_fresh_same_db'])} dB vs fresh {r['runtime']}, "
            f"max |state| {r['state_max_abs']:.3g} ({r['state_max_name']}), RSS {r['rss_mb_start']:.0f} -> {r['rss_mb_end']:.0f} MB")


def _default_bundles(checkpoint_path, out_root: Path) -> list[Path]:
    """The shipped (or given) checkpoint exported once per runtime and precision."""
    from avsep_mobile import checkpoint
    from avsep_mobile.export import bundle
    from avsep_mobile.runtime import manifest

    model, _ = checkpoint.load(checkpoint_path)
    info = bundle.checkpoint_info(checkpoint_path, None)
    dirs = []
    for target in ("android", "onnx"):
        for precision in ("fp32", "int8"):
            d = out_root / f"{target}-{precision}"
            try:
                fresh = manifest.load(d).get("checkpoint", {}).get("sha256") == info["sha256"] and not manifest.verify(d)
            except ValueError:
                fresh = False
            if not fresh:
                print(f"exporting {d} ...", file=sys.stderr)
                r = bundle.export(target, model, d, precision=precision, checkpoint=info, progress=True)
                if not r["passed"]:
                    raise ValueError(f"export {target} {precision} failed its parity gate: see {d}/parity_report.md")
            dirs.append(d)
    return dirs


def _float_model(bundle_dir: Path, checkpoint_path):
    from avsep_mobile import checkpoint
    from avsep_mobile.runtime import manifest

    m = manifest.load(bundle_dir)
    path = Path(checkpoint_path or m.get("checkpoint", {}).get("path") or checkpoint.SHIPPED)
    want = m.get("checkpoint", {}).get("sha256")
    if want and manifest.sha256_file(path) != want:
        raise ValueError(f"{bundle_dir} was exported from another checkpoint than {path}: re-export it, or pass --checkpoint")
    return checkpoint.load(path)[0]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", type=Path, action="append", help="bundle dir (repeatable; default: export the checkpoint into --export-dir)")
    p.add_argument("--checkpoint", type=Path, help="the float model (default: the bundle's checkpoint, else the shipped one)")
    p.add_argument("--export-dir", type=Path, default=Path("dist/soak"))
    p.add_argument("--hours", type=float, default=1.0)
    p.add_argument("--interval-min", type=float, default=10.0)
    p.add_argument("--window-s", type=float, default=10.0)
    p.add_argument("--warmup-s", type=float, help="default: twice the receptive field, in whole seconds")
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args(argv)
    try:
        bundles = args.bundle or _default_bundles(args.checkpoint, args.export_dir)
        if len(bundles) > 1:  # one process each: each RSS is its runtime's alone
            results = []
            for b in bundles:
                with tempfile.TemporaryDirectory() as tmp:
                    out = Path(tmp) / "r.json"
                    cmd = [sys.executable, __file__, "--bundle", str(b), "--hours", str(args.hours), "--interval-min", str(args.interval_min),
                           "--window-s", str(args.window_s), "--json", str(out)]
                    cmd += ["--checkpoint", str(args.checkpoint)] if args.checkpoint else []
                    cmd += ["--warmup-s", str(args.warmup_s)] if args.warmup_s is not None else []
                    if subprocess.run(cmd).returncode != 0:
                        raise ValueError(f"the soak of {b} failed (see above)")
                    results.append(json.loads(out.read_text()))
        else:
            from tqdm import tqdm

            model = _float_model(bundles[0], args.checkpoint)
            with tqdm(desc=f"soak {bundles[0].name}", unit="chunk", dynamic_ncols=True, mininterval=5) as bar:
                def progress(i, n):
                    bar.total = n
                    bar.update(i - bar.n)
                def on_row(row):  # partial figures survive a run that is stopped
                    bar.write(json.dumps({k: round(v, 3) for k, v in row.items()}))
                results = [soak(bundles[0], model, args.hours, 60 * args.interval_min, args.window_s, args.warmup_s,
                                progress=progress, on_row=on_row)]
            print(format_table(results[0]))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(results if len(results) > 1 else results[0], indent=2) + "\n")
    if len(results) > 1:
        for r in results:
            print(format_table(r) + "\n")
    print("soak: " + "; ".join(summary(r) for r in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
