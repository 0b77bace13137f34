"""The video-detector contract: what a video detector receives (a decoded, face-tracked stream) and returns
(evidence about the whole clip).

:mod:`.video` decodes a clip once, samples it, finds and tracks the main face once, and hands the stream to
every selected video detector.  A video detector (``media = "video"``, registered like any detector):

* says which frames it wants: :meth:`VideoDetector.sample_rate` (from its config's ``fps``, or ``frames``
  spread over the clip); the pipeline decodes at the fastest rate asked for and gives each detector the
  frames on its own grid;
* :meth:`~VideoDetector.start` is called once per video with the clip's :class:`~mediatk.media.VideoInfo`
  and the rate it will really get (never above the video's own);
* :meth:`~VideoDetector.update` receives the stream in chunks of :class:`TrackedFrame` (frame index, time,
  RGB pixels, the tracked face or None) and returns per-frame signals for the timeline
  (``{frame index: {name: number or bool}}``), e.g. blink's eye openness or a per-face P(synthetic);
* :meth:`~VideoDetector.finish` returns the evidence, built with :func:`evidence`:
  ``{"status": "ok" | "insufficient" | "error", "p_synthetic", "reason", "summary", "details"}``.
  ``p_synthetic`` is a float exactly when the status is ``ok``; ``insufficient`` abstains (too few faces,
  too short), and the verdict (:mod:`.verdict`) only averages ``ok`` evidence.

A new video detector is one file (``detectors/_template_video.py`` shows one);
``tests/test_detectors.py::test_detector_contract`` runs every registered one on a shared clip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from mediatk.core.errors import ConfigError
from mediatk.detectors.base import Detector
from mediatk.detectors.faces import Face, crop_face

STATUSES = ("ok", "insufficient", "error")


@dataclass
class TrackedFrame:
    """One analysed frame of the stream: where it is, its pixels and the main face tracked in it."""

    index: int                 # frame number in the file
    t: float                   # seconds from the start
    image: np.ndarray          # H×W×3 RGB uint8 (downscaled above the pipeline's work size; dark frames brightened)
    face: Face | None = None   # the tracked main face (box, landmarks) in ``image`` coordinates, or None

    def crop(self, size: int, scale: float = 1.2) -> np.ndarray | None:
        """The face as a ``size``² square of ``scale`` × its box, or None without a face."""
        return None if self.face is None else crop_face(self.image, self.face, size, scale)


def evidence(status: str, p_synthetic: float | None = None, reason: str = "", summary: str = "",
             **details: Any) -> dict[str, Any]:
    """A video detector's evidence, checked: ``p_synthetic`` in [0, 1] exactly when ``status`` is ``ok``."""
    if status not in STATUSES:
        raise ValueError(f"evidence status must be one of {STATUSES}, got {status!r}")
    if (status == "ok") != (p_synthetic is not None):
        raise ValueError("p_synthetic is given exactly when the status is ok")
    if p_synthetic is not None and not 0.0 <= float(p_synthetic) <= 1.0:
        raise ValueError(f"p_synthetic must lie in [0, 1], got {p_synthetic}")
    p = None if p_synthetic is None else round(float(p_synthetic), 4)
    return {"status": status, "p_synthetic": p, "reason": reason, "summary": summary or reason, "details": details}


class VideoDetector(Detector):
    """Base of the video detectors (see the module docstring).  Not trained here: ``fit`` and
    ``predict_proba`` refuse; whatever model it uses is loaded in :meth:`start` or given to its constructor."""

    media: ClassVar[str] = "video"
    trainable: ClassVar[bool] = False
    #: True for a detector that runs over an image detector (face-scores): ``detect`` builds one per image
    #: detector chosen for faces instead of loading it by name
    over_images: ClassVar[bool] = False
    #: False for a detector that looks at whole frames only (the pipeline then skips face tracking for it)
    needs_faces: ClassVar[bool] = True

    def __init__(self, cfg: Any = None, device: Any = "cpu"):
        super().__init__(cfg, device)
        self.fitted = True

    @property
    def label(self) -> str:
        """The key of its evidence in a result (face-scores: the image detector's name)."""
        return self.name

    def sample_rate(self, duration: float) -> float:
        """Frames per second it asks for: ``cfg.frames`` spread over ``duration`` s when set, else ``cfg.fps``."""
        frames = int(getattr(self.cfg, "frames", 0) or 0)
        if frames > 0 and duration > 0:
            return frames / duration
        fps = float(getattr(self.cfg, "fps", 2.0))
        if not fps > 0:
            raise ConfigError(f"{self.name}: fps must be positive, got {fps}")
        return fps

    # ---- the contract ----------------------------------------------------------------------------------
    def start(self, info: Any, fps: float) -> None:
        """A new video begins; ``fps`` is the rate its frames will arrive at.  Reset per-video state here."""
        raise NotImplementedError

    def update(self, frames: list[TrackedFrame]) -> dict[int, dict[str, Any]]:
        """The next chunk of its frames, in time order; returns per-frame signals for the timeline."""
        raise NotImplementedError

    def finish(self, prefix: Path | None = None) -> dict[str, Any]:
        """The evidence (:func:`evidence`).  With ``prefix`` (``OUT/VIDEO_STEM``) it may write files named
        ``{prefix}.{label}.*`` and list them in its details."""
        raise NotImplementedError

    # ---- the image contract does not apply -------------------------------------------------------------
    def _fit(self, real, fake) -> None:
        raise ConfigError(f"{self.name} is a video detector and is not trained with train-detector")

    def _predict(self, x) -> np.ndarray:
        raise ConfigError(f"{self.name} works on videos (mediatk detect VIDEO), not on single images")


class Sampler:
    """Picks, from frames arriving in time order, the first frame at or after each ``1/fps`` tick."""

    def __init__(self, fps: float, frame_period: float):
        self.period = 1.0 / fps
        self.tol = 0.5 * frame_period + 1e-9  # a frame half a decoded period early still counts for its tick
        self.next = 0.0

    def take(self, t: float) -> bool:
        if t + self.tol < self.next:
            return False
        self.next = (math.floor((t + self.tol) / self.period) + 1) * self.period
        return True
