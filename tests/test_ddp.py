"""Scale-out: training and distillation under `torchrun --nproc_per_node 2` on
CPU (gloo), as a user runs them. DDP needs every trainable parameter to reach
the loss (find_unused_parameters stays off); ranks must hold identical weights,
train on different mixtures, leave the writing to rank 0, and resume from the
last state."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from avsep_mobile import checkpoint
from avsep_mobile.model import AVSep, preset
from avsep_mobile.train import TrainConfig, train
from tests.test_cli_and_train import _synthetic_batches

REPO = Path(__file__).resolve().parents[1]
PROCS = 2
POOL = 16  # utterances: the tiny pool both ranks share (built once, under the cache lock)
FIRST_STEPS, TOTAL_STEPS, DISTILL_STEPS = 2, 4, 2
RUN_TIMEOUT_S = 300


def test_every_trainable_parameter_gets_a_gradient(tmp_path):
    torch.manual_seed(0)
    model = AVSep(preset("tiny"))
    tc = TrainConfig(steps=1, batch=2, seconds=1.0, warmup=1)
    train(model.cfg, tc, tmp_path / "run", init=model, data=_synthetic_batches(), log=lambda m: None)
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters that never reach the loss (DDP fails on them): {missing}"


def _torchrun(args, cache, timeout=RUN_TIMEOUT_S) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "AVSEP_CACHE": str(cache), "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(PROCS), *args]
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{' '.join(args)} failed:\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One stopped CLI training run, resumed under torchrun by the probe, then
    `avsep distill` from its model: three torchrun launches, shared by the tests."""
    root = tmp_path_factory.mktemp("ddp")
    cache, run, report, kd = root / "cache", root / "run", root / "report", root / "kd"
    first = _torchrun(["-m", "avsep_mobile.cli", "train", "--preset", "tiny", "--out", str(run), "--steps", str(FIRST_STEPS),
                       "--batch", "2", "--seconds", "1.0", "--pool", str(POOL)], cache)
    first_last = torch.load(run / "last.pt", weights_only=False)
    resumed = _torchrun([str(REPO / "tests" / "ddp_probe.py"), str(run), str(TOTAL_STEPS), str(report)], cache)
    distilled = _torchrun(["-m", "avsep_mobile.cli", "distill", "--teacher", str(run / "model.pt"), "--student-preset", "tiny",
                           "--out", str(kd), "--steps", str(DISTILL_STEPS), "--batch", "2", "--seconds", "1.0",
                           "--pool", str(POOL)], cache)
    ranks = [json.loads((report / f"rank{r}.json").read_text()) for r in range(PROCS)]
    return {"root": root, "cache": cache, "run": run, "kd": kd, "first": first, "first_last": first_last,
            "resumed": resumed, "distilled": distilled, "ranks": ranks}


def test_ranks_hold_identical_weights_after_each_step(runs):
    r0, r1 = runs["ranks"]
    assert (r0["world"], r1["world"]) == (PROCS, PROCS) and (r0["rank"], r1["rank"]) == (0, 1)
    assert len(r0["weights"]) == TOTAL_STEPS - FIRST_STEPS
    assert r0["weights"] == r1["weights"]
    assert len(set(r0["weights"])) == len(r0["weights"])  # and they changed every step


def test_each_rank_trains_on_different_mixtures(runs):
    r0, r1 = runs["ranks"]
    assert len(r0["mixes"]) == len(r1["mixes"]) == 2 * (TOTAL_STEPS - FIRST_STEPS)
    assert not set(r0["mixes"]) & set(r1["mixes"])
    assert len(set(r0["mixes"])) == len(r0["mixes"])


def test_rank0_alone_writes_checkpoints_and_logs(runs):
    r0, r1 = runs["ranks"]
    assert r1["saved"] == [] and sorted(set(r0["saved"])) == ["last.pt", "model.pt"]
    for run, steps in ((runs["run"], TOTAL_STEPS), (runs["kd"], DISTILL_STEPS)):
        rows = (run / "log.csv").read_text().splitlines()[1:]
        assert [int(r.split(",")[0]) for r in rows] == list(range(1, steps + 1))  # one writer: no step twice
        assert sorted(p.name for p in run.iterdir()) == ["last.pt", "log.csv", "model.pt"]  # no temporaries left
    assert runs["resumed"].stdout.count("resumed from") == 1
    assert runs["first"].stdout.count("wrote ") == runs["distilled"].stdout.count("wrote ") == 1


def test_a_stopped_run_resumes_under_torchrun_from_its_last_state(runs):
    r0 = runs["ranks"][0]
    assert r0["start_step"] == FIRST_STEPS
    assert f"at step {FIRST_STEPS}" in runs["resumed"].stdout
    first, last = runs["first_last"], torch.load(runs["run"] / "last.pt", weights_only=False)
    assert (first["step"], last["step"]) == (FIRST_STEPS, TOTAL_STEPS)
    # the optimizer came back: Adam's per-parameter step counts went on from the saved ones
    assert all(int(s["step"]) == FIRST_STEPS for s in first["optimizer"]["state"].values())
    assert all(int(s["step"]) == TOTAL_STEPS for s in last["optimizer"]["state"].values())
    model, meta = checkpoint.load(runs["run"] / "model.pt")
    assert meta["steps"] == TOTAL_STEPS and meta["world_size"] == PROCS


def test_distill_runs_under_torchrun(runs):
    model, meta = checkpoint.load(runs["kd"] / "model.pt")
    assert model.cfg == preset("tiny") and meta["steps"] == DISTILL_STEPS and meta["world_size"] == PROCS


def test_ranks_share_one_cached_pool(runs):
    """One pool of each kind (synthesised; recorded speech) for all ranks, each built under its lock."""
    pools = [p for p in runs["cache"].iterdir() if p.name.startswith("pool-")]
    kinds = [json.loads((p / "meta.json").read_text()).get("kind", "synthesised") for p in pools]
    assert sorted(kinds) == sorted(set(kinds)) and "synthesised" in kinds, kinds
    assert sorted(p.name for p in runs["cache"].iterdir() if p.name.startswith(".")) == sorted(f".{p.name}.lock" for p in pools)
