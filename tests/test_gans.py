"""The GAN family: contract, losses, up-sampling equivalence, CycleGAN pieces, InfoGAN's Q, CLI.

Everything runs on CPU with tiny nets and tiny real batches (Fashion-MNIST, GENKI faces, smile2neutral).
"""

from __future__ import annotations

import math

import pytest
import torch
from mediatk.core.options import parse_options
from mediatk.core.registry import GENERATORS
from mediatk.core.runs import RunDir
from mediatk.generators import from_checkpoint
from mediatk.generators.cyclegan import CycleGAN, ImagePool, pair_rows
from mediatk.generators.engine import Feed, PairFeed, TrainConfig, fit
from mediatk.generators.gan_losses import G_FORMS, d_loss, g_loss, gradient_penalty
from mediatk.generators.gan_nets import subpixel_to_transpose, transpose_to_subpixel, up_layer
from mediatk.generators.train import load_training_data
from torch import nn

SMALL = ["--g-width", "8", "--d-width", "8"]
MODELS = {  # name: (data, image size, attrs, options)
    "gan": ("fashion-mnist", 28, None, ["--g-hidden", "32", "--d-hidden", "32", "--z-dim", "8"]),
    "dcgan": ("fashion-mnist", 32, None, SMALL + ["--upsample", "subpixel", "--minibatch-disc"]),
    "wgan-gp": ("fashion-mnist", 32, None, SMALL + ["--k", "2"]),
    "lsgan": ("fashion-mnist", 28, None, SMALL + ["--upsample", "resize", "--aux-classifier"]),
    "cgan": ("celeba-genki-smiling", 32, ["smiling"], SMALL),
    "infogan": ("fashion-mnist", 28, None, SMALL),
    "cyclegan": ("smile2neutral", 32, None, ["--width", "4", "--n-blocks", "1", "--pool-size", "4"]),
}


def fit_tiny(name, tmp_path, steps=1, batch=8, limit=16, options=None, data=None, size=None):
    """Build a model from real data and train it ``steps`` steps through the engine (returns model, result)."""
    d, s, attrs, opts = MODELS.get(name, (data, size, None, []))
    cls = GENERATORS.get(name)
    cfg = parse_options(cls.Config, options if options is not None else opts)
    images, targets, info = load_training_data(cls, data or d, size or s, None, attrs, limit=limit)
    if cls.needs == "unpaired":
        a, b = (t[:limit] for t in images)
        feed = PairFeed(Feed(a, torch.zeros(len(a)), batch), Feed(b, torch.zeros(len(b)), batch, seed=1))
        model = cls(tuple(a.shape[1:]), cfg)
    else:
        feed = Feed(images, targets, batch)
        classes = len(info["classes"] or []) if not attrs else 0
        model = cls(tuple(images.shape[1:]), cfg, num_classes=classes, attr_names=tuple(info["attr_names"]))
    tc = TrainConfig(steps=steps, batch_size=batch, device="cpu", progress=False, n_preview=8, log_every=max(1, steps))
    res = fit(model, feed, RunDir(tmp_path / name), tc)
    return model.eval(), res, images


@pytest.mark.parametrize("name", list(MODELS))
def test_contract_one_step(name, tmp_path, shared_data):
    model, res, images = fit_tiny(name, tmp_path)
    losses = {k: v for rec in res.history for k, v in rec.items() if k not in ("step", "epoch", "time")}
    assert {"g_loss", "d_loss"} <= set(losses)
    assert all(math.isfinite(v) for v in losses.values()), losses
    loaded = from_checkpoint(res.last_checkpoint, expect_model=name)
    c, s = model.image_shape[0], model.image_shape[1]
    with torch.no_grad():
        if name == "cyclegan":
            x = images[0][:4]
            for d in ("a2b", "b2a"):
                y = model.translate(x, d)
                assert y.shape == x.shape and y.abs().max() <= 1
                assert torch.allclose(y, loaded.translate(x, d), atol=1e-6)
            return
        noise = model.sample_noise(6, torch.Generator().manual_seed(1))
        cond = model.random_condition(6, torch.Generator().manual_seed(2)) if model.cond_dim else None
        out = model.sample(6, cond=cond, noise=noise)
        assert out.shape == (6, c, s, s)
        assert out.min() >= -1 and out.max() <= 1
        assert torch.allclose(out, loaded.sample(6, cond=cond, noise=noise), atol=1e-6)


