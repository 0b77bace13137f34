"""The autoencoder family: plain, denoising, sparse (L1 / KL), k-sparse and contractive.

All share :class:`Autoencoder`: an encoder (body + linear head to the code), a code activation, a decoder,
and one training step ``loss = reconstruction(decode(encode(corrupt(x))), x) + penalty``.  Subclasses
change only the part the lectures change:

=================  =========================================================================================
``ae``             nothing (MLP or conv; MSE or BCE); ``--arch patch`` is the MLP lecture's 64-16-64 tanh
                   compressor on 8×8 patches with its code quantised to ``--quant-bits`` (6 → 1.5 bit/px,
                   4 → 1 bit/px) at reconstruction time
``dae``            ``corrupt``: gaussian, masking or salt-and-pepper noise; the loss compares with clean x
``sparse-ae``      overcomplete sigmoid code + L1 penalty λ·Σ|h_j| or KL penalty β·Σ_j KL(ρ‖ρ̂_j)
``ksparse-ae``     only the k largest code units are kept (the others are zeroed, so get no gradient)
``contractive-ae`` one sigmoid layer encoder + λ‖∂h/∂x‖²_F (closed form for that encoder)
=================  =========================================================================================

Images are in [-1, 1].  With ``--loss bce`` the decoder's raw output is a logit for the pixel mapped to
[0, 1]; with ``mse`` it is passed through tanh.  Reconstruction losses are summed over pixels and averaged
over the batch, so penalties compare on the scale of one image.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from mediatk.core.options import opt
from mediatk.generators.base import Generator, StepContext, Update, register
from mediatk.generators.nets import ACTIVATIONS, Decoder, EncoderBody, parse_widths
from torch import nn

# ---------------------------------------------------------------------------------------------------------
# shared pieces


def reconstruction_loss(raw: torch.Tensor, x: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-image summed loss, batch mean.  ``raw`` is the decoder output before the output map."""
    if kind == "bce":
        per = F.binary_cross_entropy_with_logits(raw, (x + 1) / 2, reduction="none")
    else:
        per = (torch.tanh(raw) - x) ** 2
    return per.flatten(1).sum(1).mean()


def to_image(raw: torch.Tensor, kind: str) -> torch.Tensor:
    return torch.sigmoid(raw) * 2 - 1 if kind == "bce" else torch.tanh(raw)


def kl_sparsity(rho_hat: torch.Tensor, rho: float, eps: float = 1e-6) -> torch.Tensor:
    """Σ_j KL(ρ ‖ ρ̂_j) between Bernoulli(ρ) and Bernoulli(ρ̂_j); zero exactly when every ρ̂_j = ρ."""
    r = rho_hat.clamp(eps, 1 - eps)
    return (rho * torch.log(rho / r) + (1 - rho) * torch.log((1 - rho) / (1 - r))).sum()


def corrupt(x: torch.Tensor, kind: str, level: float, gen: torch.Generator | None = None) -> torch.Tensor:
    """Denoising corruption of images in [-1, 1].

    gaussian: x + level·ε (clamped); masking: a fraction ``level`` of pixels set to black (−1);
    salt-pepper: a fraction ``level`` set to −1 or +1 with equal odds.
    """
    if level <= 0:
        return x
    if kind == "gaussian":
        return (x + level * torch.randn(x.shape, generator=gen, device=x.device)).clamp(-1, 1)
    u = torch.rand(x.shape, generator=gen, device=x.device)
    hit = u < level
    if kind == "masking":
        return torch.where(hit, torch.full_like(x, -1.0), x)
    if kind == "salt-pepper":
        salt = torch.rand(x.shape, generator=gen, device=x.device) < 0.5
        return torch.where(hit, torch.where(salt, torch.ones_like(x), -torch.ones_like(x)), x)
    raise ValueError(f"unknown corruption {kind}")


def quantise(z: torch.Tensor, bits: int) -> torch.Tensor:
    """Uniform quantisation of codes in [-1, 1] to 2**bits levels (straight-through in training)."""
    levels = 2 ** bits - 1
    q = torch.round((z.clamp(-1, 1) + 1) / 2 * levels) / levels * 2 - 1
    return z + (q - z).detach()


# ---------------------------------------------------------------------------------------------------------
# the base autoencoder


