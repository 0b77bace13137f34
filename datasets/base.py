"""The containers every dataset format returns, and the helpers the formats share.

* :class:`ImageSet` — a ``torch.utils.data.Dataset`` of images.  Small sets (IDX, digits, CIFAR batches)
  are decoded once into a uint8 ``N×H×W×C`` array; file-based sets (CelebA, image folders) keep a list of
  paths and decode lazily, with a small in-memory cache.  Every item is ``(x, y)`` with ``x`` a float32
  ``C×H×W`` tensor in ``[-1, 1]``.
* :class:`VideoSet` / :class:`VideoItem` — a labelled list of video files (nothing is decoded here).
* :class:`Format` — what each registered format offers: ``recognise(path)``, ``load(path, **opts)``,
  ``counts(path)``.  Formats build a :class:`Listing` (what is in the requested split) and hand it to
  :func:`build_image_set`, which applies the options that are the same for every format (attribute
  selection, ``limit``, ``channels``, ``image_size``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from mediatk.core.errors import ConfigError, DataError, MediaError
from torch.utils.data import Dataset

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"})
SPLITS = ("train", "val", "test", "all")
DEFAULT_TEST_FRACTION = 0.2
# Share of the train split held out as ``val`` (for choosing checkpoints) where a set has no official val.
VAL_FRACTION = 0.1
# Mixed into every key :func:`fixed_split` hashes; changing it moves items between splits (and so would
# invalidate every model and cache trained on a split), so never change it lightly.
SPLIT_SALT = "mediatk-split-1"

# Decoded images of a file-based set are kept in memory up to this many bytes (per ImageSet object).
FILE_CACHE_BYTES = 256 * 2**20

# Formats by lower-case name, filled by the format modules at import (see ``register_format``).  The
# public ``mediatk.core.registry.DATASETS`` holds the same objects; this module-level map lets the dataset code
# look formats up without ``DATASETS.get``, which would import every generator and detector as well.
FORMATS: dict[str, Format] = {}


def register_format(fmt: Format) -> Format:
    """Register a format object under ``fmt.name`` here and in ``mediatk.core.registry.DATASETS``."""
    from mediatk.core.registry import DATASETS

    FORMATS[fmt.name] = fmt
    DATASETS.register(fmt.name, fmt.summary)(fmt)
    return fmt


# ----------------------------------------------------------------------------------------------------
# Small shared helpers
# ----------------------------------------------------------------------------------------------------


def is_image_file(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def is_video_file(p: Path) -> bool:
    return p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith(".")


def list_images(folder: Path, recursive: bool = True) -> list[Path]:
    """Image files under ``folder`` (sorted, hidden files and folders skipped)."""
    out: list[Path] = []
    if recursive:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            out.extend(Path(dirpath) / f for f in filenames if is_image_file(Path(f)))
    else:
        with os.scandir(folder) as it:
            out = [Path(e.path) for e in it if e.is_file() and is_image_file(Path(e.name))]
    return sorted(out)


def has_images(folder: Path, recursive: bool = True) -> bool:
    """True as soon as one image file is found (does not list big folders completely)."""
    if not folder.is_dir():
        return False
    for dirpath, dirnames, filenames in os.walk(folder):
        if any(is_image_file(Path(f)) for f in filenames):
            return True
        if not recursive:
            return False
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
    return False


def check_split(split: str, allowed: Sequence[str], where: str) -> str:
    s = str(split).lower()
    if s not in SPLITS or s not in allowed:
        raise ConfigError(f"unknown split {split!r} for {where}; choose one of {', '.join(allowed)}")
    return s


def check_test_fraction(test_fraction: float) -> float:
    tf = float(test_fraction)
    if not 0.0 < tf < 1.0:
        raise ConfigError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction!r}")
    return tf


def _hash_order(keys: Sequence[str]) -> np.ndarray:
    """Indices of ``keys`` sorted by a hash of each key: a shuffle that depends on nothing but the names."""
    h = np.array([int.from_bytes(hashlib.blake2b(f"{SPLIT_SALT}/{k}".encode(), digest_size=8).digest(), "big")
                  for k in keys], dtype=np.uint64)
    return np.argsort(h, kind="stable")


def split_sizes(n: int, test_fraction: float = DEFAULT_TEST_FRACTION) -> tuple[int, int, int]:
    """``(train, val, test)`` sizes of :func:`fixed_split` for ``n`` items.

    Test is ``round(n * test_fraction)`` (0 when ``test_fraction`` is 0: the set has an official test
    split), val is ``VAL_FRACTION`` of the rest; each is at least 1 while it leaves train at least 1.
    """
    n_test = 0
    if test_fraction:
        n_test = round(n * check_test_fraction(test_fraction))
        if n >= 2:
            n_test = min(max(n_test, 1), n - 1)
    pool = n - n_test
    n_val = round(pool * VAL_FRACTION)
    if pool >= 2:
        n_val = min(max(n_val, 1), pool - 1)
    return pool - n_val, n_val, n_test


def fixed_split(keys: Sequence[str], split: str, test_fraction: float = DEFAULT_TEST_FRACTION) -> np.ndarray:
    """Indices (sorted, i.e. in file order) of ``split`` for a set with no official split.

    Items are ranked by a hash of their key (a file's path inside the set, or an index for sets that
    never change, like ``digits``); the first ``test`` of the ranking are the test split, the next ``val``
    the validation split, the rest train (sizes from :func:`split_sizes`).  The split therefore depends
    only on the data, never on a command's ``--seed``, and adding a file moves at most a few items across
    a boundary.  ``test_fraction=0`` carves only val out of an official train split (:func:`carve_val`).
    """
    n = len(keys)
    if split == "all":
        return np.arange(n)
    _, n_val, n_test = split_sizes(n, test_fraction)
    order = _hash_order(keys)
    bounds = {"test": (0, n_test), "val": (n_test, n_test + n_val), "train": (n_test + n_val, n)}[split]
    return np.sort(order[bounds[0]:bounds[1]])


def carve_val(keys: Sequence[str], split: str) -> np.ndarray:
    """Indices of ``train`` or ``val`` inside an official train split of items ``keys`` (val: 10 %)."""
    return fixed_split(keys, split, test_fraction=0)


def index_keys(n: int) -> list[str]:
    """Keys for :func:`fixed_split` of a fixed set of ``n`` in-memory items (their positions)."""
    return [str(i) for i in range(n)]


def path_keys(paths: Sequence[Path], root: Path) -> list[str]:
    """Keys for :func:`fixed_split` of image files: their paths relative to ``root``, with ``/``."""
    out = []
    for p in map(Path, paths):
        try:
            out.append(p.relative_to(root).as_posix())
        except ValueError:  # a labels file may name a file outside the folder
            out.append(p.as_posix())
    return out


def fixed_counts(n: int, test_fraction: float = DEFAULT_TEST_FRACTION) -> dict[str, int]:
    train, val, test = split_sizes(n, test_fraction)
    return {"train": train, "val": val, "test": test, "all": n}


def carved_counts(n_train: int, n_test: int) -> dict[str, int]:
    """Counts of a set with official train and test splits, val carved from train."""
    train, val, _ = split_sizes(n_train, 0)
    return {"train": train, "val": val, "test": n_test, "all": n_train + n_test}


def read_csv_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """(header, rows) of a CSV file with a header line; DataError if unreadable or empty."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            rows = [dict(r) for r in reader]
            header = [h.strip() for h in (reader.fieldnames or [])]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in rows]
    return header, rows


