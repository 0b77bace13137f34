"""The model zoo: pretrained generators (and detectors) shipped inside the package.

Each entry is a folder ``zoo/<entry>/`` holding ``weights.safetensors`` + ``weights.json`` (an ordinary
mediatk checkpoint: for a generator its sampling weights only, the EMA copy when the run kept one, no optimiser
state; for a detector what ``Detector.save`` writes, ``"kind": "detector"`` in the sidecar) and
``MODEL_CARD.md`` (data and its terms, the recipe, wall time, device, measured figures).  The sidecar's
``zoo`` field holds the card's facts in machine-readable form for ``mediatk models``.

Lookup order for "the X of kind K" (:func:`mediatk.core.store.find`, behind ``generate``, ``evaluate``,
``load_detector`` and ``detect``): a checkpoint the user trained always wins; the zoo's entry for X is the
fallback, so ``mediatk generate --model cgan --attr smiling`` works on a fresh install with no data.
:func:`export` turns a trained generator run into an entry.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mediatk.core.checkpoint import TENSOR_SUFFIX, load_checkpoint, read_meta, save_checkpoint
from mediatk.core.errors import CheckpointError

ZOO_DIR = Path(__file__).resolve().parent
WEIGHTS = "weights"


def entries(kind: str | None = None) -> list[dict[str, Any]]:
    """Every shipped entry (of ``kind`` when given) as ``{"name", "kind", "model", "path", "zoo": {...card
    facts}, "meta"}``, sorted by name."""
    out = []
    for d in sorted(p for p in ZOO_DIR.iterdir() if p.is_dir()):
        ck = d / (WEIGHTS + TENSOR_SUFFIX)
        if not ck.is_file():
            continue
        try:
            meta = read_meta(ck)
        except CheckpointError:
            continue
        k = "detector" if meta.get("kind") == "detector" else "generator"
        if kind is None or k == kind:
            out.append({"name": d.name, "kind": k, "model": str(meta.get("model", "")), "path": ck,
                        "zoo": meta.get("zoo", {}), "meta": meta})
    return out


def lookup(name: str, kind: str = "generator") -> dict[str, Any] | None:
    """The entry of ``kind`` called ``name``, or the default entry of model ``name`` (the one whose card says
    ``default``, else the first by name), or None."""
    found = entries(kind)
    named = [e for e in found if e["name"] == name.lower()]
    if named:
        return named[0]
    found = [e for e in found if e["model"].lower() == name.lower()]
    found.sort(key=lambda e: (not e["zoo"].get("default", False), e["name"]))
    return found[0] if found else None


def pretrained(model: str, kind: str = "generator") -> Path | None:
    """The shipped checkpoint for ``model`` (see :func:`lookup`), or None."""
    e = lookup(model, kind)
    return e["path"] if e else None


def is_zoo_checkpoint(path: str | os.PathLike) -> bool:
    """True when ``path`` is one of the shipped weights files."""
    try:
        return Path(path).resolve().parent.parent == ZOO_DIR
    except OSError:
        return False


def describe_source(path: str | os.PathLike) -> str:
    """One phrase for the output of ``generate``: which checkpoint was used and why."""
    p = Path(path)
    if is_zoo_checkpoint(p):
        return f"pretrained zoo model {p.parent.name} (train your own to replace it; card: {p.parent / 'MODEL_CARD.md'})"
    return f"your trained checkpoint {p}"


def export(checkpoint: str | os.PathLike, entry_dir: str | os.PathLike, facts: dict[str, Any]) -> Path:
    """Write ``entry_dir/weights.*`` from a trained checkpoint: sampling weights only (EMA when present).

    ``facts`` (data, terms, recipe, wall time, device, figures) go into the sidecar's ``zoo`` field.
    """
    ck = load_checkpoint(checkpoint)
    prefix = "ema" if any(k.startswith("ema/") for k in ck.tensors) else "model"
    weights = ck.state_dict(prefix)
    keep = ("model", "spec", "step", "seed", "image_size", "dataset", "data", "metrics")
    meta = {k: ck.meta[k] for k in keep if k in ck.meta}
    meta["zoo"] = {**facts, "source_checkpoint_id": ck.meta.get("id"), "weights": prefix}
    d = Path(entry_dir)
    d.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(d / WEIGHTS, {"model": weights}, meta)


__all__ = ["ZOO_DIR", "describe_source", "entries", "export", "is_zoo_checkpoint", "lookup", "pretrained"]
