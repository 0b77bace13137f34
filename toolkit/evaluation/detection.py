"""Detector evaluation on face-crop sets: the engine behind ``mediatk evaluate-detector``.

For each trained detector and each face-crop set (DeepfakeBench's protocol on mediatk's group splits):

* **frame level**: every crop of the split is scored, P(synthetic) with fake = positive;
* **video level**: a video's score is the mean of its crops' scores.  A video is the ``video`` column of
  ``labels.csv`` where the set has one (the output of ``extract-faces``); otherwise the crops that share group,
  label and method (``dfdc-faces`` has one crop per video, so there video level equals frame level;
  ``ffpp-crops`` only knows approximate id blocks, so its "videos" are blocks of about 50 videos per method);
* AUC, AP, EER, TPR at 1 % FPR, accuracy and log loss at the detector's decision point (0.5 on its calibrated
  P(synthetic), the detector contract), each with a percentile-bootstrap 95 % interval that resamples whole
  groups (videos or identities, the set's group column), so frames of one video never count twice;
* one row per manipulation method (that method's fakes against all real crops);
* a cross-dataset matrix (rows: detectors with the set they were trained on; columns: test sets);
* with ``robustness``, AUC under JPEG, Gaussian blur, downscaling and H.264 re-encoding: the decoded crops are
  perturbed at their own size through :mod:`mediatk.media.perturb` before the detector resizes them; for
  H.264 each video's crops (in file order) are encoded as one short clip.

Every number comes from :mod:`mediatk.core.metrics` (log loss from scikit-learn).  A video layout (``ffpp``,
``celeb-df``, ``videos``) is first cut into face crops with ``extract-faces``' defaults and ``frames`` frames per
video (32, DeepfakeBench's count), once, into ``$MEDIATK_HOME/cache/faces/`` (resumable; keyed by the set's
path and the extraction options); its crops then name their videos, so video level is the mean over a video's
crops.  Videos in which no face was found are not scored: the results say how many.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mediatk.core.errors import ConfigError, DataError

SCHEMA = "mediatk.detector-eval/1"
#: perturbation levels of the robustness curves (JPEG quality, blur σ in px, downscale factor, H.264 CRF)
LEVELS: dict[str, tuple[float, ...]] = {"jpeg": (90, 70, 50, 30), "blur": (0.5, 1.0, 2.0, 3.0),
                                        "downscale": (1.5, 2.0, 3.0, 4.0), "h264": (23, 30, 37, 44)}
ROC_POINTS = 200
BATCH = 256
#: below this many groups a group bootstrap says little (ffpp-crops' test split has 3 id blocks): warn
FEW_GROUPS = 20


@dataclass
class EvalOptions:
    """What ``evaluate-detector`` measures and on how much data."""

    split: str = "test"
    limit: int | None = None        # crops per set, picked by ``seed`` (as ``train-detector -n`` does)
    seed: int = 0
    n_boot: int = 1000
    robustness: bool = False
    levels: dict[str, tuple[float, ...]] = field(default_factory=lambda: dict(LEVELS))
    frames: int = 32                # face crops per video when a set is a video layout (cut once, cached)
    device: str = "cpu"             # where MTCNN runs when a video layout is cut into crops

    def check(self) -> None:
        if self.limit is not None and self.limit < 4:
            raise ConfigError(f"--limit must be at least 4, got {self.limit}")
        if not 50 <= self.n_boot <= 100_000:
            raise ConfigError(f"--n-boot must be between 50 and 100000, got {self.n_boot}")


# ----------------------------------------------------------------------------------------------- inputs

@dataclass
class CropSet:
    """One split of a face-crop set with what the evaluation groups by."""

    name: str
    path: Path
    ds: Any                     # the ImageSet (crops decoded at their own size)
    labels: np.ndarray          # 0 real, 1 fake, per crop
    groups: np.ndarray          # bootstrap unit per crop (the set's group column)
    methods: np.ndarray         # manipulation method per crop ("original" for reals)
    video: np.ndarray           # index of the crop's video (see the module docstring)
    video_unit: str             # what a "video" is in this set, in words
    extraction: dict[str, Any] | None = None  # for a video layout: how its crops were cut (crops_of_videos)

    def counts(self) -> dict[str, Any]:
        vl = self.video_labels()
        return {"crops": {"real": int((self.labels == 0).sum()), "fake": int((self.labels == 1).sum())},
                "videos": {"real": int((vl == 0).sum()), "fake": int((vl == 1).sum())},
                "groups": len(np.unique(self.groups)),
                "methods": {str(m): int((self.methods == m).sum()) for m in np.unique(self.methods)}}

    def video_labels(self) -> np.ndarray:
        return self.labels[self._first()]

    def video_groups(self) -> np.ndarray:
        return self.groups[self._first()]

    def video_methods(self) -> np.ndarray:
        return self.methods[self._first()]

    def _first(self) -> np.ndarray:
        return np.unique(self.video, return_index=True)[1]


def crops_of_videos(spec: str, fmt: str, path: Path, frames: int, device: str = "cpu",
                    log: Callable[[str], None] = print) -> tuple[Path, dict[str, Any]]:
    """The face crops of video set ``spec``, cut by ``extract-faces`` (its defaults, ``frames`` per video) into
    ``$MEDIATK_HOME/cache/faces/NAME-KEY`` the first time and read back afterwards (a cut that was stopped
    resumes).  KEY hashes the set's resolved path, its format and the extraction options."""
    from mediatk.core.runs import mediatk_home
    from mediatk.detectors.extract import ExtractOptions, extract_faces

    ex = ExtractOptions(frames=frames)
    ex.check()
    key = hashlib.sha1(json.dumps([str(Path(path).resolve()), fmt, asdict(ex)]).encode()).hexdigest()[:12]
    out = mediatk_home() / "cache" / "faces" / f"{Path(path).name}-{key}"
    if not (out / "videos.csv").is_file():
        log(f"{spec}: a video set ({fmt}); cutting {frames} face crops per video into {out} (once)")
    rep = extract_faces(spec, out, ex, device=device, progress=False, log=lambda s: None)
    if rep["with_faces"] == 0:
        raise DataError(f"{spec}: no face was found in any of its {rep['videos']} videos")
    return out, rep


