"""Atomic file writes: a file a user sees is either the old one or the complete new one, never half.

Write to a temporary file in the same directory, flush and fsync, then ``os.replace`` onto the target
(atomic on POSIX and Windows when both are on one filesystem).  The new file gets the mode of the file it
replaces, or the usual ``0o666 & ~umask`` (``mkstemp`` alone would leave every file 0600).  A write that the
system refuses (read-only folder, disk full, file-size limit) is a one-line :class:`StorageError` that names
the path and the cause and says whether an older file was kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mediatk.core.errors import StorageError


def storage_error(target: str | os.PathLike, err: OSError, what: str = "") -> StorageError:
    """The one-line error for a refused write of ``target`` (``what`` names it, e.g. "checkpoint")."""
    target = Path(target)
    cause = err.strerror or str(err).splitlines()[0]
    kept = "the previous file is kept" if target.exists() else "nothing was written"
    e = StorageError(f"cannot write {what + ' ' if what else ''}{target}: {cause}; {kept}")
    e.cause = cause
    return e


def new_file_mode(target: str | os.PathLike) -> int:
    """The mode a rewritten file should get: the old file's, else what ``open()`` would give (umask)."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask; read from /proc on Linux, since setting it to read it races with other threads."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it is renamed onto ``target``.

    ``suffix`` defaults to the target's own suffix so that writers that choose a format by extension
    (PIL, OpenCV, matplotlib) still do so.  On error the temporary file is removed and the target is
    untouched; an ``OSError`` from the file system (including one raised by the writer in the body) becomes
    a :class:`StorageError`.
    """
    target = Path(target)
    tmp_path: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.",
                                   suffix=suffix if suffix is not None else target.suffix, dir=target.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        os.chmod(tmp_path, new_file_mode(target))
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    except OSError as e:
        if e.errno is None:  # not the file system's refusal (e.g. PIL's "cannot write mode P as JPEG")
            raise
        raise storage_error(target, e) from None
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


def write_bytes(target: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: str | os.PathLike, text: str) -> Path:
    return write_bytes(target, text.encode("utf-8"))


def dumps_json(obj: Any, indent: int | None = 2) -> str:
    """JSON text (plus a newline) that also takes NumPy and torch scalars/arrays and paths."""
    return json.dumps(obj, indent=indent, sort_keys=False, default=_json_default) + "\n"


def write_json(target: str | os.PathLike, obj: Any, indent: int = 2) -> Path:
    return write_text(target, dumps_json(obj, indent))


def append_jsonl(target: str | os.PathLike, obj: Any) -> None:
    """Append one JSON line (a crash can at worst lose the last line, never corrupt earlier ones)."""
    target = Path(target)
    line = json.dumps(obj, default=_json_default) + "\n"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(line)
    except OSError as e:
        raise StorageError(f"cannot append to {target}: {e.strerror or e}; earlier lines are kept") from None


def read_jsonl(path: str | os.PathLike) -> list[Any]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    break  # a torn last line from a killed process
    return out


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    try:
        import torch

        if isinstance(o, torch.Tensor):
            return o.detach().cpu().tolist()
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
