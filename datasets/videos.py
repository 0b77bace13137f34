"""Sets of real and fake videos, for detectors.  Nothing is decoded here; items are paths plus labels.

Accepted layouts (checked in this order; the first that is present decides the labels):

1. ``labels.csv`` with a header, a file column (``file``/``filename``/``path``/``video``, relative to the
   folder) and a ``label`` column (``REAL``/``FAKE``, any case; empty means unlabelled).  Every other
   column goes into ``VideoItem.meta``, with numbers and booleans converted (``fps`` → float, ``frames``
   → int, ``decodes`` → bool); empty cells are left out.  Videos in ``real/``/``fake/`` that the CSV does
   not list are added with their folder's label.
2. DFDC's ``metadata.json``: ``{"abc.mp4": {"label": "FAKE", "split": "train", "original": "x.mp4"}}``;
   the other keys go into ``meta``.
3. ``real/`` and ``fake/`` subfolders of videos.
4. A folder of loose videos (unlabelled), or a single video file.

A listed file that does not exist is an error (naming the first one), so a typo is not a silently smaller
set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mediatk.core.errors import DataError
from mediatk.datasets.base import (
    Format,
    VideoItem,
    VideoSet,
    check_common_options,
    is_video_file,
    pick_column,
    read_csv_rows,
    register_format,
)

FILE_COLUMNS = ("file", "filename", "path", "video", "name")
LABEL_NAMES = {"real": "real", "fake": "fake"}


def _videos_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_video_file(p))


def _has_video(folder: Path, recursive: bool) -> bool:
    if not folder.is_dir():
        return False
    try:
        it = folder.rglob("*") if recursive else folder.iterdir()
        return any(is_video_file(p) and p.is_file() for p in it)
    except OSError:
        return False


def _label(value: Any, where: str) -> str | None:
    v = str(value if value is not None else "").strip().lower()
    if not v:
        return None
    if v not in LABEL_NAMES:
        raise DataError(f"{where}: unknown label {value!r}; use REAL or FAKE")
    return LABEL_NAMES[v]


def _typed(value: str) -> Any:
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(value)
        except ValueError:
            pass
    return value


def _csv_lists_videos(csv_path: Path) -> bool:
    try:
        header, rows = read_csv_rows(csv_path)
    except DataError:
        return False
    col = pick_column(header, FILE_COLUMNS)
    return col is not None and bool(rows) and is_video_file(Path(rows[0].get(col, "")))


class VideoFormat(Format):
    name = "videos"
    priority = 20
    summary = "real and fake videos: real/ fake/ folders, a labels.csv (file,label,...) or DFDC metadata.json"
    kind = "videos"

    def recognise(self, path: Path) -> bool:
        if path.is_file():
            return is_video_file(path)
        if not path.is_dir():
            return False
        if (path / "labels.csv").is_file() and _csv_lists_videos(path / "labels.csv"):
            return True
        if any(_has_video(path / d, recursive=True) for d in ("real", "fake")):
            return True
        # Loose videos, with or without a DFDC metadata.json beside them (a metadata.json alone is not enough:
        # other tools write files of that name too).
        return _has_video(path, recursive=False)

    def items(self, path: Path) -> list[VideoItem]:
        if path.is_file():
            return [VideoItem(path=path, label=None, meta={})]
        items: list[VideoItem] = []
        csv_path, meta_path = path / "labels.csv", path / "metadata.json"
        if csv_path.is_file() and _csv_lists_videos(csv_path):
            items = self._from_csv(path, csv_path)
        elif meta_path.is_file():
            items = self._from_metadata(path, meta_path)
        listed = {it.path.resolve() for it in items}
        for d in ("real", "fake"):
            for p in _videos_in(path / d):
                if p.resolve() not in listed:
                    items.append(VideoItem(path=p, label=d, meta={}))
        if not items:
            items = [VideoItem(path=p, label=None, meta={}) for p in sorted(path.iterdir())
                     if p.is_file() and is_video_file(p)]
        missing = [it.path for it in items if not it.path.is_file()]
        if missing:
            raise DataError(f"{path}: {len(missing)} listed videos do not exist, e.g. {missing[0]}")
        return items

    def _from_csv(self, root: Path, csv_path: Path) -> list[VideoItem]:
        header, rows = read_csv_rows(csv_path)
        fcol = pick_column(header, FILE_COLUMNS)
        lcol = pick_column(header, ("label",))
        items = []
        for i, r in enumerate(rows):
            f = r.get(fcol, "")
            if not f:
                continue
            label = _label(r.get(lcol), f"{csv_path} row {i + 2}") if lcol else None
            meta = {k: _typed(v) for k, v in r.items() if k not in (fcol, lcol) and k and v != ""}
            items.append(VideoItem(path=root / f, label=label, meta=meta))
        return items

    def _from_metadata(self, root: Path, meta_path: Path) -> list[VideoItem]:
        try:
            data = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataError(f"cannot read {meta_path}: {e}") from None
        if not isinstance(data, dict):
            raise DataError(f"{meta_path}: expected an object mapping file names to {{\"label\": ...}}")
        items = []
        for f, info in sorted(data.items()):
            info = info if isinstance(info, dict) else {}
            label = _label(info.get("label"), f"{meta_path} entry {f!r}")
            meta = {k: v for k, v in info.items() if k != "label"}
            items.append(VideoItem(path=root / f, label=label, meta=meta))
        return items

    def load(self, path: Path | None, *, name: str | None = None, limit: int | None = None, **_: Any) -> VideoSet:
        limit = check_common_options(None, None, limit)[2]
        items = self.items(path)
        if not items:
            raise DataError(f"{path} holds no videos")
        if limit is not None:
            items = items[:limit]
        return VideoSet(name=name or self.name, format=self.name, root=path, items=items)

    def counts(self, path: Path | None) -> dict[str, int]:
        return VideoSet(name=self.name, format=self.name, root=path, items=self.items(path)).counts()


VIDEOS = register_format(VideoFormat())
