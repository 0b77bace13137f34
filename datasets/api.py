"""Finding datasets by name or path, loading them, and listing what is available.

A dataset *spec* is one of

* a path (anything with a path separator, or starting with ``.`` or ``~``, or a ``Path``): its format is
  recognised from its contents;
* the name of a folder under a data root (``fashion-mnist``, ``celeba-mini``, ``face-videos``);
* a registered format name (``digits``, ``mnist``, ``cifar10``...): its standard set, found as
  ``<data root>/<name>`` or in the download cache, downloaded with torchvision where that is possible;
* else, a folder relative to the working directory.

Data roots are the ``MEDIATK_DATA`` folders (``os.pathsep``-separated) if that is set, else ``./data`` and
``../shared/data``; only those that exist count.  Downloads go to ``<MEDIATK_HOME or the user cache
dir>/data/<name>``; ``MEDIATK_OFFLINE=1`` turns them off.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import socket
import warnings
from pathlib import Path
from typing import Any

from mediatk.core.errors import ConfigError, DataError, MediatkError
from mediatk.datasets.base import FORMATS, Format, ImageSet, VideoSet

log = logging.getLogger("mediatk.datasets")

DOWNLOAD_TIMEOUT_S = 5.0
# Other places a standard set is commonly installed (Debian's dataset-fashion-mnist package).
SYSTEM_COPIES = {"fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")]}


def _default_roots() -> list[Path]:
    env = os.environ.get("MEDIATK_DATA")
    if env is not None and env.strip():
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    return [Path("data"), Path("..") / "shared" / "data"]


def data_roots() -> list[Path]:
    """The data roots that exist, as absolute paths, in lookup order."""
    out: list[Path] = []
    for p in _default_roots():
        if p.is_dir():
            p = p.resolve()
            if p not in out:
                out.append(p)
    return out


def cache_dir() -> Path:
    """Where downloads go: ``$MEDIATK_HOME/data``, else the user cache dir's ``data`` folder."""
    home = os.environ.get("MEDIATK_HOME")
    if home:
        return Path(home).expanduser() / "data"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("mediatk")) / "data"


