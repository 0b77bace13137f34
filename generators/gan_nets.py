"""Networks of the GAN family.

**DCGAN** (Radford et al. 2016): z (100) → project to s×s×C → stride-2 up-sampling stages that halve the
channels → tanh image; BatchNorm + ReLU in G, LeakyReLU(0.2) in D (no norm on D's first layer), no pooling,
weights N(0, 0.02).  At 64 px that is 4×4×(8w) → 8×8×(4w) → 16×16×(2w) → 32×32×w → 64×64×C with w = 64, as in
pytorch/examples.  Smaller images take fewer stages: the start size s is the image size halved while it is
even and above 7, so 64 and 32 start at 4×4 and **28 px starts at 7×7** (7 → 14 → 28; no resizing).

**Up-sampling** ``--upsample`` (Shi et al. 2016, "Is the deconvolution layer the same as a convolutional
layer?"):

* ``transpose``: ConvTranspose2d(k 4, s 2, p 1): y[o] = Σ_i x[i]·w[o + 1 − 2i];
* ``subpixel``: a stride-1 conv (k 3, p 1) to 4× the channels, then PixelShuffle(2), which interleaves the
  four phase outputs: channel 4c + 2a + b lands at pixel (2m + a, 2n + b);
* ``resize``: nearest-neighbour ×2, then conv k 3 (no checkerboard by construction).

Polyphase equivalence: the sub-pixel conv computes, for output phase a, y[2m + a] = Σ_u W_a[u] x[m + u − 1].
A transposed conv (stride 2, kernel 6, padding 2) computes y[o] = Σ_i x[i] w[o + 2 − 2i]; with i = m + u − 1
the tap index is a + 4 − 2u, so w[k] = W_{k mod 2}[2 − ⌊k/2⌋] makes the two maps identical
(:func:`subpixel_to_transpose`).  Conversely a k4 s2 p1 transposed conv uses only two taps per phase,
y[2m] = w[1]x[m] + w[3]x[m−1] and y[2m+1] = w[2]x[m] + w[0]x[m+1], which a k3 sub-pixel conv holds exactly
(:func:`transpose_to_subpixel`).  So sub-pixel conv is the cheap (no multiplications by inserted zeros)
implementation of a stride-½ convolution.

**Minibatch discrimination** (Salimans et al. 2016): M_i = f(x_i)·T ∈ R^{B×C};
c_b(x_i, x_j) = exp(−‖M_{i,b} − M_{j,b}‖₁); o(x_i)_b = Σ_{j≠i} c_b(x_i, x_j), appended to D's features so that
D can see a batch without diversity.

**CycleGAN** nets (Zhu et al. 2017): Johnson's ResNet generator (c7s1-w, two stride-2 downs, n residual
blocks, two ups, c7s1-C, InstanceNorm, reflection padding) and the PatchGAN discriminator (C w-2w-4w-8w of
k4 s2 convs then two k4 s1 convs; a map of real/fake scores, one per overlapping patch).
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

# ---------------------------------------------------------------------------------------------------------
# shared helpers


def init_dcgan(m: nn.Module) -> None:
    """DCGAN initialisation: conv/linear weights N(0, 0.02), norm scales N(1, 0.02), biases 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.BatchNorm1d)) and m.weight is not None:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def spatial_plan(size: int) -> tuple[int, int]:
    """(start size s, number of ×2 stages): 64 → (4, 4), 32 → (4, 3), 28 → (7, 2), 16 → (4, 2)."""
    s, n = int(size), 0
    while s % 2 == 0 and s > 7:
        s //= 2
        n += 1
    if n == 0:
        raise ValueError(f"DCGAN needs an image size that halves at least once to ≤ 7 px, got {size}")
    return s, n


