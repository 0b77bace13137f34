"""The one pixel path: decoding, colour, cropping and resizing of every image mediatk looks at.

Datasets (:class:`mediatk.datasets.ImageSet`), detector inputs (``Detector.prepare``), ``mediatk detect``,
the arena and the CLI all turn pixels into tensors here, so one file becomes one tensor, bit for bit,
whichever path reads it.  The rules:

* **Decoding** (:func:`read_image`): every Pillow mode comes back ``H x W x 3`` uint8 RGB.  Grey is
  replicated; palette and CMYK are converted by Pillow; 16-bit and float images are scaled (not clipped) to
  8 bit (``v * 255 / 65535``, rounded); EXIF orientation is applied; an animated image gives its first frame.
* **Alpha** (RGBA, LA, PA, palette or grey/RGB with a transparency key) is composited onto **white**,
  ``out = (c * a + 255 * (255 - a) + 127) // 255``, as a viewer shows it; dropping alpha would expose
  whatever colour sits under transparent pixels.
* **Grey** from RGB is ITU-R 601 luma in Pillow's integer form (``(19595 R + 38470 G + 7471 B + 2^15) >> 16``),
  taken on uint8 before any resize, so a grey file read as RGB and converted back is unchanged.
* **Resize** (:data:`RESAMPLE`): non-square images are centre-cropped to a square first (offset
  ``(H - S) // 2``) when a square size is asked for; then ``torch.nn.functional.interpolate`` bilinear,
  ``align_corners=False``, antialiased when shrinking (a triangle filter as wide as the scale, so a 128 px
  image shrunk to 32 px averages every pixel instead of sampling a quarter of them), on float32 values
  ``u8 / 127.5 - 1``, clamped to ``[-1, 1]``.  Computed per image plane, so a batch equals its images one by one.
* **Face crops** (:func:`crop_box`): the square around a box, rounded to whole pixels, edge pixels repeated
  outside the image; then the resize above.

A detector's checkpoint records these choices as a :class:`Preprocess`, which detection applies.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mediatk.core.errors import CheckpointError, MediaError
from mediatk.core.fileio import atomic_path
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTS: frozenset[str] = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp",
    ".ppm", ".pgm", ".pbm", ".pnm",
})
VIDEO_EXTS: frozenset[str] = frozenset({
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp",
})

#: the one resample rule (recorded in detector checkpoints; see the module docstring)
RESAMPLE = "bilinear-antialias"
CROPS = ("centre", "face")
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


def is_image(path: str | os.PathLike) -> bool:
    """True if ``path``'s suffix (case-insensitive) is an image suffix; the file is not opened."""
    return Path(path).suffix.lower() in IMAGE_EXTS


def is_video(path: str | os.PathLike) -> bool:
    """True if ``path``'s suffix (case-insensitive) is a video suffix; the file is not opened."""
    return Path(path).suffix.lower() in VIDEO_EXTS


def check_file(path: str | os.PathLike, kind: str) -> Path:
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


# --------------------------------------------------------------------------------------------- decoding

