"""CelebA's own layout, read directly (torchvision's ``CelebA`` checks MD5s and so rejects subsets).

A CelebA folder holds:

* ``img_align_celeba/`` — the aligned JPEGs (178x218 in the real set; any size works).  Kaggle's copy
  nests them once more (``img_align_celeba/img_align_celeba/``); that is accepted too.
* ``list_attr_celeba.txt`` — line 1: the number of rows (not trusted: subsets often keep the original
  202599); line 2: the space-separated attribute names (40 in the real set); then one row per image,
  ``000001.jpg -1  1  1 -1 ...`` with ±1 values separated by one or more spaces.  Values are stored as
  0/1 (1 for +1; files that already use 0/1 read the same).  Kaggle's ``list_attr_celeba.csv`` (``image_id,5_o_Clock_Shadow,...``) is read as well.
* ``list_eval_partition.txt`` (optional) — ``000001.jpg 0`` rows: 0 train, 1 val, 2 test (when no row
  says 1, val is a fixed 10 % of train).  Without it train/val/test are fixed by a hash of each file name
  (``test_fraction``; see ``fixed_split``).

The set holds the images that have an attribute row *and* a file; rows without a file are dropped with a
warning, files without a row are left out.  Images are decoded lazily, one per item.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from mediatk.core.errors import DataError
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
    read_csv_rows,
    register_format,
    reject_option,
)

ATTR_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
IMAGE_DIR = "img_align_celeba"
_PARTITION_CODES = {"train": 0, "val": 1, "test": 2}


def _image_dir(root: Path) -> Path:
    d = root / IMAGE_DIR
    nested = d / IMAGE_DIR
    return nested if nested.is_dir() and not (d / "000001.jpg").exists() else d


def _attr_file(root: Path) -> Path | None:
    for name in (ATTR_FILE, "list_attr_celeba.csv"):
        if (root / name).is_file():
            return root / name
    return None


def read_attr_file(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(attribute names, file names, uint8 0/1 matrix rows×attributes) of a CelebA attribute file."""
    if path.suffix == ".csv":
        header, rows = read_csv_rows(path)
        if len(header) < 2:
            raise DataError(f"{path}: expected a header image_id,<attribute>,...")
        names = header[1:]
        files = [r[header[0]] for r in rows]
        try:
            vals = np.array([[int(r[h]) for h in names] for r in rows], dtype=np.int8).reshape(len(rows), len(names))
        except (ValueError, TypeError, KeyError):
            raise DataError(f"{path}: attribute values must be -1 or 1") from None
        return names, files, (vals > 0).astype(np.uint8)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    if len(lines) < 2:
        raise DataError(f"{path}: expected a count line and a line of attribute names")
    names = lines[1].split()
    if not names:
        raise DataError(f"{path}: line 2 should list the attribute names")
    files: list[str] = []
    values: list[str] = []
    for ln in lines[2:]:
        ln = ln.strip()
        if not ln:
            continue
        fname, _, rest = ln.partition(" ")
        files.append(fname)
        values.append(rest)
    # One fast parse of all values; on any mismatch, find the offending line for the message.
    try:
        with warnings.catch_warnings():
            # Older numpy warns and stops at unparsable text, newer raises; either way the size check catches it.
            warnings.simplefilter("ignore", DeprecationWarning)
            flat = np.fromstring(" ".join(values), dtype=np.int8, sep=" ") if values else np.zeros(0, np.int8)
    except ValueError:
        flat = np.zeros(0, np.int8)
    if flat.size != len(files) * len(names) or (flat.size and not np.all(np.abs(flat) <= 1)):
        for i, v in enumerate(values):
            toks = v.split()
            if len(toks) != len(names) or any(t not in ("1", "-1", "0") for t in toks):
                raise DataError(f"{path} line {i + 3}: expected {len(names)} values of 1 or -1 after the file "
                                f"name, got {v.strip()[:60]!r}")
        raise DataError(f"{path}: attribute values must be 1 or -1")
    return names, files, (flat.reshape(len(files), len(names)) > 0).astype(np.uint8)