def pick_column(header: Sequence[str], candidates: Sequence[str]) -> str | None:
    low = {h.lower(): h for h in header}
    for c in candidates:
        if c in low:
            return low[c]
    return None


# ----------------------------------------------------------------------------------------------------
# Listing: what a format found for one split, before the common options are applied
# ----------------------------------------------------------------------------------------------------


@dataclass
class Listing:
    """The items of one split, as a format found them.

    Exactly one of ``array`` (uint8 ``N×H×W×C``, decoded in memory) or ``paths`` (image files) is set.
    ``labels`` are int64 class indices into ``classes``; ``attrs`` a ``N×A`` uint8 {0,1} matrix whose
    columns are ``attr_names``.
    """

    array: np.ndarray | None = None
    paths: list[Path] | None = None
    labels: np.ndarray | None = None
    classes: list[str] | None = None
    attrs: np.ndarray | None = None
    attr_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.array) if self.array is not None else len(self.paths or [])

    def take(self, idx: np.ndarray) -> Listing:
        idx = np.asarray(idx, dtype=np.int64)
        return Listing(
            array=self.array[idx] if self.array is not None else None,
            paths=[self.paths[i] for i in idx] if self.paths is not None else None,
            labels=self.labels[idx] if self.labels is not None else None,
            classes=self.classes,
            attrs=self.attrs[idx] if self.attrs is not None else None,
            attr_names=self.attr_names,
        )

    @staticmethod
    def concat(parts: Sequence[Listing]) -> Listing:
        parts = [p for p in parts if len(p)]
        if not parts:
            return Listing(paths=[])
        if len(parts) == 1:
            return parts[0]
        first = parts[0]
        return Listing(
            array=np.concatenate([p.array for p in parts]) if first.array is not None else None,
            paths=[q for p in parts for q in p.paths] if first.paths is not None else None,
            labels=np.concatenate([p.labels for p in parts])
            if all(p.labels is not None for p in parts) else None,
            classes=first.classes,
            attrs=np.concatenate([p.attrs for p in parts]) if all(p.attrs is not None for p in parts) else None,
            attr_names=first.attr_names,
        )


