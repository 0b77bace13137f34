"""Run directories and the model store.

A run lives in ``runs/<model>/<name>/``::

    config.json          what was asked for (model, options, data, seed, device)
    metrics.jsonl        one JSON object per logged step
    checkpoints/         step-NNNNNNNN.{safetensors,json}, last.*, best.*
    samples/             sample grids from fixed noise

Runs are created under ``./runs`` unless ``--out`` says otherwise.  Every run is also recorded in the model
store's index (``$MEDIATK_HOME/index.jsonl``; ``MEDIATK_HOME`` defaults to the user cache directory), so
"the newest checkpoint of model X" (:func:`newest_checkpoint`) finds runs wherever they were written.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checkpoint import TENSOR_SUFFIX, read_meta
from .errors import CheckpointError
from .fileio import append_jsonl, read_jsonl, write_json


def mediatk_home() -> Path:
    env = os.environ.get("MEDIATK_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("mediatk"))


def default_runs_root() -> Path:
    return Path(os.environ.get("MEDIATK_RUNS", "runs"))


@dataclass
class RunDir:
    path: Path

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    def ckpt(self, tag: str) -> Path:
        """Base path (no suffix) of checkpoint ``tag``: ``last``, ``best`` or ``step-00001000``."""
        return self.checkpoints / tag

    def step_tag(self, step: int) -> str:
        return f"step-{step:08d}"

    def write_config(self, config: dict[str, Any]) -> None:
        write_json(self.config_file, config)

    def log(self, record: dict[str, Any]) -> None:
        append_jsonl(self.metrics, record)

    def read_metrics(self) -> list[dict[str, Any]]:
        return read_jsonl(self.metrics) if self.metrics.is_file() else []

    def latest_checkpoint(self) -> Path | None:
        """The checkpoint to resume from / sample with: ``last`` when present, else the highest step."""
        last = self.ckpt("last").with_suffix(TENSOR_SUFFIX)
        if last.is_file() and last.with_suffix(".json").is_file():
            return last
        steps = sorted(self.checkpoints.glob("step-*" + TENSOR_SUFFIX))
        steps = [s for s in steps if s.with_suffix(".json").is_file()]
        return steps[-1] if steps else None


def new_run(model: str, out: str | os.PathLike | None = None, name: str | None = None) -> RunDir:
    """Create a fresh run directory (``out`` exactly when given) and record it in the store's index."""
    if out is not None:
        path = Path(out)
        if path.exists() and any(path.iterdir()):
            if (path / "config.json").exists():
                raise CheckpointError(f"{path} already holds a run; use --resume {path} to continue it or choose "
                                      "another --out")
    else:
        stamp = name or time.strftime("%Y%m%d-%H%M%S")
        path = default_runs_root() / model / stamp
        i = 1
        while path.exists():
            i += 1
            path = default_runs_root() / model / f"{stamp}-{i}"
    path.mkdir(parents=True, exist_ok=True)
    (path / "checkpoints").mkdir(exist_ok=True)
    (path / "samples").mkdir(exist_ok=True)
    try:
        append_jsonl(mediatk_home() / "index.jsonl", {"model": model, "path": str(path.resolve()),
                                                       "created": time.time()})
    except OSError:
        pass  # a read-only home must not stop training; the ./runs scan still finds the run
    return RunDir(path)


def open_run(path: str | os.PathLike) -> RunDir:
    p = Path(path)
    if not p.is_dir():
        raise CheckpointError(f"run directory {p} does not exist")
    if not (p / "config.json").is_file():
        raise CheckpointError(f"{p} is not a mediatk run directory (no config.json)")
    return RunDir(p)


def _candidate_runs(model: str) -> list[Path]:
    roots = [default_runs_root() / model, mediatk_home() / "runs" / model]
    found: list[Path] = []
    for root in roots:
        if root.is_dir():
            found.extend(p for p in root.iterdir() if p.is_dir())
    index = mediatk_home() / "index.jsonl"
    if index.is_file():
        for rec in read_jsonl(index):
            if str(rec.get("model", "")).lower() == model.lower():
                found.append(Path(rec["path"]))
    seen, out = set(), []
    for p in found:
        key = os.path.realpath(p)
        if key not in seen and p.is_dir():
            seen.add(key)
            out.append(p)
    return out


def newest_checkpoint(model: str) -> Path | None:
    """The most recently written usable checkpoint of ``model`` anywhere mediatk knows of, or None."""
    best: tuple[float, Path] | None = None
    for run in _candidate_runs(model):
        ck = RunDir(run).latest_checkpoint()
        if ck is None:
            continue
        try:
            meta = read_meta(ck)
        except CheckpointError:
            continue
        if str(meta.get("model", "")).lower() != model.lower():
            continue
        t = ck.with_suffix(".json").stat().st_mtime
        if best is None or t > best[0]:
            best = (t, ck)
    return best[1] if best else None


def resolve_checkpoint(model: str, checkpoint: str | os.PathLike | None, train_hint: str) -> Path:
    """``--checkpoint`` may be a file, a run directory, or absent: the newest the user trained, else the
    pretrained one shipped in :mod:`mediatk.zoo`."""
    if checkpoint is None:
        ck = newest_checkpoint(model)
        if ck is None:  # nothing trained by the user: the shipped pretrained model, if any
            from .zoo import pretrained

            ck = pretrained(model)
        if ck is None:
            raise CheckpointError(f"no trained {model!r} checkpoint found and none is pretrained; make one with: "
                                  f"{train_hint}")
        return ck
    p = Path(checkpoint)
    if p.is_dir():
        run = RunDir(p)
        ck = run.latest_checkpoint()
        if ck is None and (p / "checkpoints").is_dir() is False:
            # maybe the folder itself holds checkpoint files
            cands = sorted(p.glob("*" + TENSOR_SUFFIX))
            ck = cands[-1] if cands else None
        if ck is None:
            raise CheckpointError(f"{p} holds no checkpoint")
        return ck
    if p.suffix != TENSOR_SUFFIX and p.with_suffix(TENSOR_SUFFIX).is_file():
        return p.with_suffix(TENSOR_SUFFIX)
    if not p.exists():
        raise CheckpointError(f"checkpoint {p} does not exist")
    return p