def up_layer(cin: int, cout: int, mode: str, bias: bool = False) -> nn.Module:
    """A ×2 up-sampling layer: transposed conv, sub-pixel conv or resize-conv."""
    if mode == "transpose":
        return nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=bias)
    if mode == "subpixel":
        return nn.Sequential(nn.Conv2d(cin, 4 * cout, 3, 1, 1, bias=bias), nn.PixelShuffle(2))
    if mode == "resize":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=bias))
    raise ValueError(f"unknown up-sampling {mode!r}; choose transpose, subpixel or resize")


@torch.no_grad()
def subpixel_to_transpose(conv: nn.Conv2d) -> nn.ConvTranspose2d:
    """The ConvTranspose2d(k 6, s 2, p 2) computing exactly ``PixelShuffle(2)(conv(x))`` for a k3 p1 conv."""
    co4, ci, kh, kw = conv.weight.shape
    if (kh, kw) != (3, 3) or conv.padding != (1, 1) or conv.stride != (1, 1) or co4 % 4:
        raise ValueError("expects a 3×3, stride-1, padding-1 conv with 4·C_out output channels")
    co = co4 // 4
    t = nn.ConvTranspose2d(ci, co, 6, 2, 2, bias=conv.bias is not None)
    w = conv.weight.view(co, 2, 2, ci, 3, 3)  # [c, a, b, ci, u, v]
    for k1 in range(6):
        for k2 in range(6):
            t.weight[:, :, k1, k2] = w[:, k1 % 2, k2 % 2, :, 2 - k1 // 2, 2 - k2 // 2].T
    if conv.bias is not None:
        b = conv.bias.view(co, 4)
        if not torch.allclose(b, b[:, :1].expand_as(b)):
            raise ValueError("a transposed conv has one bias per channel: the four phase biases must agree")
        t.bias.copy_(b[:, 0])
    return t


@torch.no_grad()
def transpose_to_subpixel(t: nn.ConvTranspose2d) -> nn.Sequential:
    """The k3 sub-pixel conv + PixelShuffle(2) computing exactly a ConvTranspose2d(k 4, s 2, p 1)."""
    ci, co, kh, kw = t.weight.shape
    if (kh, kw) != (4, 4) or t.stride != (2, 2) or t.padding != (1, 1):
        raise ValueError("expects ConvTranspose2d(k 4, s 2, p 1)")
    conv = nn.Conv2d(ci, 4 * co, 3, 1, 1, bias=t.bias is not None)
    conv.weight.zero_()
    w = conv.weight.view(co, 2, 2, ci, 3, 3)
    taps = {0: {0: 3, 1: 1}, 1: {1: 2, 2: 0}}  # phase a: {conv tap u (offset u−1): transposed tap}
    for a, ta in taps.items():
        for b, tb in taps.items():
            for u, k1 in ta.items():
                for v, k2 in tb.items():
                    w[:, a, b, :, u, v] = t.weight[:, :, k1, k2].T
    if t.bias is not None:
        conv.bias.copy_(t.bias.repeat_interleave(4))
    return nn.Sequential(conv, nn.PixelShuffle(2))


def norm2d(kind: str, ch: int) -> nn.Module:
    """Discriminator normalisation: BatchNorm, LayerNorm over (C, H, W) (GroupNorm with one group) or none."""
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "layer":
        return nn.GroupNorm(1, ch)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}")


class MinibatchDiscrimination(nn.Module):
    """Appends o(x_i)_b = Σ_{j≠i} exp(−‖M_{i,b} − M_{j,b}‖₁) (B kernels of dimension C) to the features."""

    def __init__(self, in_dim: int, n_kernels: int = 32, kernel_dim: int = 8):
        super().__init__()
        self.n_kernels, self.kernel_dim = n_kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_dim, n_kernels * kernel_dim) * 0.02)
        self.out_dim = in_dim + n_kernels

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        m = (h @ self.T.to(h.dtype)).view(-1, self.n_kernels, self.kernel_dim)
        dist = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(3)  # N × N × B
        o = torch.exp(-dist).sum(1) - 1.0  # the j = i term is exp(0) = 1
        return torch.cat([h, o], 1)


