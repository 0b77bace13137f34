"""Videos → a face-crop set: the data-preparation step of face-forgery detection (DeepfakeBench's protocol).

For every video of a video set (any video layout: ``ffpp``, ``celeb-df``, ``videos``, a single file):

1. ``frames`` frames spread evenly over the clip are decoded (the nearest frame to each of ``frames``
   equally spaced ticks; every frame of a shorter clip);
2. MTCNN finds the faces (:class:`~mediatk.detectors.faces.FaceFinder`); the *main face* is followed with
   :class:`~mediatk.detectors.faces.FaceTracker`, or with ``all_faces`` every confident face is kept and
   linked across frames by box overlap into numbered tracks;
3. each face box, enlarged by ``margin`` around its centre, is cut as a square, resized to ``size`` px and
   written as ``<out>/<real|fake>/<video>_f<frame>_<face>.jpg``.

The output folder is a ``facecrops`` set that ``--data``/``--real`` read directly: ``labels.csv`` holds one row
per crop (file, label, method, group, split, video, frame, face, box, prob); ``videos.csv`` one row per video
(status ``ok``, ``no_face`` or ``error`` with the message, frames sampled, crops written), so a video with no
face is recorded, never silently dropped.  The run is resumable: a rerun skips the videos ``videos.csv``
already holds as done, and drops crop rows of videos that were cut off half-way.  Decoding runs in a thread
pool ahead of face detection (OpenCV releases the GIL while decoding).
"""

from __future__ import annotations

import csv
import os
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from mediatk.core.errors import ConfigError, MediatkError
from mediatk.core.fileio import atomic_path

CROP_COLUMNS = ["file", "label", "method", "group", "split", "video", "frame", "face", "x1", "y1", "x2", "y2",
                "prob"]
VIDEO_COLUMNS = ["video", "label", "method", "group", "split", "status", "frames", "crops", "message"]
DONE = ("ok", "no_face")


@dataclass
class ExtractOptions:
    frames: int = 32
    margin: float = 1.3
    size: int = 224
    all_faces: bool = False
    min_prob: float = 0.9
    jobs: int = 1

    def check(self) -> None:
        if not 1 <= self.frames <= 10_000:
            raise ConfigError(f"--frames must be between 1 and 10000, got {self.frames}")
        if not 1.0 <= self.margin <= 4.0:
            raise ConfigError(f"--margin must be between 1.0 and 4.0, got {self.margin}")
        if not 16 <= self.size <= 1024:
            raise ConfigError(f"--size must be between 16 and 1024 px, got {self.size}")
        if not 0.0 < self.min_prob <= 1.0:
            raise ConfigError(f"--min-prob must be in (0, 1], got {self.min_prob}")
        if not 1 <= self.jobs <= 32:
            raise ConfigError(f"--jobs must be between 1 and 32, got {self.jobs}")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "video"


def video_key(item, root: Path | None) -> str:
    """A name for the video unique within its set: its path below the set's root, slugged."""
    p = Path(item.path)
    try:
        rel = p.relative_to(root) if root is not None and root.is_dir() else Path(p.name)
    except ValueError:
        rel = Path(p.name)
    return _slug(str(rel.with_suffix("")).replace(os.sep, "__"))


def sample_frames(path: Path, n: int) -> list[Any]:
    """``n`` frames spread evenly over the video (all of them when it is shorter), as media Frames."""
    from mediatk.media.video import VideoReader

    with VideoReader(path) as reader:  # probes the video once; the rate follows from what it learnt
        info = reader.info
        reader.target_fps = None if info.frame_count <= n else info.fps * n / info.frame_count
        return list(reader)[:n]


class _Tracks:
    """Faces of sparse frames linked into tracks by box overlap (every face mode)."""

    def __init__(self, min_iou: float = 0.3):
        self.min_iou = min_iou
        self.last: list[np.ndarray] = []

    def assign(self, faces) -> list[int]:
        from mediatk.detectors.faces import iou

        ids, taken = [], set()
        for f in faces:
            scores = [(iou(f.box, b), k) for k, b in enumerate(self.last) if k not in taken]
            best = max(scores, default=(0.0, -1))
            if best[0] >= self.min_iou:
                k = best[1]
                self.last[k] = f.box
            else:
                k = len(self.last)
                self.last.append(f.box)
            taken.add(k)
            ids.append(k)
        return ids


def faces_of_video(frames, finder, opts: ExtractOptions) -> Iterator[tuple[int, int, Any]]:
    """(frame index, face number, Face) for the main face or every confident face of each frame."""
    from mediatk.detectors.faces import FaceTracker

    detected = finder.detect([f.image for f in frames]) if frames else []
    tracker, tracks = FaceTracker(min_prob=opts.min_prob), _Tracks()
    for fr, faces in zip(frames, detected, strict=True):
        if opts.all_faces:
            keep = [f for f in faces if f.prob >= opts.min_prob]
            for k, face in zip(tracks.assign(keep), keep, strict=True):
                yield fr.index, k, face
        else:
            face = tracker.choose(faces)
            if face is not None:
                yield fr.index, 0, face


