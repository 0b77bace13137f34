"""Perturbations: the one implementation of JPEG, blur, downscale and H.264 re-encoding.

Training augmentation (``detectors/cnn.py``) and robustness curves (the arena, detector evaluation) both
call these, so a detector is tested against the same JPEG it was trained against.  All take and return
float batches ``N x C x H x W`` in ``[-1, 1]`` (C = 1 or 3), on the input's device:

* :func:`jpeg`: Pillow's libjpeg at ``quality`` (1-100; Pillow's default 4:2:0 chroma subsampling for RGB),
  one image at a time, decoded back; pixels are rounded to 8 bit first, as a saved file would be.
* :func:`blur`: a separable Gaussian of standard deviation ``sigma`` pixels (radius ``ceil(3 sigma)``,
  reflected borders); differentiable.
* :func:`downscale`: down by ``factor`` and back up to the original size, both with the one resize rule of
  :mod:`mediatk.media.pixels` (bilinear, antialiased when shrinking): the information a resize loses.
* :func:`h264`: the batch (or a video file) as one clip through libx264 (PyAV) at ``crf`` (0-51, higher
  is worse; 23 is x264's default), yuv420p, decoded back.
* :func:`apply`: one of them by name, for curves over levels.

Spectral matching (:func:`spectral_match`) replaces each image's Fourier amplitude by a blend with a
reference mean amplitude while keeping its phase: the countermeasure to spectrum detectors discussed by
Durall et al. 2020, used by the arena's evasion.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from mediatk.core.errors import MediaError
from mediatk.core.fileio import atomic_path
from mediatk.media.pixels import check_file, resize, to_channels, uint8_to_tensor

KINDS = ("jpeg", "blur", "downscale", "h264")


def _to_uint8_batch(x: torch.Tensor) -> np.ndarray:
    """``N x C x H x W`` in ``[-1, 1]`` -> uint8 ``N x H x W x C`` (rounded, clamped)."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Each image JPEG-encoded at ``quality`` and decoded (see the module docstring)."""
    from PIL import Image

    q = int(quality)
    if not 1 <= q <= 100:
        raise MediaError(f"JPEG quality must be between 1 and 100, got {quality}")
    out = []
    for arr in _to_uint8_batch(x):
        mode = "L" if arr.shape[2] == 1 else "RGB"
        buf = io.BytesIO()
        Image.fromarray(arr[:, :, 0] if mode == "L" else arr, mode).save(buf, format="JPEG", quality=q)
        dec = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert(mode), dtype=np.uint8)
        out.append(dec[:, :, None] if dec.ndim == 2 else dec)
    return uint8_to_tensor(np.stack(out), channels=x.shape[1]).to(x.device)


