"""Face-forgery data: face-crop sets with a group column, FaceForensics++ and Celeb-DF video layouts.

Forgery data must be split by *group* (the source video or the identity), never by file: a real crop and
the fakes made from the same video share scene, actor and background, so a file split puts near-copies on
both sides and inflates every test score.  Every item here carries ``label`` (real/fake), ``method`` and a
``group`` key, and :func:`group_split` assigns whole groups to train / val / test from a hash of the group
key alone, so the split is the same for every command and every ``--seed``.

``facecrops`` (images)
    ``labels.csv`` with a file column, ``label`` (real/fake) and a group column (``group``, ``video``,
    ``video_id``, ``identity`` or FaceForensics++ crops' ``approx_video_id``, coarsened into blocks of
    :data:`APPROX_ID_BLOCK` ids because it is only accurate to about ±15), optional ``method`` and ``split``.
    A ``split`` column (train/val/test) is the source's own split and is used as is; val is then carved from
    train by group.  Examples: ``../shared/data/dfdc-faces``, ``../shared/data/ffpp-crops``.

``ffpp`` (videos)
    FaceForensics++'s official layout: ``original_sequences/{youtube,actors}/<c>/videos/*.mp4`` and
    ``manipulated_sequences/<Method>/<c>/videos/T_S.mp4`` with ``<c>`` one of raw, c23, c40, and optional
    ``splits/{train,val,test}.json`` (lists of ``[T, S]`` pairs).  Groups join every id that appears in one
    fake (``T_S`` joins T and S), so identities never cross a split.

``celeb-df`` (videos)
    Celeb-DF (v2): ``Celeb-real/idA_NNNN.mp4``, ``YouTube-real/NNNNN.mp4``,
    ``Celeb-synthesis/idA_idB_NNNN.mp4`` and ``List_of_testing_videos.txt`` (``<0|1> <relative path>``) for
    the official test split.  Labels come from the folder; groups join the celebrities of a fake.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from mediatk.core.errors import ConfigError, DataError
from mediatk.datasets.base import (
    Format,
    ImageSet,
    Listing,
    VideoItem,
    VideoSet,
    build_image_set,
    check_common_options,
    check_split,
    is_video_file,
    pick_column,
    read_csv_rows,
    register_format,
    reject_option,
)

TEST_FRACTION = 0.2
VAL_FRACTION = 0.1            # of the groups outside test
APPROX_ID_BLOCK = 50
SPLITS = ("train", "val", "test", "all")
CROP_FILE_COLUMNS = ("file", "filename", "path", "image")
GROUP_COLUMNS = ("group", "video", "video_id", "identity", "approx_video_id")


def _unit(key: str) -> float:
    """A number in [0, 1) fixed by ``key`` alone (SHA-1), the same on every machine and run."""
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") / 2.0**64


def group_split(groups: Iterable[Any], official: Sequence[str | None] | None = None,
                test_fraction: float = TEST_FRACTION, val_fraction: float = VAL_FRACTION) -> np.ndarray:
    """``"train"``/``"val"``/``"test"`` for each item, by whole groups.

    Items with an ``official`` split keep it (val is carved by group from official train items when the
    source has no val); the others go to test when ``u(group) < test_fraction`` and to val when the next
    ``val_fraction`` of the remaining range holds them, where ``u`` is a hash of the group key.
    """
    groups = [str(g) for g in groups]
    out = np.empty(len(groups), dtype=object)
    has_val = official is not None and any(o == "val" for o in official)
    for i, g in enumerate(groups):
        o = official[i] if official is not None else None
        u = _unit(g)
        if o in ("train", "val", "test"):
            out[i] = "val" if o == "train" and not has_val and _unit("val:" + g) < val_fraction else o
        elif u < test_fraction:
            out[i] = "test"
        else:
            out[i] = "val" if _unit("val:" + g) < val_fraction else "train"
    return out.astype(str)


def check_groups_disjoint(groups: Sequence[Any], splits: Sequence[str]) -> None:
    """Raise DataError when one group sits in two splits (a leak)."""
    seen: dict[str, str] = {}
    for g, s in zip(groups, splits, strict=True):
        if seen.setdefault(str(g), s) != s:
            raise DataError(f"group {g!r} is in both the {seen[str(g)]} and the {s} split")


class _Union:
    """Union-find over string keys: ids that appear in one fake end up in one group."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, a: str) -> str:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def join(self, *keys: str) -> None:
        roots = sorted({self.find(k) for k in keys})
        for r in roots[1:]:
            self.parent[r] = roots[0]


