"""Labelled sample grids of a dataset (``mediatk data show``)."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def tile_label(ds, y: torch.Tensor) -> str:
    """The caption of one tile: attribute names (``not X`` for 0) or the class name."""
    if ds.attr_names and y.ndim == 1:
        return ",".join(name if v > 0.5 else f"not {name}" for name, v in zip(ds.attr_names, y.tolist()))
    label = int(y)
    if label < 0:
        return ""
    if ds.classes and label < len(ds.classes):
        return str(ds.classes[label])
    return str(label)


def show_grid(spec: str, out: str | os.PathLike, attrs: list[str] | None = None, split: str = "train", n: int = 32,
              image_size: int | None = None, domain: str | None = None, seed: int = 0) -> Path:
    from mediatk.datasets import load_images
    from mediatk.media.draw import save_grid

    ds = load_images(spec, split=split, image_size=image_size, attrs=attrs, domain=domain)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(ds), generator=g)[: max(1, n)].tolist()
    items = [ds[i] for i in idx]
    images = torch.stack([x for x, _ in items])
    labels = [tile_label(ds, y) for _, y in items]
    title = f"{Path(str(ds.name)).name} [{split}] n={len(ds)}"
    return save_grid(images, out, labels=labels if any(labels) else None, title=title)
