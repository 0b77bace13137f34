"""Reading and writing images and videos: the one place mediatk touches pixels on disk.

Conventions, everywhere in mediatk:

* An image in memory is a NumPy array ``H x W x 3``, ``uint8``, **RGB** (OpenCV's BGR never leaks out).
* A model tensor is ``float32`` ``C x H x W`` (or ``N x C x H x W``) with values in ``[-1, 1]``.
* Every file written here goes through :func:`mediatk.core.fileio.atomic_path`: a reader never sees half a file.
* Every failure a user can cause (missing, empty, truncated or non-media file) is a
  :class:`~mediatk.core.errors.MediaError` whose message is one line and names the path.

Decisions worth knowing:

* **Alpha** (RGBA, LA, palette with transparency) is composited onto **white**, as a viewer shows it;
  dropping alpha would expose whatever colour happens to sit under transparent pixels (often black).
* **16-bit** images are scaled to 8 bit (``v * 255 / 65535``, rounded), never clipped; 16-bit colour PNG/TIFF
  are reduced by Pillow to their high byte, which is the same scaling within 1 level.
* **EXIF orientation** is applied, so a portrait phone photo comes back upright.
* Videos are decoded with OpenCV's FFmpeg backend and **streamed**: :class:`VideoReader` holds one frame at a
  time, whatever the video's length. Frame times are ``index / fps`` (constant frame rate assumed).
* A **truncated video** (a download cut short) is not an error as long as its index (``moov`` atom) is
  readable and at least one frame decodes: :class:`VideoReader` yields what it can and sets ``truncated``.
  A typical MP4 keeps its index at the end of the file, so the first half of such a file cannot be opened
  at all: that is a :class:`MediaError`, as is a video whose first frame cannot be decoded.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
from mediatk.core.errors import MediaError
from mediatk.core.fileio import atomic_path
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

if TYPE_CHECKING:
    from typing_extensions import Self

# FFmpeg's own log lines ("moov atom not found", "error while decoding MB") would precede mediatk's one-line
# error; OpenCV's FFmpeg backend reads this level when it first opens a file.  A user's own setting wins.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET

__all__ = [
    "IMAGE_EXTS",
    "VIDEO_EXTS",
    "Frame",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "annotate_frame",
    "expected_frames",
    "is_image",
    "is_video",
    "probe_video",
    "read_image",
    "save_grid",
    "save_image",
    "to_tensor",
    "to_uint8",
]

IMAGE_EXTS: set[str] = {
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp",
    ".ppm", ".pgm", ".pbm", ".pnm",
}
VIDEO_EXTS: set[str] = {
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp",
}


def is_image(path: str | os.PathLike) -> bool:
    """True if ``path``'s suffix (case-insensitive) is an image suffix; the file is not opened."""
    return Path(path).suffix.lower() in IMAGE_EXTS


def is_video(path: str | os.PathLike) -> bool:
    """True if ``path``'s suffix (case-insensitive) is a video suffix; the file is not opened."""
    return Path(path).suffix.lower() in VIDEO_EXTS


def _check_file(path: str | os.PathLike, kind: str) -> Path:
    """The checks every reader makes first: exists, is a file, is not empty."""
    p = Path(path)
    if not p.exists():
        raise MediaError(f"{kind} not found: {p}")
    if p.is_dir():
        raise MediaError(f"expected a {kind} file, got a directory: {p}")
    try:
        size = p.stat().st_size
    except OSError as err:
        raise MediaError(f"cannot read {kind} {p}: {err}") from err
    if size == 0:
        raise MediaError(f"{kind} file is empty (0 bytes): {p}")
    return p


# --------------------------------------------------------------------------------------------- images

