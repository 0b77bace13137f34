"""scikit-learn's bundled handwritten digits (UCI optdigits): 1797 grey 8x8 images, 10 classes.

Needs no files and no network (the data ships inside scikit-learn), so it is the set the smoke tests and
quick demos use.  Pixel values 0..16 are scaled to 0..255; the native size is 8x8, so pass
``image_size`` (e.g. 32) to upsample for a model.  There is no official split: train/val/test are fixed
by :func:`~mediatk.datasets.base.fixed_split` over the images' positions (``test_fraction``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from mediatk.datasets.base import (
    Format,
    ImageSet,
    Listing,
    build_image_set,
    check_common_options,
    check_split,
    check_test_fraction,
    fixed_counts,
    fixed_split,
    index_keys,
    register_format,
    reject_option,
)

N_DIGITS = 1797  # the size of scikit-learn's bundled copy (fixed), so counts() need not import sklearn
_cache: list[tuple[np.ndarray, np.ndarray]] = []


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """(uint8 N×8×8×1 images, int64 labels), decoded once per process."""
    if not _cache:
        from sklearn.datasets import load_digits

        d = load_digits()
        x = np.clip(np.rint(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)[..., None]
        x.flags.writeable = False
        _cache.append((x, d.target.astype(np.int64)))
    return _cache[0]


class DigitsFormat(Format):
    name = "digits"
    summary = "scikit-learn's bundled 8x8 handwritten digits (1797, 10 classes); needs no files or network"

    def recognise(self, path: Path) -> bool:
        return False  # never on disk

    def load(self, path: Path | None, *, name: str | None = None, split: str = "train",
             image_size: int | None = None, channels: int | None = None, attrs=None, domain=None,
             limit: int | None = None, test_fraction: float = 0.2, seed: int = 0) -> ImageSet:
        check_common_options(image_size, channels, limit)
        check_test_fraction(test_fraction)
        reject_option(self.name, "attrs", attrs, "attributes apply only to celeba-format sets")
        reject_option(self.name, "domain", domain, "domains apply to unpaired (trainA/trainB) sets")
        split = check_split(split, ["train", "val", "test", "all"], self.name)
        x, y = _digits()
        listing = Listing(array=x, labels=y, classes=[str(i) for i in range(10)])
        listing = listing.take(fixed_split(index_keys(len(x)), split, test_fraction))
        return build_image_set(listing, name=name or self.name, format=self.name, root=None, split=split,
                               image_size=image_size, channels=channels, limit=limit, seed=seed)

    def counts(self, path: Path | None) -> dict[str, int]:
        return fixed_counts(N_DIGITS)


DIGITS = register_format(DigitsFormat())