def select_attrs(listing: Listing, attrs: Sequence[str] | str, where: str) -> tuple[np.ndarray, list[str]]:
    """Columns ``attrs`` (names matched case-insensitively, ``-`` and spaces read as ``_``)."""
    if isinstance(attrs, str):
        attrs = [a for a in attrs.replace(",", " ").split() if a]
    if not attrs:
        raise ConfigError("attrs is empty; give at least one attribute name or leave it out")
    if listing.attrs is None or not listing.attr_names:
        raise ConfigError(f"{where} has no attributes; attrs apply only to celeba-format sets")
    by_key = {_attr_key(n): i for i, n in enumerate(listing.attr_names)}
    cols, names = [], []
    for a in attrs:
        i = by_key.get(_attr_key(a))
        if i is None:
            few = ", ".join(listing.attr_names[:8]) + (", ..." if len(listing.attr_names) > 8 else "")
            raise ConfigError(f"unknown attribute {a!r} in {where}; it has {len(listing.attr_names)}: {few}")
        cols.append(i)
        names.append(listing.attr_names[i])
    return listing.attrs[:, cols], names


def _attr_key(name: str) -> str:
    return str(name).strip().lower().replace("-", "_").replace(" ", "_")


def check_common_options(image_size: Any, channels: Any, limit: Any) -> tuple[int | None, int | None, int | None]:
    if image_size is not None:
        if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 1:
            raise ConfigError(f"image_size must be a positive integer, got {image_size!r}")
        image_size = int(image_size)
    if channels is not None:
        if channels not in (1, 3) or isinstance(channels, bool):
            raise ConfigError(f"channels must be 1 or 3, got {channels!r}")
        channels = int(channels)
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
            raise ConfigError(f"limit must be a positive integer, got {limit!r}")
        limit = int(limit)
    return image_size, channels, limit


def build_image_set(listing: Listing, *, name: str, format: str, root: Path | None, split: str,
                    image_size: int | None = None, channels: int | None = None,
                    attrs: Sequence[str] | str | None = None, limit: int | None = None,
                    seed: int = 0) -> ImageSet:
    """Apply the options shared by all formats and return the :class:`ImageSet`.

    ``limit`` keeps a seeded random subset of the split (kept in file order), so a limited set is not,
    say, only the first class of a folder sorted by class.  ``seed`` picks that subset and nothing else:
    the split itself was fixed before (:func:`fixed_split`).
    """
    where = f"{name} ({root})" if root is not None else name
    if len(listing) == 0:
        raise DataError(f"{where} has no images in split {split!r}")
    image_size, channels, limit = check_common_options(image_size, channels, limit)
    attr_matrix, attr_names = None, []
    if attrs is not None:
        attr_matrix, attr_names = select_attrs(listing, attrs, where)
    if limit is not None and limit < len(listing):
        idx = np.sort(np.random.default_rng(seed).choice(len(listing), size=limit, replace=False))
        listing = listing.take(idx)
        attr_matrix = attr_matrix[idx] if attr_matrix is not None else None
    return ImageSet(
        name=name, format=format, root=root, split=split, array=listing.array, paths=listing.paths,
        labels=listing.labels, classes=listing.classes, attrs=attr_matrix, attr_names=attr_names,
        available_attrs=listing.attr_names, image_size=image_size, channels=channels,
    )


