"""Adversarial losses, written on the discriminator's raw output (a *logit* ``l``, with D = σ(l)).

Working on logits keeps every log finite (log σ(l) = −softplus(−l), log(1 − σ(l)) = −softplus(l)).
Constant factors ½ of the lecture notes are dropped (they only rescale the learning rate).

``gan`` (Goodfellow et al. 2014), discriminator (cross-entropy, real → 1, fake → 0)::

    J_D = −E_x[log D(x)] − E_z[log(1 − D(G(z)))]           = E softplus(−l_real) + E softplus(l_fake)

and three generator losses (Goodfellow's NIPS 2016 tutorial, §3.2):

* ``minimax``         J_G = E_z[log(1 − D(G(z)))] = −E softplus(l_fake)      (= −J_D up to a G-free term;
  saturates: its gradient vanishes exactly when D confidently rejects the fakes, i.e. early on)
* ``non-saturating``  J_G = −E_z[log D(G(z))]     = E softplus(−l_fake)
* ``max-likelihood``  J_G = −E_z[exp(σ⁻¹(D(G(z))))] = −E exp(l_fake)        (D/(1−D) estimates p_data/p_g at
  D's optimum, so this minimises KL(p_data ‖ p_g); its gradient is dominated by the few fakes D likes)

``lsgan`` (Mao et al. 2017, a = 0, b = c = 1)::

    J_D = ½ E(l_real − 1)² + ½ E l_fake²,    J_G = ½ E(l_fake − 1)²

``wgan-gp`` (Gulrajani et al. 2017): the critic output l approximates a 1-Lipschitz f::

    J_D = E l_fake − E l_real + λ E_x̂[(‖∇_x̂ f(x̂)‖₂ − 1)²],  x̂ = εx + (1 − ε)x̃, ε ~ U[0, 1],    J_G = −E l_fake

Every G loss decreases as ``l_fake`` grows (the generator wants its images called real); every D loss
decreases as ``l_real`` grows and as ``l_fake`` shrinks (for LSGAN only short of its targets: l_real < 1,
l_fake > 0, and l_fake < 1 for G; beyond them the squares pull back).  ``tests/test_gans.py`` checks these.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

LOSSES = ("gan", "lsgan", "wgan-gp")
G_FORMS = ("non-saturating", "minimax", "max-likelihood")


def d_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Discriminator (critic) loss from logits on a real and a fake batch (gradient penalty not included)."""
    real, fake = real.float(), fake.float()
    if kind == "gan":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "lsgan":
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake ** 2).mean()
    if kind == "wgan-gp":
        return fake.mean() - real.mean()
    raise ValueError(f"unknown GAN loss {kind!r}; choose {', '.join(LOSSES)}")


def g_loss(kind: str, fake: torch.Tensor, form: str = "non-saturating") -> torch.Tensor:
    """Generator loss from the discriminator's logits on generated images."""
    fake = fake.float()
    if kind == "gan":
        if form == "non-saturating":
            return F.softplus(-fake).mean()
        if form == "minimax":
            return -F.softplus(fake).mean()
        if form == "max-likelihood":
            return -torch.exp(fake).mean()
        raise ValueError(f"unknown generator loss {form!r}; choose {', '.join(G_FORMS)}")
    if kind == "lsgan":
        return 0.5 * ((fake - 1) ** 2).mean()
    if kind == "wgan-gp":
        return -fake.mean()
    raise ValueError(f"unknown GAN loss {kind!r}; choose {', '.join(LOSSES)}")


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor) -> torch.Tensor:
    """E[(‖∇_x̂ critic(x̂)‖₂ − 1)²] on random interpolates x̂ = εx + (1 − ε)x̃ (one ε per image)."""
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    xhat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = critic(xhat)
    (grad,) = torch.autograd.grad(out.float().sum(), xhat, create_graph=True)
    return ((grad.flatten(1).float().norm(2, dim=1) - 1) ** 2).mean()


def lsgan_target(pred: torch.Tensor, is_real: bool) -> torch.Tensor:
    """Least-squares loss of a (patch) prediction against the constant target 1 (real) or 0 (fake)."""
    pred = pred.float()
    return ((pred - (1.0 if is_real else 0.0)) ** 2).mean()


def cycle_consistency(g_ab: Callable[[torch.Tensor], torch.Tensor], g_ba: Callable[[torch.Tensor], torch.Tensor],
                      a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """CycleGAN's L_cyc = E‖F(G(a)) − a‖₁ + E‖G(F(b)) − b‖₁ (pixel means), G: A→B, F: B→A."""
    return (g_ba(g_ab(a)) - a).abs().float().mean() + (g_ab(g_ba(b)) - b).abs().float().mean()


@torch.no_grad()
def d_stats(real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
    """Means of D(x), D(G(z)) and log D(x), log(1 − D(G(z))): saturation shows as d_fake → 0 early."""
    real, fake = real.float(), fake.float()
    return {"d_real": torch.sigmoid(real).mean(), "d_fake": torch.sigmoid(fake).mean(),
            "log_d_real": (-F.softplus(-real)).mean(), "log_1m_d_fake": (-F.softplus(fake)).mean()}
