"""The model store: one index of everything trained, generator runs and detectors alike.

``MEDIATK_HOME`` (default: the user cache directory) is read here and nowhere else (:func:`home`).  It holds::

    store.jsonl                      the index: one JSON line per trained thing
    store.lock                       taken (flock) around every read and write of the index
    detectors/<name>/<time>/         detectors trained without --out
    quality/                         frozen feature nets (mediatk.evaluation.feature_nets)

An index line is ``{"kind": "generator"|"detector", "name": model name, "path": run folder or checkpoint,
"created": unix time, "metrics": {...summary}}``.  :func:`find` answers "the checkpoint of X" with one rule for
both kinds: the newest checkpoint (by the time its sidecar was written) among the index's entries for X and
the folders of X's default root (``$MEDIATK_RUNS/<model>/*`` for generators, ``$MEDIATK_HOME/detectors/<name>/*``
for detectors, so a run the index missed, say under a read-only home, is still found); else the package's zoo
entry of that kind (:mod:`mediatk.zoo`).

Homes written before this store kept two indexes (``index.jsonl`` for generator runs and
``detectors/index.jsonl``).  The first use of a home migrates both into ``store.jsonl``; the old files are left
as they were (an older mediatk may still read them).  Where the home cannot be written, they are read in place.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mediatk.core.checkpoint import TENSOR_SUFFIX, read_meta
from mediatk.core.errors import CheckpointError, ConfigError, StorageError
from mediatk.core.fileio import dumps_json, new_file_mode, write_text

KINDS = ("generator", "detector")
INDEX = "store.jsonl"
LEGACY_INDEXES = {"generator": "index.jsonl", "detector": "detectors/index.jsonl"}


def home() -> Path:
    """``$MEDIATK_HOME``, else the user cache directory: the one place mediatk keeps what it learnt."""
    env = os.environ.get("MEDIATK_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("mediatk"))


def runs_root() -> Path:
    """Where new generator runs go without ``--out``: ``$MEDIATK_RUNS``, else ``./runs``."""
    return Path(os.environ.get("MEDIATK_RUNS", "runs"))


def kind_root(kind: str, name: str | None = None) -> Path:
    """The default folder of ``kind`` (and of model ``name`` inside it)."""
    root = runs_root() if _kind(kind) == "generator" else home() / "detectors"
    return root / name.lower() if name else root


def index_file() -> Path:
    return home() / INDEX


@dataclass(frozen=True)
class Entry:
    """One trained thing, resolved to its usable checkpoint."""

    kind: str                     # "generator" | "detector"
    name: str                     # the model's registered name
    path: Path                    # as recorded: a run folder, a checkpoint, or a zoo weights file
    checkpoint: Path              # the .safetensors file to load
    written: float                # when the checkpoint's sidecar was written (the "newest" order)
    created: float = 0.0          # when the entry was recorded
    metrics: dict[str, Any] = field(default_factory=dict)  # headline figures
    source: str = "trained"       # "trained" | "zoo"
    label: str = ""               # the zoo entry's name


# ----------------------------------------------------------------------------------------------- locking

def try_lock(fd: int, blocking: bool = False) -> bool:
    """Take an exclusive lock on an open file (``flock``; released by the OS when the process ends)."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_LOCK if blocking else msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        return True
    except OSError:
        return False


@contextlib.contextmanager
def _index_lock(required: bool) -> Iterator[bool]:
    """Hold ``store.lock`` for the body; yields False (unlocked) when the home cannot be written and
    ``required`` is False (reading a read-only home)."""
    lock = home() / "store.lock"
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        if required:
            raise StorageError(f"cannot write the model store in {home()}: {e.strerror or e}") from None
        yield False
        return
    try:
        try_lock(fd, blocking=True)
        yield True
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------------------------- the index

def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ConfigError(f"unknown kind of trained thing {kind!r} (one of {', '.join(KINDS)})")
    return kind


def _parse(path: Path, legacy_kind: str | None = None) -> list[dict[str, Any]]:
    """The index's rows; a line that is not an entry (hand-edited, torn by a killed process) is skipped with a
    warning that names the file and line.  ``legacy_kind``: read an old index (``model``, ``path``)."""
    rows = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return rows
    except OSError as e:
        raise StorageError(f"cannot read the model store index {path}: {e.strerror or e}") from None
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if legacy_kind:
                rec = {"kind": legacy_kind, "name": rec["model"], "path": rec["path"],
                       "created": rec.get("created", 0.0), "metrics": {}}
            row = {"kind": _kind(rec["kind"]), "name": str(rec["name"]).lower(), "path": str(rec["path"]),
                   "created": float(rec.get("created") or 0.0), "metrics": dict(rec.get("metrics") or {})}
        except (ValueError, KeyError, TypeError, ConfigError) as e:
            reason = "not JSON" if isinstance(e, json.JSONDecodeError) else f"not an entry ({type(e).__name__}: {e})"
            warnings.warn(f"{path}:{i}: {reason}; line skipped", stacklevel=3)
            continue
        rows.append(row)
    return rows


