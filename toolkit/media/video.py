"""Videos: probing, streaming frames out of a file, and writing MP4s atomically.

* Videos are decoded with OpenCV's FFmpeg backend and **streamed**: :class:`VideoReader` holds one frame at a
  time, whatever the video's length. Frame times are ``index / fps`` (constant frame rate assumed).
* A **truncated video** (a download cut short) is not an error as long as its index (``moov`` atom) is
  readable and at least one frame decodes: :class:`VideoReader` yields what it can and sets ``truncated``.
  A typical MP4 keeps its index at the end of the file, so the first half of such a file cannot be opened
  at all: that is a :class:`MediaError`, as is a video whose first frame cannot be decoded.
* Frames are ``H x W x 3`` uint8 RGB (OpenCV's BGR never leaks out).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from mediatk.core.errors import MediaError
from mediatk.core.fileio import atomic_path
from mediatk.media.pixels import check_file, is_video, read_image, rgb_uint8

if TYPE_CHECKING:
    from typing_extensions import Self

# FFmpeg's own log lines ("moov atom not found", "error while decoding MB") would precede mediatk's one-line
# error; OpenCV's FFmpeg backend reads this level when it first opens a file.  A user's own setting wins.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learns from a video's container (duration = frame_count / fps)."""

    path: Path
    fps: float
    frame_count: int
    duration: float
    width: int
    height: int
    codec: str


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its index in the source video, its time (``index / fps``), RGB pixels."""

    index: int
    time: float
    image: np.ndarray


def _fourcc_str(value: float) -> str:
    code = int(value) & 0xFFFFFFFF
    s = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    s = "".join(ch for ch in s if ch.isprintable()).strip()
    return s or "unknown"


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's "[ WARN ] global cap.cpp ..." lines while opening a video (unless OPENCV_LOG_LEVEL is
    set); the failure is reported as a MediaError instead."""
    if "OPENCV_LOG_LEVEL" in os.environ:
        yield
        return
    old = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(old)


