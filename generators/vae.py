"""Variational autoencoders: ``vae`` and the conditional ``cvae``.

Encoder q(z|x[,c]) = N(μ, diag σ²) with the network predicting (μ, log σ²); reparameterisation
z = μ + σ·ε; decoder p(x|z[,c]) Bernoulli (BCE, on pixels mapped to [0, 1]) or Gaussian (MSE).
Loss (negative ELBO, per image, batch mean):  reconstruction + β·KL(q(z|x) ‖ N(0, I)), with the closed form
KL = ½ Σ_j (μ_j² + σ_j² − log σ_j² − 1).  Sampling decodes z ~ N(0, I).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from mediatk.core.options import opt
from mediatk.generators.autoencoders import reconstruction_loss, to_image
from mediatk.generators.base import Generator, StepContext, Update, register
from mediatk.generators.nets import Decoder, EncoderBody, parse_widths
from torch import nn


def kl_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Closed-form KL(N(μ, σ²) ‖ N(0, 1)) summed over latent dimensions, one value per row."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(1)


@dataclass
class VAEConfig:
    arch: Literal["mlp", "conv"] = opt("conv", "encoder/decoder type")
    latent_dim: int = opt(16, "size of z")
    hidden: str = opt("512,256", "MLP hidden widths (mlp arch)")
    width: int = opt(32, "channels of the first conv stage (conv arch)")
    recon: Literal["bce", "mse"] = opt("bce", "reconstruction term: Bernoulli (bce) or Gaussian (mse)")
    beta: float = opt(1.0, "weight β of the KL term")
    lr: float = opt(1e-3, "Adam learning rate")


@register("vae", "Variational autoencoder: Gaussian encoder, reparameterisation, closed-form KL, beta weight")
class VAE(Generator):
    Config = VAEConfig
    can_sample = True
    can_reconstruct = True
    generator_optimizer = "vae"

    def __init__(self, image_shape, cfg=None, num_classes=0, attr_names=()):
        super().__init__(image_shape, cfg, num_classes, attr_names)
        c = self.cfg
        hidden = parse_widths(c.hidden) if c.arch == "mlp" else []
        cd = self.cond_dim
        self.body = EncoderBody(self.image_shape, c.arch, hidden, c.width)
        self.head = nn.Linear(self.body.out_dim + cd, 2 * c.latent_dim)
        self.decoder = Decoder(c.latent_dim + cd, self.image_shape, c.arch, hidden, c.width)

    # conditioning helpers (no-ops for the unconditional VAE)
    def _cat(self, h: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        if not self.cond_dim:
            return h
        if cond is None:
            raise ValueError(f"{self.name} needs a condition (class label or attributes)")
        return torch.cat([h, cond.to(h.dtype)], 1)

    def encode_dist(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(self._cat(self.body(x), cond)).chunk(2, dim=1)
        return mu, logvar.clamp(-30, 20)

    def encode(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.encode_dist(x, cond)[0]

    def decode(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return to_image(self.decoder(self._cat(z, cond)), self.cfg.recon)

    def reconstruct(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(x, cond), cond)

    def sample_noise(self, n: int, gen: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.cfg.latent_dim, generator=gen)

    def sample(self, n, cond=None, noise=None):
        dev = next(self.parameters()).device
        z = noise.to(dev) if noise is not None else self.sample_noise(n).to(dev)
        return self.decode(z, cond.to(dev) if cond is not None else None)

    def configure_optimizers(self):
        return {"vae": torch.optim.Adam(self.parameters(), lr=self.cfg.lr)}

    def elbo_terms(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        mu, logvar = self.encode_dist(x, cond)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        rec = reconstruction_loss(self.decoder(self._cat(z, cond)), x, self.cfg.recon)
        kl = kl_normal(mu, logvar).mean()
        return {"recon": rec, "kl": kl}

    def training_step(self, batch, ctx: StepContext) -> Iterator[Update]:
        x, y = batch
        cond = self.condition_vector(y) if self.cond_dim else None
        t = self.elbo_terms(x, cond)
        yield Update("vae", t["recon"] + self.cfg.beta * t["kl"], {k: v.detach() for k, v in t.items()})


@register("cvae", "Conditional VAE: encoder and decoder conditioned on a class label or named attributes")
class CVAE(VAE):
    needs = "labels"

    def preview(self, fixed):
        return self.sample(fixed["noise"].shape[0], cond=fixed["cond"], noise=fixed["noise"])