def _read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _write_rows(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)


def _append_rows(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    new = not path.is_file()
    with path.open("a", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        if new:
            w.writeheader()
        w.writerows(rows)
        f.flush()
        os.fsync(f.fileno())


def extract_faces(data: str | os.PathLike, out: str | os.PathLike, opts: ExtractOptions | None = None,
                  device: str = "cpu", limit: int | None = None, progress: bool = True,
                  log: Callable[[str], None] = print) -> dict[str, Any]:
    """Build (or resume) the face-crop set ``out`` from the videos of ``data``; returns a summary."""
    from mediatk.datasets import load_videos
    from mediatk.detectors.faces import FaceFinder, crop_face
    from mediatk.media.pixels import save_image

    opts = opts or ExtractOptions()
    opts.check()
    videos = load_videos(data, limit=limit)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    crops_csv, videos_csv = out / "labels.csv", out / "videos.csv"
    state = {r["video"]: r for r in _read_rows(videos_csv)}
    done = {k for k, r in state.items() if r.get("status") in DONE}
    kept = [r for r in _read_rows(crops_csv) if r.get("video") in done]
    _write_rows(crops_csv, CROP_COLUMNS, kept)         # drops rows of a video that was cut off half-way
    todo = [(video_key(it, videos.root), it) for it in videos]
    todo = [(k, it) for k, it in todo if k not in done]
    if done:
        log(f"resuming: {len(done)} videos done, {len(todo)} to go")
    finder = FaceFinder(device=device) if todo else None  # a finished set (a cache hit) needs no MTCNN
    counts = {"ok": 0, "no_face": 0, "error": 0, "crops": 0}
    t0 = time.perf_counter()

    def decode(item) -> list[Any]:
        return sample_frames(Path(item.path), opts.frames)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="extract-faces", unit="video", dynamic_ncols=True, leave=False)
    with ThreadPoolExecutor(max_workers=opts.jobs) as pool:
        ahead = opts.jobs + 1
        futures: list[Future] = [pool.submit(decode, it) for _, it in todo[:ahead]]
        for i, (key, item) in enumerate(todo):
            if i + ahead < len(todo):
                futures.append(pool.submit(decode, todo[i + ahead][1]))
            meta = dict(item.meta or {})
            label = item.label or "unlabelled"
            base = {"video": key, "label": label, "method": meta.get("method") or ("original" if label == "real"
                                                                                    else "unknown"),
                    "group": meta.get("group") or key, "split": meta.get("split", "")}
            rows: list[dict[str, Any]] = []
            try:
                frames = futures[i].result()
                futures[i] = None  # type: ignore[call-overload]  # free the frames
                for frame_idx, k, face in faces_of_video(frames, finder, opts):
                    rel = Path(label) / f"{key}_f{frame_idx:05d}_{k}.jpg"
                    save_image(crop_face(frames_by_index(frames, frame_idx), face, opts.size, opts.margin),
                               out / rel)
                    x1, y1, x2, y2 = (round(float(v), 1) for v in face.box)
                    rows.append({**base, "file": rel.as_posix(), "frame": frame_idx, "face": k, "x1": x1,
                                 "y1": y1, "x2": x2, "y2": y2, "prob": round(float(face.prob), 4)})
                status, message, n_frames = ("ok" if rows else "no_face"), "", len(frames)
            except MediatkError as e:
                status, message, n_frames = "error", str(e), 0
            except Exception as e:  # noqa: BLE001  (one bad video never stops the set; its error is recorded)
                status, message, n_frames = "error", f"{type(e).__name__}: {e}", 0
            _append_rows(crops_csv, CROP_COLUMNS, rows)
            _append_rows(videos_csv, VIDEO_COLUMNS, [{**base, "status": status, "frames": n_frames,
                                                      "crops": len(rows), "message": message}])
            counts[status] += 1
            counts["crops"] += len(rows)
            if bar is not None:
                bar.update(1)
            elif status != "ok":
                log(f"{key}: {status}{': ' + message if message else ''}")
    if bar is not None:
        bar.close()
    secs = time.perf_counter() - t0
    last = {r["video"]: r for r in _read_rows(videos_csv)}.values()    # a retried video's newest row
    return {"out": str(out), "videos": len(videos), "done_before": len(done), **counts,
            "seconds": round(secs, 1), "with_faces": sum(r["status"] == "ok" for r in last),
            "no_face_videos": [r["video"] for r in last if r["status"] == "no_face"],
            "errors": {r["video"]: r["message"] for r in last if r["status"] == "error"}}


def frames_by_index(frames, index: int) -> np.ndarray:
    return next(f.image for f in frames if f.index == index)