def offline() -> bool:
    return os.environ.get("MEDIATK_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _looks_like_path(spec: Any) -> bool:
    if isinstance(spec, os.PathLike):
        return True
    s = str(spec)
    seps = [os.sep] + ([os.altsep] if os.altsep else [])
    return any(sep in s for sep in seps) or s.startswith((".", "~")) or os.path.isabs(s)


def detect_format(path: Path) -> str:
    """The name of the format whose layout ``path`` has; DataError when none (or it does not exist)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"dataset path {path} does not exist")
    for fmt in sorted(FORMATS.values(), key=lambda f: (f.priority, f.name)):
        if fmt.recognise(path):
            return fmt.name
    if path.is_dir():
        try:
            empty = not any(True for _ in path.iterdir())
        except OSError as e:
            raise DataError(f"cannot list {path}: {e.strerror or e}") from None
        if empty:
            raise DataError(f"dataset folder {path} is empty")
        raise DataError(f"unrecognised dataset layout in {path}: expected IDX .gz files, img_align_celeba/ + "
                        f"list_attr_celeba.txt, trainA/ trainB/, images/ + labels.csv, real/ fake/ videos, or "
                        f"subfolders of images")
    raise DataError(f"{path} is a file, not a dataset folder (give the folder that holds it)")


def find_local(fmt: Format) -> Path | None:
    """A local copy of a format's standard set: ``<root>/<name>`` for a data root or the download cache."""
    places = [r / n for r in data_roots() + [cache_dir()] for n in fmt.local_names]
    places += SYSTEM_COPIES.get(fmt.name, [])
    for p in places:
        if p.is_dir():
            try:
                detect_format(p)
            except DataError:
                continue
            return p.resolve()
    return None


def _root_folder(name: str) -> Path | None:
    roots = data_roots()
    for r in roots:
        if (r / name).is_dir():
            return r / name
    low = name.lower()
    for r in roots:
        for p in sorted(r.iterdir()):
            if p.is_dir() and p.name.lower() == low:
                return p
    return None


def resolve(spec: str | os.PathLike) -> tuple[str, Path | None]:
    """``(format name, path or None)`` for a spec (see the module docstring); DataError if unknown.

    ``path`` is None for a format name with no local copy (``load_images`` then tries a download) and for
    ``digits``, which needs no files.
    """
    if spec is None or not str(spec).strip():
        raise ConfigError("no dataset given: pass a dataset name or path")
    if _looks_like_path(spec):
        path = Path(spec).expanduser()
        if not path.exists():
            raise DataError(f"dataset path {path} does not exist")
        return detect_format(path), path.resolve()
    name = str(spec).strip()
    folder = _root_folder(name)
    if folder is not None:
        return detect_format(folder), folder
    key = name.lower()
    if key in FORMATS:
        fmt = FORMATS[key]
        local = find_local(fmt) if fmt.local_names else None
        # A local copy may be in another layout (an image-folder copy of cifar10): its contents decide.
        return (detect_format(local) if local is not None else key), local
    if Path(name).exists():
        return detect_format(Path(name)), Path(name).resolve()
    roots = data_roots()
    folders = sorted({p.name for r in roots for p in r.iterdir() if p.is_dir() and not p.name.startswith(".")})
    where = ", ".join(map(str, roots)) or "no data roots (set MEDIATK_DATA or create ./data)"
    raise DataError(f"unknown dataset {name!r}: not a folder in {where} nor a format; formats: "
                    f"{', '.join(sorted(FORMATS))}" + (f"; folders: {', '.join(folders)}" if folders else ""))


def _shown(p: Path) -> str:
    s = str(p)
    return s if p.is_absolute() or s.startswith(".") else f".{os.sep}{s}"


def _searched() -> str:
    return ", ".join(_shown(p) for p in _default_roots()) + f" or the download cache {cache_dir()}"


def _download_target(fmt: Format) -> Path:
    """Where the advice tells the user to put a set: the first data root (MEDIATK_DATA's, else ./data)."""
    return _default_roots()[0].expanduser().resolve() / fmt.name


def _fetch(fmt: Format) -> Path:
    """Download a format's standard set into the cache (quick to fail offline); DataError on failure."""
    advice = fmt.missing(_searched(), _download_target(fmt))
    similar = sorted(p.name for r in data_roots() for p in r.iterdir()
                     if p.is_dir() and p.name.lower().startswith(fmt.name) and p.name.lower() != fmt.name)
    if similar:
        advice += f" (found {', '.join(similar)}: load that by name if a partial copy will do)"
    if type(fmt).fetch is Format.fetch:
        raise DataError(advice)
    if offline():
        raise DataError(advice + " (MEDIATK_OFFLINE is set, so nothing was downloaded)")
    dest = cache_dir() / fmt.name
    log.info("downloading %s to %s", fmt.name, dest)
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        # torchvision prints one line per failed mirror; keep the CLI's output to our one-line error.
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fmt.fetch(dest)
    except Exception as e:  # noqa: BLE001 - any download failure (URLError, timeout, MD5 mismatch) is reported
        _remove_empty_dirs(dest)
        with contextlib.suppress(OSError):
            cache_dir().rmdir()  # only if the failed attempt left it empty
        reason = " ".join(str(e).split())[:200] or type(e).__name__
        raise DataError(f"{advice} (download failed: {reason})") from None
    finally:
        socket.setdefaulttimeout(old)
    return dest


def _remove_empty_dirs(top: Path) -> None:
    """Remove ``top`` and its subfolders if a failed download left them empty (files are kept)."""
    for dirpath, _, _ in sorted(os.walk(top), key=lambda t: -len(t[0])):
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)


def _locate(spec: str | os.PathLike) -> tuple[Format, Path | None]:
    name, path = resolve(spec)
    fmt = FORMATS[name]
    if path is None and name != "digits":
        path = _fetch(fmt)
    return fmt, path


