"""CycleGAN (Zhu et al. 2017): unpaired translation between domains A and B.

Two generators G: A → B and F: B → A (ResNet generators: 6 residual blocks up to 128 px, 9 above) and two
PatchGAN discriminators D_B, D_A (3 stride-2 layers from 64 px, 2 from 24 px, else 1).  Least-squares
adversarial losses (LSGAN), so for G::

    L_G = E(D_B(G(a)) − 1)² + E(D_A(F(b)) − 1)²
          + λ_cyc (E‖F(G(a)) − a‖₁ + E‖G(F(b)) − b‖₁)                  cycle consistency, λ_cyc = 10
          + λ_id·λ_cyc (E‖G(b) − b‖₁ + E‖F(a) − a‖₁)                  identity, λ_id = 0.5

and for the discriminators  L_D = ½[E(D_B(b) − 1)² + E D_B(b̃)²] + ½[E(D_A(a) − 1)² + E D_A(ã)²], where the
fakes b̃, ã come from an **image pool** of the 50 most recent fakes (Shrivastava et al. 2017): while the pool
fills, each new fake is stored and used; once full, with probability ½ a random stored fake is used instead
and the new one takes its place, else the new fake is used.  This damps oscillation by showing D a history of
G.  (The pool is training-time state: it is not checkpointed, so a resumed run refills it.)  Adam 2e-4,
β = (0.5, 0.999).  The learning-rate decay of the paper's second 100 epochs is left out.

``translate(x, "a2b" | "b2a")``; ``mediatk generate --model cyclegan --direction a2b --input FILE|DIR``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from mediatk.core.errors import ConfigError
from mediatk.core.options import opt
from mediatk.generators.base import Generator, StepContext, Update, register
from mediatk.generators.gan_losses import cycle_consistency, lsgan_target
from mediatk.generators.gan_nets import PatchDiscriminator, ResnetGenerator, patch_layers_for


class ImagePool:
    """The 50-image history buffer (see the module docstring); ``gen`` makes its choices reproducible."""

    def __init__(self, size: int = 50, gen: torch.Generator | None = None):
        self.size, self.gen = int(size), gen
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size <= 0:
            return images
        out = []
        for img in images.detach():
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif torch.rand(1, generator=self.gen).item() < 0.5:
                i = int(torch.randint(0, self.size, (1,), generator=self.gen).item())
                out.append(self.images[i])
                self.images[i] = img.clone()
            else:
                out.append(img)
        return torch.stack(out)


def pair_rows(top: torch.Tensor, bottom: torch.Tensor) -> torch.Tensor:
    """Order pairs so a grid of ⌈√N⌉ columns (save_grid's default) shows each top image above its bottom one.

    Rows of c inputs alternate with rows of their c outputs; c is the smallest width for which 2·c·r images
    (r input rows, padded with white tiles) lay out exactly c to a row.
    """
    k, c = len(top), 1
    while True:
        r = -(-k // c)
        while 2 * c * r <= (c - 1) ** 2:
            r += 1
        if 2 * c * r <= c * c:
            break
        c += 1
    blank = torch.ones(c * r - k, *top.shape[1:], dtype=top.dtype, device=top.device)
    top, bottom = torch.cat([top, blank]), torch.cat([bottom, blank])
    return torch.cat([t for i in range(r) for t in (top[i * c:(i + 1) * c], bottom[i * c:(i + 1) * c])])


@dataclass
class CycleGANConfig:
    width: int = opt(64, "base channels of the generators and discriminators")
    n_blocks: int = opt(0, "residual blocks per generator (0: 6 up to 128 px, else 9)")
    d_layers: int = opt(0, "PatchGAN stride-2 layers (0: 3 from 64 px, 2 from 24 px, else 1)")
    lambda_cycle: float = opt(10.0, "weight of the cycle-consistency loss")
    lambda_identity: float = opt(0.5, "identity loss weight, as a fraction of --lambda-cycle (0: off)")
    pool_size: int = opt(50, "image-pool size for the discriminators (0: off)")
    lr: float = opt(2e-4, "Adam learning rate")
    beta1: float = opt(0.5, "Adam β1")


@register("cyclegan", "CycleGAN: two ResNet generators, two PatchGANs, LSGAN + cycle + identity losses, pool")
class CycleGAN(Generator):
    Config = CycleGANConfig
    needs = "unpaired"
    can_translate = True

    def __init__(self, image_shape, cfg=None, num_classes=0, attr_names=()):
        super().__init__(image_shape, cfg, num_classes, attr_names)
        c, (ch, size, _) = self.cfg, self.image_shape
        blocks = c.n_blocks or (6 if size <= 128 else 9)
        layers = c.d_layers or patch_layers_for(size)
        if size % 4:
            raise ConfigError(f"cyclegan needs an image size divisible by 4 (two stride-2 stages), got {size}")
        self.g_ab, self.g_ba = ResnetGenerator(ch, c.width, blocks), ResnetGenerator(ch, c.width, blocks)
        self.d_a, self.d_b = PatchDiscriminator(ch, c.width, layers), PatchDiscriminator(ch, c.width, layers)
        self.pool_a, self.pool_b = ImagePool(c.pool_size), ImagePool(c.pool_size)

    def translate(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        if direction not in ("a2b", "b2a"):
            raise ConfigError(f"direction must be a2b or b2a, got {direction!r}")
        net = self.g_ab if direction == "a2b" else self.g_ba
        return net(x.to(next(self.parameters()).device))

    def cycle_loss(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return cycle_consistency(self.g_ab, self.g_ba, a, b)

    def configure_optimizers(self):
        betas = (self.cfg.beta1, 0.999)
        g = list(self.g_ab.parameters()) + list(self.g_ba.parameters())
        d = list(self.d_a.parameters()) + list(self.d_b.parameters())
        return {"g": torch.optim.Adam(g, lr=self.cfg.lr, betas=betas),
                "d": torch.optim.Adam(d, lr=self.cfg.lr, betas=betas)}

    def training_step(self, batch, ctx: StepContext) -> Iterator[Update]:
        c = self.cfg
        a, b = batch
        fake_b, fake_a = self.g_ab(a), self.g_ba(b)
        adv = lsgan_target(self.d_b(fake_b), True) + lsgan_target(self.d_a(fake_a), True)
        cyc = (self.g_ba(fake_b) - a).abs().float().mean() + (self.g_ab(fake_a) - b).abs().float().mean()
        loss = adv + c.lambda_cycle * cyc
        logs = {"adv": adv.detach(), "cycle": cyc.detach()}
        if c.lambda_identity > 0:
            idt = (self.g_ab(b) - b).abs().float().mean() + (self.g_ba(a) - a).abs().float().mean()
            loss = loss + c.lambda_identity * c.lambda_cycle * idt
            logs["identity"] = idt.detach()
        yield Update("g", loss, logs)
        fb, fa = self.pool_b.query(fake_b.detach()), self.pool_a.query(fake_a.detach())
        d_b = 0.5 * (lsgan_target(self.d_b(b), True) + lsgan_target(self.d_b(fb), False))
        d_a = 0.5 * (lsgan_target(self.d_a(a), True) + lsgan_target(self.d_a(fa), False))
        yield Update("d", d_a + d_b, {"d_a": d_a.detach(), "d_b": d_b.detach()})

    # ---- previews and the CLI --------------------------------------------------------------------------
    def preview_inputs(self, batch, n, gen):
        a, b = batch
        k = min(8, n)
        return {"a": a[:k], "b": b[:k]}

    def preview(self, fixed):
        return pair_rows(torch.cat([fixed["a"], fixed["b"]]),
                         torch.cat([self.translate(fixed["a"], "a2b"), self.translate(fixed["b"], "b2a")]))

    @torch.no_grad()
    def generate_special(self, n: int, gen: torch.Generator | None = None, direction: str | None = None,
                         inputs: list[str] | None = None, **other) -> torch.Tensor:
        """Read the input images (files or folders), translate them; inputs above their translations."""
        from mediatk.media.pixels import IMAGE_EXTS, read_image, to_tensor

        if direction is None or any(v is not None for v in other.values()):
            raise ConfigError("cyclegan translates: give --direction a2b|b2a and --input FILE|DIR")
        files: list[Path] = []
        for item in inputs or []:
            p = Path(item)
            if p.is_dir():
                files += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTS)
            elif p.is_file():
                files.append(p)
            else:
                raise ConfigError(f"--input {item}: no such file or folder")
        if not files:
            raise ConfigError("cyclegan: give --input FILE or a folder of images to translate")
        ch, size, _ = self.image_shape
        x = torch.stack([to_tensor(read_image(f), size=size, channels=ch) for f in files[:n]])
        y = self.translate(x, direction).float().clamp(-1, 1).cpu()
        return pair_rows(x, y)
