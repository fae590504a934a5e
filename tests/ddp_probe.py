"""Run by tests/test_ddp.py under torchrun: resumes `tiny` training in RUN up
to STEPS through the real train() and batches(), and writes what each rank
saw to REPORT/rank<r>.json: a digest of its weights after every step, a digest
of every mixture it trained on, and the checkpoint files it wrote.

    torchrun --nproc_per_node 2 tests/ddp_probe.py RUN STEPS REPORT
"""

import hashlib
import json
import sys
from pathlib import Path

import torch

from avsep_mobile import checkpoint
from avsep_mobile.model import AVSep, preset
from avsep_mobile.train import TrainConfig, _dist_env, batches, train

# the same run as `avsep train --preset tiny --steps N --batch 2 --seconds 1.0 --pool 16`
PROBE_CONFIG = dict(batch=2, seconds=1.0, pool_size=16)


def digest(tensors) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def main(run: str, steps: int, report: str) -> None:
    rank, world = _dist_env()
    tc = TrainConfig(steps=steps, **PROBE_CONFIG)
    last = Path(run) / "last.pt"
    start = checkpoint.load_raw(last)["step"] if last.exists() else 0
    torch.manual_seed(tc.seed)
    model = AVSep(preset("tiny"))
    seen = {"rank": rank, "world": world, "start_step": start, "weights": [], "mixes": [], "saved": []}

    def recorded(data):
        for batch in data:
            seen["mixes"] += [digest([m]) for m in batch["mix"]]
            yield batch

    save = checkpoint.save

    def save_and_record(path, *args, **kwargs):  # the real save, noting who called it
        seen["saved"].append(Path(path).name)
        return save(path, *args, **kwargs)

    checkpoint.save = save_and_record
    train(model.cfg, tc, run, init=model, data=recorded(batches(tc, rank, world, start_step=start)), log=print,
          on_step=lambda loss: seen["weights"].append(digest(model.parameters())))
    Path(report).mkdir(parents=True, exist_ok=True)
    (Path(report) / f"rank{rank}.json").write_text(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
