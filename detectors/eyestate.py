"""``eyestate``: a small CNN that tells open from closed eyes on 24×24 greyscale eye crops.

It is a *component* of the ``blink`` video detector, trained on the CEW-style ``eyes-open-closed`` set::

    mediatk train-detector eyestate --data eyes-open-closed

Contract mapping: ``fit(opened, closed)`` (the positive class is *closed*), ``predict_proba(x)`` =
P(closed), :meth:`p_open` = 1 − P(closed).  Training uses balanced minibatches, small random shifts,
horizontal flips and brightness/contrast jitter (video eye crops are less tidy than the set's).
Network: 3 conv blocks (16, 32, 64 channels; 3×3 conv + BatchNorm + ReLU, 2×2 max-pool) → dropout →
linear logit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from mediatk.core.options import opt
from mediatk.detectors.base import Detector, logits_of, register, sigmoid, train_binary
from torch import nn

EYE_SIZE = 24


@dataclass
class EyeStateConfig:
    steps: int = opt(600, "optimisation steps")
    batch_size: int = opt(64, "minibatch size")
    lr: float = opt(3e-3, "Adam learning rate (cosine decay)")
    width: int = opt(16, "channels of the first conv block")
    seed: int = opt(0, "seed")


class EyeNet(nn.Module):
    def __init__(self, width: int = 16):
        super().__init__()
        layers: list[nn.Module] = []
        c = 1
        for i in range(3):
            out = width * 2 ** i
            layers += [nn.Conv2d(c, out, 3, 1, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(c * 3 * 3, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def jitter(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Random ±2 px shifts, horizontal flips, brightness/contrast changes (batch in [-1, 1])."""
    n = len(x)
    h, w = x.shape[2], x.shape[3]
    pad = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="replicate")
    out = torch.empty_like(x)
    shift = rng.integers(0, 5, (n, 2))
    for dy in range(5):
        for dx in range(5):
            sel = torch.from_numpy(np.flatnonzero((shift[:, 0] == dy) & (shift[:, 1] == dx)))
            if len(sel):
                out[sel] = pad[sel, :, dy:dy + h, dx:dx + w]
    flip = torch.from_numpy(rng.random(n) < 0.5)
    out[flip] = out[flip].flip(-1)
    gain = torch.from_numpy(rng.uniform(0.7, 1.3, n)).float().view(-1, 1, 1, 1)
    bias = torch.from_numpy(rng.uniform(-0.2, 0.2, n)).float().view(-1, 1, 1, 1)
    return (out * gain + bias).clamp(-1, 1)


@register("eyestate", "Open/closed eye CNN on 24x24 grey crops (component of blink; train on eyes-open-closed)",
          tags=("component",))
class EyeStateDetector(Detector):
    Config = EyeStateConfig
    media = "component"
    tiny_options = ("--steps", "60")

    def fit(self, opened, closed, image_size=None, channels=None, face_crops=None) -> EyeStateDetector:
        return super().fit(opened, closed, EYE_SIZE, 1, False)  # type: ignore[return-value]

    def _fit(self, opened: torch.Tensor, closed: torch.Tensor) -> None:
        c = self.cfg
        torch.manual_seed(c.seed)
        self.net = EyeNet(c.width)
        losses = train_binary(self.net, opened, closed, c.steps, c.batch_size, c.lr, self.device, c.seed, jitter)
        self.info["final_loss"] = float(np.mean(losses[-20:]))

    def _predict(self, x: torch.Tensor) -> np.ndarray:
        return sigmoid(logits_of(self.net, x, self.device))

    def p_open(self, x) -> np.ndarray:
        return 1.0 - self.predict_proba(x)

    def accuracy(self, opened, closed) -> float:
        po, pc = self.predict_proba(opened), self.predict_proba(closed)
        return float(((po < 0.5).sum() + (pc >= 0.5).sum()) / (len(po) + len(pc)))

    def _state(self):
        return {"net": self.net}, {}

    def _load_state(self, ckpt) -> None:
        from mediatk.core.checkpoint import load_into

        self.net = EyeNet(self.cfg.width)
        load_into(self.net, ckpt, "net")
        self.net.to(self.device).eval()
