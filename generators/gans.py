"""The GAN family: ``gan``, ``dcgan``, ``wgan-gp``, ``lsgan``, ``cgan`` (here), ``infogan``, ``cyclegan``.

Training is Goodfellow et al.'s minibatch algorithm, written once in :class:`AdversarialModel`::

    for k steps:   sample x ~ data (a fresh minibatch each time), z ~ p_z
                   ascend D's objective  →  yield Update("d", J_D)
    sample z ~ p_z; descend G's loss     →  yield Update("g", J_G)

(the fakes of the last D step are re-scored by the *updated* D for the G step, as pytorch/examples does:
the same z, so no second forward pass of G).  The losses and their maths are in :mod:`.gan_losses`, the
networks in :mod:`.gan_nets`.  Options shared by the family (``--loss gan|lsgan|wgan-gp``, ``--g-loss``,
``--k``, ``--minibatch-disc``, ``--aux-classifier``) live in :class:`AdversarialConfig`.  Unset ``--lr``,
``--beta1``, ``--beta2``, ``--k`` and ``--d-norm`` follow the recipe of the chosen loss: Adam 2e-4, β = (0.5,
0.999), k = 1 and BatchNorm in D for ``gan``/``lsgan`` (Radford et al.); Adam 1e-4, β = (0, 0.9), n_critic = 5
and LayerNorm in the critic for ``wgan-gp`` (Gulrajani et al.: a per-sample penalty must not see batch
statistics).

Conditioning (``cgan``, and ACGAN via ``--aux-classifier``): the condition c (one-hot class, or the attribute
vector with 0/1 mapped to −1/+1) is concatenated to z at G's input and, by default (``--g-cond cbn``), also
sets the scale and shift of each of G's BatchNorms (conditional BatchNorm), so that every stage sees it
(``--g-cond concat``: the input alone, as in Mirza & Osindero).  ``cgan``'s discriminator is a *projection discriminator*
(Miyato & Koyama 2018): D(x, c) = ψ(φ(x)) + ⟨W c, φ(x)⟩ with φ the conv trunk's flattened features, which
works the same for one-hot classes and multi-hot attributes.  ``--aux-classifier`` adds ACGAN's head
(Odena et al. 2017): D also predicts c (cross-entropy for classes, BCE per attribute) on real and fake
images, and G is trained to make its fakes classified as the c they were drawn with.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from mediatk.core.errors import ConfigError
from mediatk.core.options import opt
from mediatk.generators.base import Generator, StepContext, Update, register
from mediatk.generators.gan_losses import d_loss, d_stats, g_loss, gradient_penalty
from mediatk.generators.gan_nets import (
    DCDiscriminator,
    DCGenerator,
    MLPDiscriminator,
    MLPGenerator,
    aux_classifier_head,
)
from mediatk.generators.nets import parse_widths
from torch import nn


@dataclass
class AdversarialConfig:
    z_dim: int = opt(100, "size of the noise vector z ~ N(0, I)")
    loss: Literal["gan", "lsgan", "wgan-gp"] = opt("gan", "adversarial loss family")
    g_loss: Literal["non-saturating", "minimax", "max-likelihood"] = opt("non-saturating", "generator loss for --loss gan (Goodfellow's three forms)")
    k: int = opt(0, "discriminator (critic) steps per generator step (0: 1, or 5 for wgan-gp)")
    gp_weight: float = opt(10.0, "gradient-penalty weight λ (wgan-gp)")
    minibatch_disc: bool = opt(False, "minibatch discrimination features in D (Salimans et al. 2016)")
    aux_classifier: bool = opt(False, "ACGAN: D also classifies the label/attributes; G is conditioned on them")
    aux_weight: float = opt(1.0, "weight of the auxiliary classification loss")
    lr: float | None = opt(None, "Adam learning rate (default 2e-4; 1e-4 for wgan-gp)")
    beta1: float | None = opt(None, "Adam β1 (default 0.5; 0 for wgan-gp)")
    beta2: float | None = opt(None, "Adam β2 (default 0.999; 0.9 for wgan-gp)")


class AdversarialModel(Generator):
    """Shared machinery; subclasses build ``self.G`` and ``self.D`` in :meth:`build`."""

    Config = AdversarialConfig
    can_sample = True

    def __init__(self, image_shape, cfg=None, num_classes=0, attr_names=()):
        super().__init__(image_shape, cfg, num_classes, attr_names)
        c = self.cfg
        wg = c.loss == "wgan-gp"
        self.n_critic = c.k if c.k > 0 else (5 if wg else 1)
        self.lr = c.lr if c.lr is not None else (1e-4 if wg else 2e-4)
        self.betas = (c.beta1 if c.beta1 is not None else (0.0 if wg else 0.5),
                      c.beta2 if c.beta2 is not None else (0.9 if wg else 0.999))
        if c.aux_classifier and not self.label_dim:
            raise ConfigError("--aux-classifier needs labels: train on a labelled set or give --attr NAME")
        self.conditional = self.needs == "labels" or bool(c.aux_classifier)
        self.build()
        feat = self.D.feat_dim
        # projection discriminator for cgan: ⟨W c, φ(x)⟩ added to the logit
        self.embed = nn.Linear(self.cond_dim, feat, bias=False) if self.needs == "labels" else None
        self.aux = aux_classifier_head(feat, self.cond_dim) if c.aux_classifier else None

    # ---- what subclasses provide -------------------------------------------------------------------
    def build(self) -> None:
        raise NotImplementedError

    @property
    def latent_dim(self) -> int:
        return self.cfg.z_dim

    @property
    def cond_dim(self) -> int:  # an unconditional GAN trained on a labelled set ignores the labels
        return self.label_dim if getattr(self, "conditional", self.needs == "labels") else 0

    def d_extra(self, h_real, h_fake, y, latent, logs) -> torch.Tensor | float:
        """Extra discriminator-side loss (ACGAN's classifier); InfoGAN adds its Q term."""
        if self.aux is None:
            return 0.0
        loss = self._aux_loss(self.aux(h_real), y) + self._aux_loss(self.aux(h_fake), y)
        logs["aux_d"] = loss.detach() / 2
        return self.cfg.aux_weight * loss

    def g_extra(self, h_fake, y, latent, logs) -> torch.Tensor | float:
        if self.aux is None:
            return 0.0
        loss = self._aux_loss(self.aux(h_fake), y)
        logs["aux_g"] = loss.detach()
        return self.cfg.aux_weight * loss

    # ---- pieces ------------------------------------------------------------------------------------
    def _aux_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.attr_names:
            return F.binary_cross_entropy_with_logits(logits.float(), y.float().view(logits.shape))
        return F.cross_entropy(logits.float(), y.long().view(-1))

    def _cond(self, y: torch.Tensor) -> torch.Tensor | None:
        return self.condition_vector(y).to(y.device) if self.conditional else None

    def encode_cond(self, cond: torch.Tensor) -> torch.Tensor:
        """Attributes 0/1 → ±1, so "absent" is a signal of its own (a 0 would vanish from ⟨W c, φ⟩)."""
        return cond * 2 - 1 if self.attr_names else cond

    def g_input(self, latent: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        if not self.conditional:
            return latent
        if cond is None:
            raise ValueError(f"{self.name} is conditional: give a condition (class label or attributes)")
        return torch.cat([latent, self.encode_cond(cond.to(latent.dtype))], 1)

    def discriminate(self, x: torch.Tensor, cond: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(logit per image, D's feature vector); the projection term is added for cgan."""
        logit, h = self.D(x)
        if self.embed is not None and cond is not None:
            logit = logit + (self.embed(self.encode_cond(cond.to(h.dtype))) * h).sum(1)
        return logit, h

    def draw_latent(self, n: int, device: torch.device, gen: torch.Generator | None = None) -> torch.Tensor:
        return self.sample_noise(n, gen).to(device)

    def random_condition(self, n: int, gen: torch.Generator | None = None) -> torch.Tensor:
        if self.attr_names:
            return (torch.rand(n, len(self.attr_names), generator=gen) < 0.5).float()
        return self.condition_vector(torch.randint(0, self.num_classes, (n,), generator=gen))

    # ---- contract ----------------------------------------------------------------------------------
    def sample_noise(self, n: int, gen: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.cfg.z_dim, generator=gen)

    def sample(self, n, cond=None, noise=None):
        dev = next(self.parameters()).device
        z = (noise if noise is not None else self.sample_noise(n)).to(dev)
        if self.conditional and cond is None:
            cond = self.random_condition(z.shape[0])
        return self.G(self.g_input(z, cond.to(dev) if cond is not None and self.conditional else None))

    def configure_optimizers(self):
        g_params = list(self.G.parameters())
        ids = {id(p) for p in g_params}
        d_params = [p for p in self.parameters() if id(p) not in ids]
        return {"d": torch.optim.Adam(d_params, lr=self.lr, betas=self.betas),
                "g": torch.optim.Adam(g_params, lr=self.lr, betas=self.betas)}

    def training_step(self, batch, ctx: StepContext) -> Iterator[Update]:
        kind = self.cfg.loss
        x, y = batch
        for i in range(self.n_critic):
            if i:
                x, y = ctx.next_batch()  # Goodfellow: each D step sees a fresh minibatch
            cond = self._cond(y)
            latent = self.draw_latent(x.shape[0], x.device)
            with torch.set_grad_enabled(i == self.n_critic - 1):  # G's graph kept only for the G step
                fake = self.G(self.g_input(latent, cond))
            r, h_r = self.discriminate(x, cond)
            f, h_f = self.discriminate(fake.detach(), cond)
            loss = d_loss(kind, r, f)
            if kind == "wgan-gp":
                logs = {"critic_gap": (r.mean() - f.mean()).detach()}
                gp = gradient_penalty(lambda t, c=cond: self.discriminate(t, c)[0], x, fake)
                loss = loss + self.cfg.gp_weight * gp
                logs["gp"] = gp.detach()
            else:
                logs = d_stats(r, f)
            loss = loss + self.d_extra(h_r, h_f, y, latent, logs)
            yield Update("d", loss, logs)
        f, h_f = self.discriminate(fake, cond)
        glogs: dict[str, torch.Tensor] = {}
        loss = g_loss(kind, f, self.cfg.g_loss) + self.g_extra(h_f, y, latent, glogs)
        yield Update("g", loss, glogs)


# ---------------------------------------------------------------------------------------------------------
# the models


@dataclass
class GANConfig(AdversarialConfig):
    g_hidden: str = opt("256,512,1024", "G's hidden widths (ReLU)")
    d_hidden: str = opt("512,256", "D's hidden widths (LeakyReLU 0.2)")


@register("gan", "Goodfellow's GAN: MLP G and D, k D-steps per G-step, minimax/non-saturating/ML generator loss")
class GAN(AdversarialModel):
    Config = GANConfig

    def build(self) -> None:
        c = self.cfg
        self.G = MLPGenerator(self.latent_dim + (self.cond_dim if self.conditional else 0), self.image_shape,
                              parse_widths(c.g_hidden))
        self.D = MLPDiscriminator(self.image_shape, parse_widths(c.d_hidden), c.minibatch_disc)


@dataclass
class DCGANConfig(AdversarialConfig):
    g_width: int = opt(64, "G channels at the last stage (ngf; ×2 per stage towards 4×4)")
    d_width: int = opt(64, "D channels at the first stage (ndf)")
    upsample: Literal["transpose", "subpixel", "resize"] = opt("transpose", "G's ×2 up-sampling layer")
    d_norm: Literal["auto", "batch", "layer", "none"] = opt("auto", "D normalisation (auto: batch; layer for wgan-gp)")
    g_cond: Literal["cbn", "concat"] = opt("cbn", "conditional G (cgan, --aux-classifier): condition concatenated "
                                                  "to z, and with cbn also setting every BatchNorm's scale/shift")


@register("dcgan", "DCGAN (Radford et al.): conv G/D, BatchNorm, transpose|subpixel|resize up-sampling")
class DCGAN(AdversarialModel):
    Config = DCGANConfig

    def build(self) -> None:
        c = self.cfg
        if self.image_shape[1] != self.image_shape[2]:
            raise ConfigError(f"{self.name} needs square images, got {self.image_shape[1]}×{self.image_shape[2]}")
        norm = c.d_norm if c.d_norm != "auto" else ("layer" if c.loss == "wgan-gp" else "batch")
        if c.loss == "wgan-gp" and norm == "batch":
            raise ConfigError("--loss wgan-gp penalises per-sample gradients: use --d-norm layer or none")
        in_dim = self.latent_dim + (self.cond_dim if self.conditional else 0)
        cbn = self.cond_dim if self.conditional and c.g_cond == "cbn" else 0
        self.G = DCGenerator(in_dim, self.image_shape, c.g_width, c.upsample, cbn_dim=cbn)
        self.D = DCDiscriminator(self.image_shape, c.d_width, norm, c.minibatch_disc)


@dataclass
class WGANGPConfig(DCGANConfig):
    loss: Literal["gan", "lsgan", "wgan-gp"] = opt("wgan-gp", "adversarial loss family")


@register("wgan-gp", "WGAN-GP: DCGAN nets, Wasserstein critic with gradient penalty 10, n_critic 5, LayerNorm")
class WGANGP(DCGAN):
    Config = WGANGPConfig


@dataclass
class LSGANConfig(DCGANConfig):
    loss: Literal["gan", "lsgan", "wgan-gp"] = opt("lsgan", "adversarial loss family")


@register("lsgan", "LSGAN: DCGAN nets with least-squares losses (a=0, b=c=1)")
class LSGAN(DCGAN):
    Config = LSGANConfig


@register("cgan", "Conditional DCGAN: condition into z and G's BatchNorms (--g-cond); projection discriminator")
class CGAN(DCGAN):
    needs = "labels"


