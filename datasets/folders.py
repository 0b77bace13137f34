"""Folders of image files: ``imagefolder``, ``unpaired`` (CycleGAN) and ``eyes`` (a labels.csv list).

``imagefolder``
    One subfolder per class (``cats/*.jpg``, ``dogs/*.png``; searched recursively, like torchvision's
    ``ImageFolder``); classes are the sorted subfolder names.  A folder of loose images with no
    subfolders is an unlabelled set (``y == -1``).  When the folder has ``train/`` and ``test/`` (or
    ``val/``) subfolders, each laid out as above, those are the official splits (e.g. an image-folder copy
    of CIFAR-10; without ``val/`` a fixed 10 % of ``train/`` is the val split); otherwise train/val/test
    are fixed by a hash of each file's path inside the folder (``test_fraction``; see ``fixed_split``).

``unpaired``
    CycleGAN's layout: ``trainA/ trainB/`` and optionally ``testA/ testB/``, two unpaired domains.
    ``domain="A"`` or ``"B"`` picks one; without a domain both are returned with labels 0 (A) and 1 (B).
    ``val`` is a fixed 10 % of each ``train*/`` folder, left out of ``train``.

``eyes``
    ``images/*`` plus ``labels.csv`` with a header and columns ``filename`` (or ``file``/``image``/``path``)
    and ``label`` (any class names, e.g. ``opened``/``closed``).  Only images with a non-empty label are in
    the set; classes are the sorted label values.  Split by a hash of each file name (``fixed_split``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from mediatk.core.errors import ConfigError, DataError
from mediatk.datasets.base import (
    Format,
    ImageSet,
    Listing,
    build_image_set,
    carve_val,
    carved_counts,
    check_common_options,
    check_split,
    check_test_fraction,
    fixed_counts,
    fixed_split,
    has_images,
    is_image_file,
    list_images,
    path_keys,
    pick_column,
    read_csv_rows,
    register_format,
    reject_option,
)

_SPLIT_DIRS = {"train": ("train", "training"), "val": ("val", "valid", "validation"), "test": ("test", "testing")}
FILE_COLUMNS = ("filename", "file", "image", "path", "name", "video")
LABEL_COLUMNS = ("label", "class", "state")


def _subdirs(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def _no_attrs(fmt: str, attrs) -> None:
    reject_option(fmt, "attrs", attrs, "attributes apply only to celeba-format sets")


# ----------------------------------------------------------------------------------------------------
# imagefolder
# ----------------------------------------------------------------------------------------------------


class ImageFolderFormat(Format):
    name = "imagefolder"
    priority = 90
    summary = "a folder of images, one subfolder per class (or loose images, unlabelled); optional train/ test/"

    def _split_dirs(self, path: Path) -> dict[str, Path]:
        """Official split folders (``train/``, ``test/``, ``val/``) when there are at least two."""
        found: dict[str, Path] = {}
        names = {p.name.lower(): p for p in _subdirs(path)}
        for split, aliases in _SPLIT_DIRS.items():
            for a in aliases:
                if a in names and has_images(names[a]):
                    found[split] = names[a]
                    break
        return found if "train" in found and len(found) >= 2 else {}

    def recognise(self, path: Path) -> bool:
        return path.is_dir() and has_images(path)

    @staticmethod
    def _classes_in(folder: Path) -> list[str]:
        return [d.name for d in _subdirs(folder) if has_images(d)]

    def _list(self, folder: Path, classes: list[str] | None) -> Listing:
        """Images of ``folder``: by class subfolder when ``classes`` is given, else the loose images."""
        if classes is None:
            return Listing(paths=list_images(folder, recursive=False))
        paths, labels = [], []
        for k, c in enumerate(classes):
            if (folder / c).is_dir():
                found = list_images(folder / c)
                paths += found
                labels += [k] * len(found)
        return Listing(paths=paths, labels=np.array(labels, dtype=np.int64), classes=classes)

    def _official(self, splits: dict[str, Path], split: str, classes: list[str] | None) -> Listing:
        """One official split; train and val are carved from ``train/`` when there is no ``val/``."""
        if split in splits and not (split == "train" and "val" not in splits):
            return self._list(splits[split], classes)
        listing = self._list(splits["train"], classes)
        return listing.take(carve_val(path_keys(listing.paths, splits["train"]), split))

    def _layout(self, path: Path) -> tuple[dict[str, Path], list[str] | None]:
        splits = self._split_dirs(path)
        folders = list(splits.values()) or [path]
        names = sorted({c for f in folders for c in self._classes_in(f)})
        return splits, (names or None)

    def load(self, path: Path | None, *, name: str | None = None, split: str = "train",
             image_size: int | None = None, channels: int | None = None, attrs=None, domain=None,
             limit: int | None = None, test_fraction: float = 0.2, seed: int = 0) -> ImageSet:
        check_common_options(image_size, channels, limit)
        check_test_fraction(test_fraction)
        _no_attrs(self.name, attrs)
        reject_option(self.name, "domain", domain, "domains apply to unpaired (trainA/trainB) sets")
        where = f"{name or self.name} ({path})"
        if not path.is_dir():
            raise DataError(f"{path} is not a folder")
        splits, classes = self._layout(path)
        if splits:
            split = check_split(split, sorted(set(splits) | {"val", "all"}), where)
            if split == "all":
                listing = Listing.concat([self._list(d, classes) for d in splits.values()])
            else:
                listing = self._official(splits, split, classes)
        else:
            split = check_split(split, ["train", "val", "test", "all"], where)
            listing = self._list(path, classes)
            if not len(listing):
                raise DataError(f"{where} holds no image files")
            listing = listing.take(fixed_split(path_keys(listing.paths, path), split, test_fraction))
        return build_image_set(listing, name=name or self.name, format=self.name, root=path, split=split,
                               image_size=image_size, channels=channels, limit=limit, seed=seed)

    def counts(self, path: Path | None) -> dict[str, int]:
        splits, classes = self._layout(path)
        if splits:
            out = {s: len(self._list(d, classes)) for s, d in splits.items()}
            if "val" not in out:
                out.update(carved_counts(out["train"], 0))
            out["all"] = sum(out[s] for s in ("train", "val", "test") if s in out)
            return out
        return fixed_counts(len(self._list(path, classes)))


# ----------------------------------------------------------------------------------------------------
# unpaired (CycleGAN)
# ----------------------------------------------------------------------------------------------------


class UnpairedFormat(Format):
    name = "unpaired"
    priority = 40
    summary = "two unpaired image domains in CycleGAN's layout: trainA/ trainB/ (testA/ testB/)"

    def recognise(self, path: Path) -> bool:
        return (path / "trainA").is_dir() and (path / "trainB").is_dir()

    @staticmethod
    def _domain(domain) -> list[str]:
        if domain is None:
            return ["A", "B"]
        d = str(domain).strip().upper()
        if d not in ("A", "B"):
            raise ConfigError(f"domain must be 'A' or 'B', got {domain!r}")
        return [d]

    def load(self, path: Path | None, *, name: str | None = None, split: str = "train",
             image_size: int | None = None, channels: int | None = None, attrs=None, domain=None,
             limit: int | None = None, test_fraction: float = 0.2, seed: int = 0) -> ImageSet:
        check_common_options(image_size, channels, limit)
        _no_attrs(self.name, attrs)
        domains = self._domain(domain)
        where = f"{name or self.name} ({path})"
        split = check_split(split, ["train", "val", "test", "all"], where)
        splits = ["train", "test"] if split == "all" else [split]
        parts = []
        for d in domains:
            for s in splits:
                folder = path / f"{'train' if s == 'val' else s}{d}"
                if not folder.is_dir():
                    if split == "all" and s == "test":
                        continue
                    raise DataError(f"{where} has no {folder.name}/ folder")
                found = list_images(folder)
                if not found:
                    raise DataError(f"{folder} holds no image files")
                if split in ("train", "val"):
                    found = [found[i] for i in carve_val(path_keys(found, folder), split)]
                label = 0 if d == "A" else 1
                parts.append(Listing(paths=found, labels=np.full(len(found), label, dtype=np.int64),
                                     classes=["A", "B"]))
        listing = Listing.concat(parts)
        if len(domains) == 1:
            listing.labels, listing.classes = None, None
        return build_image_set(listing, name=name or self.name, format=self.name, root=path, split=split,
                               image_size=image_size, channels=channels, limit=limit, seed=seed)

    def counts(self, path: Path | None) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in ("train", "test"):
            for d in ("A", "B"):
                if (path / f"{s}{d}").is_dir():
                    out[f"{s}{d}"] = len(list_images(path / f"{s}{d}"))
        for s in ("train", "test"):
            if f"{s}A" in out or f"{s}B" in out:
                out[s] = out.get(f"{s}A", 0) + out.get(f"{s}B", 0)
        out["all"] = out.get("train", 0) + out.get("test", 0)
        vals = [carved_counts(out[f"train{d}"], 0)["val"] for d in ("A", "B") if f"train{d}" in out]
        if vals:  # trainA/ and trainB/ keep their file counts; train and val are what loading gives
            out["train"] -= sum(vals)
            tail = {k: out.pop(k) for k in ("test", "all") if k in out}
            out = {**out, "val": sum(vals), **tail}
        return out


# ----------------------------------------------------------------------------------------------------
# eyes: images/ + labels.csv
# ----------------------------------------------------------------------------------------------------


class LabelledImagesFormat(Format):
    name = "eyes"
    priority = 45
    summary = "images/ plus labels.csv (filename,label), e.g. eye crops labelled opened/closed"

    def recognise(self, path: Path) -> bool:
        csv_path, img_dir = path / "labels.csv", path / "images"
        if not (csv_path.is_file() and img_dir.is_dir()):
            return False
        try:
            with open(csv_path, encoding="utf-8-sig") as fh:
                fh.readline()
                first = fh.readline().split(",")[0].strip()
        except OSError:
            return False
        return is_image_file(Path(first))

    def _rows(self, path: Path) -> tuple[list[Path], list[str]]:
        """(paths, labels) of the labelled rows whose file exists."""
        csv_path, img_dir = path / "labels.csv", path / "images"
        header, rows = read_csv_rows(csv_path)
        fcol, lcol = pick_column(header, FILE_COLUMNS), pick_column(header, LABEL_COLUMNS)
        if fcol is None or lcol is None:
            raise DataError(f"{csv_path}: expected columns filename,label; found {','.join(header) or 'none'}")
        try:
            present = set(os.listdir(img_dir))
        except OSError as e:
            raise DataError(f"cannot list {img_dir}: {e.strerror or e}") from None
        paths, labels, missing = [], [], 0
        for r in rows:
            f, lab = r.get(fcol, ""), r.get(lcol, "")
            if not f or not lab:
                continue
            rel = f.removeprefix("images/")
            if rel in present or (img_dir / rel).is_file():
                paths.append(img_dir / rel)
            else:
                missing += 1
                continue
            labels.append(lab)
        if missing:
            warnings.warn(f"{csv_path}: {missing} labelled files are missing from images/; they are left out",
                          stacklevel=4)
        return paths, labels

    def load(self, path: Path | None, *, name: str | None = None, split: str = "train",
             image_size: int | None = None, channels: int | None = None, attrs=None, domain=None,
             limit: int | None = None, test_fraction: float = 0.2, seed: int = 0) -> ImageSet:
        check_common_options(image_size, channels, limit)
        check_test_fraction(test_fraction)
        _no_attrs(self.name, attrs)
        reject_option(self.name, "domain", domain, "domains apply to unpaired (trainA/trainB) sets")
        where = f"{name or self.name} ({path})"
        split = check_split(split, ["train", "val", "test", "all"], where)
        paths, labels = self._rows(path)
        if not paths:
            raise DataError(f"{where}: labels.csv labels no image that exists in images/")
        classes = sorted(set(labels))
        index = {c: i for i, c in enumerate(classes)}
        listing = Listing(paths=paths, labels=np.array([index[lab] for lab in labels], dtype=np.int64),
                          classes=classes)
        listing = listing.take(fixed_split(path_keys(paths, path / "images"), split, test_fraction))
        return build_image_set(listing, name=name or self.name, format=self.name, root=path, split=split,
                               image_size=image_size, channels=channels, limit=limit, seed=seed)

    def counts(self, path: Path | None) -> dict[str, int]:
        return fixed_counts(len(self._rows(path)[0]))


IMAGEFOLDER = register_format(ImageFolderFormat())
UNPAIRED = register_format(UnpairedFormat())
EYES = register_format(LabelledImagesFormat())
