"""CIFAR-10: 60000 32x32 RGB images in 10 classes (50k train / 10k test).

``val`` is a fixed 10 % of the train batches (by position, see ``fixed_split``), left out of ``train``.

Two local layouts are read:

* The official "python version" (what torchvision downloads): ``cifar-10-batches-py/`` with
  ``data_batch_1`` .. ``data_batch_5``, ``test_batch`` and ``batches.meta``.  Each batch is a pickled dict
  ``{b"data": uint8 array 10000×3072 (1024 R, 1024 G, 1024 B values per image, row-major),
  b"labels": [int]*10000, ...}``.  Pickle is the official format, so it is accepted here only for these
  file names, and through a restricted unpickler that can build nothing but plain containers and numpy
  arrays: a doctored batch file cannot run code.
* An image-folder copy (``train/<class>/*.png``, ``test/<class>/*.png``), which the ``imagefolder`` format
  reads; ``load_images("cifar10")`` finds it as ``<data root>/cifar10``.
"""

from __future__ import annotations

import pickle
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
    index_keys,
    register_format,
    reject_option,
)

BATCH_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCHES = ["test_batch"]
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
PER_BATCH = 10000  # every official batch file holds 10000 images

# The only globals a CIFAR batch pickle needs (numpy arrays pickle through these).
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"),
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            try:
                import numpy._core.multiarray as ma  # numpy >= 2 (numpy.core is a deprecated alias there)
            except ImportError:  # numpy 1.x
                import numpy.core.multiarray as ma
            return getattr(ma, name)
        return super().find_class(module, name)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 N×32×32×3 images, int64 labels) of one official batch file."""
    try:
        with open(path, "rb") as fh:
            d = _BatchUnpickler(fh, encoding="latin1").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError) as e:
        raise DataError(f"corrupt CIFAR batch {path}: {e}") from None
    if not isinstance(d, dict):
        raise DataError(f"corrupt CIFAR batch {path}: expected a dict")
    d = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in d.items()}
    data, labels = d.get("data"), d.get("labels", d.get("fine_labels"))
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072 or labels is None \
            or len(labels) != len(data):
        raise DataError(f"corrupt CIFAR batch {path}: expected data N x 3072 and N labels")
    x = np.ascontiguousarray(data.astype(np.uint8, copy=False).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return x, np.asarray(labels, dtype=np.int64)


def _batch_dir(path: Path) -> Path | None:
    for d in (path / BATCH_DIR, path):
        if (d / "test_batch").is_file() or (d / "data_batch_1").is_file():
            return d
    return None


class Cifar10Format(Format):
    name = "cifar10"
    priority = 50
    summary = "CIFAR-10: 32x32 RGB, 10 classes (50k train / 10k test); official python batches or train/ test/ folders"
    local_names = ("cifar10", "cifar-10", "CIFAR10")

    def recognise(self, path: Path) -> bool:
        return path.is_dir() and _batch_dir(path) is not None

    def load(self, path: Path | None, *, name: str | None = None, split: str = "train",
             image_size: int | None = None, channels: int | None = None, attrs=None, domain=None,
             limit: int | None = None, test_fraction: float = 0.2, seed: int = 0) -> ImageSet:
        check_common_options(image_size, channels, limit)
        reject_option(self.name, "attrs", attrs, "attributes apply only to celeba-format sets")
        reject_option(self.name, "domain", domain, "domains apply to unpaired (trainA/trainB) sets")
        d = _batch_dir(path)
        if d is None:
            raise DataError(f"no CIFAR-10 batches ({BATCH_DIR}/data_batch_1 ...) in {path}")
        split = check_split(split, ["train", "val", "test", "all"], f"{name or self.name} ({path})")
        files = {"train": TRAIN_BATCHES, "val": TRAIN_BATCHES, "test": TEST_BATCHES,
                 "all": TRAIN_BATCHES + TEST_BATCHES}[split]
        missing = [f for f in files if not (d / f).is_file()]
        if missing:
            raise DataError(f"{d} lacks {', '.join(missing)}")
        parts = [read_batch(d / f) for f in files]
        listing = Listing(array=np.concatenate([p[0] for p in parts]), labels=np.concatenate([p[1] for p in parts]),
                          classes=CLASSES)
        if split in ("train", "val"):
            listing = listing.take(carve_val(index_keys(len(listing)), split))
        return build_image_set(listing, name=name or self.name, format=self.name, root=path, split=split,
                               image_size=image_size, channels=channels, limit=limit, seed=seed)

    def counts(self, path: Path | None) -> dict[str, int]:
        d = _batch_dir(path)
        train = sum(PER_BATCH for f in TRAIN_BATCHES if (d / f).is_file())
        test = sum(PER_BATCH for f in TEST_BATCHES if (d / f).is_file())
        return carved_counts(train, test)

    def missing(self, searched: str, target: Path) -> str:
        return (f"cifar10 not found in {searched}; put {BATCH_DIR}/ (data_batch_1 .. data_batch_5, test_batch, "
                f"batches.meta, from cifar-10-python.tar.gz) or train/<class>/*.png and test/<class>/*.png in "
                f"{target} or set MEDIATK_DATA to a folder that holds a cifar10/ folder")

    def fetch(self, dest: Path) -> Path:
        import torchvision.datasets as tvd

        # torchvision checks the archive's MD5 before it unpickles the official batches.
        tvd.CIFAR10(root=str(dest), train=False, download=True)
        return dest


CIFAR10 = register_format(Cifar10Format())
