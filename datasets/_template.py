"""Template: a new dataset format is one file like this in ``datasets/`` (without the leading underscore).

Copy it to ``datasets/myformat.py``, rename the class and its ``name``, and describe the layout.  The file
registers its format on import and :func:`mediatk.core.registry.discover` imports it, so ``--data PATH`` recognises
the layout (formats are tried by ``priority``, low first), ``mediatk data list`` shows it and ``load_images``
reads it.  Splits must depend on the data alone (:func:`fixed_split` hashes each file's path), never on a
command's ``--seed``.  This example is real: a folder with ``list.txt`` whose lines are ``<image> <class>``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from mediatk.core.errors import DataError
from mediatk.datasets.base import (
    Format,
    ImageSet,
    Listing,
    build_image_set,
    check_common_options,
    check_split,
    fixed_counts,
    fixed_split,
    path_keys,
    register_format,
)


class ListFormat(Format):
    name = "template-list"
    summary = "Template: images listed in list.txt as '<relative path> <class>' lines"
    priority = 35                            # before the generic imagefolder (90)

    def recognise(self, path: Path) -> bool:  # cheap: runs on every folder of every data root
        return path.is_dir() and (path / "list.txt").is_file()

    def _listing(self, path: Path) -> Listing:
        rows = [line.split() for line in (path / "list.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
        if not rows or any(len(r) != 2 for r in rows):
            raise DataError(f"{path / 'list.txt'}: expected '<image> <class>' on every line")
        classes = sorted({c for _, c in rows})
        paths = [path / f for f, _ in rows]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise DataError(f"{path / 'list.txt'} lists {len(missing)} missing images, e.g. {missing[0]}")
        return Listing(paths=paths, labels=np.array([classes.index(c) for _, c in rows]), classes=classes)

    def load(self, path: Path | None, *, name: str | None = None, split: str = "train",
             image_size: int | None = None, channels: int | None = None, limit: int | None = None,
             seed: int = 0, **_) -> ImageSet:
        check_common_options(image_size, channels, limit)
        split = check_split(split, ["train", "val", "test", "all"], f"{name or self.name} ({path})")
        listing = self._listing(path)
        listing = listing.take(fixed_split(path_keys(listing.paths, path), split))
        return build_image_set(listing, name=name or self.name, format=self.name, root=path, split=split,
                               image_size=image_size, channels=channels, limit=limit, seed=seed)

    def counts(self, path: Path | None) -> dict[str, int]:  # must not decode images
        return fixed_counts(len(self._listing(path)))


LIST_FORMAT = register_format(ListFormat())