def _open_capture(p: Path) -> cv2.VideoCapture:
    with _quiet_opencv():
        cap = cv2.VideoCapture(str(p), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise MediaError(f"cannot open video {p}: not a video, or truncated/corrupt (no readable index)")
    return cap


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read a video's fps, frame count, size and codec (OpenCV ``CAP_PROP_*``) and decode its first frame.

    If the container reports no frame count it is counted by grabbing every frame.  Raises
    :class:`MediaError` for a missing path, a directory, an empty file, a non-video, or a video that cannot
    be opened or whose first frame cannot be decoded.
    """
    p = check_file(path, "video")
    cap = _open_capture(p)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = round(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        codec = _fourcc_str(cap.get(cv2.CAP_PROP_FOURCC) or 0)
        ok, first = cap.read()
        if not ok or first is None:
            raise MediaError(f"cannot decode video {p}: no frame could be decoded (codec {codec})")
        height, width = first.shape[:2]
        if count <= 0:  # no count in the container: count by grabbing (decodes, but converts nothing)
            count = 1
            while cap.grab():
                count += 1
    finally:
        cap.release()
    if not math.isfinite(fps) or fps <= 0:
        raise MediaError(f"video {p} reports no frame rate; cannot time its frames")
    return VideoInfo(path=p, fps=fps, frame_count=count, duration=count / fps,
                     width=width, height=height, codec=codec)


def _frame_range(info: VideoInfo, start: float, end: float | None) -> tuple[int, int | None]:
    """First source index with time >= start, and the exclusive index bound for time < end (None: to EOF)."""
    eps = 1e-6
    first = max(0, math.ceil(max(0.0, float(start)) * info.fps - eps))
    stop = None if end is None else max(0, math.ceil(float(end) * info.fps - eps))
    return first, stop


def _kept_indices(first: int, stop: int | None, fps: float, target_fps: float | None) -> Iterator[int]:
    """Source indices kept when sampling at ``target_fps``: the frame nearest each ``1/target_fps`` tick,
    ticks starting at ``first``; every frame if ``target_fps`` is None or not below ``fps`` (never upsample).
    The one definition that both :class:`VideoReader` and :func:`expected_frames` use."""
    step = 1.0 if not target_fps or target_fps >= fps else fps / float(target_fps)
    k = 0
    while True:
        idx = first + math.floor(k * step + 0.5)
        if stop is not None and idx >= stop:
            return
        yield idx
        k += 1


def expected_frames(info: VideoInfo, target_fps: float | None = None, start: float = 0.0,
                    end: float | None = None) -> int:
    """How many frames :class:`VideoReader` yields for ``info`` sampled at ``target_fps`` (within
    ``[start, end)`` seconds), assuming the video decodes to its reported frame count."""
    first, stop = _frame_range(info, start, end)
    stop = info.frame_count if stop is None else min(stop, info.frame_count)
    if target_fps is not None and target_fps <= 0:
        raise MediaError(f"target_fps must be positive, got {target_fps}")
    return sum(1 for _ in _kept_indices(first, stop, info.fps, target_fps))


class VideoReader:
    """Stream a video's frames as :class:`Frame` (RGB uint8), one at a time, never the whole video.

    ``target_fps``: keep the frame nearest each ``1/target_fps`` tick (never upsample); skipped frames are
    only ``grab()``-ed, kept ones ``retrieve()``-d.  ``max_side``: downscale (``INTER_AREA``) so that
    ``max(H, W) <= max_side``; never upscales.  ``start``/``end``: seconds, frames with ``start <= time < end``.

    Attributes: ``info`` (:class:`VideoInfo`, probed on construction, so a bad path fails at once),
    ``frames_read`` (frames grabbed, i.e. decoded), ``frames_yielded``, and ``truncated``: True when the
    stream ended more than one frame before the frame count the container promised (within ``end``).
    If not a single frame can be read, iteration raises :class:`MediaError`.  Iterating again starts over.
    Use as a context manager (or call :meth:`close`) to release the capture early.
    """

    def __init__(self, path: str | os.PathLike, target_fps: float | None = None, max_side: int | None = None,
                 start: float = 0.0, end: float | None = None):
        if target_fps is not None and not target_fps > 0:
            raise MediaError(f"target_fps must be positive, got {target_fps}")
        if max_side is not None and int(max_side) < 1:
            raise MediaError(f"max_side must be a positive number of pixels, got {max_side}")
        if end is not None and end <= start:
            raise MediaError(f"end ({end}s) must be after start ({start}s)")
        self.info = probe_video(path)
        self.path = self.info.path
        self.target_fps = target_fps
        self.max_side = int(max_side) if max_side is not None else None
        self.start = float(start)
        self.end = end
        self.frames_read = 0
        self.frames_yielded = 0
        self.truncated = False
        self._cap: cv2.VideoCapture | None = None

    def expected_frames(self) -> int:
        """Frames this reader yields if the video decodes completely."""
        return expected_frames(self.info, self.target_fps, self.start, self.end)

    def output_size(self) -> tuple[int, int]:
        """``(width, height)`` of the yielded images."""
        return self._scaled_size(self.info.width, self.info.height)

    def _scaled_size(self, w: int, h: int) -> tuple[int, int]:
        if self.max_side is None or max(w, h) <= self.max_side:
            return w, h
        f = self.max_side / max(w, h)
        return (min(self.max_side, max(1, round(w * f))), min(self.max_side, max(1, round(h * f))))

    def __iter__(self) -> Iterator[Frame]:
        self.close()
        self.frames_read = self.frames_yielded = 0
        self.truncated = False
        info = self.info
        first, stop = _frame_range(info, self.start, self.end)
        kept = _kept_indices(first, stop, info.fps, self.target_fps)
        cap = self._cap = _open_capture(self.path)
        try:
            want = next(kept, None)
            idx = -1
            while want is not None:
                if not cap.grab():
                    break
                idx += 1
                self.frames_read += 1
                if idx < want:
                    continue
                ok, bgr = cap.retrieve()
                if not ok or bgr is None:
                    break
                h, w = bgr.shape[:2]
                size = self._scaled_size(w, h)
                if size != (w, h):
                    bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                self.frames_yielded += 1
                yield Frame(index=idx, time=idx / info.fps, image=rgb)
                want = next(kept, None)
            if self.frames_read == 0:
                raise MediaError(f"cannot decode video {self.path}: no frame could be read")
            if want is not None:  # the stream ended before we had all we wanted
                expected_end = info.frame_count if stop is None else min(stop, info.frame_count)
                self.truncated = self.frames_read < expected_end - 1
        finally:
            cap.release()
            if self._cap is cap:
                self._cap = None

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"VideoReader({str(self.path)!r}, target_fps={self.target_fps}, max_side={self.max_side}, "
                f"start={self.start}, end={self.end})")


class VideoWriter:
    """Write an MP4 (fourcc ``mp4v``, MPEG-4 Part 2: the encoder OpenCV's wheels always have) atomically.

    Frames go to a temporary file next to ``path`` that replaces ``path`` only on a clean :meth:`close`
    (or leaving the ``with`` block without an exception); on an exception, or if no frame was written, the
    temporary file is removed and ``path`` is untouched.  ``size`` is ``(width, height)`` (OpenCV order); if
    None it is taken from the first frame.  Odd sizes are cut to even (the encoder needs even dimensions):
    the last row/column is dropped.  :meth:`write` takes ``H x W x 3`` uint8 RGB (or grey ``H x W``) and
    resizes frames of another size.  Raises :class:`MediaError` if OpenCV cannot open the writer.
    """

    fourcc = "mp4v"

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int] | None = None):
        self.path = Path(path)
        if not fps or not math.isfinite(fps) or fps <= 0:
            raise MediaError(f"cannot write video {self.path}: fps must be positive, got {fps}")
        self.fps = float(fps)
        self.size: tuple[int, int] | None = None
        self.frames_written = 0
        self._writer: cv2.VideoWriter | None = None
        self._stack: contextlib.ExitStack | None = None
        self._tmp: Path | None = None
        self._closed = False
        if size is not None:
            self._open(size)

    def _open(self, size: tuple[int, int]) -> None:
        w, h = (int(v) for v in size)
        if w < 2 or h < 2:
            raise MediaError(f"cannot write video {self.path}: frame size must be at least 2x2, got {w}x{h}")
        self.size = (w, h)
        stack = contextlib.ExitStack()
        try:
            tmp = stack.enter_context(atomic_path(self.path))
        except OSError as err:
            raise MediaError(f"cannot write video {self.path}: {err}") from err
        writer = cv2.VideoWriter(str(tmp), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*self.fourcc), self.fps,
                                 (w - w % 2, h - h % 2))
        if not writer.isOpened():
            writer.release()
            err = MediaError(f"cannot write video {self.path}: OpenCV could not open an {self.fourcc} writer "
                             f"for suffix {self.path.suffix!r} (use .mp4)")
            stack.__exit__(type(err), err, None)
            raise err
        self._stack, self._tmp, self._writer = stack, tmp, writer

    def write(self, rgb: np.ndarray) -> None:
        if self._closed:
            raise MediaError(f"cannot write to video {self.path}: writer is closed")
        arr = rgb_uint8(rgb, f"cannot write video {self.path}: expected")
        if self._writer is None:
            self._open((arr.shape[1], arr.shape[0]))
        w, h = self.size
        if arr.shape[:2] != (h, w):
            shrinking = arr.shape[0] * arr.shape[1] > w * h
            arr = cv2.resize(np.ascontiguousarray(arr[:, :, :3]), (w, h),
                             interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        bgr = cv2.cvtColor(np.ascontiguousarray(arr[: h - h % 2, : w - w % 2, :3]), cv2.COLOR_RGB2BGR)
        self._writer.write(bgr)
        self.frames_written += 1

    def close(self) -> Path:
        """Finish the file and move it onto ``path``; raises :class:`MediaError` if no frame was written."""
        if self._closed:
            return self.path
        self._closed = True
        if self._writer is None:
            raise MediaError(f"cannot write video {self.path}: no frames were written")
        self._writer.release()
        stack, self._stack, self._writer = self._stack, None, None
        if self.frames_written == 0:
            err = MediaError(f"cannot write video {self.path}: no frames were written")
            stack.__exit__(type(err), err, None)
            raise err
        try:
            stack.close()
        except OSError as err:
            raise MediaError(f"cannot write video {self.path}: {err}") from err
        return self.path

    def abort(self) -> None:
        """Stop writing and remove the temporary file; ``path`` is left as it was."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._stack is not None:
            stack, self._stack = self._stack, None
            err = MediaError("aborted")
            with contextlib.suppress(MediaError):
                stack.__exit__(type(err), err, None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def __del__(self) -> None:  # an abandoned writer leaves no temporary file behind
        with contextlib.suppress(Exception):
            self.abort()


def describe_media(path: str | os.PathLike) -> str:
    """One line about an image or a video (``mediatk info``); MediaError for anything unreadable."""
    p = Path(path)
    if is_video(p):
        v = probe_video(p)
        return (f"{p}: video {v.width}x{v.height}, {v.fps:.2f} fps, {v.frame_count} frames, "
                f"{v.duration:.2f} s, codec {v.codec}")
    img = read_image(p)
    return f"{p}: image {img.shape[1]}x{img.shape[0]}"
