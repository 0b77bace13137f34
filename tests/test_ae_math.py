"""Checks of the autoencoder family and the VAE against their mathematics (lecture notes 000-003)."""

from __future__ import annotations

import torch
from mediatk.generators import create
from mediatk.generators.autoencoders import corrupt, kl_sparsity, quantise, top_k_mask
from mediatk.generators.vae import kl_normal


def test_vae_closed_form_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(3, 4, generator=g)
    logvar = torch.randn(3, 4, generator=g) * 0.5
    std = (0.5 * logvar).exp()
    n = 400_000
    z = mu + std * torch.randn(n, 3, 4, generator=g)
    log_q = torch.distributions.Normal(mu, std).log_prob(z).sum(-1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    mc = (log_q - log_p).mean(0)
    closed = kl_normal(mu, logvar)
    assert torch.allclose(mc, closed, rtol=0.02, atol=0.01), (mc, closed)


def test_kl_is_zero_for_the_prior():
    assert torch.allclose(kl_normal(torch.zeros(2, 5), torch.zeros(2, 5)), torch.zeros(2))


def test_kl_sparsity_penalty_is_zero_at_rho_and_positive_elsewhere():
    rho = 0.05
    assert float(kl_sparsity(torch.full((64,), rho), rho)) < 1e-9
    assert float(kl_sparsity(torch.full((64,), 0.2), rho)) > 0
    assert float(kl_sparsity(torch.full((64,), 0.01), rho)) > 0


def test_ksparse_keeps_exactly_k_units_and_only_they_get_gradient():
    model = create("ksparse-ae", (1, 8, 8), cfg=create("ksparse-ae", (1, 8, 8)).Config(code_size=40, k=7))
    x = torch.rand(5, 1, 8, 8) * 2 - 1
    a = model.pre_activation(x).detach().requires_grad_(True)
    h = model.code_activation(a)
    assert ((h != 0).sum(1) == 7).all()
    h.sum().backward()
    kept = top_k_mask(a.detach(), 7)
    assert torch.equal(a.grad != 0, kept.bool())


def test_contractive_penalty_matches_finite_difference_jacobian():
    torch.manual_seed(0)
    cfg = create("contractive-ae", (1, 4, 4)).Config(code_size=6)
    model = create("contractive-ae", (1, 4, 4), cfg=cfg).double()
    x = (torch.rand(1, 1, 4, 4, dtype=torch.float64) * 2 - 1)
    eps = 1e-6
    d = x.numel()
    jac = torch.zeros(6, d, dtype=torch.float64)
    for i in range(d):
        e = torch.zeros(d, dtype=torch.float64)
        e[i] = eps
        hp = model.encode((x.flatten() + e).view_as(x))
        hm = model.encode((x.flatten() - e).view_as(x))
        jac[:, i] = ((hp - hm) / (2 * eps))[0]
    fd = float((jac.detach() ** 2).sum())
    closed = float(model.jacobian_norm(model.encode(x))[0])
    assert abs(fd - closed) < 1e-6 * max(1.0, closed), (fd, closed)


def test_quantised_codes_take_at_most_2_to_the_bits_values():
    z = torch.linspace(-1, 1, 10_000)
    assert len(torch.unique(quantise(z, 6))) == 64
    assert len(torch.unique(quantise(z, 4))) == 16


def test_patch_compressor_shapes_and_bit_rate():
    cfg = create("ae", (1, 64, 64)).Config(arch="patch", code_size=16, activation="tanh", quant_bits=6)
    model = create("ae", (1, 64, 64), cfg=cfg)
    x = torch.rand(2, 1, 64, 64) * 2 - 1
    codes = model.encode(x)
    assert codes.shape == (2 * 64, 16)                # one 16-value code per 8x8 patch
    assert codes.abs().max() <= 1                      # tanh code
    assert model.reconstruct(x).shape == x.shape
    bits_per_pixel = 16 * cfg.quant_bits / 64
    assert bits_per_pixel == 1.5


def test_corruptions_hit_the_requested_fraction():
    x = torch.zeros(1, 1, 200, 200)
    g = torch.Generator().manual_seed(0)
    masked = corrupt(x, "masking", 0.3, g)
    assert abs(float((masked == -1).float().mean()) - 0.3) < 0.01
    sp = corrupt(x, "salt-pepper", 0.2, g)
    assert abs(float((sp != 0).float().mean()) - 0.2) < 0.01
    assert abs(float((sp == 1).float().mean()) - 0.1) < 0.01
    gauss = corrupt(x, "gaussian", 0.1, g)
    assert abs(float(gauss.std()) - 0.1) < 0.01
