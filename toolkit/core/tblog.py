"""TensorBoard logs for training runs and arenas (``tensorboard --logdir runs``).

A training run writes ``RUNDIR/tensorboard/``: the same losses as ``metrics.jsonl`` (``train/...``), each
optimiser's learning rate (``lr/...``), evaluation figures (``eval/...``) and the sample grids
(``samples``).  An arena writes ``OUT/tensorboard/`` from its ``results.json``: per round the AUC of every
detector on every generator, the evasion/recovery/forgetting AUCs, FID/KID, and a grid of each generator's
fakes.  The files are a view of what the run already records; ``metrics.jsonl`` and ``results.json`` stay
the source of truth.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

SUBDIR = "tensorboard"


class TrainLog:
    """A SummaryWriter for one training run; every method is a no-op for non-finite values."""

    def __init__(self, run_dir: str | Path):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(Path(run_dir) / SUBDIR))

    def scalars(self, step: int, values: dict[str, Any], prefix: str) -> None:
        for k, v in values.items():
            if isinstance(v, (int, float)) and math.isfinite(float(v)):
                self.writer.add_scalar(f"{prefix}/{k}", float(v), step)

    def learning_rates(self, step: int, optimizers: dict[str, torch.optim.Optimizer]) -> None:
        for name, opt in optimizers.items():
            for i, group in enumerate(opt.param_groups):
                tag = f"lr/{name}" if len(opt.param_groups) == 1 else f"lr/{name}_{i}"
                self.writer.add_scalar(tag, float(group["lr"]), step)

    def grid(self, tag: str, images: torch.Tensor, step: int) -> None:
        """``N x C x H x W`` images in [-1, 1] as one grid image."""
        from torchvision.utils import make_grid

        grid = make_grid(images.detach().float().cpu().clamp(-1, 1), nrow=math.ceil(math.sqrt(len(images))),
                         normalize=True, value_range=(-1, 1))
        self.writer.add_image(tag, grid, step)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


def log_arena(out: str | Path, results: dict[str, Any], fakes: dict[str, torch.Tensor] | None = None) -> Path:
    """Write the arena's per-round figures from ``results`` (rewritten whole on every call, so a resumed
    arena does not show its rounds twice); ``fakes`` maps ``"{generator}_r{round}"`` to sample images."""
    logdir = Path(out) / SUBDIR
    if logdir.is_dir():
        for old in logdir.glob("events.out.tfevents.*"):
            old.unlink()
    log = TrainLog(out)
    for row in results.get("rounds", []):
        for d, per_gen in row.get("auc", {}).items():
            log.scalars(int(row["round"]), per_gen, f"auc/{d}")
    for r in results.get("table", []):
        step = int(str(r["transition"]).split("->")[1])
        vals = {k: r[k] for k in ("auc_before", "auc_evasion", "auc_recovery", "auc_forgetting") if r.get(k) is not None}
        log.scalars(step, vals, f"transition/{r['detector']}/{r['generator']}")
    for key, q in results.get("quality", {}).items():
        g, _, t = key.rpartition("_r")
        if t.isdigit():
            log.scalars(int(t), {k: v for k, v in q.items() if k in ("fid", "kid")}, f"quality/{g}")
    for key, x in (fakes or {}).items():
        g, _, t = key.rpartition("_r")
        if t.isdigit() and len(x):
            log.grid(f"fakes/{g}", x[:36], int(t))
    log.close()
    return logdir