def read_partition(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    for i, ln in enumerate(text.splitlines()):
        parts = ln.replace(",", " ").split()
        if not parts or (i == 0 and not parts[-1].lstrip("-").isdigit()):
            continue  # blank line or a CSV header
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise DataError(f"{path} line {i + 1}: expected '<file> 0|1|2'")
        out[parts[0]] = int(parts[1])
    return out


class CelebAFormat(Format):
    name = "celeba"
    priority = 40
    summary = "CelebA layout: img_align_celeba/ + list_attr_celeba.txt (+ list_eval_partition.txt); attributes by name"
    local_names = ("celeba", "CelebA")

    def recognise(self, path: Path) -> bool:
        return (path / IMAGE_DIR).is_dir() and _attr_file(path) is not None

    def _table(self, path: Path) -> tuple[list[str], list[str], np.ndarray, dict[str, int] | None]:
        """(attr names, files present, their attrs, partition or None), rows without a file dropped."""
        attr_path = _attr_file(path)
        if attr_path is None:
            raise DataError(f"{path}: no {ATTR_FILE}")
        names, files, attrs = read_attr_file(attr_path)
        img_dir = _image_dir(path)
        try:
            present = set(os.listdir(img_dir))
        except OSError as e:
            raise DataError(f"cannot list {img_dir}: {e.strerror or e}") from None
        keep = np.array([f in present for f in files], dtype=bool)
        if len(files) and not keep.all():
            missing = int((~keep).sum())
            if keep.any():
                warnings.warn(f"{path}: {missing} of {len(files)} rows of {attr_path.name} have no image in "
                              f"{img_dir.name}/; they are left out", stacklevel=4)
            files = [f for f, k in zip(files, keep) if k]
            attrs = attrs[keep]
        part = None
        for pname in (PARTITION_FILE, "list_eval_partition.csv"):
            if (path / pname).is_file():
                part = read_partition(path / pname)
                break
        return names, files, attrs, part

    def _split_index(self, files: list[str], part: dict[str, int] | None, split: str, where: str,
                     test_fraction: float) -> np.ndarray:
        if part is None:
            check_split(split, ["train", "val", "test", "all"], f"{where} (no {PARTITION_FILE})")
            return fixed_split(files, split, test_fraction)
        codes = np.array([part.get(f, -1) for f in files])
        split = check_split(split, ["train", "val", "test", "all"], where)
        if split == "all":
            return np.arange(len(files))
        if split in ("train", "val") and not (codes == 1).any():  # no official val: carve it from train
            train = np.flatnonzero(codes == 0)
            return train[carve_val([files[i] for i in train], split)]
        return np.flatnonzero(codes == _PARTITION_CODES[split])

    def load(self, path: Path | None, *, name: str | None = None, split: str = "train",
             image_size: int | None = None, channels: int | None = None, attrs=None, domain=None,
             limit: int | None = None, test_fraction: float = 0.2, seed: int = 0) -> ImageSet:
        check_common_options(image_size, channels, limit)
        check_test_fraction(test_fraction)
        reject_option(self.name, "domain", domain, "domains apply to unpaired (trainA/trainB) sets")
        where = f"{name or self.name} ({path})"
        split = str(split).lower()
        names, files, table, part = self._table(path)
        if not files:
            raise DataError(f"{where} has no images that have a row in {ATTR_FILE}")
        idx = self._split_index(files, part, split, where, test_fraction)
        img_dir = _image_dir(path)
        listing = Listing(paths=[img_dir / files[i] for i in idx], attrs=table[idx], attr_names=names)
        return build_image_set(listing, name=name or self.name, format=self.name, root=path, split=split,
                               image_size=image_size, channels=channels, attrs=attrs, limit=limit, seed=seed)

    def counts(self, path: Path | None) -> dict[str, int]:
        _, files, _, part = self._table(path)
        if part is None:
            return fixed_counts(len(files))
        codes = np.array([part.get(f, -1) for f in files])
        train, test = int((codes == 0).sum()), int((codes == 2).sum())
        if not (codes == 1).any():
            return {**carved_counts(train, test), "all": len(files)}
        return {"train": train, "val": int((codes == 1).sum()), "test": test, "all": len(files)}

    def attr_names(self, path: Path | None) -> list[str]:
        attr_path = _attr_file(path) if path is not None else None
        if attr_path is None:
            return []
        if attr_path.suffix == ".csv":
            return read_csv_rows(attr_path)[0][1:]
        with open(attr_path, encoding="utf-8", errors="replace") as fh:
            fh.readline()
            return fh.readline().split()

    def missing(self, searched: str, target: Path) -> str:
        return (f"celeba not found in {searched}; put img_align_celeba/ (the aligned JPEGs), {ATTR_FILE} and "
                f"{PARTITION_FILE} from the CelebA release in {target} or set MEDIATK_DATA (CelebA is not "
                f"downloaded automatically)")


CELEBA = register_format(CelebAFormat())