def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read any image Pillow (or, failing that, OpenCV) can decode as ``H x W x 3`` uint8 RGB.

    Greyscale is replicated to three channels; palette and CMYK are converted; alpha is composited onto
    white; 16-bit and float images are scaled (not clipped) to 8 bit; EXIF orientation is applied; an
    animated GIF gives its first frame.  Raises :class:`MediaError` for a missing path, a directory, an empty
    file, a file that is not an image, or a truncated/corrupt one.
    """
    p = _check_file(path, "image")
    try:
        im = Image.open(p)
    except UnidentifiedImageError:
        return _read_image_cv2(p)
    except Exception as err:  # Pillow raises many types for bad files
        raise MediaError(f"cannot read image {p}: {err}") from err
    with im:
        try:
            im.load()  # decode now: a truncated file fails here (Pillow's LOAD_TRUNCATED_IMAGES is off)
        except Exception as err:
            raise MediaError(f"cannot read image {p}: truncated or corrupt ({err})") from err
        with contextlib.suppress(Exception):  # a broken EXIF block should not make the pixels unreadable
            im = ImageOps.exif_transpose(im) or im
        try:
            return _pil_to_rgb(im)
        except Exception as err:
            raise MediaError(f"cannot read image {p}: unsupported image mode {im.mode!r} ({err})") from err


def _read_image_cv2(p: Path) -> np.ndarray:
    """Fallback for formats Pillow does not know; also reports 'not an image'."""
    try:
        buf = np.fromfile(p, dtype=np.uint8)  # imdecode (not imread) copes with any path encoding
        arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    except (OSError, cv2.error):
        arr = None
    if arr is None:
        raise MediaError(f"not an image (or an unsupported format): {p}")
    arr = _scale_to_uint8(arr)
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2)
    if arr.shape[2] == 4:
        return _composite_on_white(cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA))
    if arr.shape[2] == 1:
        return np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(cv2.cvtColor(arr[:, :, :3], cv2.COLOR_BGR2RGB))


def _pil_to_rgb(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(im)
        if mode == "I" and (im.format == "PNG" or (arr.size and arr.min() >= 0 and arr.max() <= 65535)):
            arr = arr.astype(np.uint16)  # a 16-bit grey PNG/TIFF that Pillow widened to 32 bit
        grey = _scale_to_uint8(arr)
        return np.repeat(grey[:, :, None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info) \
        or (mode in ("L", "RGB") and "transparency" in im.info)
    if has_alpha:
        return _composite_on_white(np.asarray(im.convert("RGBA")))
    return np.ascontiguousarray(np.asarray(im.convert("RGB")), dtype=np.uint8)


def _scale_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Map an integer or float array to uint8 by scaling its type's range, never by clipping."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        return ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if arr.dtype == np.int8:
        return (arr.astype(np.int16) + 128).astype(np.uint8)
    a = arr.astype(np.float64)
    if a.size == 0:
        return a.astype(np.uint8)
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    if np.issubdtype(arr.dtype, np.floating) and lo >= 0.0 and hi <= 1.0:
        a = a * 255.0  # float images in [0, 1]
    elif not (lo >= 0.0 and hi <= 255.0):
        a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)  # other ranges: stretch
    return np.clip(np.rint(np.nan_to_num(a)), 0, 255).astype(np.uint8)


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    rgb = rgba[:, :, :3].astype(np.uint32)
    a = rgba[:, :, 3:4].astype(np.uint32)
    return ((rgb * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


def to_tensor(img: np.ndarray, size: int | tuple[int, int] | None = None, channels: int = 3) -> torch.Tensor:
    """``H x W x 3`` (or ``H x W``) uint8 RGB -> float32 ``C x H x W`` tensor in ``[-1, 1]``.

    ``size``: an int gives a square ``size x size`` image (centre-cropped to square first, so faces are not
    squashed); a tuple is ``(height, width)`` (torch order) and is resized to exactly, ignoring aspect.
    ``channels``: 3 for RGB, 1 for greyscale (ITU-R 601 luma, as Pillow's ``L``).
    """
    arr = np.asarray(img)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise MediaError(f"to_tensor expects an H x W x 3 image, got shape {tuple(arr.shape)}")
    if arr.shape[2] == 4:
        arr = _composite_on_white(_scale_to_uint8(arr))
    arr = _scale_to_uint8(arr)
    if size is not None:
        if isinstance(size, int):
            h, w = arr.shape[:2]
            s = min(h, w)
            top, left = (h - s) // 2, (w - s) // 2
            arr = arr[top:top + s, left:left + s]
            out_h = out_w = int(size)
        else:
            out_h, out_w = (int(v) for v in size)
        if out_h <= 0 or out_w <= 0:
            raise MediaError(f"to_tensor size must be positive, got {size}")
        if (out_h, out_w) != arr.shape[:2]:
            shrinking = out_h * out_w < arr.shape[0] * arr.shape[1]
            arr = cv2.resize(np.ascontiguousarray(arr), (out_w, out_h),
                             interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
    if channels == 1:
        arr = cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2GRAY)[:, :, None]
    elif channels != 3:
        raise MediaError(f"to_tensor channels must be 1 or 3, got {channels}")
    t = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float()
    return t.div_(127.5).sub_(1.0)


def to_uint8(t: torch.Tensor | np.ndarray) -> np.ndarray:
    """One ``C x H x W`` tensor in ``[-1, 1]`` (C = 1 or 3; a leading batch dim of 1 is allowed) ->
    ``H x W x 3`` uint8 RGB; values outside ``[-1, 1]`` are clamped, grey is replicated."""
    if isinstance(t, np.ndarray):
        t = torch.from_numpy(t)
    t = t.detach().to("cpu", torch.float32)
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() == 2:
        t = t[None]
    if t.dim() != 3 or t.shape[0] not in (1, 3):
        raise MediaError(f"to_uint8 expects one C x H x W tensor with C = 1 or 3, got shape {tuple(t.shape)}")
    t = torch.nan_to_num(t).clamp(-1.0, 1.0).add(1.0).mul(127.5).round()
    arr = t.to(torch.uint8).permute(1, 2, 0).numpy()
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr)


def _save_pil(im: Image.Image, path: str | os.PathLike) -> Path:
    target = Path(path)
    ext = target.suffix.lower()
    if ext not in IMAGE_EXTS:
        raise MediaError(f"cannot save image {target}: unknown image suffix {target.suffix!r} (use .png or .jpg)")
    kwargs = {"quality": 95} if ext in (".jpg", ".jpeg", ".jpe", ".jfif", ".webp") else {}
    try:
        with atomic_path(target) as tmp:
            im.save(tmp, **kwargs)
    except OSError as err:
        raise MediaError(f"cannot save image {target}: {err}") from err
    return target


def save_image(img: np.ndarray | torch.Tensor, path: str | os.PathLike) -> Path:
    """Write one image atomically: an ``H x W x 3`` (or ``H x W``) uint8 RGB array, or a ``C x H x W``
    tensor in ``[-1, 1]``.  The format follows the suffix.  Returns the path."""
    if isinstance(img, torch.Tensor):
        arr = to_uint8(img)
    else:
        arr = _scale_to_uint8(np.asarray(img))
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4):
            raise MediaError(f"save_image expects an H x W x 3 image, got shape {tuple(arr.shape)}")
        arr = arr[:, :, :3]
    return _save_pil(Image.fromarray(np.ascontiguousarray(arr), "RGB"), path)


def _font(px: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=px)  # Pillow's bundled scalable font (needs FreeType)
    except (ImportError, OSError):  # no FreeType: the fixed bitmap font, still legible
        return ImageFont.load_default()


def _text_size(draw: ImageDraw.ImageDraw, text: str, font) -> tuple[int, int]:
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    return x1 - x0, y1 - y0


def save_grid(images: torch.Tensor | Sequence[torch.Tensor], path: str | os.PathLike, nrow: int | None = None,
              labels: Sequence[str] | None = None, title: str | None = None, pad: int = 2,
              scale: int | None = None) -> Path:
    """Tile ``N x C x H x W`` images in ``[-1, 1]`` into one PNG/JPG, written atomically; returns the path.

    ``nrow``: images per row (torchvision's meaning); default ``ceil(sqrt(N))``.
    ``scale``: integer nearest-neighbour upscale of each tile; default the smallest that makes tiles at
    least 64 px on their short side (28 px Fashion-MNIST -> x3), so pixels and labels stay readable.
    ``labels``: one string per image, drawn in black under its tile on the white background; a column
    widens if its labels are wider than the tiles.  ``title``: one line on top.  ``pad``: pixels of white
    between and around cells.

    Geometry: with ``tw x th`` the scaled tile and ``cw = max(tw, widest label + 4)``, the image is
    ``ncol * cw + (ncol + 1) * pad`` wide and ``title_h + nrows * (th + label_h) + (nrows + 1) * pad`` high,
    where ``label_h``/``title_h`` are 0 without labels/title.
    """
    if isinstance(images, (list, tuple)):
        images = torch.stack([torch.as_tensor(x) for x in images])
    images = torch.as_tensor(images).detach().to("cpu", torch.float32)
    if images.dim() == 3:
        images = images[:, None]
    if images.dim() != 4 or images.shape[1] not in (1, 3) or images.shape[0] == 0:
        raise MediaError(f"save_grid expects N x C x H x W images with N >= 1 and C = 1 or 3, "
                         f"got shape {tuple(images.shape)}")
    n, _, h, w = images.shape
    if labels is not None:
        labels = [str(s) for s in labels]
        if len(labels) != n:
            raise MediaError(f"save_grid got {len(labels)} labels for {n} images")
    ncol = max(1, min(n, int(nrow) if nrow else math.ceil(math.sqrt(n))))
    nrows = math.ceil(n / ncol)
    if scale is None:
        scale = max(1, math.ceil(64 / max(1, min(h, w))))
    scale = max(1, int(scale))
    pad = max(0, int(pad))
    tw, th = w * scale, h * scale

    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    font = _font(max(11, min(18, th // 5)))
    label_h, cw = 0, tw
    if labels:
        line_h = _text_size(probe, "Ayg", font)[1]
        label_h = line_h + 6
        cw = max(tw, max(_text_size(probe, s, font)[0] for s in labels) + 4)
    title_font = _font(max(12, min(22, th // 4)))
    title_h = (_text_size(probe, title or "Ay", title_font)[1] + 8) if title else 0

    width = ncol * cw + (ncol + 1) * pad
    height = title_h + nrows * (th + label_h) + (nrows + 1) * pad
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    if title:
        tx = max(0, (width - _text_size(draw, title, title_font)[0]) // 2)
        draw.text((tx, 4), title, fill=(0, 0, 0), font=title_font, anchor="la")
    for i in range(n):
        r, c = divmod(i, ncol)
        x0 = pad + c * (cw + pad)
        y0 = title_h + pad + r * (th + label_h + pad)
        tile = to_uint8(images[i])
        if scale > 1:
            tile = np.repeat(np.repeat(tile, scale, axis=0), scale, axis=1)
        canvas.paste(Image.fromarray(tile, "RGB"), (x0 + (cw - tw) // 2, y0))
        if labels:
            lw = _text_size(draw, labels[i], font)[0]
            draw.text((x0 + (cw - lw) // 2, y0 + th + 3), labels[i], fill=(0, 0, 0), font=font, anchor="la")
    return _save_pil(canvas, path)


# --------------------------------------------------------------------------------------------- videos

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
    p = _check_file(path, "video")
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
        arr = _scale_to_uint8(np.asarray(rgb))
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4):
            raise MediaError(f"cannot write video {self.path}: expected an H x W x 3 frame, "
                             f"got shape {tuple(arr.shape)}")
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


# --------------------------------------------------------------------------------------------- drawing

_COLOURS = {
    "red": (230, 40, 40), "green": (40, 200, 60), "blue": (50, 110, 240), "yellow": (240, 210, 40),
    "orange": (250, 140, 20), "white": (255, 255, 255), "black": (0, 0, 0), "cyan": (40, 210, 220),
    "magenta": (220, 50, 220),
}


def _colour(c) -> tuple[int, int, int]:
    if c is None:
        return _COLOURS["green"]
    if isinstance(c, str):
        if c.lower() not in _COLOURS:
            raise MediaError(f"unknown colour {c!r}; use an (R, G, B) tuple or one of {sorted(_COLOURS)}")
        return _COLOURS[c.lower()]
    r, g, b = (int(v) for v in tuple(c)[:3])
    return r, g, b


def annotate_frame(img: np.ndarray, boxes: Sequence[Sequence] | None = None,
                   text_lines: Sequence[str] | None = None) -> np.ndarray:
    """Return a copy of an RGB uint8 image with boxes and text drawn on it (the input is not modified).

    ``boxes``: ``(x1, y1, x2, y2[, label[, colour]])`` in pixels; colour an ``(R, G, B)`` tuple or a name
    (red, green, blue, yellow, orange, white, black, cyan, magenta), default green; the label is drawn on a
    filled strip above the box (inside it at the top edge).  ``text_lines``: drawn top-left, white on a dark
    strip.  Line widths and text scale with the image size.  OpenCV's font draws ASCII only.
    """
    out = np.ascontiguousarray(np.array(img, dtype=np.uint8, copy=True))
    if out.ndim == 2:
        out = np.ascontiguousarray(np.repeat(out[:, :, None], 3, axis=2))
    h, w = out.shape[:2]
    unit = max(h, w) / 640.0
    thick = max(1, round(2 * unit))
    font, fscale = cv2.FONT_HERSHEY_SIMPLEX, max(0.4, 0.6 * unit)
    fthick = max(1, round(1.5 * unit))
    for box in boxes or []:
        x1, y1, x2, y2 = (round(float(v)) for v in box[:4])
        label = str(box[4]) if len(box) > 4 and box[4] not in (None, "") else ""
        colour = _colour(box[5] if len(box) > 5 else None)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick, cv2.LINE_AA)
        if label:
            (tw, th), base = cv2.getTextSize(label, font, fscale, fthick)
            ty = y1 - 4 if y1 - th - base - 4 >= 0 else y1 + th + 4
            cv2.rectangle(out, (x1, ty - th - 4), (x1 + tw + 6, ty + base), colour, cv2.FILLED)
            luma = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
            cv2.putText(out, label, (x1 + 3, ty - 2), font, fscale, (0, 0, 0) if luma > 128 else (255, 255, 255),
                        fthick, cv2.LINE_AA)
    y = 0
    for line in text_lines or []:
        line = str(line)
        (tw, th), base = cv2.getTextSize(line, font, fscale, fthick)
        cv2.rectangle(out, (0, y), (tw + 12, y + th + base + 8), (0, 0, 0), cv2.FILLED)
        cv2.putText(out, line, (6, y + th + 4), font, fscale, (255, 255, 255), fthick, cv2.LINE_AA)
        y += th + base + 8
    return out


def describe_media(path: str | os.PathLike) -> str:
    """One line about an image or a video (``mediatk info``); MediaError for anything unreadable."""
    p = Path(path)
    if is_video(p):
        v = probe_video(p)
        return (f"{p}: video {v.width}x{v.height}, {v.fps:.2f} fps, {v.frame_count} frames, "
                f"{v.duration:.2f} s, codec {v.codec}")
    img = read_image(p)
    return f"{p}: image {img.shape[1]}x{img.shape[0]}"
