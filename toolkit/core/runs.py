"""Run directories and the model store.

A run lives in ``runs/<model>/<name>/``::

    config.json          what was asked for (model, options, data, seed, device)
    metrics.jsonl        one JSON object per logged step
    checkpoints/         step-NNNNNNNN.{safetensors,json}, last.*, best.*
    samples/             sample grids from fixed noise

A training holds an exclusive lock on ``<run>/.lock`` (``flock``; released by the OS even after ``kill -9``)
from creating or opening the run until it ends, so two trainings can never write into one run.  A run
that failed before its first checkpoint is not a run yet: a retry with the same ``--out`` reuses it.

Runs are created under ``./runs`` (``$MEDIATK_RUNS``) unless ``--out`` says otherwise.  Every run is also
recorded in the model store's index (:mod:`mediatk.core.store`), so "the newest checkpoint of model X"
(:func:`resolve_checkpoint`) finds runs wherever they were written, by the same rule as detectors.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mediatk.core import store
from mediatk.core.checkpoint import TENSOR_SUFFIX, check_not_pickle
from mediatk.core.errors import CheckpointError, StorageError
from mediatk.core.fileio import append_jsonl, read_jsonl, write_json
from mediatk.core.store import home as mediatk_home  # noqa: F401 - the old name, kept for callers
from mediatk.core.store import runs_root as default_runs_root

LOCK_NAME = ".lock"


@dataclass
class RunDir:
    path: Path
    created: bool = False                               # this process made the folder itself
    lock_fd: int | None = field(default=None, repr=False)  # held while a training writes here

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

    def lock(self) -> None:
        """Take the run's exclusive lock, or raise a one-line error naming the process that holds it."""
        if self.lock_fd is not None:
            return
        lock_file = self.path / LOCK_NAME
        try:
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise StorageError(f"cannot create run directory {self.path}: {e.strerror or e}") from None
        if not store.try_lock(fd):
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise CheckpointError(f"{self.path} is in use by another training (pid {holder}); wait for it to "
                                  "finish or choose another --out")
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.lock_fd = fd

    def release(self) -> None:
        """Give the lock back (the OS does so too when the process ends)."""
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

    def discard_if_unstarted(self) -> None:
        """After a failed start: remove what the run wrote if it has no checkpoint and no logged step."""
        if self.latest_checkpoint() is not None or self.read_metrics():
            return
        for name in ("config.json", "metrics.jsonl", LOCK_NAME):
            (self.path / name).unlink(missing_ok=True)
        for sub in (self.checkpoints, self.samples):
            if sub.is_dir() and not any(sub.iterdir()):
                sub.rmdir()
        if self.created and not any(self.path.iterdir()):
            self.path.rmdir()

    def latest_checkpoint(self) -> Path | None:
        """The checkpoint to resume from / sample with: ``last`` when present, else the highest step."""
        return store.latest_checkpoint(self.path)


def _mkdir(path: Path, exist_ok: bool) -> bool:
    """Create ``path`` (and parents); True if this call made it.  Refusals are one-line StorageErrors."""
    try:
        path.mkdir(parents=True, exist_ok=exist_ok)
    except FileExistsError:
        if not exist_ok or not path.is_dir():
            raise
        return False
    except OSError as e:
        raise StorageError(f"cannot create run directory {path}: {e.strerror or e}") from None
    return True


def new_run(model: str, out: str | os.PathLike | None = None, name: str | None = None) -> RunDir:
    """Create a fresh run directory (``out`` exactly when given), lock it, and record it in the store's index.

    ``out`` may be empty, hold other files, or hold a run that failed before its first checkpoint (then it
    is started afresh); a run with a checkpoint is refused (resume it instead).
    """
    if out is not None:
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise CheckpointError(f"--out {path} is a file, not a directory")
        existed = path.is_dir()
        run = RunDir(path, created=_mkdir(path, exist_ok=True) and not existed)
    else:
        stamp = name or time.strftime("%Y%m%d-%H%M%S")
        i = 1
        while True:  # exclusive create: two runs started in the same second get different folders
            path = default_runs_root() / model / (stamp if i == 1 else f"{stamp}-{i}")
            try:
                _mkdir(path, exist_ok=False)
                break
            except FileExistsError:
                i += 1
        run = RunDir(path, created=True)
    run.lock()
    try:
        if run.config_file.exists():
            if run.latest_checkpoint() is not None:
                raise CheckpointError(f"{path} already holds a run; use --resume {path} to continue it or choose "
                                      "another --out")
            run.metrics.unlink(missing_ok=True)  # a failed start's log: this run starts again from step 0
        _mkdir(run.checkpoints, exist_ok=True)
        _mkdir(run.samples, exist_ok=True)
    except BaseException:
        run.release()
        raise
    try:
        store.record("generator", model, path)
    except StorageError:
        pass  # a read-only home must not stop training; the scan of runs/<model> still finds the run
    return run


def open_run(path: str | os.PathLike, lock: bool = False) -> RunDir:
    """An existing run; ``lock=True`` (resuming) also takes its lock."""
    p = Path(path)
    if not p.is_dir():
        raise CheckpointError(f"run directory {p} does not exist")
    if not (p / "config.json").is_file():
        raise CheckpointError(f"{p} is not a mediatk run directory (no config.json)")
    run = RunDir(p)
    if lock:
        run.lock()
    return run


def newest_checkpoint(model: str) -> Path | None:
    """The newest checkpoint of ``model`` the user trained, anywhere the store knows of, or None."""
    e = store.newest("generator", model)
    return e.checkpoint if e else None


def resolve_checkpoint(model: str, checkpoint: str | os.PathLike | None, train_hint: str) -> Path:
    """``--checkpoint`` may be a file, a run directory, or absent: the newest the user trained, else the
    pretrained one shipped in :mod:`mediatk.zoo`."""
    if checkpoint is None:
        found = store.find("generator", model)  # the newest you trained, else the zoo's
        if found is None:
            raise CheckpointError(f"no trained {model!r} checkpoint found and none is pretrained; make one with: "
                                  f"{train_hint}")
        return found.checkpoint
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
    check_not_pickle(p)
    if p.suffix != TENSOR_SUFFIX and p.with_suffix(TENSOR_SUFFIX).is_file():
        return p.with_suffix(TENSOR_SUFFIX)
    if not p.exists():
        raise CheckpointError(f"checkpoint {p} does not exist")
    return p