# ---------------------------------------------------------------------------------------------------------
# generators and discriminators: D returns (logit per image, feature vector h for extra heads)


class MLPGenerator(nn.Module):
    """Goodfellow's fully connected G: z → hidden ReLU layers → tanh image."""

    def __init__(self, in_dim: int, image_shape: tuple[int, int, int], hidden: list[int]):
        super().__init__()
        dims = [in_dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(dims):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers += [nn.Linear(dims[-1], int(torch.tensor(image_shape).prod())), nn.Tanh()]
        self.net, self.image_shape = nn.Sequential(*layers), tuple(image_shape)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.image_shape)


class MLPDiscriminator(nn.Module):
    """Fully connected D: image → hidden LeakyReLU(0.2) layers (features h) → logit."""

    def __init__(self, image_shape: tuple[int, int, int], hidden: list[int], minibatch_disc: bool = False):
        super().__init__()
        dims = [int(torch.tensor(image_shape).prod()), *hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for a, b in itertools.pairwise(dims):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        self.trunk = nn.Sequential(*layers)
        self.mbd = MinibatchDiscrimination(dims[-1]) if minibatch_disc else None
        self.feat_dim = self.mbd.out_dim if self.mbd else dims[-1]
        self.head = nn.Linear(self.feat_dim, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        if self.mbd is not None:
            h = self.mbd(h)
        return self.head(h).view(-1), h


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose scale and shift are functions of the condition c (de Vries et al. 2017; Miyato & Koyama
    2018's generator): y = (1 + γ(c)) · BN(x) + β(c), with γ, β linear in c and zero at initialisation, so the
    layer starts as a plain BatchNorm and the condition reaches every stage of G, not only its input."""

    def __init__(self, ch: int, cond_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(ch, affine=False)
        self.gamma, self.beta = nn.Linear(cond_dim, ch, bias=False), nn.Linear(cond_dim, ch)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """γ = β = 0: the layer computes plain BatchNorm until training moves them."""
        for lin in (self.gamma, self.beta):
            nn.init.zeros_(lin.weight)
        nn.init.zeros_(self.beta.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        g, b = self.gamma(c.to(x.dtype)), self.beta(c.to(x.dtype))
        return self.bn(x) * (1 + g)[:, :, None, None] + b[:, :, None, None]


class DCGenerator(nn.Module):
    """DCGAN generator (see the module docstring); ``in_dim`` = z (+ condition / codes).

    With ``cbn_dim`` > 0 the last ``cbn_dim`` entries of the input are the condition, which (besides entering
    the first layer with z) sets the scale and shift of every BatchNorm (:class:`ConditionalBatchNorm2d`).
    """

    def __init__(self, in_dim: int, image_shape: tuple[int, int, int], width: int = 64, upsample: str = "transpose",
                 cbn_dim: int = 0):
        super().__init__()
        c, size, _ = image_shape
        start, n = spatial_plan(size)
        ch, self.cbn_dim = width * 2 ** (n - 1), int(cbn_dim)

        def bn(k: int) -> nn.Module:
            return ConditionalBatchNorm2d(k, self.cbn_dim) if self.cbn_dim else nn.BatchNorm2d(k)

        layers: list[nn.Module] = [nn.Unflatten(1, (in_dim, 1, 1)), nn.ConvTranspose2d(in_dim, ch, start, 1, 0, bias=False),
                                   bn(ch), nn.ReLU(True)]
        for _ in range(n - 1):
            layers += [up_layer(ch, ch // 2, upsample), bn(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [up_layer(ch, c, upsample), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan)
        for m in self.modules():  # init_dcgan drew γ, β's linear weights: conditional BN starts as plain BN
            if isinstance(m, ConditionalBatchNorm2d):
                m.reset_parameters()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if not self.cbn_dim:
            return self.net(z)
        cond, x = z[:, -self.cbn_dim:], z
        for m in self.net:
            x = m(x, cond) if isinstance(m, ConditionalBatchNorm2d) else m(x)
        return x


class DCDiscriminator(nn.Module):
    """DCGAN discriminator: stride-2 k4 convs doubling channels down to s×s, then a linear logit.

    The final linear layer on the flattened s×s×C map is the same map as DCGAN's k s valid conv.
    """

    def __init__(self, image_shape: tuple[int, int, int], width: int = 64, norm: str = "batch",
                 minibatch_disc: bool = False):
        super().__init__()
        c, size, _ = image_shape
        start, n = spatial_plan(size)
        layers: list[nn.Module] = [nn.Conv2d(c, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        ch = width
        for _ in range(n - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), norm2d(norm, ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        self.trunk = nn.Sequential(*layers, nn.Flatten())
        dim = ch * start * start
        self.mbd = MinibatchDiscrimination(dim) if minibatch_disc else None
        self.feat_dim = self.mbd.out_dim if self.mbd else dim
        self.head = nn.Linear(self.feat_dim, 1, bias=False)
        self.apply(init_dcgan)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        if self.mbd is not None:
            h = self.mbd(h)
        return self.head(h).view(-1), h


class QHead(nn.Module):
    """InfoGAN's Q(c | x) on D's features: logits of the categorical code and means of the continuous codes."""

    def __init__(self, feat_dim: int, n_cat: int, n_cont: int, hidden: int = 128):
        super().__init__()
        self.n_cat, self.n_cont = n_cat, n_cont
        self.net = nn.Sequential(nn.Linear(feat_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, n_cat + n_cont))

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(h)
        return out[:, :self.n_cat], out[:, self.n_cat:]


def aux_classifier_head(feat_dim: int, cond_dim: int) -> nn.Module:
    """ACGAN's auxiliary classifier on D's features: class logits (or one logit per attribute)."""
    return nn.Linear(feat_dim, cond_dim)


# ---------------------------------------------------------------------------------------------------------
# CycleGAN


class ResnetBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch), nn.ReLU(True),
                                  nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """c7s1-w, d2w, d4w, R4w × n_blocks, u2w, uw, c7s1-C, tanh (InstanceNorm, reflection padding)."""

    def __init__(self, channels: int, width: int = 64, n_blocks: int = 6):
        super().__init__()
        w = width
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(channels, w, 7), nn.InstanceNorm2d(w), nn.ReLU(True)]
        for i in range(2):
            layers += [nn.Conv2d(w * 2 ** i, w * 2 ** (i + 1), 3, 2, 1), nn.InstanceNorm2d(w * 2 ** (i + 1)), nn.ReLU(True)]
        layers += [ResnetBlock(4 * w) for _ in range(n_blocks)]
        for i in (2, 1):
            layers += [nn.ConvTranspose2d(w * 2 ** i, w * 2 ** (i - 1), 3, 2, 1, output_padding=1),
                       nn.InstanceNorm2d(w * 2 ** (i - 1)), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def patch_layers_for(size: int) -> int:
    """PatchGAN depth: 3 stride-2 layers (70×70 receptive field) from 64 px, 2 from 24 px, else 1."""
    return 3 if size >= 64 else 2 if size >= 24 else 1


class PatchDiscriminator(nn.Module):
    """pix2pix/CycleGAN PatchGAN: outputs an N×1×h×w map of per-patch real/fake scores."""

    def __init__(self, channels: int, width: int = 64, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = width
        for i in range(1, n_layers):
            nxt = width * min(2 ** i, 8)
            layers += [nn.Conv2d(ch, nxt, 4, 2, 1), nn.InstanceNorm2d(nxt), nn.LeakyReLU(0.2, True)]
            ch = nxt
        nxt = width * min(2 ** n_layers, 8)
        layers += [nn.Conv2d(ch, nxt, 4, 1, 1), nn.InstanceNorm2d(nxt), nn.LeakyReLU(0.2, True),
                   nn.Conv2d(nxt, 1, 4, 1, 1)]
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
