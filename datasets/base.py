"""The containers every dataset format returns, and the helpers the formats share.

* :class:`~mediatk.datasets.imageset.ImageSet` (in ``imageset.py``) — a ``torch.utils.data.Dataset`` of
  images; every item is ``(x, y)`` with ``x`` a float32 ``C×H×W`` tensor in ``[-1, 1]``.
* :class:`VideoSet` / :class:`VideoItem` — a labelled list of video files (nothing is decoded here).
* Fixed splits live in ``splits.py``; both are imported here, where the formats look for them.
* :class:`Format` — what each registered format offers: ``recognise(path)``, ``load(path, **opts)``,
  ``counts(path)``.  Formats build a :class:`Listing` (what is in the requested split) and hand it to
  :func:`build_image_set`, which applies the options that are the same for every format (attribute
  selection, ``limit``, ``channels``, ``image_size``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from mediatk.core.errors import ConfigError, DataError
from mediatk.datasets.imageset import FILE_CACHE_BYTES, ImageSet  # noqa: F401 - the formats import them here
from mediatk.datasets.splits import (  # noqa: F401 - the formats import them here
    DEFAULT_TEST_FRACTION,
    SPLIT_SALT,
    SPLITS,
    VAL_FRACTION,
    carve_val,
    carved_counts,
    check_split,
    check_test_fraction,
    fixed_counts,
    fixed_split,
    index_keys,
    path_keys,
    split_sizes,
)
from mediatk.media.pixels import IMAGE_EXTS, VIDEO_EXTS

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
    """An image suffix (:data:`mediatk.media.pixels.IMAGE_EXTS`) and not a hidden file."""
    return p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")


def is_video_file(p: Path) -> bool:
    """A video suffix (:data:`mediatk.media.pixels.VIDEO_EXTS`) and not a hidden file."""
    return p.suffix.lower() in VIDEO_EXTS and not p.name.startswith(".")


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
# Videos
# ----------------------------------------------------------------------------------------------------


@dataclass
class VideoItem:
    """One video file: ``label`` is ``"real"``, ``"fake"`` or None; ``meta`` holds any other columns."""

    path: Path
    label: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class VideoSet:
    """A list of :class:`VideoItem` (videos are not opened here; see ``mediatk.media.video.probe_video``)."""

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
