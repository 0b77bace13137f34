"""The one training engine every generator uses.

``fit(model, data, run, TrainConfig(...))`` owns the loop: device placement, bfloat16 autocast on CUDA,
an optional exponential moving average (EMA) of the weights, gradient clipping, a NaN/Inf guard, atomic
checkpoints every N steps and at the end, exact resumption (optimiser state, step, data position and RNG
state are all in the checkpoint), a progress bar with live losses, ``metrics.jsonl``, sample grids from
fixed inputs, a periodic evaluation hook with a best-checkpoint rule, extra loss terms on generated images
(:class:`GeneratorPenalty`, e.g. the arena's evasion of detectors), and data parallelism when started
under ``torchrun`` (gradients are averaged across ranks after each backward pass; gloo on CPU, NCCL on
CUDA; rank 0 writes).

Data comes in as a :class:`~mediatk.generators.feeds.Feed`: an endless, seeded, resumable sequence of minibatches.  Batch ``i`` is a
pure function of (seed, i, rank), so a resumed run sees exactly the batches the uninterrupted one would.
"""

from __future__ import annotations

import copy
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mediatk.core.checkpoint import load_checkpoint, load_into, save_checkpoint
from mediatk.core.errors import ConfigError, TrainingError
from mediatk.core.runs import RunDir
from mediatk.core.runtime import Precision, flush_denormals, resolve_device, seed_everything
from mediatk.generators.base import Generator, StepContext, Update
from mediatk.generators.feeds import Feed, PairFeed

# ---------------------------------------------------------------------------------------------------------
# configuration and result


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 64
    device: str = "auto"
    seed: int = 0
    amp: bool | None = None          # None: on for CUDA, off elsewhere
    ema: float | None = None         # e.g. 0.999; sampling then uses the EMA weights
    grad_clip: float | None = None   # max global gradient norm per optimiser step
    log_every: int = 25
    sample_every: int = 0            # 0: only at the end
    ckpt_every: int = 500
    eval_every: int = 0              # 0: only at the end when an evaluator is given
    best_metric: str | None = None   # e.g. "fid" (lower is better) or "acc:max"; never on a test split
    n_preview: int = 64
    progress: bool = True
    tensorboard: bool = True         # also log to RUNDIR/tensorboard (losses, learning rates, eval, samples)
    extra_meta: dict[str, Any] = field(default_factory=dict)  # dataset name etc., into every checkpoint


@dataclass
class TrainResult:
    run: RunDir | None
    step: int
    history: list[dict[str, Any]]
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    seconds: float
    images_seen: int
    # how best_checkpoint was chosen: {"metric", "value", "step", "split"} (split: the evaluator's, e.g. "val")
    selection: dict[str, Any] | None = None


@dataclass
class GeneratorPenalty:
    """An extra loss term on generated images, added to the update of the model's generator optimiser.

    At each training step, when the model yields its update for ``model.generator_optimizer``, the engine
    draws ``model.sample(batch_size)`` (with gradients, from the training RNG) and adds ``weight * term`` to
    that update's loss before backward.  ``fn(images)`` returns the term, or a dict of named parts whose mean
    is the term.  The term is logged (unweighted) as ``name`` and each part as ``name_part``.  A penalty holds
    no state, so a resumed run with the same penalties equals an uninterrupted one.  The model's own
    ``training_step`` is never changed: the arena's evasion of frozen detectors is one such penalty.
    """

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor | dict[str, torch.Tensor]]
    weight: float = 1.0

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "weight": self.weight}


def check_penalties(model: Generator, penalties: list[GeneratorPenalty] | tuple[GeneratorPenalty, ...]) -> None:
    """ConfigError when ``model`` cannot take penalties on its samples, or two penalties share a name."""
    if not penalties:
        return
    if not model.can_sample or model.offline:
        raise ConfigError(f"{model.name} does not sample images by gradient training; a loss on its samples "
                          "does not apply")
    names = [p.name for p in penalties]
    if len(set(names)) != len(names):
        raise ConfigError(f"penalty names must differ: {', '.join(names)}")


def _with_penalties(model: Generator, upd: Update, penalties: list[GeneratorPenalty] | tuple[GeneratorPenalty, ...],
                    n: int) -> Update:
    """``upd`` with every penalty added when it is the generator optimiser's update (one sample batch for all)."""
    if not penalties or upd.optimizer != model.generator_optimizer:
        return upd
    x = model.sample(n)
    loss, logs = upd.loss, dict(upd.logs)
    for p in penalties:
        out = p.fn(x)
        parts = out if isinstance(out, dict) else {}
        term = torch.stack(list(parts.values())).mean() if parts else out
        loss = loss + p.weight * term
        logs[p.name] = term.detach()
        logs.update({f"{p.name}_{k}": v.detach() for k, v in parts.items()})
    return Update(upd.optimizer, loss, logs)


