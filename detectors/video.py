"""The streamed video pipeline behind ``mediatk detect VIDEO``: decode once, sample, find and track the main
face once, and hand the stream to every selected video detector (:mod:`.stream`).  It names no detector.

One decoding pass, memory flat in the video's length (at most ``chunk`` frames are held):

1. Each video detector asks for a rate (blink 15 frames/s, face-scores 2); :class:`~mediatk.media.video.VideoReader`
   decodes at the fastest of them (capped by ``max_fps`` and the video's own rate), downscaling only above
   ``work_side`` px (1920): face and eye crops are cut from full-resolution frames (eyes need the pixels).
   Dark frames (mean luma < 80) are gamma-brightened first: MTCNN misses faces in dim rooms.
2. Each detector gets the frames on its own grid (:class:`~mediatk.detectors.stream.Sampler`); a frame no
   detector wants is dropped.  On ``detect_fps`` keyframes (1/s) the full MTCNN runs, batched over the
   chunk's keyframes on copies downscaled to ``detect_side`` (360 px; boxes mapped back); the tracker keeps
   the main face, whose landmarks ONet refines at full resolution.  On the frames in between the face is
   followed by ONet alone (one 48×48 pass), and a frame where ONet loses it gets a full detection.  MTCNN
   dominates the cost (RNet/ONet on PNet's candidates): on the ten shared clips 1 keyframe/s instead of 2
   took 19.5 s instead of 27.4 s, every face still tracked, face-scores' video scores within 0.02.
3. Every detector's :meth:`update` receives its frames of the chunk (one batched model call per detector per
   chunk); what it returns per frame goes into the timeline.  At the end each gives its evidence; a
   detector that raises gives ``error`` evidence and the others go on.

``out_dir`` adds ``NAME.timeline.png`` (every detector's per-frame signals over time) and
``NAME.annotated.mp4`` (the analysed frames with the face box and the signals); detectors may add files
(face-scores: the crops of the faces that drove its score).
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
from mediatk.detectors.faces import Face, FaceFinder, FaceTracker
from mediatk.detectors.stream import Sampler, TrackedFrame, VideoDetector, evidence
from mediatk.media.draw import annotate_frame
from mediatk.media.video import VideoReader, VideoWriter, probe_video


@dataclass
class VideoOptions:
    #: most frames per second analysed (None: the fastest rate a selected video detector asks for)
    max_fps: float | None = None
    #: full MTCNN keyframes per second; ONet follows the face in between (1/s: half the time of 2/s on the
    #: shared clips, video scores within 0.02, no track lost; see the module docstring)
    detect_fps: float = 1.0
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


def _error(e: Exception) -> str:
    from mediatk.core.errors import MediatkError

    msg = " ".join(str(e).split())[:200]
    return msg if isinstance(e, MediatkError) else f"unexpected {type(e).__name__}: {msg} (a mediatk bug)"


class VideoAnalysis:
    """One video through the pipeline (see the module docstring); ``detectors`` maps labels to video detectors."""

    def __init__(self, path: Path, detectors: dict[str, VideoDetector], finder: FaceFinder,
                 opts: VideoOptions | None = None, out_dir: Path | None = None):
        self.path, self.detectors, self.finder = Path(path), detectors, finder
        self.opts, self.out_dir = opts or VideoOptions(), out_dir
        self.tracker = FaceTracker(min_prob=0.8)
        self.timeline: list[dict[str, Any]] = []
        self.failed: dict[str, str] = {}
        self.given = {label: 0 for label in detectors}
        self.keyframes = self.refined = self.redetected = 0
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

    def _rates(self, info) -> tuple[float, dict[str, float]]:
        """The decoding rate and each detector's rate (frames/s), never above the video's own."""
        cap = min(info.fps, self.opts.max_fps or math.inf)
        rates = {label: min(cap, d.sample_rate(info.duration)) for label, d in self.detectors.items()}
        return max(rates.values(), default=min(cap, self.opts.detect_fps)), rates

    def _run(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        o = self.opts
        info = probe_video(self.path)
        fps, self.rates = self._rates(info)
        for label, det in self.detectors.items():
            try:
                det.start(info, self.rates[label])
            except Exception as e:  # noqa: BLE001 - one detector's failure is its evidence, not the video's
                self.failed[label] = _error(e)
        self.samplers = {label: Sampler(r, 1.0 / fps) for label, r in self.rates.items()}
        self.key_sampler = Sampler(min(o.detect_fps, fps), 1.0 / fps)
        self.track = any(d.needs_faces for d in self.detectors.values())
        reader = VideoReader(self.path, target_fps=fps, max_side=o.work_side)
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.writer = VideoWriter(self.out_dir / f"{self.path.stem}.annotated.mp4", fps)
        buf: list = []
        try:
            for frame in reader:
                buf.append(frame)
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
        prefix = self.out_dir / self.path.stem if self.out_dir is not None else None
        found = {label: self._evidence(label, det, prefix) for label, det in self.detectors.items()}
        return self._result(reader, info, fps, time.perf_counter() - t0, found, outputs)

    def _evidence(self, label: str, det: VideoDetector, prefix: Path | None) -> dict[str, Any]:
        if label not in self.failed:
            try:
                ev = det.finish(prefix)
            except Exception as e:  # noqa: BLE001
                self.failed[label] = _error(e)
        if label in self.failed:
            ev = evidence("error", reason=self.failed[label])
        if not self.opts.timeline:
            ev["details"].pop("timeline", None)
        return {**ev, "fps": round(self.rates[label], 3), "frames": self.given[label]}

    # ------------------------------------------------------------------------------------------------
    def _chunk(self, buf: list) -> None:
        wants = {label: [i for i, f in enumerate(buf) if s.take(f.time)] for label, s in self.samplers.items()}
        needed = sorted(set().union(*wants.values()))
        images = {i: brighten(buf[i].image) for i in needed}
        faces = self._faces(images, {i: buf[i].time for i in needed}) if self.track else {}
        stream = {i: TrackedFrame(buf[i].index, buf[i].time, images[i], faces.get(i)) for i in needed}
        signals: dict[int, dict[str, Any]] = {}
        for label, det in self.detectors.items():
            if label in self.failed or not wants[label]:
                continue
            self.given[label] += len(wants[label])
            try:
                for index, sig in det.update([stream[i] for i in wants[label]]).items():
                    signals.setdefault(index, {})[label] = sig
            except Exception as e:  # noqa: BLE001
                self.failed[label] = _error(e)
        for i in needed:
            f = stream[i]
            entry: dict[str, Any] = {"frame": f.index, "t": round(f.t, 3), "face": f.face is not None}
            if f.face is not None:
                entry["box"] = [round(float(v), 1) for v in f.face.box]
            if f.index in signals:
                entry["signals"] = signals[f.index]
            self.timeline.append(entry)
            if self.writer is not None:
                self.writer.write(self._annotate(f, entry))

    def _faces(self, images: dict[int, np.ndarray], times: dict[int, float]) -> dict[int, Face | None]:
        """The tracked main face per frame: full MTCNN (one batch) on keyframes, ONet in between."""
        order = sorted(images)
        keys = [i for i in order if self.key_sampler.take(times[i])]
        found = dict(zip(keys, self.finder.detect([images[i] for i in keys]))) if keys else {}
        self.keyframes += len(keys)
        faces: dict[int, Face | None] = {}
        for i in order:
            img = images[i]
            if i in found:
                face = self.tracker.choose(found[i])
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
            faces[i] = face
        return faces

    def _annotate(self, f: TrackedFrame, e: dict[str, Any]) -> np.ndarray:
        lines = [f"t {e['t']:.2f}s"]
        for label, sig in e.get("signals", {}).items():
            words = [k.upper() if v is True else f"{k} {v:.2f}" for k, v in sig.items()
                     if v is True or (isinstance(v, (int, float)) and not isinstance(v, bool))]
            lines.append(" ".join([label, *words]))
        boxes = [] if f.face is None else [(*f.face.box, "face", "green")]
        if f.face is not None and f.face.landmarks is not None:
            d = max(4.0, 0.15 * float(np.hypot(*(f.face.landmarks[1] - f.face.landmarks[0]))))
            boxes += [(x - d, y - d, x + d, y + d, "", "cyan") for x, y in f.face.landmarks[:2]]
        return annotate_frame(f.image, boxes, lines)

    def _plot(self) -> Path:
        from mediatk.core.plotting import pyplot, save_png

        plt = pyplot()
        fig, ax = plt.subplots(figsize=(10, 3.2))
        series: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for e in self.timeline:
            for label, sig in e.get("signals", {}).items():
                for k, v in sig.items():
                    if v is True:
                        ax.axvline(e["t"], color="red", lw=0.8, alpha=0.6)
                    elif isinstance(v, (int, float)) and not isinstance(v, bool):
                        series.setdefault((label, k), []).append((e["t"], float(v)))
        for (label, k), pts in series.items():
            ax.plot(*zip(*pts), "o-" if len(pts) < 60 else "-", ms=3, lw=1,
                    label=f"P(synthetic) {label}" if k == "p" else f"{label} {k}")
        nf = [e["t"] for e in self.timeline if not e["face"]]
        if nf:
            ax.plot(nf, [-0.05] * len(nf), "|", color="grey", label="no face")
        ax.set_ylim(-0.1, 1.05)
        ax.set_xlabel("time (s)")
        ax.set_title(self.path.name)
        ax.legend(loc="lower left", fontsize=7, ncol=3)
        fig.tight_layout()
        return save_png(fig, self.out_dir / f"{self.path.stem}.timeline.png", dpi=100, tight=False)

    def _result(self, reader, info, fps: float, seconds: float, found: dict[str, Any],
                outputs: dict[str, str]) -> dict[str, Any]:
        n = len(self.timeline)
        with_face = sum(1 for e in self.timeline if e["face"])
        return {
            "kind": "video",
            "video": {"fps": info.fps, "duration": round(info.duration, 3), "width": info.width,
                      "height": info.height, "frames_total": info.frame_count, "truncated": reader.truncated},
            "frames": {"read": reader.frames_read, "decoded_fps": round(fps, 3), "analysed": n,
                       "keyframes": self.keyframes, "detect_fps": min(self.opts.detect_fps, fps),
                       "work_side": self.opts.work_side, "detect_side": self.opts.detect_side},
            "faces": {"frames_with_face": with_face, "fraction": round(with_face / n, 3) if n else 0.0,
                      "tracked": self.track, "full_detections": self.finder.calls - self.calls0,
                      "onet_refinements": self.refined, "redetections": self.redetected},
            "detectors": found, "timeline": self.timeline if self.opts.timeline else None,
            "outputs": outputs, "seconds": round(seconds, 3),
            "realtime_factor": round(info.duration / seconds, 2) if seconds > 0 else None,
        }


def analyse_video(path: str | Path, detectors: list[VideoDetector], device: str = "cpu",
                  opts: VideoOptions | None = None, out_dir: Path | None = None) -> dict[str, Any]:
    """One video through the pipeline with the given video detectors (the result of ``detect``, less the
    verdict): ``analyse_video(clip, [create("blink")])["detectors"]["blink"]`` is blink's evidence."""
    opts = opts or VideoOptions()
    return VideoAnalysis(Path(path), {d.label: d for d in detectors}, FaceFinder(device, opts.detect_side),
                         opts, out_dir).run()