def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read any image Pillow (or, failing that, OpenCV) can decode as ``H x W x 3`` uint8 RGB (rules above).

    Raises :class:`MediaError` for a missing path, a directory, an empty file, a file that is not an image,
    or a truncated/corrupt one.
    """
    p = check_file(path, "image")
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
            return pil_to_rgb(im)
        except Exception as err:
            raise MediaError(f"cannot read image {p}: unsupported image mode {im.mode!r} ({err})") from err


def probe_image(path: str | os.PathLike) -> tuple[int, int, int]:
    """``(height, width, channels)`` of an image without decoding its pixels: channels 1 for grey modes
    (with or without alpha), 3 otherwise; height and width after EXIF orientation."""
    p = check_file(path, "image")
    try:
        with Image.open(p) as im:
            w, h, mode = im.width, im.height, im.mode
            with contextlib.suppress(Exception):
                if im.getexif().get(0x0112) in (5, 6, 7, 8):  # rotated by 90 degrees
                    w, h = h, w
    except UnidentifiedImageError:
        img = _read_image_cv2(p)
        return img.shape[0], img.shape[1], 3
    except Exception as err:
        raise MediaError(f"cannot read image {p}: {err}") from err
    return h, w, 1 if mode in _GREY_MODES else 3


def _read_image_cv2(p: Path) -> np.ndarray:
    """Fallback for formats Pillow does not know; also reports 'not an image'."""
    try:
        buf = np.fromfile(p, dtype=np.uint8)  # imdecode (not imread) copes with any path encoding
        arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    except (OSError, cv2.error):
        arr = None
    if arr is None:
        raise MediaError(f"not an image (or an unsupported format): {p}")
    arr = scale_to_uint8(arr)
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2)
    if arr.shape[2] == 4:
        return composite_on_white(cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA))
    if arr.shape[2] == 1:
        return np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(cv2.cvtColor(arr[:, :, :3], cv2.COLOR_BGR2RGB))


def pil_to_rgb(im: Image.Image) -> np.ndarray:
    """A Pillow image of any mode as ``H x W x 3`` uint8 RGB (16 bit scaled, alpha on white)."""
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(im)
        if mode == "I" and (im.format == "PNG" or (arr.size and arr.min() >= 0 and arr.max() <= 65535)):
            arr = arr.astype(np.uint16)  # a 16-bit grey PNG/TIFF that Pillow widened to 32 bit
        grey = scale_to_uint8(arr)
        return np.repeat(grey[:, :, None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info) \
        or (mode in ("L", "RGB") and "transparency" in im.info)
    if has_alpha:
        return composite_on_white(np.asarray(im.convert("RGBA")))
    return np.ascontiguousarray(np.asarray(im.convert("RGB")), dtype=np.uint8)


def scale_to_uint8(arr: np.ndarray) -> np.ndarray:
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


def composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """``H x W x 4`` uint8 RGBA -> ``H x W x 3`` RGB over a white background (the alpha rule)."""
    rgb = rgba[:, :, :3].astype(np.uint32)
    a = rgba[:, :, 3:4].astype(np.uint32)
    return ((rgb * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------- colour

def rgb_uint8(img: np.ndarray, what: str) -> np.ndarray:
    """Any ``H x W``, ``H x W x 1|3|4`` array as ``H x W x 3`` uint8 RGB (scaled, grey replicated, alpha on
    white); ``what`` starts the MediaError for other shapes (e.g. ``"save_image expects"``)."""
    arr = scale_to_uint8(np.asarray(img))
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise MediaError(f"{what} an H x W x 3 image, got shape {tuple(arr.shape)}")
    return np.ascontiguousarray(to_channels(arr, 3))


def to_channels(arr: np.ndarray, channels: int) -> np.ndarray:
    """uint8 ``... x H x W x C`` (C = 1, 3 or 4) -> ``... x H x W x channels`` (1: luma, 3: RGB)."""
    a = np.asarray(arr)
    if a.shape[-1] == 4:
        a = composite_on_white(a) if a.ndim == 3 else np.stack([composite_on_white(x) for x in a])
    c = a.shape[-1]
    if channels == c:
        return a
    if channels == 3 and c == 1:
        return np.repeat(a, 3, axis=-1)
    if channels == 1 and c == 3:
        w = a.astype(np.uint32)
        grey = (w[..., 0] * 19595 + w[..., 1] * 38470 + w[..., 2] * 7471 + 0x8000) >> 16
        return grey.astype(np.uint8)[..., None]
    raise MediaError(f"cannot convert {c}-channel images to {channels} channels (use 1 or 3)")


def luma(x: torch.Tensor) -> torch.Tensor:
    """Float ``N x 3 x H x W`` -> ``N x 1 x H x W`` ITU-R 601 luma (differentiable; generator outputs)."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x[:, :3] * w).sum(1, keepdim=True)


# --------------------------------------------------------------------------------------------- resize

def _out_size(h: int, w: int, size: int | tuple[int, int] | None) -> tuple[int, int, bool]:
    """(out_h, out_w, centre_crop) for a requested size: an int is a square after a centre crop."""
    if size is None:
        return h, w, False
    if isinstance(size, (int, np.integer)):
        s = int(size)
        out = (s, s, h != w)
    else:
        out = (*(int(v) for v in size), False)
    if out[0] <= 0 or out[1] <= 0:
        raise MediaError(f"image size must be positive, got {size}")
    return out


def resize(x: torch.Tensor, size: int | tuple[int, int] | None) -> torch.Tensor:
    """Float ``N x C x H x W`` in ``[-1, 1]`` -> the resample rule at ``size`` (int: centre square; tuple:
    ``(height, width)`` exactly, aspect ignored; None: unchanged).  Differentiable."""
    h, w = x.shape[-2:]
    out_h, out_w, crop = _out_size(h, w, size)
    if crop:
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        x = x[..., top:top + s, left:left + s]
        h = w = s
    if (out_h, out_w) != (h, w):
        x = F.interpolate(x, size=(out_h, out_w), mode="bilinear", align_corners=False,
                          antialias=h > out_h or w > out_w).clamp(-1.0, 1.0)
    return x


def uint8_to_tensor(batch: np.ndarray | torch.Tensor, size: int | tuple[int, int] | None = None,
                    channels: int | None = None) -> torch.Tensor:
    """uint8 ``N x H x W x C`` -> float32 ``N x C x H x W`` in ``[-1, 1]``: channels, then crop and resize."""
    a = batch.numpy() if isinstance(batch, torch.Tensor) else np.asarray(batch)
    if a.ndim != 4 or a.shape[-1] not in (1, 3, 4):
        raise MediaError(f"expected N x H x W x C uint8 images (C = 1, 3 or 4), got shape {tuple(a.shape)}")
    a = np.ascontiguousarray(to_channels(scale_to_uint8(a), channels or (1 if a.shape[-1] == 1 else 3)))
    if not a.flags.writeable:  # torch.from_numpy warns on read-only memory
        a = a.copy()
    x = torch.from_numpy(a).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    return resize(x, size).contiguous()


