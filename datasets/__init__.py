"""mediatk.datasets: load image and video sets by name or path.

>>> from mediatk.datasets import load_images
>>> ds = load_images("fashion-mnist", split="train", image_size=32)   # doctest: +SKIP
>>> x, y = ds[0]          # x: float32 1x32x32 in [-1, 1]; y: int64 class label

Formats (each registered in ``mediatk.registry.DATASETS``): ``mnist``, ``fashion-mnist`` (IDX files),
``cifar10``, ``digits`` (bundled with scikit-learn), ``celeba`` (CelebA's own layout, attributes by name),
``imagefolder``, ``unpaired`` (CycleGAN's trainA/trainB), ``eyes`` (images/ + labels.csv) and ``videos``
(real/ fake/, labels.csv or DFDC metadata.json).  See :mod:`mediatk.datasets.api` for how names and paths
are resolved, and each format's module for its layout.
"""

from __future__ import annotations

# Importing the format modules registers them (order does not matter; detection order is in api.py).
from . import celeba, cifar, digits, folders, forgery, idx, videos  # noqa: F401
from .api import (
                  cache_dir,
                  catalog,
                  data_roots,
                  detect_format,
                  load_images,
                  load_unpaired,
                  load_videos,
                  offline,
                  resolve,
)
from .base import FORMATS, Format, ImageSet, VideoItem, VideoSet

__all__ = [
    "FORMATS", "Format", "ImageSet", "VideoItem", "VideoSet", "cache_dir", "catalog", "data_roots",
    "detect_format", "load_images", "load_unpaired", "load_videos", "offline", "resolve",
]