# ----------------------------------------------------------------------------------------------------
# facecrops
# ----------------------------------------------------------------------------------------------------


def _label(value: str, where: str) -> int:
    v = value.strip().lower()
    if v in ("real", "0", "original"):
        return 0
    if v in ("fake", "1"):
        return 1
    raise DataError(f"{where}: label {value!r} is neither real nor fake")


class FaceCropFormat(Format):
    name = "facecrops"
    priority = 30
    summary = "face crops with labels.csv (file, label real/fake, group[, method, split]): split by group"

    @staticmethod
    def _header(path: Path) -> list[str] | None:
        csv_path = path / "labels.csv"
        if not csv_path.is_file():
            return None
        try:
            header, _ = read_csv_rows(csv_path)
        except DataError:
            return None
        return header

    def recognise(self, path: Path) -> bool:
        if not path.is_dir():
            return False
        header = self._header(path)
        return bool(header) and all(pick_column(header, c) for c in (CROP_FILE_COLUMNS, ("label",), GROUP_COLUMNS))

    def table(self, path: Path, test_fraction: float | None = None) -> dict[str, Any]:
        """Every row of ``labels.csv``: paths, labels (0 real / 1 fake), methods, groups, splits and the
        source video of each crop ("" where the set names none)."""
        csv_path = path / "labels.csv"
        header, rows = read_csv_rows(csv_path)
        fcol, lcol = pick_column(header, CROP_FILE_COLUMNS), pick_column(header, ("label",))
        gcol, mcol = pick_column(header, GROUP_COLUMNS), pick_column(header, ("method",))
        scol, vcol = pick_column(header, ("split",)), pick_column(header, ("video",))
        if not (fcol and lcol and gcol):
            raise DataError(f"{csv_path}: needs a file, a label and a group column")
        paths, labels, methods, groups, official, videos = [], [], [], [], [], []
        for i, r in enumerate(rows):
            f = (r.get(fcol) or "").strip()
            if not f:
                continue
            where = f"{csv_path} row {i + 2}"
            labels.append(_label(r.get(lcol) or "", where))
            g = (r.get(gcol) or "").strip()
            if not g:
                raise DataError(f"{where}: empty {gcol}")
            if gcol == "approx_video_id":
                try:
                    g = f"ids-{int(g) // APPROX_ID_BLOCK * APPROX_ID_BLOCK:03d}"
                except ValueError:
                    raise DataError(f"{where}: approx_video_id {g!r} is not a number") from None
            s = (r.get(scol) or "").strip().lower() if scol else ""
            if s and s not in ("train", "val", "test"):
                raise DataError(f"{where}: split {s!r} is not train, val or test")
            official.append(s or None)
            # An approximate id block may straddle the source's own split: keep its two sides apart.
            groups.append(f"{s}-{g}" if s and gcol == "approx_video_id" else g)
            methods.append((r.get(mcol) or "").strip() or ("original" if labels[-1] == 0 else "unknown"))
            videos.append((r.get(vcol) or "").strip() if vcol else "")
            paths.append(path / f)
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise DataError(f"{csv_path} lists {len(missing)} files that do not exist, e.g. {missing[0]}")
        if not paths:
            raise DataError(f"{csv_path} lists no images")
        return {"paths": paths, "labels": np.array(labels, dtype=np.int64), "methods": np.array(methods),
                "groups": np.array(groups), "videos": np.array(videos),
                "splits": group_split(groups, official, test_fraction=test_fraction or TEST_FRACTION)}

    def load(self, path: Path | None, *, name: str | None = None, split: str = "train",
             image_size: int | None = None, channels: int | None = None, attrs=None, domain=None,
             limit: int | None = None, test_fraction: float | None = None, seed: int = 0, **_: Any) -> ImageSet:
        check_common_options(image_size, channels, limit)
        reject_option(self.name, "attrs", attrs, "face-crop sets have labels real/fake, not attributes")
        reject_option(self.name, "domain", domain, "domains apply to unpaired (trainA/trainB) sets")
        where = f"{name or self.name} ({path})"
        check_split(split, SPLITS, where)
        t = self.table(path, test_fraction)
        idx = np.arange(len(t["paths"])) if split == "all" else np.flatnonzero(t["splits"] == split)
        if limit is not None and limit < len(idx):
            # --seed picks which items a limited set keeps; it never moves an item across splits.
            idx = np.sort(np.random.default_rng(seed).choice(idx, size=limit, replace=False))
        listing = Listing(paths=[t["paths"][i] for i in idx], labels=t["labels"][idx], classes=["real", "fake"])
        ds = build_image_set(listing, name=name or self.name, format=self.name, root=path, split=split,
                             image_size=image_size, channels=channels)
        ds.groups, ds.methods, ds.videos = t["groups"][idx], t["methods"][idx], t["videos"][idx]
        return ds

    def counts(self, path: Path | None) -> dict[str, int]:
        t = self.table(path)
        out = {s: int((t["splits"] == s).sum()) for s in ("train", "val", "test")}
        out["all"] = len(t["paths"])
        return out


