"""Training on generated audio-visual mixtures.

One process on CPU or one GPU, or many under torchrun (DistributedDataParallel)
with no change: `torchrun --nproc_per_node 4 -m avsep_mobile.cli train ...`.
Each rank draws its own mixtures from the shared utterance pool (built once,
cached); rank 0 alone writes the log and checkpoints; every rank resumes from
out_dir/last.pt (weights, optimizer moments, step). The batch is per rank: the
global batch is batch x world size.
Loss per slot: -SI-SNR against the speaker whose lips condition it, plus a
multi-resolution spectral term.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor
from tqdm import tqdm

from . import checkpoint
from .metrics import multires_stft_loss, si_snr
from .model import AVSep, ModelConfig
from .runtime import signature
from .runtime.replay import held_lip_index


@dataclass
class TrainConfig:
    steps: int = 4000
    batch: int = 8
    seconds: float = 2.5
    lr: float = 1e-3
    warmup: int = 200
    spectral_weight: float = 1.0
    pool_size: int = 4000
    pool_seed: int = 0  # apart from seed: runs with other seeds (distillation) share the cached pool
    seed: int = 0
    save_every: int = 200
    three_speaker_prob: float = 0.2
    # chance per speaker of a perturbed voice (data.mixtures.perturb_voice); `avsep train` defaults to 0.5,
    # `avsep distill` leaves it at 0: its recipe was measured without it
    voice_perturb: float = 0.0
    # share of mixtures heard in a simulated reverberant room (data.rooms); `avsep train` defaults to 0.3
    room_share: float = 0.0
    # chance per speaker that its utterance is recorded human speech (data.recorded); `avsep train` defaults to 0.35
    recorded_share: float = 0.0
    recorded_pool_size: int = 3000
    # chance per mouth track of a rule other than the renderer's (data.mouth_augment); `avsep train` defaults to 0.5
    mouth_augment: float = 0.0
    # share of mixtures at a quiet level (data.mixtures.QUIET_LEVEL_DB); 0 by default
    quiet_share: float = 0.0
    # an index of the user's own clips (`avsep data import`), and the share of batches mixed from it (1: it alone)
    data_index: str | None = None
    data_share: float = 0.5
    # a training pack (`avsep data pack`): its pools instead of the cache's, nothing synthesised (pool_size unused)
    pack: str | None = None
    # loader processes in all, split between the streams by their share (at least one each): one per
    # stream keeps up with a CPU; a GPU wants most of the machine's cores
    workers: int = 1
    # a wall-clock budget: the schedule ends at --steps or after this many minutes of training, whichever is first
    minutes: float | None = None


def separate_batch(model: AVSep, mix: Tensor, lips: Tensor, fps: float, active: Tensor | None = None):
    """Offline forward on a batch, on the K=1 streaming schedule.

    Shapes: mix (B, n), lips uint8 (B, S, T_video, 88, 88) -> speakers (B, S, n),
    residual (B, n), masks (B, S+1, T, bins), lip embeddings (B, S, T_video, D)."""
    cfg = model.cfg
    b, n = mix.shape
    s, n_frames = lips.shape[1], lips.shape[2]
    delay = signature.output_delay_samples(cfg)
    hops = signature.stream_chunks(cfg, n)
    pcm = torch.nn.functional.pad(mix, (0, hops * cfg.hop_length - n))
    crops = lips.float().div(255.0).unsqueeze(3)  # (B, S, T, 1, 88, 88)
    emb, _ = model.forward_lips(crops, model.zero_state(model.lip_state_shapes(s), b))
    idx = torch.from_numpy(held_lip_index(hops, 1, cfg.hop_length, cfg.sample_rate, fps, n_frames)).to(mix.device)
    active = torch.ones(b, s, device=mix.device) if active is None else active
    out, _ = model.forward_audio(pcm, emb[:, :, idx], active, model.zero_state(model.av_state_shapes(s), b))
    return out["speakers"][..., delay : delay + n], out["residual"][:, 0, delay : delay + n], out["masks"], emb


def separation_loss(est: Tensor, ref: Tensor, spectral_weight: float) -> tuple[Tensor, Tensor]:
    """est, ref (B, S, n) -> (loss, mean SI-SNR)."""
    snr = si_snr(est, ref)
    return -snr.mean() + spectral_weight * multires_stft_loss(est, ref), snr.mean().detach()


def _dist_env() -> tuple[int, int]:
    """(rank, world size) as torchrun sets them; (0, 1) for a plain process."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _dist_setup() -> tuple[int, int, torch.device]:
    rank, world = _dist_env()
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