def test_losses_signs_and_values():
    # logits where every loss still has work to do (LSGAN's targets are 1 and 0: beyond them it pulls back)
    r = torch.tensor([0.9, 0.5, -1.0], requires_grad=True)
    f = torch.tensor([0.1, 0.5, 0.9], requires_grad=True)
    for kind in ("gan", "lsgan", "wgan-gp"):
        for form in (G_FORMS if kind == "gan" else ("non-saturating",)):
            (gr, gf) = torch.autograd.grad(d_loss(kind, r, f), (r, f))
            assert (gr < 0).all() and (gf > 0).all(), kind  # D: push real up, fake down
            gl = g_loss(kind, f, form)
            (gg,) = torch.autograd.grad(gl, f)
            assert torch.isfinite(gl) and (gg < 0).all(), (kind, form)  # G: push fake up
    assert d_loss("gan", r, f) > 0 and d_loss("lsgan", r, f) > 0
    perfect = d_loss("gan", torch.full((4,), 20.0), torch.full((4,), -20.0))
    assert 0 <= perfect < 1e-6
    assert d_loss("wgan-gp", torch.ones(3), -torch.ones(3)) == -2
    fk = torch.tensor([-3.0, 0.0])
    assert g_loss("gan", fk, "non-saturating") > 0 and g_loss("gan", fk, "minimax") < 0
    assert torch.isclose(g_loss("gan", fk, "max-likelihood"), -(torch.exp(fk)).mean())
    # minimax saturates: tiny gradient when D rejects the fakes, unlike the non-saturating loss
    far = torch.tensor([-8.0], requires_grad=True)
    (mm,) = torch.autograd.grad(g_loss("gan", far, "minimax"), far)
    (ns,) = torch.autograd.grad(g_loss("gan", far, "non-saturating"), far)
    assert mm.abs() < 1e-3 < ns.abs()
    # gradient penalty of a linear critic f(x) = w·x is (‖w‖ − 1)²
    for norm, want in ((1.0, 0.0), (3.0, 4.0)):
        w = torch.randn(12)
        w = w / w.norm() * norm
        gp = gradient_penalty(lambda x, w=w: x.flatten(1) @ w, torch.randn(5, 3, 2, 2), torch.randn(5, 3, 2, 2))
        assert abs(gp.item() - want) < 1e-4


def test_subpixel_equals_transposed_conv():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 7, 6)
    sub = up_layer(5, 3, "subpixel")  # conv k3 → 4·3 channels, PixelShuffle(2)
    t = subpixel_to_transpose(sub[0])  # ConvTranspose2d(k 6, s 2, p 2) built from the sub-pixel weights
    assert isinstance(t, nn.ConvTranspose2d) and t.stride == (2, 2)
    assert torch.allclose(sub(x), t(x), atol=1e-5)
    tr = up_layer(5, 3, "transpose", bias=True)  # DCGAN's k4 s2 p1, the other way round
    nn.init.normal_(tr.bias)
    assert torch.allclose(tr(x), transpose_to_subpixel(tr)(x), atol=1e-5)
    assert up_layer(5, 3, "resize")(x).shape == (2, 3, 14, 12)


def test_cycle_loss_zero_for_identity_generators(shared_data):
    model = CycleGAN((3, 32, 32), parse_options(CycleGAN.Config, ["--width", "4", "--n-blocks", "1"]))
    a, b = torch.rand(3, 3, 32, 32) * 2 - 1, torch.rand(3, 3, 32, 32) * 2 - 1
    assert model.cycle_loss(a, b).item() > 0
    model.g_ab, model.g_ba = nn.Identity(), nn.Identity()
    assert model.cycle_loss(a, b).item() == 0