def _legacy_rows() -> list[dict[str, Any]]:
    rows = []
    for kind, rel in LEGACY_INDEXES.items():
        rows += _parse(home() / rel, legacy_kind=kind)
    return rows


def _migrate_locked() -> None:
    """Create ``store.jsonl`` from the old indexes (once: while it does not exist).  Caller holds the lock."""
    index = index_file()
    if index.exists():
        return
    rows = _legacy_rows()
    write_text(index, "".join(dumps_json(r, indent=None) for r in rows))


def rows() -> list[dict[str, Any]]:
    """Every entry of the index, oldest first (the old indexes when the home cannot be written)."""
    if not index_file().exists() and not any((home() / rel).exists() for rel in LEGACY_INDEXES.values()):
        return []  # nothing recorded yet: a lookup creates nothing in the home
    with _index_lock(required=False) as locked:
        if locked:
            try:
                _migrate_locked()
            except StorageError:
                locked = False
        if not locked and not index_file().exists():
            return _legacy_rows()
        return _parse(index_file())


def record(kind: str, name: str, path: str | os.PathLike, metrics: dict[str, Any] | None = None) -> None:
    """Add an entry to the index: one ``write`` of one line under the lock, so concurrent writers (two trainings,
    a training and a train-detector) never interleave.  Raises :class:`StorageError` when the home is
    read-only or full."""
    row = {"kind": _kind(kind), "name": name.lower(), "path": str(Path(path).resolve()), "created": time.time(),
           "metrics": metrics or {}}
    data = dumps_json(row, indent=None).encode()
    index = index_file()
    with _index_lock(required=True):
        try:
            _migrate_locked()
            fd = os.open(index, os.O_RDWR | os.O_APPEND | os.O_CREAT, new_file_mode(index))
            try:
                if not _ends_line(fd):
                    data = b"\n" + data  # a torn last line (killed writer) stays on a line of its own
                while data:
                    data = data[os.write(fd, data):]
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            raise StorageError(f"cannot add to the model store index {index}: {e.strerror or e}; earlier entries "
                               "are kept") from None


def _ends_line(fd: int) -> bool:
    """True when the open file is empty or ends with a newline (appends with O_APPEND go to the end anyway)."""
    if os.fstat(fd).st_size == 0:
        return True
    os.lseek(fd, -1, os.SEEK_END)
    return os.read(fd, 1) == b"\n"


# ----------------------------------------------------------------------------------------------- lookups

def latest_checkpoint(folder: str | os.PathLike) -> Path | None:
    """The checkpoint of a run folder to resume from / sample with: ``last``, else the highest step."""
    ckpts = Path(folder) / "checkpoints"
    last = ckpts / ("last" + TENSOR_SUFFIX)
    if last.is_file() and last.with_suffix(".json").is_file():
        return last
    steps = [s for s in sorted(ckpts.glob("step-*" + TENSOR_SUFFIX)) if s.with_suffix(".json").is_file()]
    return steps[-1] if steps else None


def newest_checkpoint_under(path: Path) -> Path | None:
    """A checkpoint a user named by ``--checkpoint``: the file itself, or the newest checkpoint anywhere under
    a folder (``detectors/face-forgery/`` holds one ``<time>/`` folder per training); None when there is none."""
    path = Path(path)
    if not path.is_dir():
        return path if path.is_file() else None
    return max(path.rglob("*" + TENSOR_SUFFIX), key=lambda p: p.stat().st_mtime, default=None)


def checkpoint_in(path: Path) -> Path | None:
    """The checkpoint an entry's path stands for: the file itself, a run folder's latest checkpoint, or the
    newest checkpoint directly inside a folder (a detector saved to ``detectors/<name>/<time>/``)."""
    if path.suffix == TENSOR_SUFFIX:
        return path if path.is_file() and path.with_suffix(".json").is_file() else None
    if not path.is_dir():
        return None
    if (path / "checkpoints").is_dir():
        return latest_checkpoint(path)
    found = [p for p in path.glob("*" + TENSOR_SUFFIX) if p.with_suffix(".json").is_file()]
    return max(found, key=lambda p: p.with_suffix(".json").stat().st_mtime) if found else None