def load_crop_set(spec: str, split: str = "test", limit: int | None = None, seed: int = 0, frames: int = 32,
                  device: str = "cpu", log: Callable[[str], None] = print) -> CropSet:
    """The ``split`` of face-crop set ``spec`` (a video layout is cut into crops first, see
    :func:`crops_of_videos`); DataError for sets without real/fake labels and groups."""
    from mediatk.datasets import load_images, resolve
    from mediatk.datasets.base import FORMATS

    fmt, path = resolve(spec)
    if getattr(FORMATS.get(fmt), "kind", "images") == "videos" and path is not None:
        path, cut = crops_of_videos(spec, fmt, path, frames, device, log)
        cs = load_crop_set(str(path), split, limit, seed)
        cs.name, cs.extraction = str(spec), {
            "frames_per_video": frames, "crops": str(path), "videos": cut["videos"], "videos_with_faces": cut["with_faces"],
            "no_face": cut["no_face_videos"], "failed": sorted(cut["errors"])}
        return cs
    if fmt != "facecrops" or path is None:
        raise DataError(f"{spec} ({fmt}) is not a face-crop set: evaluate-detector needs real/fake labels and "
                        "groups (labels.csv with file, label real/fake and a group column)")
    ds = load_images(spec, split=split, limit=limit, seed=seed)
    labels = ds.labels.numpy()
    if len(ds) == 0 or labels.min() == labels.max():
        what = "no crops" if len(ds) == 0 else f"only {'fake' if labels[0] else 'real'} crops"
        raise DataError(f"the {split} split of {spec} holds {what}; evaluation needs real and fake crops")
    # a crop whose row names no video joins the crops that share its group, label and method
    named = np.char.str_len(np.asarray(ds.videos, dtype=str)) > 0
    keys = [f"video:{v}" if n else f"{g}|{y}|{m}"
            for v, n, g, y, m in zip(ds.videos, named, ds.groups, labels, ds.methods, strict=True)]
    unit = ("a video (labels.csv's video column)" if named.any() else
            "the crops sharing group, label and method (the set names no videos)")
    video = np.unique(np.asarray(keys), return_inverse=True)[1]
    cs = CropSet(str(spec), path, ds, labels, np.asarray(ds.groups, dtype=str), np.asarray(ds.methods, dtype=str),
                 video, unit)
    if (np.bincount(cs.video, weights=labels) % np.bincount(cs.video)).any():
        raise DataError(f"{path / 'labels.csv'}: a video holds both real and fake crops")
    return cs


def detector_id(det: Any) -> str:
    """``name-<first 8 hex of the checkpoint's SHA-256>``: names one set of weights whatever its path."""
    path = getattr(det, "checkpoint_path", None)
    if path is None or not Path(path).is_file():
        return det.name
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return f"{det.name}-{h.hexdigest()[:8]}"


