"""Run detectors over images and videos: the Python API behind ``mediatk detect`` (schema: docs/detect-json.md).

An image is scored by every selected image detector (on the MTCNN face crop for those trained on face
crops).  A video goes through :mod:`.video` with every selected video detector: the registered ones (blink,
a new file in ``detectors/``) and one ``face-scores`` per image detector that :func:`face_models` chooses.
The verdict (:mod:`.verdict`) is one rule over all of them.  Nothing here names a detector.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mediatk.core.errors import ConfigError, MediatkError
from mediatk.core.registry import DETECTORS
from mediatk.detectors.api import find_detector, load_detector, train_hint
from mediatk.detectors.base import Detector
from mediatk.detectors.verdict import verdict

SCHEMA = "mediatk.detect/1"


def expand_inputs(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given; folders → their image and video files (recursive, sorted, hidden ones skipped)."""
    from mediatk.media.pixels import is_image, is_video

    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and (is_image(f) or is_video(f))
                          and not any(part.startswith(".") for part in f.relative_to(p).parts))
        else:
            out.append(p)
    return out


def select_detectors(names: Iterable[str] | None, device: str) -> tuple[dict[str, Detector], dict[str, Any]]:
    """Loaded detectors and skipped ones ({name: {reason, train}}).  ``NAME=PATH`` picks a checkpoint.
    Default: every image detector with a trained checkpoint and every registered video detector."""
    parts = [p.strip().partition("=") for item in names or () for p in str(item).split(",") if p.strip()]
    wanted = [(nm.strip().lower(), ck.strip() or None) for nm, _, ck in parts] if names else [
        (e.name, None) for e in DETECTORS if e.obj.media in ("image", "video") and not getattr(e.obj, "over_images", 0)]
    loaded: dict[str, Detector] = {}
    skipped: dict[str, Any] = {}
    for nm, ck in wanted:
        cls = DETECTORS.get(nm)
        if cls.media == "component":
            raise ConfigError(f"{nm} is a component of another detector, not a detector of synthetic media")
        if getattr(cls, "over_images", False):
            raise ConfigError(f"{nm} runs over image detectors on the faces of a video: name those instead "
                              "(e.g. --detector cnn)")
        if cls.trainable and ck is None:
            ck = find_detector(nm)  # looked up once: load_detector would search the store again
            if ck is None:
                skipped[nm] = {"reason": "no trained checkpoint", "train": train_hint(nm)}
                continue
        loaded[nm] = load_detector(nm, ck, device)
    return loaded, skipped


def face_models(detectors: dict[str, Detector], explicit: bool) -> tuple[dict[str, Detector], dict[str, Any]]:
    """Which image detectors score the faces of a video, from the loaded ``detectors``: the one place that
    decides (a shipped default face model plugs in here).  Named ones (``explicit``) always run (whole frames
    for those not trained on face crops); in the default set only those trained on face crops do (a
    detector trained on, say, 28×28 garments says nothing about a video frame)."""
    images = {n: d for n, d in detectors.items() if d.media == "image"}
    if explicit:
        return images, {}
    skip = {n: {"reason": "not trained on face crops; name it with --detector to score whole frames",
                "train": train_hint(n) + " --face-crops"} for n, d in images.items() if not d.face_crops}
    return {n: d for n, d in images.items() if d.face_crops}, skip


def video_detectors(detectors: dict[str, Detector], explicit: bool, face_config: Any = None):
    """The video detectors a video is handed to, by label, and the detectors skipped for videos."""
    from mediatk.detectors.face_scores import FaceScores

    chosen = {d.label: d for d in detectors.values() if d.media == "video"}
    faces, skipped = face_models(detectors, explicit)
    for det in faces.values():
        chosen[det.name] = FaceScores.over(det, face_config)
    return chosen, skipped


