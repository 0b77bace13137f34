"""How far apart are the tensor a detector trains on and the tensor ``mediatk detect`` scores, for one file?

Makes 128 px copies (PNG, RGB) of the first N real crops of ``../shared/data/dfdc-faces`` and, at 32 px grey
(the issue's case) and 64 px RGB, compares the training path (``load_images(folder).tensor()``, what
``train-detector`` feeds ``fit``) with the detection path (the file decoded and converted as ``detect``
does).  Also the spectrum detector's radial profile of both, and one half-transparent PNG.  Prints the largest
absolute differences; 0 everywhere means one pixel path.

    uv run python bench/pixel_paths.py [-n 200]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from mediatk.datasets import load_images
from mediatk.detectors.spectrum import radial_profile
from PIL import Image

try:  # the one pixel path
    from mediatk.media.pixels import Preprocess, read_image

    def detect_tensor(path: Path, size: int, channels: int) -> torch.Tensor:
        return Preprocess(size=size, channels=channels).apply(read_image(path))
except ImportError:  # before it: media.to_tensor (OpenCV), as detectors/video.py detector_input called it
    from mediatk.media import read_image, to_tensor

    def detect_tensor(path: Path, size: int, channels: int) -> torch.Tensor:
        return to_tensor(read_image(path), size=size, channels=channels)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "dfdc-faces" / "real"


def compare(folder: Path, files: list[Path], size: int, channels: int) -> tuple[float, float, float]:
    train = load_images(str(folder), split="all", image_size=size, channels=channels).tensor()
    det = torch.stack([detect_tensor(p, size, channels) for p in files])
    pix = float((train - det).abs().max())
    pt, pd = radial_profile(train), radial_profile(det)
    return pix, float(np.abs(pt - pd).max()), float(np.abs(pt[:, -4:] - pd[:, -4:]).max())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=200)
    n = ap.parse_args().n
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "img"
        folder.mkdir()
        files = []
        for src in sorted(DATA.glob("*.jpg"))[:n]:
            dst = folder / (src.stem + ".png")
            Image.open(src).convert("RGB").resize((128, 128), Image.LANCZOS).save(dst)
            files.append(dst)
        files.sort()
        for size, channels in ((32, 1), (64, 3)):
            pix, prof, tail = compare(folder, files, size, channels)
            print(f"{len(files)} images 128 px -> {size} px, {channels} channel(s): max |train - detect| "
                  f"{pix:.4f} on [-1, 1]; radial log-power profile max diff {prof:.4f}, last 4 bins {tail:.4f}")
        alpha = Path(tmp) / "alpha"
        alpha.mkdir()
        rgba = np.zeros((64, 64, 4), np.uint8)
        rgba[..., 0] = 200
        rgba[:, 32:, 3] = 255  # left half transparent
        Image.fromarray(rgba, "RGBA").save(alpha / "a.png")
        t = load_images(str(alpha), split="all", image_size=32, channels=3).tensor()[0]
        d = detect_tensor(alpha / "a.png", 32, 3)
        print(f"half-transparent PNG, transparent pixel: train {t[:, 0, 0].tolist()}, detect {d[:, 0, 0].tolist()}")


if __name__ == "__main__":
    main()