def kind_of(meta: dict[str, Any]) -> str:
    """A checkpoint sidecar's kind: detectors say so, generator checkpoints carry no ``kind``."""
    return "detector" if meta.get("kind") == "detector" else "generator"


def summary(meta: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's headline figures: FID/KID/attribute accuracy and step for a generator, held-out
    AUC/AP/EER/accuracy for a detector, the card's figures for a zoo entry."""
    if "zoo" in meta:
        src, keys = meta["zoo"].get("figures", {}), ("fid", "kid", "auc", "ap", "eer", "acc")
    elif kind_of(meta) == "detector":
        src, keys = meta.get("info", {}).get("heldout", {}), ("auc", "ap", "eer", "acc", "false_positive_rate")
    else:
        src = {k[5:]: v for k, v in meta.get("metrics", {}).items() if k.startswith("eval/")}
        keys = ("fid", "kid", "attr_acc")
    out = {k: round(float(src[k]), 4) for k in keys if isinstance(src.get(k), (int, float))}
    if kind_of(meta) == "generator" and isinstance(meta.get("step"), int):
        out["step"] = meta["step"]
    return out


def _resolve(kind: str, name: str | None, path: Path, row: dict[str, Any] | None) -> Entry | None:
    """``path`` as an entry of ``kind`` (and model ``name``), or None when it holds no usable checkpoint of it."""
    ck = checkpoint_in(path)
    if ck is None:
        return None
    try:
        meta = read_meta(ck)
        written = ck.with_suffix(".json").stat().st_mtime
    except (CheckpointError, OSError):
        return None
    model = str(meta.get("model", "")).lower()
    if kind_of(meta) != kind or not model or (name is not None and model != name.lower()):
        return None
    created = row["created"] if row else written
    return Entry(kind, model, path, ck, written, created, summary(meta) or (row or {}).get("metrics", {}))


def _scanned(kind: str, name: str | None) -> Iterator[Path]:
    """Folders in the kind's default roots: ``<root>/<model>/<run>`` (and the old ``$MEDIATK_HOME/runs``)."""
    roots = [kind_root(kind)] + ([home() / "runs"] if kind == "generator" else [])
    for root in roots:
        models = [root / name.lower()] if name else (sorted(root.iterdir()) if root.is_dir() else [])
        for m in models:
            if m.is_dir():
                yield from (p for p in sorted(m.iterdir()) if p.is_dir())


def trained(kind: str | None = None, name: str | None = None) -> list[Entry]:
    """What the user trained (of ``kind`` and model ``name`` when given), newest first, each checkpoint once.
    Entries whose files are gone or hold something else are left out."""
    kinds = [_kind(kind)] if kind else list(KINDS)
    found: dict[str, Entry] = {}
    cands = [(r["kind"], Path(r["path"]), r) for r in rows() if r["kind"] in kinds
             and (name is None or r["name"] == name.lower())]
    cands += [(k, p, None) for k in kinds for p in _scanned(k, name)]
    for k, p, row in cands:
        e = _resolve(k, name if name is not None else (row["name"] if row else p.parent.name), p, row)
        if e is not None:
            found.setdefault(os.path.realpath(e.checkpoint), e)
    return sorted(found.values(), key=lambda e: e.written, reverse=True)


def newest(kind: str, name: str) -> Entry | None:
    """The newest checkpoint of model ``name`` the user trained, or None."""
    got = trained(kind, name)
    return got[0] if got else None


def find(kind: str, name: str, zoo: bool = True) -> Entry | None:
    """"The ``name`` of ``kind``": the newest the user trained, else (``zoo``) the package's zoo entry, where
    ``name`` is a model name (its default entry) or an entry's own name."""
    got = newest(kind, name)
    if got is not None or not zoo:
        return got
    from mediatk.zoo import lookup

    z = lookup(name, kind)
    if z is None:
        return None
    ck = z["path"]
    return Entry(kind, z["model"], ck, ck, ck.with_suffix(".json").stat().st_mtime, metrics=summary(z["meta"]),
                 source="zoo", label=z["name"])


__all__ = ["KINDS", "Entry", "checkpoint_in", "find", "home", "index_file", "kind_of", "kind_root",
           "latest_checkpoint", "newest", "record", "rows", "runs_root", "summary", "trained", "try_lock"]
