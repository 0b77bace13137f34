"""``face-scores``: an image detector's P(synthetic) on the tracked face, aggregated over the video.

``detect`` builds one per image detector chosen for faces (:func:`mediatk.detectors.inference.face_models`):
at ``fps`` frames per second (default 2, or ``frames`` spread over the clip) the tracked face is cropped as
the image detector was trained (a square of ``face_crop_scale`` × the MTCNN box; the whole frame for a
detector not trained on face crops) and scored, one batched call per chunk of the stream.

**Video score.**  ``rule = "confident"`` (default), the confident-frames rule of the DFDC winner
(Seferbekov, 2020), in our own parameters: when at least ``share`` (40 %) of the scored faces, and at least
``min_confident`` of them, are confident fakes (P ≥ ``high`` = 0.8), the score is the mean of those; else
when at least ``real_share`` (90 %) are confident reals (P ≤ ``low`` = 0.2), the mean of those; else the
mean of all.  Why: in a face swap the manipulation shows in some frames and hides in others (profile views,
motion blur, occlusion); the plain mean lets the ambiguous frames pull a clearly detected fake towards 0.5,
while a few confident frames alone (a bad crop) are not enough to flip a clip.  ``rule = "mean"`` is the
plain mean.  Fewer than ``min_faces`` scored faces: ``insufficient`` (abstain), never a neutral 0.5.

The evidence carries the per-frame timeline (``[t, P]`` pairs), where it peaks, and the ``top_k`` faces that
drove the score (the highest-scoring ones when the video score is ≥ 0.5, else the lowest), with their crops
saved as PNGs when ``detect --out`` is given.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mediatk.core.errors import ConfigError
from mediatk.core.options import opt
from mediatk.detectors.base import Detector, register
from mediatk.detectors.faces import Face
from mediatk.detectors.stream import TrackedFrame, VideoDetector, evidence
from mediatk.media.pixels import save_image

RULES = ("confident", "mean")
CROP_SIDE = 112  # px of the saved "driver" crops


@dataclass
class FaceScoresConfig:
    fps: float = opt(2.0, "faces scored per second of video")
    frames: int = opt(0, "or this many frames spread over the clip (0: use fps)")
    rule: str = opt("confident", "video score: confident (the DFDC winner's confident-frames rule) or mean")
    high: float = opt(0.8, "a face scoring at or above this is a confident fake")
    low: float = opt(0.2, "a face scoring at or below this is a confident real")
    share: float = opt(0.4, "confident fakes needed, as a share of the scored faces")
    min_confident: int = opt(3, "and at least this many of them")
    real_share: float = opt(0.9, "confident reals needed for their mean, as a share of the scored faces")
    min_faces: int = opt(4, "fewer scored faces than this: insufficient (the detector abstains)")
    top_k: int = opt(3, "faces reported as the ones that drove the score")


def aggregate(scores: list[float] | np.ndarray, cfg: FaceScoresConfig) -> tuple[float, str]:
    """The video score of per-face scores under ``cfg.rule``, and which branch of the rule decided."""
    s = np.asarray(scores, np.float64)
    if len(s) == 0:
        raise ValueError("no scores to aggregate")
    if cfg.rule == "mean":
        return float(s.mean()), "mean of all faces"
    if cfg.rule != "confident":
        raise ConfigError(f"unknown face-scores rule {cfg.rule!r}; use one of {', '.join(RULES)}")
    fake, real = s[s >= cfg.high], s[s <= cfg.low]
    if len(fake) >= max(cfg.min_confident, cfg.share * len(s)):
        return float(fake.mean()), f"mean of the {len(fake)} confident fakes (>= {cfg.high:g})"
    if len(real) >= cfg.real_share * len(s):
        return float(real.mean()), f"mean of the {len(real)} confident reals (<= {cfg.low:g})"
    return float(s.mean()), "mean of all faces (too few confident ones)"


def detector_input(det: Detector, frame: np.ndarray, face: Face | None) -> torch.Tensor | None:
    """What image detector ``det`` scores on ``frame``, by its recorded preprocessing (the one pixel path):
    the face crop it was trained on (None without a face), or the whole frame for a whole-image detector."""
    return det.input_of(frame, face.box if face is not None else None)


@register("face-scores", "Video: an image detector's P(synthetic) on the tracked face, aggregated "
          "(confident-frames rule)", tags=("video",))
class FaceScores(VideoDetector):
    """One image detector over the video (see the module docstring)."""

    Config = FaceScoresConfig
    over_images = True
    tiny_options = ("--min-faces", "2")

    def __init__(self, cfg: Any = None, device: Any = "cpu", image: Detector | None = None):
        super().__init__(cfg, device)
        if self.cfg.rule not in RULES:
            raise ConfigError(f"unknown face-scores rule {self.cfg.rule!r}; use one of {', '.join(RULES)}")
        self.image = image

    @classmethod
    def over(cls, image: Detector, cfg: FaceScoresConfig | None = None) -> FaceScores:
        return cls(cfg, image.device, image=image)

    @property
    def label(self) -> str:
        return self.image.name if self.image is not None else self.name

    @property
    def needs_faces(self) -> bool:  # a detector trained on whole frames scores them with or without a face
        return self.image is None or bool(self.image.face_crops)

    def start(self, info: Any, fps: float) -> None:
        if self.image is None:
            raise ConfigError("face-scores runs over an image detector: FaceScores.over(detector)")
        self.fps = fps
        self.series: list[tuple[int, float, float, list[float] | None]] = []  # frame, t, p, box
        self.top: list[tuple[float, int, np.ndarray]] = []     # min-heap of (p, frame, crop): the highest
        self.bottom: list[tuple[float, int, np.ndarray]] = []  # min-heap of (-p, frame, crop): the lowest

    def update(self, frames: list[TrackedFrame]) -> dict[int, dict[str, Any]]:
        det = self.image
        items = [(f, detector_input(det, f.image, f.face)) for f in frames]
        items = [(f, x) for f, x in items if x is not None]
        if not items:
            return {}
        p = det.predict_proba(torch.stack([x for _, x in items]))  # one batched call per chunk
        out: dict[int, dict[str, Any]] = {}
        for (f, _), v in zip(items, p):
            v = float(v)
            box = None if f.face is None else [round(float(b), 1) for b in f.face.box]
            self.series.append((f.index, f.t, v, box))
            self._keep(f, v)
            out[f.index] = {"p": round(v, 4)}
        return out

    def _keep(self, f: TrackedFrame, p: float) -> None:
        """Keep the ``top_k`` highest and lowest faces with a small crop each (memory stays flat)."""
        k = int(self.cfg.top_k)
        if k <= 0:
            return
        for heap, key in ((self.top, p), (self.bottom, -p)):
            if len(heap) < k or key > heap[0][0]:
                crop = f.crop(CROP_SIDE, float(getattr(self.image, "face_crop_scale", 1.2))) if f.face else None
                item = (key, f.index, crop if crop is not None else np.zeros((1, 1, 3), np.uint8))
                (heapq.heappush if len(heap) < k else heapq.heapreplace)(heap, item)

    def finish(self, prefix: Path | None = None) -> dict[str, Any]:
        det, cfg = self.image, self.cfg
        base = {"detector": det.name, "checkpoint": str(det.checkpoint_path) if det.checkpoint_path else None,
                "input": "face crop" if det.face_crops else "whole frame", "rule": cfg.rule,
                "fps": round(self.fps, 3), "faces_scored": len(self.series)}
        if len(self.series) < cfg.min_faces:
            why = f"{len(self.series)} faces scored; at least {cfg.min_faces} are needed"
            return evidence("insufficient", reason=why, **base)
        s = np.array([v for _, _, v, _ in self.series])
        score, how = aggregate(s, cfg)
        i = int(s.argmax())
        peak = {"frame": self.series[i][0], "t": round(self.series[i][1], 3), "p": round(float(s[i]), 4)}
        heap = self.top if score >= 0.5 else self.bottom
        drivers = []
        for key, frame, crop in sorted(heap, reverse=True):
            row = next(r for r in self.series if r[0] == frame)
            d = {"frame": frame, "t": round(row[1], 3), "p": round(abs(key), 4), "box": row[3]}
            if prefix is not None and crop.shape[0] > 1:
                d["crop"] = str(save_image(crop, Path(f"{prefix}.{self.label}.face-{frame:06d}.png")))
            drivers.append(d)
        details = {**base, "how": how, "mean": round(float(s.mean()), 4), "median": round(float(np.median(s)), 4),
                   "confident_fakes": int((s >= cfg.high).sum()), "confident_reals": int((s <= cfg.low).sum()),
                   "peak": peak, "drivers": drivers,
                   "timeline": [[round(t, 3), round(v, 4)] for _, t, v, _ in self.series]}
        summary = (f"{how}; {len(s)} faces ({base['input']}s, {self.fps:.3g}/s), {details['confident_fakes']} "
                   f">= {cfg.high:g}, peak {peak['p']:.3f} at {peak['t']:.1f} s")
        return evidence("ok", score, reason=how, summary=summary, **details)