def progress(step: int, elapsed_s: float, tc: TrainConfig) -> float:
    """How far the run is, 0..1 (1: done): by steps, or by time when
    tc.minutes is set and that runs out first."""
    by_steps = step / tc.steps
    return max(by_steps, elapsed_s / (60 * tc.minutes)) if tc.minutes else by_steps


def lr_at(step: int, tc: TrainConfig, elapsed_s: float = 0.0) -> float:
    """Linear warm-up over tc.warmup steps, then a cosine decay to 5% at the
    end of the run (progress())."""
    if step < tc.warmup:
        return tc.lr * (step + 1) / tc.warmup
    done = tc.warmup / tc.steps
    frac = (progress(step, elapsed_s, tc) - done) / max(1e-9, 1 - done)
    return tc.lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * min(1.0, max(0.0, frac)))))


def batches(tc: TrainConfig, rank: int, world: int, cache_dir=None, start_step: int = 0):
    """Endless batches of generated mixtures, and of the user's clips where
    tc.data_index is set, a different seed stream per rank; a run resumed at
    start_step continues past the mixtures it has used. The pool is loaded
    (or built, once for all ranks) before this returns."""
    from .data.mixtures import TRAIN_SEED_LIMIT, MixtureStream

    used = start_step * tc.batch * world  # per stream, at most this many seeds were drawn so far

    def loader(dataset, share: float):  # workers render while the model trains, tc.workers split by each stream's share
        workers = max(1, round(tc.workers * share))
        return iter(torch.utils.data.DataLoader(dataset, batch_size=tc.batch, num_workers=workers, persistent_workers=True))

    def base_seed(n: int) -> int:  # the 3-speaker stream starts half-way through the seed range: no shared seed
        return tc.seed * 1_000_003 + (n - 2) * TRAIN_SEED_LIMIT // 2 + used

    streams = {}
    own = tc.data_index is not None
    clip_share = (1.0 if tc.data_share >= 1 else tc.data_share) if own else 0.0
    speaker_share = {2: 1 - tc.three_speaker_prob, 3: tc.three_speaker_prob}
    if not own or tc.data_share < 1:
        if tc.pack is not None:
            from .data.pack import load_pack

            pool, recorded = load_pack(tc.pack, recorded=tc.recorded_share > 0)
        else:
            from .data.speech import build_pool

            pool = build_pool(cache_dir, tc.pool_size, tc.pool_seed, progress=rank == 0)
            recorded = None
            if tc.recorded_share > 0:
                from .data.recorded import build_recorded_pool

                recorded = build_recorded_pool(cache_dir, tc.recorded_pool_size, tc.pool_seed, progress=rank == 0)
        for n in (2, 3):
            streams[n] = loader(MixtureStream(pool, seconds=tc.seconds, speakers=n, base_seed=base_seed(n), rank=rank,
                                              world_size=world, perturb=tc.voice_perturb, room=tc.room_share,
                                              recorded=recorded, recorded_share=tc.recorded_share,
                                              mouth_augment=tc.mouth_augment, quiet=tc.quiet_share), (1 - clip_share) * speaker_share[n])
    if own:
        from .data.clips import ClipMixtureStream

        for n in (2, 3):
            streams["clips", n] = loader(ClipMixtureStream(tc.data_index, tc.seconds, n, base_seed(n), rank, world),
                                         clip_share * speaker_share[n])
    rng = np.random.default_rng([tc.seed, rank, start_step])

    def endless():
        while True:
            clips = own and (tc.data_share >= 1 or rng.random() < tc.data_share)
            n = 3 if rng.random() < tc.three_speaker_prob else 2
            yield next(streams[("clips", n) if clips else n])

    return endless()


def separation_objective(tc: TrainConfig):
    """The default loss: outputs of separate_batch and the batch -> (loss, SI-SNR)."""
    def objective(outputs, batch):
        return separation_loss(outputs[0], batch["sources"].to(outputs[0].device), tc.spectral_weight)
    return objective


