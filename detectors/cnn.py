"""``cnn``: a compact residual CNN trained from scratch to tell real from synthetic images.

Architecture: a 3×3 stem, ``stages`` residual stages (two 3×3 conv + BatchNorm + ReLU blocks each, the
first of every stage after the first with stride 2 and a 1×1 projection shortcut), global average pooling,
one linear logit.  P(synthetic) = σ(logit).

Augmentation follows Wang et al. 2020 ("CNN-generated images are surprisingly easy to spot... for now"):
each training image is, independently with probability ``aug_prob``, Gaussian-blurred with σ ~ U[0, 3]
and, independently with probability ``aug_prob``, JPEG-compressed at quality q ~ U[30, 100].  This makes
the detector robust to post-processing instead of keying on pristine pixels.  Blur and JPEG are
:mod:`mediatk.media.perturb`'s, the ones the robustness curves apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from mediatk.core.options import opt
from mediatk.detectors.base import Detector, logits_of, register, sigmoid, train_binary
from mediatk.media import perturb
from torch import nn


@dataclass
class CNNConfig:
    width: int = opt(32, "channels of the first stage (doubling per stage)")
    stages: int = opt(3, "residual stages (each after the first halves the resolution)")
    steps: int = opt(400, "optimisation steps")
    batch_size: int = opt(64, "minibatch size (half real, half fake)")
    lr: float = opt(2e-3, "Adam learning rate (cosine decay)")
    augment: Literal["none", "blur", "jpeg", "blur+jpeg"] = opt("blur+jpeg", "training augmentation")
    aug_prob: float = opt(0.1, "probability of each augmentation per image (Wang et al. use 0.1 and 0.5)")
    seed: int = opt(0, "seed for initialisation, batches and augmentation")


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                                  nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(cout))
        self.skip = (nn.Identity() if stride == 1 and cin == cout else
                     nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class ResNetSmall(nn.Module):
    """Stem → residual stages → global average pool → one logit."""

    def __init__(self, channels: int, width: int = 32, stages: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
                                   nn.ReLU(inplace=True)]
        c = width
        for i in range(stages):
            out = width * 2 ** i
            layers.append(ResBlock(c, out, 1 if i == 0 else 2))
            c = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))


def blur_jpeg(x: torch.Tensor, rng: np.random.Generator, kind: str, p: float) -> torch.Tensor:
    """Wang et al.'s augmentation on a batch in [-1, 1], per image, with :mod:`mediatk.media.perturb` (the
    same blur and JPEG the robustness curves measure): blur σ ~ U[0, 3] (skipped below 0.05), then JPEG
    at q ~ U{30..100}, each with probability ``p``."""
    if kind == "none" or p <= 0:
        return x
    out = x.clone()
    for i in range(len(x)):
        do_blur = "blur" in kind and rng.random() < p
        do_jpeg = "jpeg" in kind and rng.random() < p
        if not (do_blur or do_jpeg):
            continue
        img = x[i:i + 1]
        if do_blur:
            sigma = rng.uniform(0, 3)
            if sigma > 0.05:
                img = perturb.blur(img, sigma)
        if do_jpeg:
            img = perturb.jpeg(img, int(rng.integers(30, 101)))
        out[i] = img[0]
    return out


@register("cnn", "Compact residual CNN trained from scratch, optional blur+JPEG augmentation (Wang et al. 2020)")
class CNNDetector(Detector):
    Config = CNNConfig
    tiny_options = ("--steps", "40", "--width", "8", "--stages", "2")

    def _build(self) -> ResNetSmall:
        return ResNetSmall(self.channels, self.cfg.width, self.cfg.stages)

    def _fit(self, real: torch.Tensor, fake: torch.Tensor) -> None:
        c = self.cfg
        torch.manual_seed(c.seed)
        self.net = self._build()
        aug = None
        if c.augment != "none" and c.aug_prob > 0:
            def aug(xb, rng):
                return blur_jpeg(xb, rng, c.augment, c.aug_prob)
        losses = train_binary(self.net, real, fake, c.steps, c.batch_size, c.lr, self.device, c.seed, aug)
        self.info["final_loss"] = float(np.mean(losses[-20:]))

    def _predict(self, x: torch.Tensor) -> np.ndarray:
        return sigmoid(logits_of(self.net, x, self.device))

    def torch_logit(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable logit of P(synthetic) (the network in eval mode; gradients flow to ``x``)."""
        from mediatk.detectors.base import adapt

        self.net.eval()
        return self.net(adapt(x.float(), self.image_size, self.channels).to(self.device)).view(-1)

    def _state(self):
        return {"net": self.net}, {}

    def _load_state(self, ckpt) -> None:
        from mediatk.core.checkpoint import load_into

        self.net = self._build()
        load_into(self.net, ckpt, "net")
        self.net.to(self.device).eval()
