"""The streamed video pipeline behind ``mediatk detect VIDEO``.

One decoding pass, memory flat in the video's length (at most ``chunk`` frames are held):

1. :class:`~mediatk.media.video.VideoReader` yields frames at ``dense_fps`` (default 15), downscaled only above
   ``work_side`` px (1920): eye and face crops are cut from the full-resolution frame (eyes need the
   pixels, and resizing whole 1080p frames cost more than all the networks together).  Dark frames (mean luma < 80) are brightened with a gamma curve first: MTCNN
   misses faces in dim rooms (a DFDC clip here has mean luma 35).
2. Every ``dense_fps / sparse_fps``-th frame (default 2 fps) is a *keyframe*: the full MTCNN runs on the
   keyframes of a chunk in one batch, downscaled to ``detect_side`` (360 px).  The tracker picks the main
   face, whose landmarks ONet then refines at full resolution.  On the frames in between the face is
   followed by ONet alone (one 48×48 forward pass), and a
   frame where ONet loses it gets a full detection.
3. Dense frames with a face feed the blink counter (eye openness batched per chunk).  Keyframes with a
   face feed the per-face detectors: a face crop (square of ``face_crop_scale`` × the box, margin
   included) for detectors trained on face crops, the whole frame for the others.
4. Video score of a per-face detector = **mean of the top half** of its keyframe scores (robust to a few
   bad crops, still sensitive to a manipulation that shows in only part of the clip).  A detector that
   never saw a face reports ``no_face``, never a neutral 0.5.

``out_dir`` adds ``NAME.timeline.png`` (openness, blinks and detector scores over time) and
``NAME.annotated.mp4`` (the analysed frames with the face box, eye state and scores).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from mediatk.detectors.blink import BlinkConfig, BlinkCounter, EyeOpenness
from mediatk.detectors.faces import Face, FaceFinder, FaceTracker, plausible_eyes
from mediatk.media.draw import annotate_frame
from mediatk.media.video import VideoReader, VideoWriter


@dataclass
class VideoOptions:
    dense_fps: float = 15.0
    sparse_fps: float = 2.0
    work_side: int = 1920
    detect_side: int = 360
    chunk: int = 16
    timeline: bool = True
    #: torch intra-op threads during the analysis (restored after): the per-frame networks are tiny (ONet on
    #: one 48×48 crop, a 24×24 eye CNN), so threads add synchronisation and, on shared cores, stalls
    threads: int | None = 1


def brighten(img: np.ndarray, target: float = 0.45, dark: float = 80.0) -> np.ndarray:
    """Gamma-brighten a dark RGB frame so that its mean luma maps to ``target``; others unchanged."""
    mean = float(cv2.cvtColor(np.ascontiguousarray(img[::8, ::8]), cv2.COLOR_RGB2GRAY).mean())
    if mean >= dark or mean < 1:
        return img
    g = min(1.0, max(0.3, math.log(target) / math.log(mean / 255.0)))
    lut = np.clip(255.0 * (np.arange(256) / 255.0) ** g, 0, 255).astype(np.uint8)
    return lut[img]


def top_half_mean(scores: list[float]) -> float:
    s = sorted(scores, reverse=True)
    return float(np.mean(s[: max(1, math.ceil(len(s) / 2))]))


def detector_input(det, frame: np.ndarray, face: Face | None) -> torch.Tensor | None:
    """The detector's input from a frame (its recorded preprocessing); None for a face-crop detector and no face."""
    return det.input_of(frame, face.box if face is not None else None)