class Detection:
    """Runs the selected detectors over inputs; builds MTCNN once, lazily."""

    def __init__(self, detectors: dict[str, Detector], skipped: dict[str, Any], device: str = "cpu",
                 threshold: float = 0.5, out_dir: str | os.PathLike | None = None, video_options=None,
                 timeline: bool = True, explicit: bool = True, face_config=None):
        from mediatk.detectors.video import VideoOptions

        self.dets, self.skipped, self.device, self.threshold = detectors, skipped, device, threshold
        self.out_dir = Path(out_dir) if out_dir else None
        self.vopts = video_options or VideoOptions()
        self.vopts.timeline = timeline
        self.videos, self.video_skipped = video_detectors(detectors, explicit, face_config)
        self._finder = None

    def finder(self):
        from mediatk.detectors.faces import FaceFinder

        if self._finder is None:
            self._finder = FaceFinder(self.device, detect_side=self.vopts.detect_side)
        return self._finder

    def image_dets(self) -> dict[str, Detector]:
        return {n: d for n, d in self.dets.items() if d.media == "image"}

    def run(self, path: Path) -> dict[str, Any]:
        from mediatk.media.pixels import is_video

        t0 = time.perf_counter()
        res: dict[str, Any] = {"schema": SCHEMA, "path": str(path), "kind": "video" if is_video(path) else "image",
                               "status": "error", "error": None}
        try:
            res.update(self._video(path) if res["kind"] == "video" else self._image(path))
        except Exception as e:  # noqa: BLE001 - one input's failure, whatever it is, must not stop a folder run
            msg = " ".join(str(e).split())[:200]
            res["error"] = msg if isinstance(e, MediatkError) else (
                f"unexpected {type(e).__name__} while analysing it: {msg} (a mediatk bug; please report it)")
            res["seconds"] = round(time.perf_counter() - t0, 3)
            return res
        res["skipped"] = {**self.skipped, **res.pop("_skipped", {})}
        found = res["detectors"]
        res["verdict"] = v = verdict(found, self.threshold)
        if v["label"] != "undecided":
            res["status"] = "ok"
        elif not found:
            res["status"], res["error"] = "no_detector", f"no selected detector applies to {res['kind']}s"
        elif all(e.get("status") == "error" for e in found.values()):
            res["error"] = "; ".join(f"{n}: {e['reason']}" for n, e in found.items())
        elif res["kind"] == "video":
            res["status"] = "no_face" if res["faces"]["tracked"] and not res["faces"]["frames_with_face"] else \
                "insufficient_evidence"
        else:
            res["status"] = "no_face" if any(e.get("status") == "no_face" for e in found.values()) else \
                "insufficient_evidence"
        res.setdefault("seconds", round(time.perf_counter() - t0, 3))
        return res

    def _image(self, path: Path) -> dict[str, Any]:
        from mediatk.detectors.face_scores import detector_input
        from mediatk.detectors.faces import FaceTracker
        from mediatk.media.pixels import read_image

        img = read_image(path)
        dets = self.image_dets()
        face = None
        if any(d.face_crops for d in dets.values()):
            face = FaceTracker(min_prob=0.9).choose(self.finder().detect([img])[0])
        out: dict[str, Any] = {}
        for name, det in dets.items():
            base = {"checkpoint": str(det.checkpoint_path) if det.checkpoint_path else None,
                    "input": "face crop" if det.face_crops else "whole image"}
            x = detector_input(det, img, face)
            if x is None:
                out[name] = {**base, "status": "no_face", "p_synthetic": None}
                continue
            out[name] = {**base, "status": "ok", "p_synthetic": round(float(det.predict_proba(x[None])[0]), 4)}
        return {"image": {"width": int(img.shape[1]), "height": int(img.shape[0])},
                "face": face.to_json() if face is not None else None, "detectors": out}

    def _video(self, path: Path) -> dict[str, Any]:
        from mediatk.detectors.video import VideoAnalysis

        if not self.videos:
            return {"detectors": {}, "_skipped": self.video_skipped}
        va = VideoAnalysis(path, self.videos, self.finder(), self.vopts, self.out_dir)
        return {**va.run(), "_skipped": self.video_skipped}


def detect_paths(paths: Iterable[str | os.PathLike], detectors: Iterable[str] | None = None, device: str = "cpu",
                 threshold: float = 0.5, out_dir: str | os.PathLike | None = None, video_options=None,
                 timeline: bool = True, face_config=None) -> Iterator[dict[str, Any]]:
    """Yield one result per input file (see docs/detect-json.md); folders are expanded."""
    files = expand_inputs(paths)
    if not files:
        raise ConfigError("no input files (folders are searched for image and video files)")
    dets, skipped = select_detectors(detectors, device)
    if not dets:
        hints = "; ".join(f"{n}: {s['train']}" for n, s in skipped.items())
        raise ConfigError(f"no usable detector (none trained); {hints}")
    run = Detection(dets, skipped, device, threshold, out_dir, video_options, timeline, explicit=bool(detectors),
                    face_config=face_config)
    for f in files:
        yield run.run(f)


def detect(path: str | os.PathLike, **kw: Any) -> dict[str, Any]:
    """One input's result (a convenience over :func:`detect_paths`)."""
    return next(iter(detect_paths([path], **kw)))
