"""``blink``: eye-blink statistics of the main face in a video, compared with human blink rates.

Early deepfakes rarely blinked (Li et al. 2018; the lecture's "faces created by deepfake techniques
rarely blink").  Per densely sampled frame (default 15 fps) the streamed pipeline (:mod:`.video`) tracks
the main face, cuts 24×24 eye crops around MTCNN's eye landmarks and turns them into an *openness*
o ∈ [0, 1]:

* with a trained ``eyestate`` checkpoint: o = mean over both eyes of P(open) (``method: "eyestate"``);
* without one: OpenCV's Haar eye cascade on the upper half of the face, o = min(1, eyes found / 2)
  (``method: "haar"``; coarser, reported as such).

**Blinks** (:class:`BlinkCounter`), with hysteresis: a closure starts when o < ``close_below`` (0.35: a blink
is a full closure, and shallow dips are mostly crops that caught an eyebrow or a squint) and
ends at the first frame with o ≥ ``open_above`` (0.6); its duration is (frames in it) / fps.  A closure of
``min_blink_ms``–``max_blink_ms`` (40–500 ms) is a blink; a longer one is a *long closure* (eyes shut on
purpose, looking down), not a blink; a closure interrupted by a frame without a face is dropped.

**Verdict** on T = seconds of video in which the face was tracked, k blinks, rate r = 60·k/T per minute,
against the human range [4.5, 26] blinks/min (the mean rates while reading and in conversation, rest
being 17; Bentivoglio et al. 1997):

* ``no_face``: the face was tracked in under half of the analysed frames (or under 1 s);
* ``insufficient_evidence``: T < ``min_seconds`` (10 s), or r is outside the range but a Poisson test
  cannot reject the range at level α = 0.05 (too few: P(X ≤ k | 4.5·T/60) ≥ α; too many:
  P(X ≥ k | 26·T/60) ≥ α).  A 12 s clip without a blink is *not* evidence: P(0 | 0.9) = 0.41;
* ``typical``: r inside the range;
* ``too_few_blinks``: below the range, and the test rejects it: the classic cue of face-swap and
  talking-head synthesis that does not model blinking;
* ``frequent_blinks``: above the range, and the test rejects it.  Individuals vary widely around the
  means, and frequent blinking is not a known synthesis cue (it can also be eye-state errors), so this is
  reported but not counted against the video.

As a video detector (:mod:`.stream`) it returns ``ok`` evidence for ``typical`` (P(synthetic) = 0.25) and
``too_few_blinks`` (0.75); every other finding is ``insufficient`` (it abstains).  The finding is in the
evidence's details with the statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from mediatk.core.errors import ConfigError
from mediatk.core.options import opt
from mediatk.detectors.base import Detector, register
from mediatk.detectors.faces import Face, crop_square, eye_patches, plausible_eyes
from mediatk.detectors.stream import TrackedFrame, VideoDetector, evidence

HUMAN_RATES = {"reading": 4.5, "rest": 17.0, "conversation": 26.0}  # blinks/min, Bentivoglio et al. 1997


@dataclass
class BlinkConfig:
    fps: float = opt(15.0, "frames per second analysed for eye state")
    close_below: float = opt(0.35, "openness below this starts a closure")
    open_above: float = opt(0.6, "openness at or above this ends it (hysteresis)")
    min_blink_ms: float = opt(40.0, "shortest closure counted as a blink")
    max_blink_ms: float = opt(500.0, "longest closure counted as a blink (longer: a long closure)")
    min_seconds: float = opt(10.0, "clips with less tracked-face time give insufficient evidence")
    human_low: float = opt(4.5, "lowest human blink rate per minute (reading)")
    human_high: float = opt(26.0, "highest human blink rate per minute (conversation)")
    alpha: float = opt(0.05, "level of the Poisson test for an atypical rate")
    eye_scale: float = opt(0.65, "eye crop side as a fraction of the inter-ocular distance")


def poisson_cdf(k: int, lam: float) -> float:
    """P(X ≤ k) for X ~ Poisson(λ)."""
    if k < 0:
        return 0.0
    term = total = math.exp(-lam)
    for i in range(1, k + 1):
        term *= lam / i
        total += term
    return min(1.0, total)


@dataclass
class BlinkCounter:
    """Feed it ``(time, openness or None)`` per analysed frame; :meth:`summary` gives the statistics."""

    cfg: BlinkConfig
    fps: float
    frames: int = 0
    face_frames: int = 0
    blinks: list[dict[str, float]] = field(default_factory=list)
    long_closures: int = 0
    _start: float | None = None
    _count: int = 0

    def add(self, t: float, openness: float | None) -> bool:
        """Returns True when a blink ended at this frame."""
        self.frames += 1
        if openness is None:
            self._start, self._count = None, 0  # a gap breaks a closure: drop it
            return False
        self.face_frames += 1
        if self._start is None:
            if openness < self.cfg.close_below:
                self._start, self._count = t, 1
            return False
        if openness < self.cfg.open_above:
            self._count += 1
            return False
        ms = 1000.0 * self._count / self.fps
        start, self._start, self._count = self._start, None, 0
        if self.cfg.min_blink_ms <= ms <= self.cfg.max_blink_ms:
            self.blinks.append({"t": round(start, 3), "ms": round(ms, 1)})
            return True
        if ms > self.cfg.max_blink_ms:
            self.long_closures += 1
        return False

    def summary(self, method: str) -> dict[str, Any]:
        c = self.cfg
        seconds = self.face_frames / self.fps
        k = len(self.blinks)
        out: dict[str, Any] = {
            "method": method, "frames": self.frames, "face_frames": self.face_frames,
            "seconds_with_face": round(seconds, 2), "blinks": k, "long_closures": self.long_closures,
            "rate_per_min": round(60.0 * k / seconds, 2) if seconds > 0 else None,
            "mean_blink_ms": round(float(np.mean([b["ms"] for b in self.blinks])), 1) if k else None,
            "events": self.blinks, "human_range_per_min": [c.human_low, c.human_high],
            "human_rates_per_min": HUMAN_RATES,
            "expected_blinks_at_rest": round(HUMAN_RATES["rest"] * seconds / 60, 2),
            "p_synthetic": None,
        }
        if self.frames == 0 or self.face_frames < 0.5 * self.frames or seconds < 1.0:
            out.update(status="no_face", reason=f"face tracked in {self.face_frames} of {self.frames} frames")
            return out
        if seconds < c.min_seconds:
            out.update(status="insufficient_evidence",
                       reason=f"{seconds:.1f} s of tracked face; blink statistics need at least {c.min_seconds:g} s")
            return out
        rate = 60.0 * k / seconds
        if c.human_low <= rate <= c.human_high:
            out.update(status="typical", reason=f"{rate:.1f} blinks/min is inside the human range", p_synthetic=0.25)
            return out
        if rate < c.human_low:
            p = poisson_cdf(k, c.human_low * seconds / 60)
            what = f"{rate:.1f} blinks/min, below {c.human_low:g}"
        else:
            p = 1.0 - poisson_cdf(k - 1, c.human_high * seconds / 60)
            what = f"{rate:.1f} blinks/min, above {c.human_high:g}"
        out["p_value"] = round(p, 4)
        if p >= c.alpha:
            out.update(status="insufficient_evidence", reason=f"{what}, but a clip this short cannot tell "
                                                              f"(Poisson p = {p:.2f})")
        elif rate < c.human_low:
            out.update(status="too_few_blinks", reason=f"{what} (Poisson p = {p:.3g})", p_synthetic=0.75)
        else:
            out.update(status="frequent_blinks", reason=f"{what} (Poisson p = {p:.3g}); not counted as evidence")
        return out


class EyeOpenness:
    """Openness of both eyes of a tracked face: the eyestate CNN, or the Haar cascade fallback."""

    def __init__(self, eyestate: Detector | None = None, eye_scale: float = 0.65):
        self.model = eyestate
        self.eye_scale = eye_scale
        self.method = "eyestate" if eyestate is not None else "haar"
        self.checkpoint = str(eyestate.checkpoint_path) if eyestate is not None and eyestate.checkpoint_path else None
        self._cascade = None
        if eyestate is None:
            self._cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_eye.xml")
            if self._cascade.empty():
                raise ConfigError("OpenCV's haarcascade_eye.xml could not be loaded")

    def batch(self, frames: list[np.ndarray], faces: list[Face]) -> list[float]:
        """Openness per (RGB frame, face with landmarks) pair."""
        if not faces:
            return []
        if self.model is not None:
            patches = np.concatenate([eye_patches(g, f.landmarks, 24, self.eye_scale) for g, f in zip(frames, faces)])
            x = torch.from_numpy(patches).float()[:, None] / 127.5 - 1
            p_open = self.model.p_open(x).reshape(-1, 2)
            return [float(v) for v in p_open.mean(1)]
        return [self._haar(g, f) for g, f in zip(frames, faces)]

    def _haar(self, frame: np.ndarray, face: Face) -> float:
        x1, y1, x2, y2 = face.box
        side = max(x2 - x1, y2 - y1)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        crop = crop_square(frame, np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]), 160)
        upper = cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(crop[16:96]), cv2.COLOR_RGB2GRAY))
        eyes = self._cascade.detectMultiScale(upper, scaleFactor=1.1, minNeighbors=4, minSize=(16, 16),
                                              maxSize=(70, 70))
        return min(1.0, len(eyes) / 2.0)


@register("blink", "Video: blink rate and duration of the tracked face vs the human range (eyestate or Haar)",
          tags=("video",))
class BlinkDetector(VideoDetector):
    """Not trained: it uses the newest ``eyestate`` checkpoint (or the Haar fallback), loaded on first use."""

    Config = BlinkConfig

    def __init__(self, cfg: Any = None, device: str | torch.device = "cpu", eyes: EyeOpenness | None = None):
        super().__init__(cfg, device)
        self.eyes = eyes

    def start(self, info: Any, fps: float) -> None:
        if self.eyes is None:
            from mediatk.detectors.api import find_detector, load_detector

            eyestate = load_detector("eyestate", device=self.device) if find_detector("eyestate") else None
            self.eyes = EyeOpenness(eyestate, self.cfg.eye_scale)
        self.counter = BlinkCounter(self.cfg, fps)

    def update(self, frames: list[TrackedFrame]) -> dict[int, dict[str, Any]]:
        idx = [i for i, f in enumerate(frames) if f.face is not None and plausible_eyes(f.face)]
        openness: list[float | None] = [None] * len(frames)
        for i, v in zip(idx, self.eyes.batch([frames[i].image for i in idx], [frames[i].face for i in idx])):
            openness[i] = v
        out: dict[int, dict[str, Any]] = {}
        for f, o in zip(frames, openness):
            blink = self.counter.add(f.t, o)
            if o is not None:
                out[f.index] = {"openness": round(o, 3), **({"blink": True} if blink else {})}
        return out

    def finish(self, prefix: Path | None = None) -> dict[str, Any]:
        s = self.counter.summary(self.eyes.method)
        s["eyestate_checkpoint"] = self.eyes.checkpoint
        finding, p = s.pop("status"), s.pop("p_synthetic")
        rate = f"{s['rate_per_min']:.1f}/min" if s.get("rate_per_min") is not None else "n/a"
        summary = f"{s['blinks']} blinks in {s['seconds_with_face']:.1f} s ({rate}, {s['method']}): {finding.replace('_', ' ')}"
        return evidence("ok" if p is not None else "insufficient", p, reason=s.pop("reason"), summary=summary,
                        finding=finding, **s)