# ----------------------------------------------------------------------------------------------------
# ImageSet
# ----------------------------------------------------------------------------------------------------


def _grey_to_rgb(a: np.ndarray) -> np.ndarray:
    return np.repeat(a, 3, axis=-1)


def _rgb_to_grey(a: np.ndarray) -> np.ndarray:
    # ITU-R 601-2 luma, the same weights PIL uses for convert("L").
    grey = a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)[..., None]


def _pil_mode_channels(mode: str) -> int:
    return 1 if mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F") else 3


class ImageSet(Dataset):
    """A set of images with optional class labels or binary attributes.

    ``ds[i]`` is ``(x, y)``: ``x`` a float32 ``C×H×W`` tensor in ``[-1, 1]``; ``y`` the int64 class label
    when the set has labels and no attributes were selected, the float32 0/1 vector of the selected
    attributes when ``attrs`` was given, else ``tensor(-1)``.

    Attributes: ``name`` (the spec as given), ``format``, ``root``, ``split``, ``classes``, ``labels``
    (LongTensor or None), ``attr_names`` and ``attrs`` (the selected attributes: a FloatTensor ``N×A`` of
    0/1, or ``[]`` and None when ``attrs`` was not given, so ``attrs is not None`` means ``y`` is the
    attribute vector), ``available_attrs`` (every attribute column the set has; CelebA only),
    ``image_size`` (side after resizing;
    the native side when not resized and the images are square, else None), ``size`` (``(H, W)`` of the
    items, from the first image for file-based sets), ``channels``, ``paths`` (None for in-memory sets).

    With ``image_size`` set, non-square images are centre-cropped to a square before resizing (bilinear,
    antialiased), so faces keep their proportions.
    """

    def __init__(self, *, name: str, format: str, root: Path | None, split: str,
                 array: np.ndarray | None = None, paths: Sequence[Path] | None = None,
                 labels: np.ndarray | None = None, classes: Sequence[str] | None = None,
                 attrs: np.ndarray | None = None, attr_names: Sequence[str] = (),
                 available_attrs: Sequence[str] | None = None,
                 image_size: int | None = None, channels: int | None = None):
        if (array is None) == (paths is None):
            raise ValueError("ImageSet needs exactly one of array or paths")
        self.name = str(name)
        self.format = format
        self.root = Path(root) if root is not None else None
        self.split = split
        self._array = array
        self.paths: list[Path] | None = [Path(p) for p in paths] if paths is not None else None
        n = len(array) if array is not None else len(self.paths)
        self.classes: list[str] | None = list(classes) if classes is not None else None
        self.labels: torch.Tensor | None = (
            torch.as_tensor(np.asarray(labels, dtype=np.int64)) if labels is not None else None)
        self.attr_names: list[str] = list(attr_names)
        self.attrs: torch.Tensor | None = (
            torch.as_tensor(np.asarray(attrs, dtype=np.float32)) if attrs is not None else None)
        self.available_attrs: list[str] = list(available_attrs if available_attrs is not None else attr_names)
        self._cache: dict[int, np.ndarray] = {}
        self._cache_bytes = 0

        if array is not None:
            native_h, native_w, native_c = array.shape[1], array.shape[2], array.shape[3]
        else:
            native_h, native_w, native_c = self._probe(self.paths[0])
        self.native_channels = native_c
        self.channels = channels or native_c
        self._target = image_size
        if image_size is not None:
            self.size = (image_size, image_size)
        else:
            self.size = (native_h, native_w)
        self.image_size: int | None = self.size[0] if self.size[0] == self.size[1] else None
        self._n = n

    # -- basic protocol ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(i, torch.Tensor):
            i = int(i)
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(f"index {i} out of range for {self._n} images")
        x = self._to_float(torch.from_numpy(self._uint8(i)[None]))[0]
        return x, self.target(i)

    def target(self, i: int) -> torch.Tensor:
        """``y`` of item ``i`` (see the class docstring)."""
        if self.attrs is not None:
            return self.attrs[i].clone()
        if self.labels is not None:
            return self.labels[i].clone()
        return torch.tensor(-1)

    def tensor(self, indices: Sequence[int] | np.ndarray | torch.Tensor | None = None) -> torch.Tensor:
        """Images ``indices`` (default: all) stacked into a float32 ``N×C×H×W`` tensor in ``[-1, 1]``."""
        if indices is None:
            idx = np.arange(self._n)
        else:
            idx = np.asarray(indices.tolist() if isinstance(indices, torch.Tensor) else indices, dtype=np.int64)
            idx = np.where(idx < 0, idx + self._n, idx)
            if idx.size and (idx.min() < 0 or idx.max() >= self._n):
                raise IndexError(f"indices out of range for {self._n} images")
        if self._array is not None:
            # In-memory fast path: convert in chunks so a resize never holds two huge float copies.
            chunks = []
            for s in range(0, len(idx), 8192):
                a = self._convert_channels(self._array[idx[s:s + 8192]])
                chunks.append(self._to_float(torch.from_numpy(a)))
            if not chunks:
                return torch.empty(0, self.channels, *self.size)
            return torch.cat(chunks)
        items = [self._uint8(int(i)) for i in idx]
        shapes = {a.shape for a in items}
        if len(shapes) > 1:
            a, b = sorted(shapes)[:2]
            raise DataError(f"images in {self.root or self.name} differ in size ({a[1]}x{a[0]} and "
                            f"{b[1]}x{b[0]}); pass image_size to resize them")
        if not items:
            return torch.empty(0, self.channels, *self.size)
        return self._to_float(torch.from_numpy(np.stack(items)))

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "format": self.format,
            "root": str(self.root) if self.root is not None else None,
            "split": self.split,
            "n": self._n,
            "image_size": self.image_size,
            "channels": self.channels,
            "classes": self.classes,
            "attr_names": self.attr_names,
            "available_attrs": self.available_attrs,
        }

    def __repr__(self) -> str:
        h, w = self.size
        extra = f", classes={len(self.classes)}" if self.classes else ""
        extra += f", attrs={self.attr_names}" if self.attrs is not None else ""
        return (f"ImageSet({self.name!r}, format={self.format}, split={self.split}, n={self._n}, "
                f"{self.channels}x{h}x{w}{extra})")

    # -- decoding ------------------------------------------------------------------------------------

    @staticmethod
    def _probe(path: Path) -> tuple[int, int, int]:
        from PIL import Image

        try:
            with Image.open(path) as im:
                return im.height, im.width, _pil_mode_channels(im.mode)
        except (OSError, ValueError) as e:
            raise MediaError(f"cannot read image {path}: {e}") from None

    def _convert_channels(self, a: np.ndarray) -> np.ndarray:
        c = a.shape[-1]
        if c == self.channels:
            return a
        return _grey_to_rgb(a) if self.channels == 3 else _rgb_to_grey(a)

    def _uint8(self, i: int) -> np.ndarray:
        """Item ``i`` as uint8 ``H×W×C`` with ``self.channels`` channels, at native size."""
        if self._array is not None:
            return self._convert_channels(self._array[i].copy())
        cached = self._cache.get(i)
        if cached is not None:
            return cached
        from PIL import Image

        path = self.paths[i]
        try:
            with Image.open(path) as im:
                im = im.convert("L" if self.channels == 1 else "RGB")
                a = np.array(im, dtype=np.uint8)  # a writable copy (torch.from_numpy warns on read-only)
        except (OSError, ValueError) as e:
            raise MediaError(f"cannot read image {path}: {e}") from None
        if a.ndim == 2:
            a = a[..., None]
        if self._cache_bytes + a.nbytes <= FILE_CACHE_BYTES:
            self._cache[i] = a
            self._cache_bytes += a.nbytes
        return a

    def _to_float(self, u8: torch.Tensor) -> torch.Tensor:
        """uint8 ``N×H×W×C`` → float32 ``N×C×S×S`` in [-1, 1] (centre-crop + resize when asked)."""
        x = u8.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
        if self._target is None:
            return x.contiguous()
        h, w = x.shape[-2:]
        if h != w:
            s = min(h, w)
            top, left = (h - s) // 2, (w - s) // 2
            x = x[..., top:top + s, left:left + s]
        if x.shape[-1] != self._target:
            x = F.interpolate(x, size=(self._target, self._target), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > self._target).clamp_(-1.0, 1.0)
        return x.contiguous()


