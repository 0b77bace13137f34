"""Drawing: labelled sample grids (PNG/JPG) and boxes and text on video frames."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from mediatk.core.errors import MediaError
from mediatk.media.pixels import save_pil, to_uint8
from PIL import Image, ImageDraw, ImageFont


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
    return save_pil(canvas, path)



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

