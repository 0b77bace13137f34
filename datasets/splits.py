"""Fixed splits: which items of a set are train, val and test, decided by the data alone.

Sets without an official split rank their items by a hash of each item's key (a file's path inside the
set, or a position for sets that never change) and cut the ranking into test, val and train
(:func:`fixed_split`); sets with an official train/test carve val out of train (:func:`carve_val`).
``--seed`` never moves an item across splits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from mediatk.core.errors import ConfigError

SPLITS = ("train", "val", "test", "all")
DEFAULT_TEST_FRACTION = 0.2
# Share of the train split held out as ``val`` (for choosing checkpoints) where a set has no official val.
VAL_FRACTION = 0.1
# Mixed into every key :func:`fixed_split` hashes; changing it moves items between splits (and so would
# invalidate every model and cache trained on a split), so never change it lightly.
SPLIT_SALT = "mediatk-split-1"


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