def compact_optimizer_state(state: dict) -> dict:
    """The optimizer's state with its moment tensors in bfloat16: half the
    size on disk, fp32's range (fp16 would flush Adam's squared-gradient
    averages to zero). load_state_dict casts them back to the parameters' dtype."""
    return {**state, "state": {k: {n: v.to(torch.bfloat16) if torch.is_floating_point(v) and v.dim() > 0 else v
                                   for n, v in st.items()} for k, st in state["state"].items()}}


def train(cfg: ModelConfig, tc: TrainConfig, out_dir, init: AVSep | None = None, data=None, log=print, on_step=None,
          objective=None, cache_dir=None) -> Path:
    """Train and write out_dir/model.pt (weights + config) and out_dir/last.pt
    (resumable: + optimizer moments and step), rank 0 only. Returns the model.pt
    path. `init` starts from given weights (its own config); `objective`
    replaces the loss (distillation); `on_step(loss)` is called on every rank."""
    rank, world = _dist_env()
    out_dir = Path(out_dir)
    resume = out_dir / "last.pt"
    ck = checkpoint.load_raw(resume) if resume.exists() else None
    step, elapsed = (ck["step"], ck.get("elapsed_s", 0.0)) if ck is not None else (0, 0.0)
    # the data first: a pool built here never keeps the other ranks waiting inside a collective
    data = data if data is not None else batches(tc, rank, world, cache_dir, start_step=step)
    rank, world, device = _dist_setup()
    torch.manual_seed(tc.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    model = (init if init is not None else AVSep(cfg)).to(device)
    objective = objective or separation_objective(tc)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=1e-2)
    if ck is not None:
        model.load_state_dict(checkpoint.state_dict(ck))
        opt.load_state_dict(ck["optimizer"])
        if rank == 0:
            log(f"resumed from {resume} at step {step}")
    net = _Forward(model)
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    log_csv = out_dir / "log.csv"
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        if not log_csv.exists():
            log_csv.write_text("step,loss,si_snr_db,lr,elapsed_s\n")
    bar = tqdm(total=tc.steps, initial=step, disable=rank != 0, desc="train", dynamic_ncols=True)
    start = time.time() - elapsed
    model.train()
    clock = _RunClock(start, world, device)
    while progress(step, elapsed, tc) < 1:
        batch = next(data)
        mix, lips = batch["mix"].to(device), batch["lips"].to(device)
        fps = float(batch["fps"][0])
        lr = lr_at(step, tc, elapsed)
        for g in opt.param_groups:
            g["lr"] = lr
        loss, snr = objective(net(mix, lips, fps), batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        step += 1
        elapsed = clock.elapsed() if tc.minutes else time.time() - start
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.2f}", si_snr=f"{snr.item():.1f}dB")
        if on_step is not None:
            on_step(loss.item())
        if rank == 0:
            with open(log_csv, "a") as f:
                f.write(f"{step},{loss.item():.4f},{snr.item():.3f},{lr:.6f},{elapsed:.1f}\n")
        if rank == 0 and (step % tc.save_every == 0 or progress(step, elapsed, tc) >= 1):
            meta = {"steps": step, "train_seconds": elapsed, "train_config": vars(tc), "world_size": world,
                    "device": str(device)}
            checkpoint.save(resume, model, meta, optimizer=compact_optimizer_state(opt.state_dict()), step=step,
                            elapsed_s=elapsed)
            checkpoint.save(out_dir / "model.pt", model, meta)
    bar.close()
    if world > 1:
        dist.barrier()  # nobody returns (and reads model.pt) before rank 0 has written it
        dist.destroy_process_group()
    model.eval()
    return out_dir / "model.pt"


class _RunClock:
    """Seconds of training so far, rank 0's on every rank (one broadcast per
    step), so that with a time budget all ranks use the same learning rate
    and stop at the same step."""

    def __init__(self, start: float, world: int, device: torch.device):
        self.start, self.world, self.device = start, world, device

    def elapsed(self) -> float:
        now = torch.tensor([time.time() - self.start], dtype=torch.float64, device=self.device)
        if self.world > 1:
            dist.broadcast(now, src=0)
        return float(now.item())


class _Forward(torch.nn.Module):
    """Routes the batch forward through __call__, which DDP needs to sync gradients."""

    def __init__(self, model: AVSep):
        super().__init__()
        self.model = model

    def forward(self, mix, lips, fps):
        return separate_batch(self.model, mix, lips, fps)