def parse_detectors(specs: Sequence[str], checkpoints: Sequence[str], device: str = "cpu") -> dict[str, Any]:
    """Loaded detectors by id from ``NAME`` / ``NAME=CHECKPOINT`` specs and bare checkpoint paths."""
    from mediatk.core.checkpoint import read_meta
    from mediatk.core.errors import CheckpointError
    from mediatk.core.registry import DETECTORS
    from mediatk.core.store import newest_checkpoint_under
    from mediatk.detectors.api import load_detector

    wanted: list[tuple[str, str | None]] = []
    for spec in specs:
        name, _, ck = spec.partition("=")
        wanted.append((name.strip().lower(), ck.strip() or None))
    for ck in checkpoints:
        p = newest_checkpoint_under(Path(ck))
        if p is None:
            raise CheckpointError(f"--checkpoint {ck}: no detector checkpoint there")
        meta = read_meta(p)
        if meta.get("kind") != "detector":
            raise CheckpointError(f"--checkpoint {ck} holds a {meta.get('model')!r} model, not a detector")
        wanted.append((str(meta.get("model", "")).lower(), str(p)))
    if not wanted:
        raise ConfigError("name a detector (e.g. cnn, or cnn=PATH) or give --checkpoint PATH")
    out: dict[str, Any] = {}
    for name, ck in wanted:
        if name in DETECTORS:  # else a zoo entry's name (face-forgery-dfdc), which load_detector resolves
            cls = DETECTORS.get(name)
            if cls.media != "image" or not cls.trainable:
                raise ConfigError(f"{name} does not score face crops; evaluate-detector takes trained image "
                                  "detectors")
        det = load_detector(name, ck, device)
        out.setdefault(detector_id(det), det)
    return out


# ----------------------------------------------------------------------------------------------- scores

def conditions(opts: EvalOptions) -> list[tuple[str, float | None]]:
    """``("clean", None)`` and, with robustness, every ``(perturbation, level)``."""
    out: list[tuple[str, float | None]] = [("clean", None)]
    if opts.robustness:
        out += [(kind, float(v)) for kind, levels in opts.levels.items() for v in levels]
    return out


def _perturbed(x: torch.Tensor, kind: str, level: float | None, clips: list[slice]) -> torch.Tensor:
    from mediatk.media import perturb

    if level is None:
        return x
    if kind == "h264":
        return torch.cat([perturb.h264(x[c], level) for c in clips])
    return perturb.apply(x, kind, level)


def score_crops(dets: dict[str, Any], cs: CropSet, conds: list[tuple[str, float | None]],
                log: Callable[[str], None] = print) -> dict[str, dict[tuple[str, float | None], np.ndarray]]:
    """P(synthetic) per crop for every detector and condition: ``{det_id: {(kind, level): scores}}``, the
    clean crops under ``("clean", None)``.

    Crops are decoded once, whole videos at a time (so an H.264 clip is one video), and each perturbation is
    applied once for all detectors.
    """
    order = np.argsort(cs.video, kind="stable")
    bounds = np.flatnonzero(np.diff(cs.video[order])) + 1
    videos = np.split(order, bounds)
    out = {d: {c: np.zeros(len(cs.labels)) for c in conds} for d in dets}
    chunk: list[np.ndarray] = []
    done, t0 = 0, time.perf_counter()

    def flush() -> None:
        idx = np.concatenate(chunk)
        ends = np.cumsum([len(v) for v in chunk])
        clips = [slice(int(a), int(b)) for a, b in zip(np.r_[0, ends[:-1]], ends)]
        x = cs.ds.tensor(idx)
        for kind, level in conds:
            xp = _perturbed(x, kind, level, clips)
            for d, det in dets.items():
                out[d][kind, level][idx] = det.predict_proba(xp)
        chunk.clear()

    for v in videos:
        chunk.append(v)
        if sum(map(len, chunk)) >= BATCH:
            done += sum(map(len, chunk))
            flush()
            log(f"  {cs.name}: {done}/{len(cs.labels)} crops scored ({time.perf_counter() - t0:.0f} s)")
    if chunk:
        flush()
    return out


def video_scores(cs: CropSet, s: np.ndarray) -> np.ndarray:
    """Mean crop score per video (videos in :attr:`CropSet.video` order)."""
    return np.bincount(cs.video, weights=s) / np.bincount(cs.video)


# ----------------------------------------------------------------------------------------------- figures