# ----------------------------------------------------------------------------------------------------
# Videos
# ----------------------------------------------------------------------------------------------------


@dataclass
class VideoItem:
    """One video file: ``label`` is ``"real"``, ``"fake"`` or None; ``meta`` holds any other columns."""

    path: Path
    label: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class VideoSet:
    """A list of :class:`VideoItem` (videos are not opened here; see ``mediatk.media.probe_video``)."""

    def __init__(self, *, name: str, format: str, root: Path | None, items: Sequence[VideoItem]):
        self.name = str(name)
        self.format = format
        self.root = Path(root) if root is not None else None
        self.items: list[VideoItem] = list(items)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[VideoItem]:
        return iter(self.items)

    def __getitem__(self, i: int) -> VideoItem:
        return self.items[i]

    def counts(self) -> dict[str, int]:
        real = sum(1 for it in self.items if it.label == "real")
        fake = sum(1 for it in self.items if it.label == "fake")
        out = {"real": real, "fake": fake, "all": len(self.items)}
        if len(self.items) - real - fake:
            out["unlabelled"] = len(self.items) - real - fake
        return out

    def info(self) -> dict[str, Any]:
        c = self.counts()
        return {"name": self.name, "format": self.format,
                "root": str(self.root) if self.root is not None else None, "n": len(self.items),
                "real": c["real"], "fake": c["fake"], "unlabelled": c.get("unlabelled", 0)}

    def __repr__(self) -> str:
        c = self.counts()
        return f"VideoSet({self.name!r}, n={len(self)}, real={c['real']}, fake={c['fake']})"


