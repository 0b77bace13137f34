"""Network building blocks shared by the autoencoder family and the VAE.

Encoders are a *body* (MLP layers or a strided-convolution stack) followed by a linear *head*; a condition
vector (one-hot class or attributes) is concatenated to the body's features before the head, which is how
the conditional models condition.  Decoders mirror them: linear stem (code ⊕ condition) → MLP layers or
transposed convolutions → raw output of shape C×H×W (the model maps it to [-1, 1]: tanh for MSE,
2·sigmoid−1 for BCE).
"""

from __future__ import annotations

import math

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "leaky": lambda: nn.LeakyReLU(0.2),
               "elu": nn.ELU}


def mlp(dims: list[int], act: str = "relu", last_act: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2 or last_act:
            layers.append(ACTIVATIONS[act]())
    return nn.Sequential(*layers)


def conv_stages(size: int, max_stages: int = 4) -> int:
    """How many stride-2 halvings a square image of ``size`` takes (stop at an odd size or at 4 px)."""
    n = 0
    while size % 2 == 0 and size > 4 and n < max_stages:
        size //= 2
        n += 1
    return n


class EncoderBody(nn.Module):
    """Image → feature vector: flatten + MLP, or strided convolutions + flatten."""

    def __init__(self, image_shape: tuple[int, int, int], arch: str, hidden: list[int], width: int,
                 act: str = "relu"):
        super().__init__()
        c, h, w = image_shape
        if arch == "mlp":
            dims = [c * h * w, *hidden]
            self.net = nn.Sequential(nn.Flatten(), mlp(dims, act, last_act=True)) if hidden else nn.Flatten()
            self.out_dim = dims[-1]
        elif arch == "conv":
            n = conv_stages(h)
            layers: list[nn.Module] = []
            ch_in = c
            for i in range(n):
                ch = width * 2 ** i
                layers += [nn.Conv2d(ch_in, ch, 4, 2, 1), nn.BatchNorm2d(ch) if i else nn.Identity(),
                           nn.LeakyReLU(0.2)]
                ch_in = ch
            self.net = nn.Sequential(*layers, nn.Flatten())
            self.out_dim = ch_in * (h // 2 ** n) * (w // 2 ** n)
        else:
            raise ValueError(f"unknown arch {arch}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    """Code (⊕ condition) → raw image of shape C×H×W."""

    def __init__(self, in_dim: int, image_shape: tuple[int, int, int], arch: str, hidden: list[int],
                 width: int, act: str = "relu"):
        super().__init__()
        c, h, w = image_shape
        self.image_shape = image_shape
        if arch == "mlp":
            self.net = mlp([in_dim, *reversed(hidden), c * h * w], act)
        else:
            n = conv_stages(h)
            s = h // 2 ** n
            ch = width * 2 ** max(0, n - 1)
            layers: list[nn.Module] = [nn.Linear(in_dim, ch * s * s), nn.ReLU(), nn.Unflatten(1, (ch, s, s))]
            for i in reversed(range(n)):
                nxt = width * 2 ** max(0, i - 1) if i else width
                layers += [nn.ConvTranspose2d(ch, nxt, 4, 2, 1), nn.BatchNorm2d(nxt), nn.ReLU()]
                ch = nxt
            layers += [nn.Conv2d(ch, c, 3, 1, 1)]
            self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.image_shape)


def parse_widths(text: str | list[int] | tuple[int, ...]) -> list[int]:
    if isinstance(text, (list, tuple)):
        return [int(v) for v in text]
    return [int(v) for v in str(text).replace(" ", "").split(",") if v]


def flat_dim(image_shape: tuple[int, int, int]) -> int:
    return int(math.prod(image_shape))
