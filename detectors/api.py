"""Train and store detectors: the Python API behind ``mediatk train-detector`` (``detect``: :mod:`.inference`).

Trained detectors are saved to ``$MEDIATK_HOME/detectors/NAME/TIME/NAME.safetensors`` (+ JSON), or where
``out=`` says, and recorded in the model store (:mod:`mediatk.core.store`, the one index shared with generator
runs), so :func:`find_detector` (and ``detect``) finds the newest either way, else the package's zoo entry.
The ``--json`` result schema is in ``docs/detect-json.md``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mediatk.core import store
from mediatk.core.checkpoint import TENSOR_SUFFIX, read_meta
from mediatk.core.errors import CheckpointError, ConfigError, DataError, MediatkError
from mediatk.core.registry import DETECTORS, GENERATORS
from mediatk.detectors.base import Detector, adapt

TRAIN_HINTS = {
    "eyestate": "mediatk train-detector eyestate --data eyes-open-closed",
    "oneclass": "mediatk train-detector oneclass --real DATA",
    "discriminator": "mediatk train-detector discriminator --real DATA --fake GAN_RUNDIR",
}


def train_hint(name: str) -> str:
    return TRAIN_HINTS.get(name, f"mediatk train-detector {name} --real DATA --fake DATA|GENERATOR_RUNDIR")


# ----------------------------------------------------------------------------------------------- the store

def store_dir(name: str | None = None) -> Path:
    """Where detectors trained without ``out=`` are saved: ``$MEDIATK_HOME/detectors[/NAME]``."""
    return store.kind_root("detector", name)


def find_detector(name: str, zoo: bool = True) -> Path | None:
    """The checkpoint of detector ``name``: the newest you trained, else (``zoo``) the package's zoo entry
    (``name`` may also be a zoo entry's own name); None when there is neither."""
    found = store.find("detector", name, zoo=zoo)
    return found.checkpoint if found else None


def load_detector(name: str, checkpoint: str | os.PathLike | None = None, device: str = "cpu") -> Detector:
    """Detector ``name`` ready to score: from ``checkpoint`` (a file or a folder) when given, else from the
    store (:func:`find_detector`).  ``name`` may be a zoo entry's name instead of a detector's."""
    if name.lower() not in DETECTORS and checkpoint is None:
        found = store.find("detector", name)
        if found is not None:  # a zoo entry named by its own name
            name, checkpoint = found.name, found.checkpoint
    cls = DETECTORS.get(name)
    if not cls.trainable:
        return cls(device=device)
    path = Path(checkpoint) if checkpoint else find_detector(name)
    if path is None:
        raise CheckpointError(f"no trained {name!r} detector found and none is pretrained; make one with: "
                              f"{train_hint(name)}")
    if path.is_dir():
        found = store.newest_checkpoint_under(path)
        if found is None:
            raise CheckpointError(f"{path} holds no detector checkpoint")
        path = found
    return cls.load(path, device=device)


def _record(saved: Path, det: Detector, log) -> None:
    """Enter a saved detector in the store's index (a read-only home leaves it unrecorded, with a note)."""
    try:
        store.record("detector", det.name, saved, store.summary(det.meta()) or None)
    except MediatkError as e:
        log(f"note: {saved} is not recorded in the model store ({e}); pass it to detect as {det.name}={saved}")


# ----------------------------------------------------------------------------------------------- training data

def _generator_checkpoint(spec: str) -> Path | None:
    """``spec`` as a generator checkpoint (file or run dir), or None when it is something else."""
    p = Path(spec)
    if not p.exists():
        return None
    if p.is_dir() and (p / "config.json").is_file() and (p / "checkpoints").is_dir():
        from mediatk.core.runs import RunDir

        ck = RunDir(p).latest_checkpoint()
        if ck is None:
            raise CheckpointError(f"generator run {p} holds no checkpoint yet")
        p = ck
    if p.is_file() and p.suffix in (TENSOR_SUFFIX, ".json"):
        meta = read_meta(p)
        if meta.get("kind") != "detector" and meta.get("model") in GENERATORS:
            return p.with_suffix(TENSOR_SUFFIX)
    return None


@torch.no_grad()
def sample_generator(path: Path, n: int, seed: int, device: Any) -> torch.Tensor:
    from mediatk.generators import from_checkpoint
    from mediatk.generators.sampling import sample_images

    model = from_checkpoint(path, device=device)
    if not model.can_sample:
        raise ConfigError(f"{path} holds a {model.name!r} model, which cannot sample fakes")
    return sample_images(model, n, torch.Generator().manual_seed(seed))


def _images(spec: str, split: str, n: int, size: int | None, channels: int | None, seed: int):
    from mediatk.datasets import load_images

    ds = load_images(spec, split=split, image_size=size, channels=channels, limit=n, seed=seed)
    if len(ds) == 0:
        raise DataError(f"{spec}: the {split} split is empty")
    return ds


def train_detector(name: str, real: str | None = None, fake: Iterable[str] = (), data: str | None = None,
                   out: str | os.PathLike | None = None, image_size: int | None = None,
                   channels: int | None = None, n: int = 2500, device: str = "auto", seed: int = 0,
                   options: list[str] | dict | None = None, test_fraction: float = 0.2,
                   face_crops: bool | None = None, face_crop_scale: float | None = None,
                   log=print) -> dict[str, Any]:
    """Train detector ``name``; returns ``{"metrics", "checkpoint", "counts", ...}`` (see the CLI)."""
    from mediatk.core.runtime import resolve_device, seed_everything

    from . import create

    cls = DETECTORS.get(name)
    if not cls.trainable:
        raise ConfigError(f"{name} is not trained; it uses an eyestate model: {TRAIN_HINTS['eyestate']}")
    if not 0 < test_fraction < 1:
        raise ConfigError("--test-fraction must lie strictly between 0 and 1")
    dev = resolve_device(device)
    seed_everything(seed)
    det = create(name, device=str(dev), options=options)
    n_train = max(2, round(n * (1 - test_fraction)))
    n_test = max(2, n - n_train)
    if cls.media == "component":  # eyestate: a labelled set of eye crops
        ds_tr = _images(data or real or "eyes-open-closed", "train", n_train * 2, None, 1, seed)
        ds_te = _images(data or real or "eyes-open-closed", "test", n_test * 2, None, 1, seed)
        if ds_tr.classes is None or not {"opened", "closed"} <= set(ds_tr.classes):
            raise DataError(f"{ds_tr.name}: eyestate needs labels 'opened' and 'closed'")
        o, c = ds_tr.classes.index("opened"), ds_tr.classes.index("closed")
        xtr, ytr, xte, yte = ds_tr.tensor(), ds_tr.labels, ds_te.tensor(), ds_te.labels
        det.fit(xtr[ytr == o], xtr[ytr == c])
        metrics = heldout_metrics(det, xte[yte == o], {"closed": xte[yte == c]}, seed=seed)
        metrics["accuracy"], metrics["accuracy_ci"] = metrics["acc"], metrics["acc_ci"]  # P(closed) at 0.5
        counts = {"train_open": int((ytr == o).sum()), "train_closed": int((ytr == c).sum()),
                  "test_open": int((yte == o).sum()), "test_closed": int((yte == c).sum())}
        det.info.update({"data": str(ds_tr.name), "counts": counts, "heldout": metrics})
        return _finish(det, out, metrics, counts, log)
    if not real:
        raise ConfigError(f"train-detector {name} needs --real DATA")
    fakes = list(fake)
    gens = {f: _generator_checkpoint(f) for f in fakes}
    if gens and any(gens.values()) and (image_size is None or channels is None):
        shape = read_meta(next(p for p in gens.values() if p))["spec"]["image_shape"]
        image_size, channels = image_size or int(shape[1]), channels or int(shape[0])
    from mediatk.datasets import resolve

    # A face-crop set holds real and fake crops with their groups: its labels split it, by group.
    labelled = resolve(real)[0] == "facecrops"
    if labelled and fakes:
        raise ConfigError(f"{real} holds real and fake face crops: give it alone as --real (its labels and groups "
                          "split it), without --fake")
    k = 2 if labelled else 1  # -n counts images per class
    real_tr = _images(real, "train", k * n_train, image_size, channels, seed)
    real_te = _images(real, "test", k * n_test, image_size, channels, seed)
    xr_tr, xr_te = real_tr.tensor(), real_te.tensor()
    size, ch = int(xr_tr.shape[-1]), int(xr_tr.shape[1])
    if face_crops is None:
        face_crops = real_tr.format in ("celeba", "facecrops")
    sources_tr: dict[str, torch.Tensor] = {}
    sources_te: dict[str, torch.Tensor] = {}
    groups_te: dict[str, np.ndarray | None] = {"real": getattr(real_te, "groups", None)}
    if labelled:
        y_tr, y_te = real_tr.labels.numpy(), real_te.labels.numpy()
        sources_tr["fake"], sources_te["fake"] = xr_tr[y_tr == 1], xr_te[y_te == 1]
        xr_tr, xr_te = xr_tr[y_tr == 0], xr_te[y_te == 0]
        groups_te = {"real": real_te.groups[y_te == 0], "fake": real_te.groups[y_te == 1]}
        if hasattr(det, "set_validation"):  # selection/calibration on the set's own group-split val part
            val = _images(real, "val", k * n_test, image_size, channels, seed)
            x_val, y_val = val.tensor(), val.labels.numpy()
            det.set_validation(x_val[y_val == 0], x_val[y_val == 1])
    for i, f in enumerate(fakes):
        key = Path(f).name or f"fake{i}"
        if gens[f] is not None:
            x = adapt(sample_generator(gens[f], n_train + n_test, seed + 1000 * (i + 1), dev), size, ch)
            sources_tr[key], sources_te[key] = x[:n_train], x[n_train:]
        else:
            sources_tr[key] = _images(f, "train", n_train, size, ch, seed).tensor()
            held = _images(f, "test", n_test, size, ch, seed)
            sources_te[key], groups_te[key] = held.tensor(), getattr(held, "groups", None)
    if name == "discriminator":
        gan = det.cfg.gan or next((str(p) for p in gens.values() if p), "")
        det.attach(gan)
    if not sources_tr and det.needs_fake:
        raise ConfigError(f"train-detector {name} needs --fake DATA|GENERATOR_RUNDIR")
    if face_crop_scale is not None:
        det.face_crop_scale = float(face_crop_scale)
    elif face_crops and real_tr.format == "celeba":
        det.face_crop_scale = 0.86  # aligned CelebA-layout crops are tighter than MTCNN's box (measured)
    log(f"training {name} on {len(xr_tr)} real ({real}) + {sum(len(v) for v in sources_tr.values())} fake "
        f"({', '.join(sources_tr) or 'none'}) images, {ch}x{size}x{size}, device {dev}")
    t0 = time.perf_counter()
    det.fit(xr_tr, sources_tr if sources_tr else None, size, ch, face_crops)
    secs = time.perf_counter() - t0
    counts = {"train_real": len(xr_tr), "train_fake": sum(len(v) for v in sources_tr.values()),
              "test_real": len(xr_te), "test_fake": sum(len(v) for v in sources_te.values())}
    metrics = heldout_metrics(det, xr_te, sources_te, groups_te, seed=seed)
    det.info.update({"real": str(real), "fake": fakes, "counts": counts, "heldout": metrics,
                     "fit_seconds": round(secs, 2), "seed": seed})
    return _finish(det, out, metrics, counts, log)


def _group_keys(parts: dict[str, int], groups: dict[str, Any]) -> np.ndarray | None:
    """One bootstrap group key per held-out example: the set's own group (video, identity) where it has one,
    else the example itself.  None when no part has groups (plain per-example bootstrap)."""
    if not any(groups.get(k) is not None for k in parts):
        return None
    keys = [np.asarray(groups[k], dtype=str) if groups.get(k) is not None else
            np.array([f"{k}#{i}" for i in range(n)]) for k, n in parts.items()]
    return np.concatenate(keys)


def heldout_metrics(det: Detector, real: torch.Tensor, fakes: dict[str, torch.Tensor],
                    groups: dict[str, Any] | None = None, seed: int = 0, threshold: float = 0.5) -> dict[str, Any]:
    """Held-out detection metrics with 95 % intervals (fake = positive).

    AUC and AP get percentile-bootstrap intervals (``auc_ci``, ``ap_ci``), resampling whole groups when the
    held-out sets have them (``groups``: ``{"real" or fake source: one key per image}``); accuracy at
    ``threshold`` gets a Wilson interval (``acc_ci``).  With no fakes, the false-positive rate on the real
    images and its Wilson interval.
    """
    from mediatk.core.metrics import binomial_ci, detection_metrics

    groups = groups or {}
    pr = det.predict_proba(real)
    if not fakes:
        k = int((pr >= threshold).sum())
        return {"n_real": len(pr), "n_fake": 0, "false_positive_rate": k / max(len(pr), 1),
                "false_positive_rate_ci": list(binomial_ci(k, len(pr))) if len(pr) else None}
    pf = [det.predict_proba(x) for x in fakes.values()]
    y = np.r_[np.zeros(len(pr)), np.ones(sum(map(len, pf)))]
    s = np.concatenate([pr, *pf])
    parts = {"real": len(pr), **{k: len(p) for k, p in zip(fakes, pf)}}
    g = _group_keys(parts, groups)
    m = detection_metrics(y, s, threshold=threshold, intervals=True, groups=g, seed=seed)
    m["acc_ci"] = list(binomial_ci(int(((s >= threshold) == (y == 1)).sum()), len(y)))
    m["ci_resampled"] = f"{len(np.unique(g))} groups" if g is not None else f"{len(y)} images"
    return m


def _finish(det: Detector, out, metrics: dict, counts: dict, log) -> dict[str, Any]:
    if out is not None:
        path = Path(out) if Path(out).suffix == TENSOR_SUFFIX else Path(out) / f"{det.name}{TENSOR_SUFFIX}"
        saved = det.save(path)
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        d, k = store_dir(det.name) / stamp, 1
        while d.exists():
            k += 1
            d = store_dir(det.name) / f"{stamp}-{k}"
        saved = det.save(d / f"{det.name}{TENSOR_SUFFIX}")
    _record(saved, det, log)
    return {"detector": det.name, "metrics": metrics, "counts": counts, "checkpoint": str(saved), "info": det.info}