# ----------------------------------------------------------------------------------------------------
# Formats
# ----------------------------------------------------------------------------------------------------


class Format:
    """A dataset format.  Subclasses set ``name``/``summary`` and implement the methods below.

    ``kind`` is ``"images"`` or ``"videos"``.  ``recognise`` must be cheap (it runs on every folder of
    every data root for ``catalog()``); ``counts`` must not decode images.
    """

    name: str = ""
    summary: str = ""
    kind: str = "images"
    # Folder names under a data root (or the download cache) that hold a local copy of this format's
    # standard set, for lookups by format name ("mnist" -> <root>/mnist).  Empty for generic formats.
    local_names: tuple[str, ...] = ()
    # Recognition order (low first): the first format whose ``recognise`` accepts a folder decides, so
    # specific layouts go before general ones (a CelebA folder is also, loosely, a folder of images).
    priority: int = 50

    def recognise(self, path: Path) -> bool:
        raise NotImplementedError

    def load(self, path: Path | None, **opts: Any) -> ImageSet | VideoSet:
        raise NotImplementedError

    def counts(self, path: Path | None) -> dict[str, int]:
        raise NotImplementedError

    def attr_names(self, path: Path | None) -> list[str]:
        return []

    def missing(self, searched: str, target: Path) -> str:
        """One-line advice when the format is asked for by name and no local copy exists."""
        return (f"{self.name} needs a path: pass a folder in the {self.name} layout "
                f"(searched {searched} for a folder named {self.name})")

    def fetch(self, dest: Path) -> Path:
        """Download the standard set into ``dest``; formats without a download raise DataError."""
        raise DataError(self.missing("", dest))

    def __repr__(self) -> str:
        return f"<dataset format {self.name}>"


def reject_option(fmt: str, opt: str, value: Any, what: str) -> None:
    if value is not None:
        raise ConfigError(f"{opt}={value!r} does not apply to {fmt}-format sets; {what}")
