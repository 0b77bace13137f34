"""Train a registered generator on a dataset: the Python API behind ``mediatk train``.

``train("vae", data="fashion-mnist", steps=300)`` loads the data (through :mod:`mediatk.datasets`),
builds the model from its config, creates a run directory, and hands everything to the one engine
(:func:`mediatk.generators.engine.fit`).  ``resume=RUNDIR`` rebuilds the same model and data from the run's
``config.json`` and continues it.  ``init=CHECKPOINT`` fine-tunes a trained model in a new run (fresh
optimisers), and ``penalties`` add loss terms on generated samples (the arena's evasion of detectors uses
both).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch
from mediatk.core.errors import ConfigError, DataError
from mediatk.core.options import config_from_dict, parse_options
from mediatk.core.registry import GENERATORS
from mediatk.core.runs import RunDir, new_run, open_run
from mediatk.generators.base import Generator
from mediatk.generators.engine import (
    Feed,
    GeneratorPenalty,
    PairFeed,
    TrainConfig,
    TrainResult,
    check_penalties,
    check_selection,
    fit,
    make_feed,
    steps_for_epochs,
)

DEFAULT_IMAGE_SIZE = {"gan": 32}  # most models train at the data's native size unless --image-size


def load_training_data(model_cls: type[Generator], data: str, image_size: int | None, channels: int | None,
                       attrs: list[str] | None, split: str = "train", limit: int | None = None,
                       data_seed: int = 0):
    """Images and targets for a model: ``(images, targets, info)``, or ``((a, b), None, info)`` if unpaired.

    ``limit``: a random subset of at most this many images, drawn with ``data_seed``."""
    from mediatk.datasets import load_images, load_unpaired

    if model_cls.needs == "unpaired":
        a, b = load_unpaired(data, split=split, image_size=image_size, channels=channels)  # no limit: both domains
        return (a.tensor(), b.tensor()), None, {"dataset": a.name, "n_a": len(a), "n_b": len(b)}
    ds = load_images(data, split=split, image_size=image_size, channels=channels, attrs=attrs or None,
                     limit=limit, seed=data_seed)
    if model_cls.needs == "labels" and ds.attrs is None and ds.labels is None:
        raise DataError(f"{model_cls.name} is conditional but {data!r} has no labels; give --attr NAME on a "
                        "CelebA-layout set or use a labelled set")
    images = ds.tensor()
    if ds.attrs is not None and attrs:
        targets = ds.attrs.float()
    elif ds.labels is not None:
        targets = ds.labels.long()
    else:
        targets = torch.full((len(images),), -1, dtype=torch.long)
    info = {"dataset": ds.name, "n_train": len(ds), "classes": ds.classes, "attr_names": list(ds.attr_names)}
    return images, targets, info


def build_feed(cls: type[Generator], images: Any, targets: Any, batch_size: int, seed: int):
    """``(feed, image_shape, n_train)`` for what :func:`load_training_data` returned."""
    if cls.needs == "unpaired":
        a, b = images
        feed: Any = PairFeed(make_feed(a, torch.zeros(len(a)), batch_size, seed),
                             make_feed(b, torch.zeros(len(b)), batch_size, seed + 1))
        return feed, tuple(a.shape[1:]), len(a)
    return make_feed(images, targets, batch_size, seed), tuple(images.shape[1:]), len(images)


def train(model: str | None = None, data: str | None = None, steps: int | None = None, epochs: float | None = None, batch_size: int = 64,
          image_size: int | None = None, channels: int | None = None, attrs: list[str] | None = None,
          device: str = "auto", seed: int = 0, out: str | os.PathLike | None = None,
          resume: str | os.PathLike | None = None, options: list[str] | dict[str, Any] | None = None,
          limit: int | None = None, evaluator=None, record: dict[str, Any] | None = None,
          init: str | os.PathLike | None = None, penalties: list[GeneratorPenalty] | tuple = (),
          data_seed: int = 0, index: bool = True, meta: dict[str, Any] | None = None,
          **train_kw: Any) -> TrainResult:
    """Train (or resume) ``model`` on ``data``.  ``options`` are model options (CLI words or a dict).

    ``record``: further settings to keep in ``config.json`` (the CLI's evaluation sizes), so that the file
    is a complete recipe for ``mediatk train --config``.  ``init``: start from this checkpoint's weights
    (its options; fresh optimisers, a new run).  ``penalties``: extra losses on generated samples
    (:class:`~mediatk.generators.engine.GeneratorPenalty`; a resume must pass the same ones).  ``data_seed``
    draws the ``limit`` subset.  ``index=False`` keeps the run out of the store's index.  ``meta``: further
    entries for every checkpoint's sidecar.
    """
    _check_counts(steps, epochs, batch_size)
    if resume is not None:
        return resume_run(resume, steps=steps, epochs=epochs, device=device, evaluator=evaluator,
                          penalties=penalties, **train_kw)
    if model is None or data is None:
        raise ConfigError("give a model and --data (or --resume RUNDIR)")
    check_selection(evaluator, train_kw.get("best_metric"))  # before a run directory is made
    cls = GENERATORS.get(model)
    if init is not None and options:
        raise ConfigError("a model started from a checkpoint (init) keeps that checkpoint's options; give none")
    if isinstance(options, dict):
        cfg = config_from_dict(cls.Config, options)
    else:
        cfg = parse_options(cls.Config, options or [])
    images, targets, info = load_training_data(cls, data, image_size, channels, attrs, limit=limit,
                                               data_seed=data_seed)
    feed, shape, n = build_feed(cls, images, targets, batch_size, seed)
    num_classes = len(info.get("classes") or []) if not attrs else 0
    if cls.needs == "labels" and not attrs and not num_classes and targets is not None:
        num_classes = int(targets.max()) + 1
    from mediatk.core.runtime import seed_everything

    seed_everything(seed)  # the initial weights are part of what a seed reproduces
    if init is not None:
        net = _from_init(cls, init, shape)
        cfg = net.cfg
    else:
        net = cls(image_shape=shape, cfg=cfg, num_classes=num_classes,
                  attr_names=tuple(info.get("attr_names") or ()))
    if steps is None:
        steps = steps_for_epochs(epochs, n, batch_size) if epochs else 1000
    from mediatk.core.runtime import resolve_device

    resolve_device(device)  # an unusable --device fails here, before a run folder exists
    check_penalties(net, penalties)  # so does a penalty the model cannot take
    run = _make_run(cls.name, out, device, index)
    config = {"model": cls.name, "options": dataclasses.asdict(cfg), "data": str(data), "image_size": image_size,
              "channels": channels, "attrs": list(attrs or []), "batch_size": batch_size, "seed": seed,
              "steps": steps, "device": device, "limit": limit, "train": train_kw, **(record or {}),
              "data_info": info}
    extras = {"init": str(init) if init is not None else None, "data_seed": data_seed or None,
              "penalties": [p.describe() for p in penalties] or None, "meta": meta}
    config.update({k: v for k, v in extras.items() if v is not None})  # recipes without them stay as they were
    tc = TrainConfig(steps=steps, batch_size=batch_size, device=device, seed=seed,
                     extra_meta={"dataset": info.get("dataset"), "data": str(data), **(meta or {})}, **train_kw)
    try:
        if _rank() == 0:
            run.write_config(config)
        result = fit(net, feed, run, tc, evaluator=evaluator, penalties=penalties)
        _close_distributed(wait=True)
        return result
    except BaseException:
        if _rank() == 0:
            run.discard_if_unstarted()  # a failed start leaves nothing behind
        _close_distributed(wait=False)
        raise
    finally:
        run.release()


def _from_init(cls: type[Generator], init: str | os.PathLike, shape: tuple[int, ...]) -> Generator:
    """The model to fine-tune: ``init``'s weights (the EMA copy when it has one), checked against the data."""
    from mediatk.generators.base import from_checkpoint

    net = from_checkpoint(init, expect_model=cls.name)
    if tuple(net.image_shape) != tuple(shape):
        raise ConfigError(f"{init} holds a model of images {list(net.image_shape)}, but the data gives "
                          f"{list(shape)}; give the same --image-size and channels")
    return net


def _close_distributed(wait: bool) -> None:
    """Under torchrun: wait for every rank (rank 0 writes the last files), then close the process group.

    A rank that simply exited while another was still writing sometimes died in gloo's teardown ("terminate
    called without an active exception", SIGABRT) and failed the whole launch.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def _check_counts(steps: int | None, epochs: float | None, batch_size: int) -> None:
    """The Python API's version of the CLI's range checks (a run of 0 steps would write no checkpoint)."""
    if steps is not None and epochs is not None:
        raise ConfigError("give steps or epochs, not both")
    if steps is not None and steps < 1:
        raise ConfigError(f"steps must be at least 1, got {steps}")
    if epochs is not None and not epochs > 0:
        raise ConfigError(f"epochs must be positive, got {epochs}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _make_run(model: str, out, device: str, index: bool = True) -> RunDir:
    """Rank 0 creates the run directory; under torchrun the others learn its path from rank 0."""
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return new_run(model, out=out, index=index)
    import torch.distributed as dist
    from mediatk.core.runtime import resolve_device
    from mediatk.generators.engine import _init_distributed

    dev = resolve_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    _init_distributed(dev)
    box = [str(new_run(model, out=out, index=index).path) if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)  # a path string; torch pickles it between our own ranks only
    return RunDir(Path(box[0]))


def resume_run(run_dir: str | os.PathLike, steps: int | None = None, epochs: float | None = None,
               device: str | None = None, evaluator=None, penalties: list[GeneratorPenalty] | tuple = (),
               **train_kw: Any) -> TrainResult:
    """Continue the run in ``run_dir`` from its last checkpoint, with the same model, data and seed."""
    run = open_run(run_dir, lock=_rank() == 0)
    try:
        return _resume(run, steps, epochs, device, evaluator, train_kw, penalties)
    finally:
        run.release()


def _resume(run: RunDir, steps, epochs, device, evaluator, train_kw: dict[str, Any], penalties) -> TrainResult:
    import json

    config = json.loads(run.config_file.read_text())
    had, given = config.get("penalties") or [], [p.describe() for p in penalties]
    if had != given:
        names = ", ".join(f"{p['name']} (weight {p['weight']})" for p in had) or "none"
        raise ConfigError(f"{run.path} was trained with penalties: {names}; resume it with the same ones "
                          "(from Python: resume_run(..., penalties=...))")
    ck = run.latest_checkpoint()
    if ck is None:
        raise ConfigError(f"{run.path} has no checkpoint to resume from (it stopped before its first one); "
                          f"start it again with the same --out {run.path}")
    cls = GENERATORS.get(config["model"])
    cfg = config_from_dict(cls.Config, config["options"])
    images, targets, info = load_training_data(cls, config["data"], config["image_size"], config["channels"],
                                               config["attrs"], limit=config.get("limit"),
                                               data_seed=config.get("data_seed") or 0)
    bs, seed = config["batch_size"], config["seed"]
    feed, shape, n = build_feed(cls, images, targets, bs, seed)
    from mediatk.core.checkpoint import read_meta

    spec = read_meta(ck)["spec"]
    net = cls(image_shape=shape, cfg=cfg, num_classes=spec["num_classes"], attr_names=tuple(spec["attr_names"]))
    total = steps if steps is not None else (steps_for_epochs(epochs, n, bs) if epochs else config["steps"])
    kw = {**config.get("train", {}), **train_kw}
    tc = TrainConfig(steps=total, batch_size=bs, device=device or config["device"], seed=seed,
                     extra_meta={"dataset": info.get("dataset"), "data": config["data"], **(config.get("meta") or {})},
                     **kw)
    config["steps"] = total
    config["train"] = {**config.get("train", {}), **{k: v for k, v in train_kw.items() if k != "progress"}}
    if _rank() == 0:
        run.write_config(config)
    try:
        result = fit(net, feed, run, tc, resume=ck, evaluator=evaluator, penalties=penalties)
    except BaseException:
        _close_distributed(wait=False)
        raise
    _close_distributed(wait=True)
    return result


def run_dir_of(result: TrainResult) -> Path:
    return result.run.path


__all__ = ["Feed", "RunDir", "load_training_data", "resume_run", "train"]