# ----------------------------------------------------------------------------------------------------
# FaceForensics++ and Celeb-DF videos
# ----------------------------------------------------------------------------------------------------

FFPP_COMPRESSIONS = ("raw", "c23", "c40")


def _video_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and is_video_file(p))


class _VideoLayout(Format):
    """A video layout whose ``items(path, **opts)`` list every video with label, method, group and split."""

    kind = "videos"

    def items(self, path: Path, **opts: Any) -> list[VideoItem]:
        raise NotImplementedError

    def load(self, path: Path | None, *, name: str | None = None, limit: int | None = None,
             **opts: Any) -> VideoSet:
        limit = check_common_options(None, None, limit)[2]
        items = self.items(path, **opts)
        if not items:
            raise DataError(f"{path} holds no {self.name} videos")
        return VideoSet(name=name or self.name, format=self.name, root=path, items=items[:limit])

    def counts(self, path: Path | None) -> dict[str, int]:
        return VideoSet(name=self.name, format=self.name, root=path, items=self.items(path)).counts()


class FFPPFormat(_VideoLayout):
    name = "ffpp"
    priority = 10
    summary = "FaceForensics++ layout: original_sequences/, manipulated_sequences/<Method>/<c23|c40|raw>/videos"

    def recognise(self, path: Path) -> bool:
        return path.is_dir() and (path / "original_sequences").is_dir() and (
            path / "manipulated_sequences").is_dir()

    @staticmethod
    def compressions(path: Path) -> list[str]:
        found = {c.name for c in path.glob("*_sequences/*/*") if c.name in FFPP_COMPRESSIONS}
        return [c for c in FFPP_COMPRESSIONS if c in found]

    def items(self, path: Path, compression: str | None = None, **_: Any) -> list[VideoItem]:
        have = self.compressions(path)
        if not have:
            raise DataError(f"{path}: no {'/'.join(FFPP_COMPRESSIONS)} folders under *_sequences/*/")
        if compression is None:
            compression = "c23" if "c23" in have else have[0]
        elif compression not in have:
            raise ConfigError(f"{path} has no {compression} videos; it has {', '.join(have)}")
        union, rows = _Union(), []
        for src in sorted((path / "original_sequences").iterdir()):
            for p in _video_files(src / compression / "videos"):
                vid = p.stem
                key = f"actor-{vid.split('__')[0]}" if src.name == "actors" else vid
                union.find(key)
                rows.append((p, "real", "original", key, src.name, [key]))
        for mdir in sorted((path / "manipulated_sequences").iterdir()):
            for p in _video_files(mdir / compression / "videos"):
                stem = p.stem
                if "__" in stem:                       # DeepFakeDetection: 01_02__scene__XXXX
                    keys = [f"actor-{a}" for a in stem.split("__")[0].split("_")]
                else:                                  # T_S
                    keys = stem.split("_")[:2]
                union.join(*keys)
                rows.append((p, "fake", mdir.name, keys[0], mdir.name, keys))
        official = self._official(path)
        items = []
        for p, label, method, key, source, keys in rows:
            group = union.find(key)
            split = next((official[k] for k in keys if k in official), None)
            items.append(VideoItem(path=p, label=label, meta={"method": method, "group": group,
                                                              "source": source, "compression": compression,
                                                              **({"official_split": split} if split else {})}))
        splits = group_split([it.meta["group"] for it in items],
                             [it.meta.get("official_split") for it in items])
        for it, s in zip(items, splits, strict=True):
            it.meta["split"] = str(s)
        return items

    @staticmethod
    def _official(path: Path) -> dict[str, str]:
        """id → split from ``splits/{train,val,test}.json`` (lists of [T, S] pairs), when present."""
        out: dict[str, str] = {}
        for split in ("train", "val", "test"):
            f = path / "splits" / f"{split}.json"
            if not f.is_file():
                continue
            try:
                pairs = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
                raise DataError(f"cannot read {f}: {e}") from None
            if not isinstance(pairs, list) or not all(isinstance(p, list) for p in pairs):
                raise DataError(f"{f}: expected a list of [target, source] id pairs")
            for pair in pairs:
                for vid in pair:
                    out[str(vid)] = split
        return out