def _log_loss(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import log_loss

    return float(log_loss(y, np.clip(s, 1e-7, 1 - 1e-7), labels=[0, 1]))


def figures(y: np.ndarray, s: np.ndarray, groups: np.ndarray, threshold: float, n_boot: int,
            seed: int) -> dict[str, Any]:
    """AUC, AP, EER, TPR@1%FPR, accuracy and log loss at ``threshold``, each with a group-bootstrap 95 % CI
    (all six over the same resamples)."""
    from mediatk.core.metrics import (
        average_precision,
        bootstrap_cis,
        detection_metrics,
        eer,
        rank_auc,
        tpr_at_fpr,
    )

    m = detection_metrics(y, s, threshold=threshold)
    m["log_loss"] = _log_loss(y, s)
    stats = {"auc": rank_auc, "ap": average_precision, "eer": eer, "tpr_at_1pct_fpr": lambda a, b: tpr_at_fpr(a, b, 0.01),
             "acc": lambda a, b: float(((b >= threshold) == (a == 1)).mean()), "log_loss": _log_loss}
    for key, ci in bootstrap_cis(stats, y, s, groups=groups, n_boot=n_boot, seed=seed).items():
        m[f"{key}_ci"] = list(ci)
    m.update(ci_level=0.95, n_boot=int(n_boot), n_groups=len(np.unique(groups)))
    return m


def roc_points(y: np.ndarray, s: np.ndarray) -> dict[str, list[float]]:
    """The full ROC (:func:`mediatk.core.metrics.full_roc`) thinned to at most ``ROC_POINTS`` points to plot."""
    from mediatk.core.metrics import full_roc

    fpr, tpr, _ = full_roc(y, s)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), ROC_POINTS)).round().astype(int))
    return {"fpr": [round(float(v), 5) for v in fpr[keep]], "tpr": [round(float(v), 5) for v in tpr[keep]]}