def test_image_pool_returns_stored_half_the_time():
    pool = ImagePool(50, gen=torch.Generator().manual_seed(0))
    first = torch.arange(50.0).view(50, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: every new image is returned and stored
    stored, total = 0, 0
    for i in range(200):
        new = (1000 + 10 * i + torch.arange(10.0)).view(10, 1, 1, 1)
        out = pool.query(new)
        stored += int((out != new).sum())
        total += 10
        assert len(pool.images) == 50
    frac = stored / total
    assert abs(frac - 0.5) < 0.04, frac
    kept = torch.stack(pool.images).flatten()
    assert (kept >= 1000).sum() > 40  # the pool holds recent fakes once swapped


def test_pair_rows_layout():
    top, bottom = torch.zeros(8, 1, 2, 2), torch.ones(8, 1, 2, 2) * -1
    grid = pair_rows(top, bottom)
    assert len(grid) == 16  # 4 per row (⌈√16⌉): inputs, outputs, inputs, outputs
    assert (grid[:4] == 0).all() and (grid[4:8] == -1).all()


def test_infogan_q_recovers_categorical_code(tmp_path, shared_data):
    torch.manual_seed(0)
    model, _, _ = fit_tiny("infogan", tmp_path, steps=80, batch=32, limit=1000,
                             options=SMALL + ["--z-dim", "16"])
    gen = torch.Generator().manual_seed(5)
    lat = model.sample_noise(400, gen)
    with torch.no_grad():
        pred, _ = model.predict_codes(model.sample(400, noise=lat))
    acc = (pred == model.split_codes(lat)[0]).float().mean().item()
    print(f"InfoGAN Q accuracy on its own samples after 80 steps: {acc:.3f} (chance 0.1)")
    assert acc > 0.2, f"Q accuracy {acc:.3f} (chance 0.1) after 80 steps"
    grid = model.generate_special(n=64, gen=gen, code=0)
    assert grid.shape == (100, 1, 28, 28)  # 10 noise rows × 10 categories
    assert model.generate_special(n=64, gen=gen, code=2).shape == (81, 1, 28, 28)


def test_cli_train_generate_and_errors(cli, tmp_path, shared_data):
    run = tmp_path / "dc"
    code, _, err = cli("train", "dcgan", "--data", "fashion-mnist", "--steps", "3", "--image-size", "32",
                         "--quiet", "--out", run, "--limit", "256", "--g-width", "16", "--d-width", "16")
    assert code == 0, err
    code, _, err = cli("generate", "--model", "dcgan", "--checkpoint", run, "-n", "8", "--out", tmp_path / "x.png")
    assert code == 0, err
    assert (tmp_path / "x.png").stat().st_size > 0
    crun = tmp_path / "cg"
    code, _, err = cli("train", "cgan", "--data", "celeba-genki-smiling", "--attr", "smiling", "--steps", "1",
                         "--image-size", "32", "--quiet", "--out", crun, "--limit", "32", *SMALL)
    assert code == 0, err
    code, _, err = cli("generate", "--model", "cgan", "--checkpoint", crun, "-n", "4", "--attr", "smiling=0",
                         "--out", tmp_path / "c.png")
    assert code == 0, err
    code, _, err = cli("generate", "--model", "cgan", "--checkpoint", crun, "-n", "4", "--attr", "nonexistent",
                         "--out", tmp_path / "bad.png")
    assert code != 0
    assert len(err.strip().splitlines()) == 1 and "Smiling" in err


def test_cyclegan_translates_files(tmp_path, shared_data):
    model, _, _ = fit_tiny("cyclegan", tmp_path)
    test_a = shared_data / "smile2neutral" / "testA"
    grid = model.generate_special(n=3, direction="a2b", inputs=[str(test_a)])
    assert grid.shape == (6, 3, 32, 32)  # 3 inputs above their 3 translations
    assert grid.min() >= -1 and grid.max() <= 1
    with pytest.raises(Exception, match="--input"):
        model.generate_special(n=3, direction="a2b", inputs=[])


def test_conditional_batchnorm_starts_plain_and_conditions_every_stage():
    """cgan's G: conditional BatchNorm equals plain BatchNorm at initialisation; once γ(c), β(c) are non-zero the
    condition changes the output through every stage, and `--g-cond concat` builds the plain DCGAN generator."""
    from mediatk.generators.gan_nets import ConditionalBatchNorm2d, DCGenerator

    torch.manual_seed(0)
    cbn, bn = ConditionalBatchNorm2d(6, 2), nn.BatchNorm2d(6, affine=False)
    x, c = torch.randn(8, 6, 4, 4), torch.randn(8, 2)
    assert torch.allclose(cbn(x, c), bn(x), atol=1e-6)
    with torch.no_grad():
        cbn.gamma.weight.fill_(0.5)
    y = cbn(x, c)
    assert torch.allclose(y, bn(x) * (1 + 0.5 * c.sum(1)).view(-1, 1, 1, 1), atol=1e-5)

    cls = GENERATORS.get("cgan")
    g = cls((3, 32, 32), parse_options(cls.Config, []), attr_names=("Smiling",))
    n_cbn = sum(isinstance(m, ConditionalBatchNorm2d) for m in g.G.modules())
    assert g.G.cbn_dim == 1 and n_cbn == 3  # 4×4 → 8 → 16: three BatchNorms before the last up-sampling
    plain = cls((3, 32, 32), parse_options(cls.Config, ["--g-cond", "concat"]), attr_names=("Smiling",))
    assert plain.G.cbn_dim == 0 and not any(isinstance(m, ConditionalBatchNorm2d) for m in plain.G.modules())
    gen = DCGenerator(5, (1, 16, 16), width=4, cbn_dim=1).eval()
    for m in gen.modules():
        if isinstance(m, ConditionalBatchNorm2d):
            nn.init.normal_(m.beta.weight)
    z = torch.randn(4, 4)
    a, b = gen(torch.cat([z, torch.ones(4, 1)], 1)), gen(torch.cat([z, -torch.ones(4, 1)], 1))
    assert a.shape == (4, 1, 16, 16) and not torch.allclose(a, b)