@dataclass
class AEConfig:
    arch: Literal["mlp", "conv", "patch"] = opt("mlp", "encoder/decoder type (patch: 8x8-patch MLP compressor)")
    code_size: int = opt(32, "size of the code (hidden layer)")
    hidden: str = opt("256", "MLP hidden widths between input and code, comma-separated ('' for none)")
    width: int = opt(32, "channels of the first conv stage (conv arch)")
    activation: Literal["relu", "tanh", "sigmoid", "leaky", "elu"] = opt("relu", "hidden activation")
    loss: Literal["mse", "bce"] = opt("mse", "reconstruction loss")
    quant_bits: int = opt(0, "quantise the code to this many bits at reconstruction (0: off; patch arch)")
    lr: float = opt(1e-3, "Adam learning rate")
    weight_decay: float = opt(0.0, "Adam weight decay")


class Autoencoder(Generator):
    """Deterministic autoencoder; subclasses override the hooks below."""

    Config = AEConfig
    can_reconstruct = True
    code_activation_name = "linear"

    def __init__(self, image_shape, cfg=None, num_classes=0, attr_names=()):
        super().__init__(image_shape, cfg, num_classes, attr_names)
        c = self.cfg
        shape = self.image_shape
        if c.arch == "patch":
            # The MLP lecture's compressor: each 8×8 patch (64 values) → code (16, tanh) → 64 values.
            self.patch = 8
            if shape[1] % 8 or shape[2] % 8:
                raise ValueError("--arch patch needs an image size divisible by 8")
            in_shape = (shape[0], 8, 8)
        else:
            self.patch = 0
            in_shape = shape
        hidden = [] if c.arch == "patch" else parse_widths(c.hidden)
        self.body = EncoderBody(in_shape, "mlp" if c.arch == "patch" else c.arch, hidden, c.width, c.activation)
        self.head = nn.Linear(self.body.out_dim, c.code_size)
        self.decoder = Decoder(c.code_size, in_shape, "mlp" if c.arch == "patch" else c.arch, hidden, c.width,
                               c.activation)
        self._in_shape = in_shape

    # hooks -----------------------------------------------------------------------------------------------
    def code_activation(self, a: torch.Tensor) -> torch.Tensor:
        return torch.tanh(a) if self.cfg.arch == "patch" else a

    def penalty(self, x: torch.Tensor, a: torch.Tensor, h: torch.Tensor) -> dict[str, torch.Tensor]:
        """Extra loss terms given input, pre-activation ``a`` and code ``h``; logged under their names."""
        return {}

    def corrupt_input(self, x: torch.Tensor) -> torch.Tensor:
        return x

    # patches ---------------------------------------------------------------------------------------------
    def _to_patches(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        p = self.patch
        t = x.unfold(2, p, p).unfold(3, p, p)                      # n c h/p w/p p p
        return t.permute(0, 2, 3, 1, 4, 5).reshape(-1, c, p, p)

    def _from_patches(self, t: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        n, c, h, w = shape
        p = self.patch
        t = t.view(n, h // p, w // p, c, p, p).permute(0, 3, 1, 4, 2, 5)
        return t.reshape(n, c, h, w)

    # encode / decode -------------------------------------------------------------------------------------
    def pre_activation(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if self.patch:
            x = self._to_patches(x)
        return self.code_activation(self.pre_activation(x))

    def decode_raw(self, h: torch.Tensor) -> torch.Tensor:
        return self.decoder(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return to_image(self.decode_raw(z), self.cfg.loss)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encode(x)
        if self.patch and self.cfg.quant_bits:
            h = quantise(h, self.cfg.quant_bits)
        out = self.decode(h)
        return self._from_patches(out, x.shape) if self.patch else out

    # training --------------------------------------------------------------------------------------------
    def configure_optimizers(self):
        return {"ae": torch.optim.Adam(self.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)}

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        target = self._to_patches(x) if self.patch else x
        xin = self.corrupt_input(x)
        if self.patch:
            xin = self._to_patches(xin)
        a = self.pre_activation(xin)
        h = self.code_activation(a)
        if self.patch and self.cfg.quant_bits and self.training:
            h = quantise(h, self.cfg.quant_bits)
        rec = reconstruction_loss(self.decode_raw(h), target, self.cfg.loss)
        if self.patch:  # per patch → per image, so the scale matches the whole-image models
            rec = rec * (target.shape[0] / x.shape[0])
        return {"recon": rec, **self.penalty(xin, a, h)}

    def training_step(self, batch, ctx: StepContext) -> Iterator[Update]:
        x, _ = batch
        parts = self.losses(x)
        loss = sum(parts.values())
        yield Update("ae", loss, {k: v.detach() for k, v in parts.items()})


@register("ae", "Autoencoder, MLP or conv (MSE/BCE); --arch patch is the 64-16-64 8x8-patch compressor")
class PlainAE(Autoencoder):
    pass


# ---------------------------------------------------------------------------------------------------------
# denoising


@dataclass
class DAEConfig(AEConfig):
    noise: Literal["gaussian", "masking", "salt-pepper"] = opt("gaussian", "corruption applied to the input")
    noise_level: float = opt(0.3, "gaussian sigma, or fraction of corrupted pixels")


@register("dae", "Denoising autoencoder: gaussian, masking or salt-and-pepper corruption, loss vs clean input")
class DenoisingAE(Autoencoder):
    Config = DAEConfig

    def corrupt_input(self, x: torch.Tensor) -> torch.Tensor:
        return corrupt(x, self.cfg.noise, self.cfg.noise_level) if self.training else x

    def corrupt_for_display(self, x: torch.Tensor) -> torch.Tensor:
        return corrupt(x, self.cfg.noise, self.cfg.noise_level)


# ---------------------------------------------------------------------------------------------------------
# sparse


@dataclass
class SparseConfig(AEConfig):
    code_size: int = opt(1024, "size of the (overcomplete) code")
    hidden: str = opt("", "MLP hidden widths before the code ('' : one hidden layer, the code)")
    penalty: Literal["kl", "l1"] = opt("kl", "sparsity penalty on the sigmoid code")
    sparsity_weight: float = opt(0.1, "weight of the sparsity penalty (λ for L1, β for KL)")
    rho: float = opt(0.05, "target mean activation ρ for the KL penalty")


@register("sparse-ae", "Sparse autoencoder: overcomplete sigmoid code with L1 or KL(rho||rho_hat) penalty")
class SparseAE(Autoencoder):
    Config = SparseConfig

    def code_activation(self, a):
        return torch.sigmoid(a)

    def penalty(self, x, a, h):
        if self.cfg.penalty == "l1":
            return {"sparsity": self.cfg.sparsity_weight * h.abs().sum(1).mean()}
        return {"sparsity": self.cfg.sparsity_weight * kl_sparsity(h.mean(0), self.cfg.rho)}


# ---------------------------------------------------------------------------------------------------------
# k-sparse


@dataclass
class KSparseConfig(AEConfig):
    code_size: int = opt(256, "size of the code")
    hidden: str = opt("", "MLP hidden widths before the code")
    k: int = opt(25, "number of code units kept per input")


def top_k_mask(a: torch.Tensor, k: int) -> torch.Tensor:
    """1 for the k largest entries of each row, 0 elsewhere."""
    idx = a.topk(min(k, a.shape[1]), dim=1).indices
    return torch.zeros_like(a).scatter_(1, idx, 1.0)


@register("ksparse-ae", "k-sparse autoencoder: only the k largest code units are kept (and get gradients)")
class KSparseAE(Autoencoder):
    Config = KSparseConfig

    def code_activation(self, a):
        return a * top_k_mask(a.detach(), self.cfg.k)


# ---------------------------------------------------------------------------------------------------------
# contractive


@dataclass
class ContractiveConfig(AEConfig):
    arch: Literal["mlp", "conv", "patch"] = opt("mlp", "must be mlp: the penalty is closed-form for one layer")
    hidden: str = opt("", "must be empty: the encoder is one sigmoid layer h = σ(Wx + b)")
    code_size: int = opt(128, "size of the code")
    contraction: float = opt(0.1, "weight λ of the contractive penalty ‖∂h/∂x‖²_F")


@register("contractive-ae", "Contractive autoencoder: sigmoid encoder + lambda * ||dh/dx||_F^2")
class ContractiveAE(Autoencoder):
    Config = ContractiveConfig

    def __init__(self, image_shape, cfg=None, num_classes=0, attr_names=()):
        super().__init__(image_shape, cfg, num_classes, attr_names)
        if self.cfg.arch != "mlp" or parse_widths(self.cfg.hidden):
            raise ValueError("contractive-ae uses a one-layer MLP encoder: --arch mlp --hidden ''")

    def code_activation(self, a):
        return torch.sigmoid(a)

    def jacobian_norm(self, h: torch.Tensor) -> torch.Tensor:
        """‖∂h/∂x‖²_F per input for h = σ(Wx+b): Σ_j (h_j(1−h_j))² Σ_i W_ji²."""
        w2 = (self.head.weight ** 2).sum(1)  # (code,)
        return ((h * (1 - h)) ** 2 * w2).sum(1)

    def penalty(self, x, a, h):
        return {"contractive": self.cfg.contraction * self.jacobian_norm(h).mean()}


ALL: list[type[Any]] = [PlainAE, DenoisingAE, SparseAE, KSparseAE, ContractiveAE]
__all__ = ["ACTIVATIONS", "AEConfig", "Autoencoder", "corrupt", "kl_sparsity", "quantise", "top_k_mask"]