def load_images(spec: str | os.PathLike, split: str = "train", image_size: int | None = None,
                channels: int | None = None, attrs: list[str] | str | None = None, domain: str | None = None,
                limit: int | None = None, test_fraction: float = 0.2, seed: int = 0) -> ImageSet:
    """Load an image set (see :class:`ImageSet` for what items look like).

    ``split``: ``train``/``val``/``test``/``all``; ``val`` is the set's official validation split (CelebA's
    partition value 1, a ``val/`` folder) or else a fixed 10 % carved from train and left out of it.
    ``image_size``: square side to resize to (None: native).  ``channels``: 1 or 3 (None: native).
    ``attrs``: CelebA attribute names (case-insensitive) to use as ``y``.  ``domain``: ``A``/``B`` for
    unpaired sets.  ``limit``: keep a random subset of at most this many, drawn with ``seed``.
    ``test_fraction``: the test share of sets without an official split.  Splits never depend on ``seed``:
    every command sees the same train/val/test of a set (see ``mediatk.datasets.base.fixed_split``).
    """
    fmt, path = _locate(spec)
    if fmt.kind != "images":
        raise DataError(f"{spec} ({path}) is a {fmt.name} set, not images; use load_videos")
    return fmt.load(path, name=str(spec), split=split, image_size=image_size, channels=channels, attrs=attrs,
                    domain=domain, limit=limit, test_fraction=test_fraction, seed=seed)


def load_unpaired(spec: str | os.PathLike, split: str = "train", image_size: int | None = None,
                  channels: int | None = None, limit: int | None = None, seed: int = 0) -> tuple[ImageSet, ImageSet]:
    """The two domains ``(A, B)`` of an unpaired (CycleGAN-layout) set."""
    fmt, path = _locate(spec)
    if fmt.name != "unpaired":
        raise DataError(f"{spec} ({path}) is a {fmt.name} set; unpaired sets have trainA/ and trainB/ folders")
    opts = {"name": str(spec), "split": split, "image_size": image_size, "channels": channels, "limit": limit,
            "seed": seed}
    return fmt.load(path, domain="A", **opts), fmt.load(path, domain="B", **opts)


def load_videos(spec: str | os.PathLike, limit: int | None = None) -> VideoSet:
    """A labelled list of videos (see ``mediatk.datasets.videos`` for the layouts)."""
    fmt, path = _locate(spec)
    if fmt.kind != "videos":
        raise DataError(f"{spec} ({path}) is a {fmt.name} image set, not videos; use load_images")
    return fmt.load(path, name=str(spec), limit=limit)


def _describe(fmt: Format, path: Path | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"counts": None, "attr_names": []}
    if path is None and fmt.name != "digits":
        return entry
    try:
        entry["counts"] = fmt.counts(path)
        entry["attr_names"] = fmt.attr_names(path)
    except MediatkError as e:
        entry["error"] = str(e)
    return entry


def catalog() -> list[dict[str, Any]]:
    """Every registered format, then every recognised folder under the data roots.

    Each entry: ``name``, ``kind`` (``"format"`` or ``"folder"``), ``format``, ``summary``, ``path`` (str or
    None), ``counts`` (images per split, or real/fake/all videos; None when not found), ``attr_names``, and
    ``error`` when the folder could not be read.  A folder that is already a format's local copy is listed
    once, under the format.  Nothing is decoded: counts come from headers, listings and label files.
    """
    out: list[dict[str, Any]] = []
    shown: set[Path] = set()
    for name in sorted(FORMATS):
        fmt = FORMATS[name]
        path = find_local(fmt) if fmt.local_names else None
        if path is not None:
            shown.add(path.resolve())
        out.append({"name": name, "kind": "format", "format": name, "summary": fmt.summary,
                    "path": str(path) if path else None, **_describe(fmt, path)})
    seen_names: set[str] = set()
    for root in data_roots():
        for sub in sorted(root.iterdir()):
            if not sub.is_dir() or sub.name.startswith(".") or sub.name in seen_names:
                continue
            seen_names.add(sub.name)
            if sub.resolve() in shown:
                continue
            try:
                fname = detect_format(sub)
            except DataError:
                continue
            fmt = FORMATS[fname]
            out.append({"name": sub.name, "kind": "folder", "format": fname, "summary": fmt.summary,
                        "path": str(sub), **_describe(fmt, sub)})
    return out
