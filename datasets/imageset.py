"""The image container every dataset format returns: a ``torch.utils.data.Dataset`` of images.

Small sets (IDX, digits, CIFAR batches) are decoded once into a uint8 ``N×H×W×C`` array; file-based sets
(CelebA, image folders) keep a list of paths and decode lazily, with a small in-memory cache.  Every pixel
goes through :mod:`mediatk.media.pixels` (decoding, alpha, grey, crop, resize), the same functions
``mediatk detect`` uses, so a file is the same tensor here and at detection.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mediatk.core.errors import DataError
from mediatk.media.pixels import probe_image, read_image, to_channels, uint8_to_tensor
from torch.utils.data import Dataset

# Decoded images of a file-based set are kept in memory up to this many bytes (per ImageSet object).
FILE_CACHE_BYTES = 256 * 2**20


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
    antialiased when shrinking: :data:`mediatk.media.pixels.RESAMPLE`), so faces keep their proportions.
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
        x = self._to_float(self._uint8(i)[None])[0]
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
                chunks.append(self._to_float(to_channels(self._array[idx[s:s + 8192]], self.channels)))
            if not chunks:
                return torch.empty(0, self.channels, *self.size)
            return torch.cat(chunks)
        items = [self._uint8(int(i)) for i in idx]
        shapes = {a.shape for a in items}
        if len(shapes) > 1 and self._target is not None:  # files of several sizes: each resized on its own
            return torch.cat([self._to_float(a[None]) for a in items])
        if len(shapes) > 1:
            a, b = sorted(shapes)[:2]
            raise DataError(f"images in {self.root or self.name} differ in size ({a[1]}x{a[0]} and "
                            f"{b[1]}x{b[0]}); pass image_size to resize them")
        if not items:
            return torch.empty(0, self.channels, *self.size)
        return self._to_float(np.stack(items))

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
        return probe_image(path)

    def _uint8(self, i: int) -> np.ndarray:
        """Item ``i`` as uint8 ``H×W×C`` with ``self.channels`` channels, at native size."""
        if self._array is not None:
            return to_channels(self._array[i], self.channels)
        cached = self._cache.get(i)
        if cached is not None:
            return cached
        a = to_channels(read_image(self.paths[i]), self.channels)
        if self._cache_bytes + a.nbytes <= FILE_CACHE_BYTES:
            self._cache[i] = a
            self._cache_bytes += a.nbytes
        return a

    def _to_float(self, u8: np.ndarray) -> torch.Tensor:
        """uint8 ``N×H×W×C`` → float32 ``N×C×S×S`` in [-1, 1] (centre-crop + resize when asked)."""
        return uint8_to_tensor(u8, self._target, self.channels)