def _auc_ci(y: np.ndarray, s: np.ndarray, groups: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    from mediatk.core.metrics import bootstrap_ci, rank_auc

    return {"auc": rank_auc(y, s), "auc_ci": list(bootstrap_ci(rank_auc, y, s, groups=groups, n_boot=n_boot,
                                                               seed=seed))}


def evaluate_pair(det: Any, cs: CropSet, scores: dict[tuple[str, float | None], np.ndarray],
                  opts: EvalOptions) -> dict[str, Any]:
    """Every figure of one detector on one crop set (see the module docstring)."""
    t = float(getattr(det, "threshold", 0.5))
    y, g, s = cs.labels, cs.groups, scores["clean", None]
    vy, vg, vm = cs.video_labels(), cs.video_groups(), cs.video_methods()
    vs = video_scores(cs, s)
    fig = {"threshold": t, "frame": figures(y, s, g, t, opts.n_boot, opts.seed),
           "video": figures(vy, vs, vg, t, opts.n_boot, opts.seed),
           "roc": {"frame": roc_points(y, s), "video": roc_points(vy, vs)}, "methods": []}
    for m in sorted(set(cs.methods[y == 1])):
        keep, vkeep = (y == 0) | (cs.methods == m), (vy == 0) | (vm == m)
        fig["methods"].append({"method": m, "frame": figures(y[keep], s[keep], g[keep], t, opts.n_boot, opts.seed),
                               "video": figures(vy[vkeep], vs[vkeep], vg[vkeep], t, opts.n_boot, opts.seed)})
    rob: dict[str, list[dict[str, Any]]] = {}
    for (kind, level), sc in scores.items():
        if level is None:
            continue
        row = {"level": float(level), **_auc_ci(y, sc, g, opts.n_boot, opts.seed),
               "acc": float(((sc >= t) == (y == 1)).mean())}
        v = _auc_ci(vy, video_scores(cs, sc), vg, opts.n_boot, opts.seed)
        rob.setdefault(kind, []).append({**row, "video_auc": v["auc"], "video_auc_ci": v["auc_ci"]})
    if rob:
        clean = {"level": None, "auc": fig["frame"]["auc"], "auc_ci": fig["frame"]["auc_ci"],
                 "acc": fig["frame"]["acc"], "video_auc": fig["video"]["auc"], "video_auc_ci": fig["video"]["auc_ci"]}
        fig["robustness"] = {"clean": clean, **rob}
    return fig


def _trained_on(det: Any) -> str | None:
    info = getattr(det, "info", {}) or {}
    sets = info.get("train_sets")  # the face-forgery bench records a list of sets
    return info.get("real") or info.get("data") or (", ".join(map(str, sets)) if isinstance(sets, list) else None)


def _same_set(a: str | None, b: CropSet) -> bool:
    """True when a detector's training set ``a`` is the crop set ``b`` (its figures are in-domain)."""
    from mediatk.core.errors import MediatkError
    from mediatk.datasets import resolve

    if not a:
        return False
    try:
        return resolve(a)[1] == b.path
    except MediatkError:
        return False


def evaluate(dets: dict[str, Any], data: Sequence[str], opts: EvalOptions,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Evaluate every detector on every crop set; returns the ``results.json`` object (less the command)."""
    opts.check()
    if not data:
        raise ConfigError("give at least one --data face-crop set")
    t0 = time.perf_counter()
    sets = [load_crop_set(d, opts.split, opts.limit, opts.seed, opts.frames, opts.device, log) for d in data]
    names = [cs.name for cs in sets]
    if len(set(names)) != len(names):
        raise ConfigError(f"--data names a set twice: {', '.join(names)}")
    conds = conditions(opts)
    res: dict[str, Any] = {
        "schema": SCHEMA, "seed": opts.seed, "split": opts.split, "limit": opts.limit, "n_boot": opts.n_boot,
        "ci": "percentile bootstrap 95 % over the set's groups (videos or identities)",
        "threshold_rule": "P(synthetic) >= the detector's decision point (0.5 on its calibrated probability)",
        "robustness_levels": {k: list(v) for k, v in opts.levels.items()} if opts.robustness else None,
        "detectors": [{"id": d, "name": det.name, "checkpoint": str(det.checkpoint_path or ""),
                       "trained_on": _trained_on(det), "image_size": det.image_size, "channels": det.channels,
                       "threshold": float(getattr(det, "threshold", 0.5))} for d, det in dets.items()],
        "datasets": [{"name": cs.name, "path": str(cs.path), "split": opts.split, "video_unit": cs.video_unit,
                      "counts": cs.counts(), **({"extraction": cs.extraction} if cs.extraction else {})}
                     for cs in sets],
        "results": [], "warnings": []}
    for cs, info in zip(sets, res["datasets"], strict=True):
        ex = cs.extraction
        if ex and ex["videos_with_faces"] < ex["videos"]:
            res["warnings"].append(f"{cs.name}: {ex['videos'] - ex['videos_with_faces']} of {ex['videos']} videos "
                                   f"gave no face crop and are not scored ({len(ex['no_face'])} without a face, "
                                   f"{len(ex['failed'])} failed to decode; see {ex['crops']}/videos.csv)")
        n_groups, vc = info["counts"]["groups"], info["counts"]["videos"]
        if n_groups < FEW_GROUPS:
            res["warnings"].append(f"{cs.name}: only {n_groups} groups in the {opts.split} split; intervals that "
                                   "resample so few groups are unreliable")
        if min(vc.values()) < FEW_GROUPS:
            res["warnings"].append(f"{cs.name}: video level rests on {vc['real']} real and {vc['fake']} fake "
                                   f"videos, a video being {cs.video_unit}")
        log(f"{cs.name}: {len(cs.labels)} crops in {len(np.unique(cs.video))} videos, "
            f"{n_groups} groups; {len(conds)} condition(s) x {len(dets)} detector(s)")
        scores = score_crops(dets, cs, conds, log)
        for d, det in dets.items():
            fig = evaluate_pair(det, cs, scores[d], opts)
            res["results"].append({"detector": d, "dataset": cs.name, "in_domain": _same_set(_trained_on(det), cs),
                                   **fig})
    res["cross"] = cross_matrix(res)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    return res


def cross_matrix(res: dict[str, Any]) -> dict[str, Any]:
    """Rows: detectors (with their training set); columns: test sets; frame and video AUC with CIs."""
    rows = [d["id"] for d in res["detectors"]]
    cols = [d["name"] for d in res["datasets"]]
    cell = {(r["detector"], r["dataset"]): r for r in res["results"]}

    def grid(level: str, key: str) -> list[list[Any]]:
        return [[cell[(r, c)][level][key] for c in cols] for r in rows]

    return {"rows": rows, "trained_on": [d["trained_on"] for d in res["detectors"]], "columns": cols,
            "frame_auc": grid("frame", "auc"), "frame_auc_ci": grid("frame", "auc_ci"),
            "video_auc": grid("video", "auc"), "video_auc_ci": grid("video", "auc_ci"),
            "in_domain": [[cell[(r, c)]["in_domain"] for c in cols] for r in rows]}