def to_tensor(img: np.ndarray, size: int | tuple[int, int] | None = None, channels: int = 3) -> torch.Tensor:
    """``H x W x 3`` (or ``H x W``, or RGBA) uint8 image -> float32 ``C x H x W`` tensor in ``[-1, 1]``.

    ``size``: an int gives a square ``size x size`` image (centre-cropped to square first, so faces are not
    squashed); a tuple is ``(height, width)`` (torch order), resized to exactly, ignoring aspect.
    ``channels``: 3 for RGB, 1 for grey.  The same as one item of :func:`uint8_to_tensor`.
    """
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise MediaError(f"to_tensor expects an H x W x 3 image, got shape {tuple(arr.shape)}")
    if channels not in (1, 3):
        raise MediaError(f"to_tensor channels must be 1 or 3, got {channels}")
    return uint8_to_tensor(arr[None], size, channels)[0]


def adapt(x: torch.Tensor, size: int | None, channels: int | None) -> torch.Tensor:
    """A float batch in ``[-1, 1]`` (e.g. a generator's samples) to ``channels`` and ``size`` x ``size``:
    luma or replication, then :func:`resize`.  A batch already in that shape is returned as it is."""
    if channels is not None and x.shape[1] != channels:
        x = luma(x) if channels == 1 else x[:, :1].repeat(1, channels, 1, 1)
    if size is not None and tuple(x.shape[2:]) != (size, size):
        x = resize(x, int(size))
    return x


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


def resize_uint8(img: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """An RGB uint8 image through :func:`to_tensor` at ``size`` and back to uint8 (e.g. a saved face crop)."""
    return to_uint8(to_tensor(img, size))


# --------------------------------------------------------------------------------------------- crops

def square_box(box: np.ndarray | tuple, scale: float = 1.0) -> np.ndarray:
    """The square of side ``scale`` x max(box w, h) centred on ``box`` (x1, y1, x2, y2)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * float(scale)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def crop_box(image: np.ndarray, box: np.ndarray | tuple) -> np.ndarray:
    """The square ``box`` (x1, y1, x2, y2) of an ``H x W x C`` image at native resolution: its side and
    corner rounded to whole pixels, edge pixels repeated where it leaves the image (at least 1 x 1)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(1, round(max(x2 - x1, y2 - y1)))
    left, top = round((x1 + x2) / 2 - side / 2), round((y1 + y2) / 2 - side / 2)
    h, w = image.shape[:2]
    rows = np.clip(np.arange(top, top + side), 0, h - 1)
    cols = np.clip(np.arange(left, left + side), 0, w - 1)
    return np.ascontiguousarray(image[rows][:, cols])


@dataclass(frozen=True)
class Preprocess:
    """How a detector turns an image into its input; saved in its checkpoint and applied at detection.

    ``size``/``channels``: the input shape; ``resample``: :data:`RESAMPLE` (the only rule this version
    knows); ``crop``: ``"centre"`` (the centred square of the whole image) or ``"face"`` (the square of
    ``face_scale`` x the face box, needs a box).  Checkpoints from before this record: ``centre``, unless
    the checkpoint says ``face_crops``, with the rule above.
    """

    size: int | None = None
    channels: int = 3
    resample: str = RESAMPLE
    crop: str = "centre"
    face_scale: float = 1.2

    def __post_init__(self) -> None:
        if self.resample != RESAMPLE:
            raise CheckpointError(f"preprocessing resample rule {self.resample!r} is unknown to this mediatk "
                                  f"(it knows {RESAMPLE!r}); retrain the detector")
        if self.crop not in CROPS:
            raise CheckpointError(f"preprocessing crop rule {self.crop!r} is unknown (use one of {', '.join(CROPS)})")
        if self.channels not in (1, 3):
            raise CheckpointError(f"preprocessing channels must be 1 or 3, got {self.channels!r}")

    def apply(self, image: np.ndarray, box: np.ndarray | tuple | None = None) -> torch.Tensor | None:
        """An ``H x W x 3`` uint8 image -> the detector's ``C x S x S`` input; None for a face crop without
        a face box."""
        if self.crop == "face":
            if box is None:
                return None
            image = crop_box(image, square_box(box, self.face_scale))
        return to_tensor(image, self.size, self.channels)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Preprocess:
        """From a checkpoint's record; CheckpointError for a malformed or unknown one."""
        if not isinstance(d, dict):
            raise CheckpointError(f"preprocessing record must be a mapping, got {type(d).__name__}")
        known = {k: d[k] for k in ("size", "channels", "resample", "crop", "face_scale") if k in d}
        return cls(**known)


# --------------------------------------------------------------------------------------------- encoding

def save_pil(im: Image.Image, path: str | os.PathLike) -> Path:
    """Write a Pillow image atomically in the format its suffix names; returns the path."""
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
    arr = to_uint8(img) if isinstance(img, torch.Tensor) else rgb_uint8(img, "save_image expects")
    return save_pil(Image.fromarray(np.ascontiguousarray(arr), "RGB"), path)