# ---------------------------------------------------------------------------------------------------------
# helpers


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return world, rank, local


def _init_distributed(device: torch.device) -> None:
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def _rng_state(device: torch.device) -> dict[str, Any]:
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "python": random.getstate(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"].to(torch.uint8))
    npst = state["numpy"]
    np.random.set_state(("MT19937", npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"],
                         npst["gauss"]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].to(torch.uint8), device)


class EMA:
    """Exponential moving average of a model's floating-point parameters and buffers.

    The decay warms up as min(decay, (1 + t) / (10 + t)) after t updates (TensorFlow's
    ``ExponentialMovingAverage(num_updates=t)`` rule): a fixed 0.999 from step 0 keeps ~13 % of the
    initial weights after 2000 steps, and a cgan on celeba-genki-smiling sampled from such an average had
    FID 46 at step 2000 where the live G had 2.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = copy.deepcopy(model).eval()
        for p in self.shadow.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        for s, p in zip(self.shadow.state_dict().values(), model.state_dict().values()):
            if s.dtype.is_floating_point:
                s.mul_(d).add_(p.detach(), alpha=1 - d)
            else:
                s.copy_(p)


def _scalar(v: Any) -> float:
    return float(v.detach().float().item()) if isinstance(v, torch.Tensor) else float(v)


# ---------------------------------------------------------------------------------------------------------
# the loop


def check_selection(evaluator: Any, best_metric: str | None) -> None:
    """ConfigError when ``best_metric`` would pick checkpoints with an evaluator that reads the test split."""
    if best_metric and evaluator is not None and getattr(evaluator, "split", None) == "test":
        raise ConfigError(f"--best-metric {best_metric} would choose the checkpoint on the test split that is "
                          "then reported; give the training evaluator the val split")


def fit(model: Generator, feed: Feed | PairFeed, run: RunDir | None, tc: TrainConfig,
        resume: str | Path | None = None,
        evaluator: Callable[[Generator, int], dict[str, float]] | None = None,
        penalties: list[GeneratorPenalty] | tuple[GeneratorPenalty, ...] = ()) -> TrainResult:
    """Train ``model`` on ``feed`` for ``tc.steps`` steps (total, counting resumed ones).

    ``run=None`` trains in memory only (no checkpoints, samples or metrics files): how detectors train the
    autoencoders inside them with this same engine.

    With ``tc.best_metric`` the evaluator chooses ``checkpoints/best``; an evaluator that says it reads the
    test split (``evaluator.split == "test"``) is refused for that, since the chosen checkpoint's test figure
    would then be biased upwards.  Selection uses a validation split; reports use test.

    ``penalties``: extra loss terms on generated images (:class:`GeneratorPenalty`), recorded by name and
    weight in every checkpoint.
    """
    check_selection(evaluator, tc.best_metric)
    check_penalties(model, penalties)
    selected_on = getattr(evaluator, "split", None)
    world, rank, local = _dist_info()
    device = resolve_device(tc.device)
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", local)
    if world > 1:
        _init_distributed(device)
    is_main = rank == 0
    writes = is_main and run is not None
    if device.type == "cpu":
        flush_denormals()
    seed_everything(tc.seed + rank)
    precision = Precision.for_device(device, tc.amp)
    model.to(device).train()
    t_start = time.perf_counter()
    history: list[dict[str, Any]] = []

    if model.offline:
        return _fit_offline(model, feed, run, tc, t_start)

    optimizers = model.configure_optimizers()
    if penalties and model.generator_optimizer not in optimizers:
        raise ConfigError(f"{model.name} has no optimiser {model.generator_optimizer!r} to add penalties to")
    ema = EMA(model, tc.ema) if tc.ema else None
    step, best_value, best_step = 0, None, None
    best_path: Path | None = None
    if resume is not None:
        ckpt = load_checkpoint(resume, expect_model=model.name)
        load_into(model, ckpt, "model")
        for name, opt in optimizers.items():
            opt.load_state_dict(ckpt.extra["optim"][name])
        if ema is not None and any(k.startswith("ema/") for k in ckpt.tensors):
            load_into(ema.shadow, ckpt, "ema")
        step = int(ckpt.meta["step"])
        feed.load_state(ckpt.extra["feed"])
        _set_rng_state(ckpt.extra["rng"], device)
        best_value, best_step = ckpt.extra.get("best_value"), ckpt.extra.get("best_step")
        if run is not None and run.ckpt("best").with_suffix(".safetensors").is_file():
            best_path = run.ckpt("best").with_suffix(".safetensors")
        if step >= tc.steps:
            raise TrainingError(f"{resume} is already at step {step}; ask for more with --steps N (> {step})")
    if world > 1:
        import torch.distributed as dist

        for t in model.state_dict().values():
            dist.broadcast(t.data if hasattr(t, "data") else t, src=0)

    # fixed inputs for the periodic sample grid: drawn from their own generator, never the training RNG
    gen = torch.Generator().manual_seed(tc.seed + 12345)
    head = feed.head(tc.n_preview)
    fixed = model.preview_inputs(tuple(t.to(device) for t in head), tc.n_preview, gen)  # type: ignore[arg-type]

    def meta(step_: int, logs: dict[str, float]) -> dict[str, Any]:
        return {"model": model.name, "spec": model.spec(), "step": step_, "seed": tc.seed,
                "image_size": model.image_shape[-1], "metrics": logs,
                "train": {k: v for k, v in asdict(tc).items() if k != "extra_meta"}, **tc.extra_meta,
                **({"penalties": [p.describe() for p in penalties]} if penalties else {})}

    def save(tag: str, logs: dict[str, float]) -> Path:
        modules: dict[str, Any] = {"model": model}
        if ema is not None:
            modules["ema"] = ema.shadow
        extra = {"optim": {n: o.state_dict() for n, o in optimizers.items()}, "rng": _rng_state(device),
                 "feed": feed.state(), "best_value": best_value, "best_step": best_step}
        m = meta(step, logs)
        if tag == "best":
            m["selection"] = selection()
        return save_checkpoint(run.ckpt(tag), modules, m, extra=extra)

    def selection() -> dict[str, Any] | None:
        if best_value is None:
            return None
        return {"metric": tc.best_metric, "value": best_value, "step": best_step, "split": selected_on}

    tb = None
    if writes and tc.tensorboard:
        from mediatk.core.tblog import TrainLog

        tb = TrainLog(run.path)

    def sample_grid(tag: str) -> None:
        imgs = _write_preview(ema.shadow if ema is not None else model, fixed, run.samples / f"{tag}.png", device)
        if tb is not None:
            tb.grid("samples", imgs, step)

    def evaluate() -> dict[str, float]:
        if evaluator is None:
            return {}
        net = ema.shadow if ema is not None else model
        was_training = net.training
        net.eval()
        with torch.no_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            res = evaluator(net, step)
        net.train(was_training)
        return res

    bar = None
    if tc.progress and is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=tc.steps, initial=step, desc=model.name, unit="step", dynamic_ncols=True, leave=False)

    window: dict[str, list[float]] = {}
    last_good: Path | None = run.latest_checkpoint() if run is not None else None
    images_seen = 0
    batch_size = getattr(feed, "batch_size", 0)

    def next_batch() -> tuple[torch.Tensor, torch.Tensor]:
        a, b = feed.next()
        return a.to(device, non_blocking=True), b.to(device, non_blocking=True)

    logs: dict[str, float] = {}
    while step < tc.steps:
        batch = next_batch()
        ctx = StepContext(step=step, device=device, next_batch=next_batch)
        it = model.training_step(batch, ctx)
        while True:
            with precision.autocast(device):
                try:
                    upd = next(it)
                except StopIteration:
                    break
                upd = _with_penalties(model, upd, penalties, batch[0].shape[0])
            loss = upd.loss.float()
            if not torch.isfinite(loss):
                where = f"last good checkpoint: {last_good}" if last_good else "no checkpoint was written yet"
                raise TrainingError(f"{model.name}: loss for optimiser {upd.optimizer!r} became "
                                    f"{loss.item()} at step {step}; stopped ({where}); try a lower learning "
                                    "rate or --grad-clip")
            opt = optimizers[upd.optimizer]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
            if world > 1:
                import torch.distributed as dist

                for p in params:
                    dist.all_reduce(p.grad)
                    p.grad.div_(world)
            if tc.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, tc.grad_clip)
            opt.step()
            for k, v in {f"{upd.optimizer}_loss": loss, **upd.logs}.items():
                window.setdefault(k, []).append(_scalar(v))
        if ema is not None:
            ema.update(model, step)
        step += 1
        images_seen += batch_size * world
        if bar is not None:
            bar.update(1)
            if step % 5 == 0 or step == tc.steps:
                bar.set_postfix({k: f"{np.mean(v):.4g}" for k, v in list(window.items())[:4]})
        if step % tc.log_every == 0 or step == tc.steps:
            logs = {k: float(np.mean(v)) for k, v in window.items()}
            rec = {"step": step, "epoch": round(feed.epoch, 4), "time": round(time.perf_counter() - t_start, 3),
                   **logs}
            history.append(rec)
            window = {}
            if writes:
                run.log(rec)
            if tb is not None:
                tb.scalars(step, logs, "train")
                tb.learning_rates(step, optimizers)
        if writes and tc.sample_every and step % tc.sample_every == 0 and step < tc.steps:
            sample_grid(f"step-{step:08d}")
        do_eval = evaluator is not None and (step == tc.steps or (tc.eval_every and step % tc.eval_every == 0))
        if do_eval and writes:
            res = evaluate()
            rec = {"step": step, **{f"eval/{k}": v for k, v in res.items()}}
            history.append(rec)
            run.log(rec)
            if tb is not None:
                tb.scalars(step, res, "eval")
            logs.update({f"eval/{k}": v for k, v in res.items()})
            if tc.best_metric:
                key, _, mode = tc.best_metric.partition(":")
                if key in res:
                    better = best_value is None or (res[key] > best_value if mode == "max" else res[key] < best_value)
                    if better:
                        best_value, best_step = res[key], step
                        best_path = save("best", logs)
        if writes and (step % tc.ckpt_every == 0 or step == tc.steps):
            last_good = save("last", logs)
    if bar is not None:
        bar.close()
    if writes:
        sample_grid("final")
    if tb is not None:
        tb.close()
    last = run.ckpt("last").with_suffix(".safetensors") if run is not None else None
    return TrainResult(run=run, step=step, history=history, last_checkpoint=last, best_checkpoint=best_path,
                       seconds=time.perf_counter() - t_start, images_seen=images_seen,
                       selection=selection() if best_path is not None else None)


def _write_preview(net: Generator, fixed: dict[str, torch.Tensor], path: Path, device: torch.device) -> torch.Tensor:
    """The periodic sample grid, in eval mode and without touching the training RNG; returns its images."""
    from mediatk.media.draw import save_grid

    was_training = net.training
    net.eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        imgs = net.preview(fixed).float().clamp(-1, 1).cpu()
    net.train(was_training)
    save_grid(imgs, path)
    return imgs


def _fit_offline(model: Generator, feed: Any, run: RunDir | None, tc: TrainConfig, t_start: float) -> TrainResult:
    """Models fitted in one shot (PCA): all training images at once, one checkpoint."""
    images = feed.images if hasattr(feed, "images") else feed.a.images
    logs = model.fit_offline(images.to(next(iter(model.buffers()), torch.empty(0)).device))
    if run is None:
        return TrainResult(run=None, step=1, history=[{"step": 1, **logs}], last_checkpoint=None,
                           best_checkpoint=None, seconds=time.perf_counter() - t_start, images_seen=len(images))
    rec = {"step": 1, "time": round(time.perf_counter() - t_start, 3), **logs}
    run.log(rec)
    meta = {"model": model.name, "spec": model.spec(), "step": 1, "seed": tc.seed,
            "image_size": model.image_shape[-1], "metrics": logs, **tc.extra_meta}
    path = save_checkpoint(run.ckpt("last"), {"model": model}, meta)
    head = feed.head(tc.n_preview)
    fixed = model.preview_inputs(head, tc.n_preview, torch.Generator().manual_seed(tc.seed))
    _write_preview(model, fixed, run.samples / "final.png", torch.device("cpu"))
    return TrainResult(run=run, step=1, history=[rec], last_checkpoint=path, best_checkpoint=None,
                       seconds=time.perf_counter() - t_start, images_seen=len(images))


def make_feed(images: torch.Tensor, targets: torch.Tensor, batch_size: int, seed: int) -> Feed:
    world, rank, _ = _dist_info()
    return Feed(images, targets, batch_size, seed=seed, rank=rank, world=world)


def steps_for_epochs(epochs: float, n: int, batch_size: int) -> int:
    world, _, _ = _dist_info()
    return max(1, math.ceil(epochs * max(1, n // (batch_size * world))))
