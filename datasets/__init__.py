"""mediatk.datasets: load image and video sets by name or path.

>>> from mediatk.datasets import load_images
>>> ds = load_images("fashion-mnist", split="train", image_size=32)   # doctest: +SKIP
>>> x, y = ds[0]          # x: float32 1x32x32 in [-1, 1]; y: int64 class label

Formats (each registered in ``mediatk.core.registry.DATASETS``): ``mnist``, ``fashion-mnist`` (IDX files),
``cifar10``, ``digits`` (bundled with scikit-learn), ``celeba`` (CelebA's own layout, attributes by name),
``imagefolder``, ``unpaired`` (CycleGAN's trainA/trainB), ``eyes`` (images/ + labels.csv) and ``videos``
(real/ fake/, labels.csv or DFDC metadata.json).  See :mod:`mediatk.datasets.api` for how names and paths
are resolved, and each format's module for its layout.
"""

from __future__ import annotations

from mediatk.core.registry import discover
from mediatk.datasets.api import (
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
from mediatk.datasets.base import FORMATS, Format, ImageSet, VideoItem, VideoSet

# Every format module here registers itself on import (the order of recognition is each Format's
# ``priority``); _template.py shows what a new format looks like.
discover(__name__)

__all__ = [
    "FORMATS", "Format", "ImageSet", "VideoItem", "VideoSet", "cache_dir", "catalog", "data_roots",
    "detect_format", "load_images", "load_unpaired", "load_videos", "offline", "resolve",
]
