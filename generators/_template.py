"""Template: a new generator is one file like this in ``generators/`` (without the leading underscore).

Copy it to ``generators/mymodel.py``, rename the class and the registered name, and fill in the nets.  The
registry finds the file by itself (:func:`mediatk.core.registry.discover`), so ``mediatk train mymodel``, ``mediatk
models mymodel``, ``mediatk generate``, the arena and ``tests/test_generators.py::test_contract`` pick it up.
This example is a real, if weak, model: a linear decoder from Gaussian noise trained as a least-squares GAN.
``tests/test_templates.py`` runs it through the same contract as the registered models.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from mediatk.core.options import opt
from mediatk.generators.base import Generator, StepContext, Update, register
from torch import nn


@dataclass
class TemplateConfig:  # every field is a CLI option (--z-dim, --lr) with this default and help text
    z_dim: int = opt(16, "noise dimension")
    lr: float = opt(2e-4, "Adam learning rate")


@register("template-gan", "Template: a linear generator and discriminator (least-squares GAN)")
class TemplateGAN(Generator):
    Config = TemplateConfig
    can_sample = True                      # needs = "images" (default); "labels" for conditional models

    def __init__(self, image_shape, cfg=None, num_classes=0, attr_names=()):
        super().__init__(image_shape, cfg, num_classes, attr_names)
        d = int(torch.tensor(self.image_shape).prod())
        self.g = nn.Sequential(nn.Linear(self.cfg.z_dim, d), nn.Tanh())
        self.d = nn.Linear(d, 1)

    def configure_optimizers(self):          # named optimisers; "g" owns the sampling path (the arena's evasion)
        return {"d": torch.optim.Adam(self.d.parameters(), self.cfg.lr, betas=(0.5, 0.999)),
                "g": torch.optim.Adam(self.g.parameters(), self.cfg.lr, betas=(0.5, 0.999))}

    def training_step(self, batch, ctx: StepContext) -> Iterator[Update]:
        x, _ = batch                         # the engine runs backward + step for each yielded Update, in order
        fake = self.sample(len(x), noise=self.sample_noise(len(x)).to(ctx.device))
        d_loss = ((self.d(x.flatten(1)) - 1) ** 2).mean() + (self.d(fake.detach().flatten(1)) ** 2).mean()
        yield Update("d", d_loss, {"d_loss": d_loss})
        g_loss = ((self.d(fake.flatten(1)) - 1) ** 2).mean()
        yield Update("g", g_loss, {"g_loss": g_loss})

    def sample_noise(self, n: int, gen: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.cfg.z_dim, generator=gen)

    def sample(self, n, cond=None, noise=None):  # images in [-1, 1], shape N x C x H x W
        z = noise if noise is not None else self.sample_noise(n).to(next(self.parameters()).device)
        return self.g(z).view(n, *self.image_shape)
