"""Template: a new video detector is one file like this in ``detectors/`` (without the leading underscore).

Copy it to ``detectors/mycue.py``, rename the class and the registered name, and fill in ``start``,
``update`` and ``finish`` (the contract is in :mod:`mediatk.detectors.stream`).  The registry finds the file by
itself, so ``mediatk detect VIDEO`` runs it beside the others, its evidence enters the verdict, and the
contract test (``tests/test_detectors.py::test_detector_contract``) runs it on a shared clip.  The pipeline
decodes the clip once and tracks the main face once; you say how many frames per second you want (``fps``)
and receive them in chunks, each frame with its tracked face.

This example is real, if weak and uncalibrated: blended face swaps are often smoother than the frame around
them, so it compares the sharpness (variance of the Laplacian) of the face with that of the whole frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from mediatk.core.options import opt
from mediatk.detectors.base import register
from mediatk.detectors.stream import TrackedFrame, VideoDetector, evidence


@dataclass
class SharpnessConfig:
    fps: float = opt(1.0, "frames per second it looks at")
    min_faces: int = opt(3, "fewer faces than this: insufficient (abstain)")


def sharpness(grey: np.ndarray) -> float:
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


@register("template-sharpness", "Template: face sharpness relative to the frame (a toy video cue)", tags=("video",))
class SharpnessDetector(VideoDetector):
    Config = SharpnessConfig                 # media = "video", not trained (the VideoDetector defaults)

    def start(self, info: Any, fps: float) -> None:   # per video: reset the state
        self.ratios: list[float] = []

    def update(self, frames: list[TrackedFrame]) -> dict[int, dict[str, Any]]:
        out = {}
        for f in frames:
            face = f.crop(64)                  # the tracked face, or None in a frame without one
            if face is None:
                continue
            whole = cv2.resize(f.image, (128, 128 * f.image.shape[0] // f.image.shape[1] or 1))
            grey = [cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in (face, whole)]
            r = (sharpness(grey[0]) + 1.0) / (sharpness(grey[1]) + 1.0)
            self.ratios.append(r)
            out[f.index] = {"sharpness_ratio": round(r, 3)}   # goes into the per-frame timeline
        return out

    def finish(self, prefix=None) -> dict[str, Any]:
        n = len(self.ratios)
        if n < self.cfg.min_faces:
            return evidence("insufficient", reason=f"{n} faces seen; at least {self.cfg.min_faces} are needed")
        med = float(np.median(self.ratios))
        p = 1.0 / (1.0 + math.exp(2.0 * math.log(med)))  # smoother face than frame (ratio < 1) → above 0.5
        return evidence("ok", p, reason=f"median face/frame sharpness {med:.2f} over {n} faces", faces=n,
                        median_ratio=round(med, 4))