class VideoAnalysis:
    """State of one video's analysis (see the module docstring)."""

    def __init__(self, path: Path, detectors: dict[str, Any], finder: FaceFinder, eyes: EyeOpenness | None,
                 blink_cfg: BlinkConfig, opts: VideoOptions, out_dir: Path | None = None):
        self.path, self.detectors, self.finder, self.eyes = Path(path), detectors, finder, eyes
        self.opts, self.blink_cfg, self.out_dir = opts, blink_cfg, out_dir
        self.tracker = FaceTracker(min_prob=0.8)
        self.timeline: list[dict[str, Any]] = []
        self.scores: dict[str, list[float]] = {n: [] for n in detectors}
        self.keyframes = self.refined = self.redetected = self.detections = 0
        self.writer: VideoWriter | None = None
        self.calls0 = finder.calls

    def run(self) -> dict[str, Any]:
        before = torch.get_num_threads()
        if self.opts.threads:
            torch.set_num_threads(self.opts.threads)
        try:
            return self._run()
        finally:
            torch.set_num_threads(before)

    def _run(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        o = self.opts
        reader = VideoReader(self.path, target_fps=o.dense_fps, max_side=o.work_side)
        info = reader.info
        fps = min(o.dense_fps, info.fps)
        self.every = max(1, round(fps / o.sparse_fps))
        self.blinks = BlinkCounter(self.blink_cfg, fps) if self.eyes is not None else None
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.writer = VideoWriter(self.out_dir / f"{self.path.stem}.annotated.mp4", fps)
        buf: list = []
        n = 0
        try:
            for frame in reader:
                buf.append((n, frame))
                n += 1
                if len(buf) >= o.chunk:
                    self._chunk(buf)
                    buf = []
            if buf:
                self._chunk(buf)
        except BaseException:
            if self.writer is not None:
                self.writer.abort()
            raise
        outputs = {}
        if self.writer is not None:
            outputs["video"] = str(self.writer.close())
            outputs["plot"] = str(self._plot())
        return self._result(reader, info, n, time.perf_counter() - t0, outputs)

    # ------------------------------------------------------------------------------------------------
    def _chunk(self, buf: list) -> None:
        frames = [brighten(f.image) for _, f in buf]
        keys = [i for i, (k, _) in enumerate(buf) if k % self.every == 0]
        found = self.finder.detect([frames[i] for i in keys]) if keys else []
        self.keyframes += len(keys)
        kf = dict(zip(keys, found))
        faces: list[Face | None] = []
        for i, img in enumerate(frames):
            if i in kf:
                face = self.tracker.choose(kf[i])
                if face is None and self.tracker.face is not None:
                    face = self.finder.refine(img, self.tracker.face.box)
                elif face is not None:  # landmarks at full resolution (the detection ran downscaled)
                    face = self.finder.refine(img, face.box) or face
            elif self.tracker.face is not None:
                face = self.finder.refine(img, self.tracker.face.box)
                self.refined += 1
                if face is None:
                    self.redetected += 1
                    face = self.tracker.choose(self.finder.detect([img])[0])
            else:
                face = None
            self.tracker.update(face)
            self.detections += face is not None
            faces.append(face)
        # eye openness, batched over the chunk
        open_: list[float | None] = [None] * len(frames)
        if self.eyes is not None:
            idx = [i for i, f in enumerate(faces) if f is not None and plausible_eyes(f)]
            for i, v in zip(idx, self.eyes.batch([frames[i] for i in idx], [faces[i] for i in idx])):
                open_[i] = v
        # per-face detectors on keyframes, batched per detector
        frame_scores: dict[int, dict[str, float]] = {i: {} for i in keys}
        for name, det in self.detectors.items():
            items = [(i, detector_input(det, frames[i], faces[i])) for i in keys]
            items = [(i, x) for i, x in items if x is not None]
            if items:
                p = det.predict_proba(torch.stack([x for _, x in items]))
                for (i, _), v in zip(items, p):
                    frame_scores[i][name] = float(v)
                    self.scores[name].append(float(v))
        for i, (k, fr) in enumerate(buf):
            blink = self.blinks.add(fr.time, open_[i]) if self.blinks is not None else False
            entry: dict[str, Any] = {"frame": fr.index, "t": round(fr.time, 3), "face": faces[i] is not None}
            if faces[i] is not None:
                entry["box"] = [round(float(v), 1) for v in faces[i].box]
            if open_[i] is not None:
                entry["openness"] = round(open_[i], 3)
            if blink:
                entry["blink"] = True
            if frame_scores.get(i):
                entry["scores"] = {n: round(v, 4) for n, v in frame_scores[i].items()}
            self.timeline.append(entry)
            if self.writer is not None:
                self.writer.write(self._annotate(frames[i], faces[i], entry))

    def _annotate(self, img: np.ndarray, face: Face | None, e: dict[str, Any]) -> np.ndarray:
        lines = [f"t {e['t']:.2f}s"]
        if "openness" in e:
            lines.append(f"eyes open {e['openness']:.2f}" + ("  BLINK" if e.get("blink") else ""))
        lines += [f"{n} {v:.2f}" for n, v in e.get("scores", {}).items()]
        boxes = [] if face is None else [(*face.box, "face", "green")]
        if face is not None and face.landmarks is not None:
            d = max(4.0, 0.15 * float(np.hypot(*(face.landmarks[1] - face.landmarks[0]))))
            colour = "cyan" if e.get("openness", 1.0) >= self.blink_cfg.open_above else "red"
            boxes += [(x - d, y - d, x + d, y + d, "", colour) for x, y in face.landmarks[:2]]
        return annotate_frame(img, boxes, lines)

    def _plot(self) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from mediatk.core.fileio import atomic_path

        t = [e["t"] for e in self.timeline]
        fig, ax = plt.subplots(figsize=(10, 3.2))
        if self.eyes is not None:
            ax.plot(t, [e.get("openness", np.nan) for e in self.timeline], lw=1, label=f"eye openness ({self.eyes.method})")
            for e in self.timeline:
                if e.get("blink"):
                    ax.axvline(e["t"], color="red", lw=0.8, alpha=0.6)
        for name in self.detectors:
            pts = [(e["t"], e["scores"][name]) for e in self.timeline if name in e.get("scores", {})]
            if pts:
                ax.plot(*zip(*pts), "o-", ms=3, lw=1, label=f"P(synthetic) {name}")
        nf = [e["t"] for e in self.timeline if not e["face"]]
        if nf:
            ax.plot(nf, [-0.05] * len(nf), "|", color="grey", label="no face")
        ax.set_ylim(-0.1, 1.05)
        ax.set_xlabel("time (s)")
        ax.set_title(self.path.name)
        ax.legend(loc="lower left", fontsize=7, ncol=3)
        fig.tight_layout()
        target = self.out_dir / f"{self.path.stem}.timeline.png"
        with atomic_path(target) as tmp:
            fig.savefig(tmp, dpi=100)
        plt.close(fig)
        return target

    def _result(self, reader, info, n: int, seconds: float, outputs: dict[str, str]) -> dict[str, Any]:
        with_face = sum(1 for e in self.timeline if e["face"])
        dets: dict[str, Any] = {}
        for name, det in self.detectors.items():
            s = self.scores[name]
            base = {"checkpoint": str(det.checkpoint_path) if det.checkpoint_path else None,
                    "input": "face crop" if det.face_crops else "whole frame"}
            if s:
                dets[name] = {**base, "status": "ok", "p_synthetic": round(top_half_mean(s), 4),
                              "frames_scored": len(s), "median": round(float(np.median(s)), 4),
                              "rule": "mean of the top half of keyframe scores"}
            else:
                dets[name] = {**base, "status": "no_face", "p_synthetic": None, "frames_scored": 0}
        blink = None
        if self.blinks is not None:
            blink = self.blinks.summary(self.eyes.method)
            blink["eyestate_checkpoint"] = self.eyes.checkpoint
        return {
            "kind": "video",
            "video": {"fps": info.fps, "duration": round(info.duration, 3), "width": info.width,
                      "height": info.height, "frames_total": info.frame_count, "truncated": reader.truncated},
            "frames": {"read": reader.frames_read, "analysed": n, "keyframes": self.keyframes,
                       "dense_fps": min(self.opts.dense_fps, info.fps), "sparse_fps": self.opts.sparse_fps,
                       "work_side": self.opts.work_side},
            "faces": {"frames_with_face": with_face, "fraction": round(with_face / n, 3) if n else 0.0,
                      "full_detections": self.finder.calls - self.calls0, "onet_refinements": self.refined,
                      "redetections": self.redetected},
            "blink": blink, "detectors": dets, "timeline": self.timeline if self.opts.timeline else None,
            "outputs": outputs, "seconds": round(seconds, 3),
            "realtime_factor": round(info.duration / seconds, 2) if seconds > 0 else None,
        }
