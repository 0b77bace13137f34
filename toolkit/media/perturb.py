"""Image perturbations: robustness probes and artefact-removing post-processing.

All take and return float batches N×C×H×W in [-1, 1].  JPEG goes through Pillow (real codec), H.264 through
PyAV's libx264 (the batch is one clip, encoded and decoded in memory), blur is a Gaussian, downscale is area-down then bilinear-up (the information loss of a resize), and spectral matching
replaces each image's Fourier amplitude by a blend with a reference mean amplitude while keeping its phase
(the countermeasure to spectrum detectors discussed by Durall et al. 2020).
"""

from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    from PIL import Image

    out = []
    for img in x:
        arr = ((img.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
        mode = "L" if arr.shape[2] == 1 else "RGB"
        buf = io.BytesIO()
        Image.fromarray(arr[:, :, 0] if mode == "L" else arr, mode).save(buf, format="JPEG", quality=int(quality))
        dec = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert(mode), dtype=np.float32)
        dec = dec[:, :, None] if dec.ndim == 2 else dec
        out.append(torch.from_numpy(dec).permute(2, 0, 1) / 127.5 - 1)
    return torch.stack(out).to(x.device)


def h264(frames: torch.Tensor, crf: float, fps: int = 25) -> torch.Tensor:
    """Encode ``frames`` (one clip, N×C×H×W) with libx264 at constant rate factor ``crf`` and decode it back.

    CRF 0 is lossless, 23 x264's default, 51 the worst; FaceForensics++'s c23/c40 are CRF 23/40.  Odd sides are
    padded by edge replication for 4:2:0 chroma and cropped again; grey clips go through RGB.
    """
    import av

    n, c, h, w = frames.shape
    rgb = ((frames.clamp(-1, 1) + 1) * 127.5).round().byte().cpu()
    rgb = rgb.repeat(1, 3, 1, 1) if c == 1 else rgb[:, :3]
    arr = np.ascontiguousarray(rgb.permute(0, 2, 3, 1).numpy())
    arr = np.pad(arr, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": str(round(crf)), "preset": "medium"})
        stream.width, stream.height, stream.pix_fmt = arr.shape[2], arr.shape[1], "yuv420p"
        stream.codec_context.thread_count = 1  # the same bytes on every machine
        for img in arr:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode())
    buf.seek(0)
    with av.open(buf, "r") as inp:
        dec = [f.to_ndarray(format="rgb24") for f in inp.decode(video=0)]
    if len(dec) != n:
        raise RuntimeError(f"H.264 round trip returned {len(dec)} of {n} frames")
    y = torch.from_numpy(np.stack(dec)[:, :h, :w]).permute(0, 3, 1, 2).float() / 127.5 - 1
    if c == 1:
        y = y.mean(1, keepdim=True)
    return y.to(frames.device)


def gaussian_kernel(sigma: float) -> torch.Tensor:
    r = max(1, int(np.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-(t ** 2) / (2 * sigma ** 2))
    return k / k.sum()


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflect padding (differentiable)."""
    if sigma <= 0:
        return x
    k = gaussian_kernel(sigma).to(x)
    c = x.shape[1]
    r = (len(k) - 1) // 2
    pad_r = min(r, x.shape[-1] - 1)
    y = F.pad(x, (pad_r, pad_r, pad_r, pad_r), mode="reflect") if pad_r == r else F.pad(x, (r, r, r, r), mode="replicate")
    y = F.conv2d(y, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    y = F.conv2d(y, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return y


def downscale(x: torch.Tensor, factor: float) -> torch.Tensor:
    if factor <= 1:
        return x
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(max(1, round(h / factor)), max(1, round(w / factor))), mode="area")
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False).clamp(-1, 1)


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
    """One named perturbation: ``jpeg`` (quality), ``blur`` (sigma), ``downscale`` (factor), ``h264`` (CRF;
    ``x`` is then one clip)."""
    if kind == "jpeg":
        return jpeg(x, int(level))
    if kind == "blur":
        return blur(x, float(level))
    if kind == "downscale":
        return downscale(x, float(level))
    if kind == "h264":
        return h264(x, float(level))
    raise ValueError(f"unknown perturbation {kind}")