_CELEB_ID = re.compile(r"^(id\d+)_(?:(id\d+)_)?\d+$")


class CelebDFFormat(_VideoLayout):
    name = "celeb-df"
    priority = 10
    summary = "Celeb-DF layout: Celeb-real/, YouTube-real/, Celeb-synthesis/, List_of_testing_videos.txt"
    FOLDERS: ClassVar[dict[str, str]] = {"Celeb-real": "real", "YouTube-real": "real", "Celeb-synthesis": "fake"}

    def recognise(self, path: Path) -> bool:
        return path.is_dir() and (path / "Celeb-synthesis").is_dir() and (
            (path / "Celeb-real").is_dir() or (path / "YouTube-real").is_dir())

    def items(self, path: Path, **_: Any) -> list[VideoItem]:
        union, rows = _Union(), []
        for folder, label in self.FOLDERS.items():
            for p in _video_files(path / folder):
                m = _CELEB_ID.match(p.stem)
                keys = [k for k in m.groups() if k] if m and folder != "YouTube-real" else [f"yt-{p.stem}"]
                union.join(*keys)
                rows.append((p, label, "celeb-df-v2" if label == "fake" else "original", keys[0], folder))
        test = self._testing_list(path)
        items = [VideoItem(path=p, label=label, meta={"method": method, "group": union.find(key), "source": folder,
                                                      "official_split": "test" if
                                                      f"{folder}/{p.name}" in test else "train"})
                 for p, label, method, key, folder in rows]
        if test:
            listed = {f"{it.meta['source']}/{it.path.name}" for it in items}
            absent = sorted(test - listed)
            if absent:
                raise DataError(f"{path}/List_of_testing_videos.txt names {len(absent)} videos that do not "
                                f"exist, e.g. {absent[0]}")
        official = [it.meta["official_split"] for it in items] if test else None
        for it, s in zip(items, group_split([it.meta["group"] for it in items], official), strict=True):
            it.meta["split"] = str(s)
            if not test:
                it.meta.pop("official_split")
        return items

    @staticmethod
    def _testing_list(path: Path) -> set[str]:
        f = path / "List_of_testing_videos.txt"
        if not f.is_file():
            return set()
        out = set()
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines()):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or parts[0] not in ("0", "1"):
                raise DataError(f"{f} line {i + 1}: expected '<0|1> <folder>/<video>', got {line.strip()!r}")
            out.add(parts[1])
        return out


FACECROPS = register_format(FaceCropFormat())
FFPP = register_format(FFPPFormat())
CELEBDF = register_format(CelebDFFormat())