def gaussian_kernel(sigma: float) -> torch.Tensor:
    r = max(1, int(np.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-(t ** 2) / (2 * sigma ** 2))
    return k / k.sum()


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflect padding (replicate on images too small to reflect)."""
    if sigma <= 0:
        return x
    k = gaussian_kernel(sigma).to(x)
    c = x.shape[1]
    r = (len(k) - 1) // 2
    mode = "reflect" if r < min(x.shape[-2:]) else "replicate"
    y = F.pad(x, (r, r, r, r), mode=mode)
    y = F.conv2d(y, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(y, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def downscale(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Down by ``factor`` (> 1) and back up, with the one resize rule; ``factor <= 1`` returns ``x``."""
    if factor <= 1:
        return x
    h, w = x.shape[-2:]
    small = resize(x, (max(1, round(h / factor)), max(1, round(w / factor))))
    return resize(small, (h, w))


def _read_clip(path: str | os.PathLike) -> np.ndarray:
    """Every frame of a video file as uint8 ``N x H x W x 3`` RGB (PyAV)."""
    import av

    p = check_file(path, "video")
    try:
        with av.open(str(p)) as box:
            frames = [f.to_ndarray(format="rgb24") for f in box.decode(video=0)]
    except (av.error.FFmpegError, ValueError, IndexError) as err:
        raise MediaError(f"cannot decode video {p}: {err}") from err
    if not frames:
        raise MediaError(f"cannot decode video {p}: no frame could be decoded")
    return np.stack(frames)


def _encode_h264(clip: np.ndarray, crf: float, fps: float) -> bytes:
    """uint8 ``N x H x W x 3`` (even H, W) -> the bytes of an MP4 with one H.264 stream."""
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as box:
        stream = box.add_stream("libx264", rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = clip.shape[2], clip.shape[1], "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        for arr in clip:
            box.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")))
        box.mux(stream.encode(None))
    return buf.getvalue()


def h264(frames: torch.Tensor | str | os.PathLike, crf: float = 23, fps: float = 25.0,
         out: str | os.PathLike | None = None) -> torch.Tensor:
    """A clip re-encoded with H.264 at ``crf`` and decoded back, as ``N x C x H x W`` in ``[-1, 1]``.

    ``frames``: a tensor ``N x C x H x W`` in ``[-1, 1]`` (its frames in order), or a video file (every
    frame is decoded, so keep it short; C is then 3).  Odd sizes are padded by repeating the last row or
    column for the encoder and cut back after.  ``out``: also write the encoded MP4 there (atomically).
    """
    crf_v = float(crf)
    if not 0 <= crf_v <= 51:
        raise MediaError(f"H.264 crf must be between 0 and 51, got {crf}")
    if isinstance(frames, torch.Tensor):
        x = frames if frames.dim() == 4 else frames[None]
        clip, channels, device = _to_uint8_batch(x), x.shape[1], x.device
    else:
        clip, channels, device = _read_clip(frames), 3, torch.device("cpu")
    if len(clip) == 0:
        raise MediaError("h264 needs at least one frame")
    n, h, w = clip.shape[:3]
    rgb = to_channels(clip, 3)
    rgb = np.pad(rgb, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    data = _encode_h264(rgb, crf_v, fps)
    if out is not None:
        with atomic_path(Path(out)) as tmp:
            Path(tmp).write_bytes(data)
    import av

    with av.open(io.BytesIO(data)) as box:
        dec = np.stack([f.to_ndarray(format="rgb24") for f in box.decode(video=0)])
    if len(dec) != n:
        raise MediaError(f"H.264 round trip returned {len(dec)} frames for {n}")
    return uint8_to_tensor(np.ascontiguousarray(dec[:, :h, :w]), channels=channels).to(device)


def mean_amplitude(x: torch.Tensor) -> torch.Tensor:
    """Mean Fourier amplitude per channel of a batch (the reference for :func:`spectral_match`)."""
    return torch.fft.fft2(x.float()).abs().mean(0)


def spectral_match(x: torch.Tensor, reference_amplitude: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Blend each image's amplitude spectrum towards the reference (geometric blend), keep the phase."""
    f = torch.fft.fft2(x.float())
    amp, phase = f.abs(), torch.angle(f)
    new_amp = amp.clamp_min(1e-8) ** (1 - alpha) * reference_amplitude.to(x.device).clamp_min(1e-8) ** alpha
    y = torch.fft.ifft2(new_amp * torch.exp(1j * phase)).real
    return y.clamp(-1, 1)


def apply(x: torch.Tensor, kind: str, level: float) -> torch.Tensor:
    """One named perturbation: ``jpeg`` (quality), ``blur`` (sigma), ``downscale`` (factor), ``h264`` (crf;
    the batch is encoded as one clip)."""
    if kind == "jpeg":
        return jpeg(x, int(level))
    if kind == "blur":
        return blur(x, float(level))
    if kind == "downscale":
        return downscale(x, float(level))
    if kind == "h264":
        return h264(x, float(level))
    raise ValueError(f"unknown perturbation {kind!r}; choose one of {', '.join(KINDS)}")
