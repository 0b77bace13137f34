"""InfoGAN (Chen et al. 2016): a DCGAN whose input carries interpretable codes c next to the noise z.

G's input is [z ; one-hot(c_cat) ; c_cont] with c_cat ~ Cat(K) (K = ``--n-cat``, 10) and c_cont ~ U(−1, 1)^m
(m = ``--n-cont``, 2).  The game becomes min_{G,Q} max_D V(D, G) − λ·L_I(G, Q), where L_I is the variational
lower bound on the mutual information:

    I(c; G(z, c)) ≥ E_{c ~ p(c), x ~ G(z, c)}[log Q(c | x)] + H(c) = L_I(G, Q)

Q shares D's convolutional trunk and adds a small head (:class:`~.gan_nets.QHead`): softmax logits for c_cat
and, for c_cont, the mean of a unit-variance Gaussian, so −log Q = CE(c_cat) + ½‖c_cont − μ‖² + const.  The
information loss λ_cat·CE + λ_cont·½‖c_cont − μ‖² is added to both players' losses (as in the authors' code):
on D's step it trains Q and the shared trunk on (detached) fakes, on G's step it trains G to make its codes
recoverable.  Logged: ``mi_cat`` = log K − CE, the bound on I(c_cat; x) in nats (≤ log K), and ``q_acc``,
Q's accuracy on the categorical code of the current fakes.

``mediatk generate --model infogan --code J`` varies code J (0 = the categorical code, 1..m = continuous codes)
with everything else fixed: rows are different (z, other codes), columns are the code's values (each of the K
categories, or 9 values from −2 to 2 for a continuous code, beyond the ±1 seen in training).  The grid is
always square (rows = columns) so the default grid layout puts one code value per column; ``n`` is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from mediatk.core.errors import ConfigError
from mediatk.core.options import opt
from mediatk.generators.base import register
from mediatk.generators.gan_nets import QHead
from mediatk.generators.gans import DCGAN, DCGANConfig

CONT_VALUES = 9  # columns of a continuous-code grid, from −2 to 2


@dataclass
class InfoGANConfig(DCGANConfig):
    z_dim: int = opt(62, "size of the incompressible noise z")
    n_cat: int = opt(10, "categories of the categorical code")
    n_cont: int = opt(2, "number of continuous codes, each U(-1, 1)")
    lambda_cat: float = opt(1.0, "weight λ of the categorical information term")
    lambda_cont: float = opt(0.1, "weight λ of the continuous information term")


@register("infogan", "InfoGAN: DCGAN with categorical + continuous codes, MI lower bound via a Q head on D")
class InfoGAN(DCGAN):
    Config = InfoGANConfig

    def __init__(self, image_shape, cfg=None, num_classes=0, attr_names=()):
        super().__init__(image_shape, cfg, num_classes, attr_names)
        c = self.cfg
        if c.n_cat < 2 and c.n_cont < 1:
            raise ConfigError("infogan needs a categorical code (--n-cat ≥ 2) or a continuous one (--n-cont ≥ 1)")
        self.Q = QHead(self.D.feat_dim, max(c.n_cat, 0), c.n_cont)

    @property
    def latent_dim(self) -> int:
        return self.cfg.z_dim + self.cfg.n_cat + self.cfg.n_cont

    def sample_noise(self, n: int, gen: torch.Generator | None = None) -> torch.Tensor:
        c = self.cfg
        z = torch.randn(n, c.z_dim, generator=gen)
        cat = F.one_hot(torch.randint(0, max(c.n_cat, 1), (n,), generator=gen), max(c.n_cat, 1)).float()[:, :c.n_cat]
        cont = torch.rand(n, c.n_cont, generator=gen) * 2 - 1
        return torch.cat([z, cat, cont], 1)

    def split_codes(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(categorical code as class indices, continuous codes) of a batch of latents."""
        c = self.cfg
        codes = latent[:, c.z_dim:]
        return codes[:, :c.n_cat].argmax(1), codes[:, c.n_cat:]

    def info_loss(self, h: torch.Tensor, latent: torch.Tensor, logs: dict) -> torch.Tensor:
        """λ_cat·CE(Q_cat, c_cat) + λ_cont·½‖c_cont − μ_Q‖² (batch means): −L_I up to the constant H(c)."""
        c = self.cfg
        cat_logits, mu = self.Q(h)
        cat, cont = self.split_codes(latent)
        loss = h.new_zeros(()).float()
        if c.n_cat >= 2:
            ce = F.cross_entropy(cat_logits.float(), cat)
            loss = loss + c.lambda_cat * ce
            logs["mi_cat"] = (torch.log(torch.tensor(float(c.n_cat))) - ce).detach()
            logs["q_acc"] = (cat_logits.argmax(1) == cat).float().mean().detach()
        if c.n_cont:
            loss = loss + c.lambda_cont * 0.5 * ((cont - mu.float()) ** 2).sum(1).mean()
        return loss

    def d_extra(self, h_real, h_fake, y, latent, logs):
        return super().d_extra(h_real, h_fake, y, latent, logs) + self.info_loss(h_fake, latent, logs)

    def g_extra(self, h_fake, y, latent, logs):
        return super().g_extra(h_fake, y, latent, logs) + self.info_loss(h_fake, latent, {})

    @torch.no_grad()
    def predict_codes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Q's estimate for images: (most likely category, continuous-code means)."""
        _, h = self.D(x)
        cat_logits, mu = self.Q(h)
        return cat_logits.argmax(1), mu

    @torch.no_grad()
    def generate_special(self, n: int, gen: torch.Generator | None = None, code: int | None = None, **other):
        """Square grid varying code ``code`` (0 = categorical, 1..m = continuous): rows noise, columns values."""
        c = self.cfg
        if code is None or any(v for v in other.values()):
            raise ConfigError("infogan takes --code K (0 = categorical, 1.. = continuous); --direction/--input "
                              "are for cyclegan")
        n_codes = (1 if c.n_cat >= 2 else 0) + c.n_cont
        if not 0 <= code < n_codes:
            raise ConfigError(f"--code {code}: this infogan has codes 0..{n_codes - 1} "
                              f"({'0 categorical, ' if c.n_cat >= 2 else ''}{c.n_cont} continuous)")
        if c.n_cat >= 2 and code == 0:
            values = torch.eye(c.n_cat)
            cols = c.n_cat
        else:
            values = torch.linspace(-2, 2, CONT_VALUES).view(-1, 1)
            cols = CONT_VALUES
        rows = cols
        base = self.sample_noise(rows, gen)  # one row = one (z, other codes)
        lat = base.repeat_interleave(cols, 0)
        vals = values.repeat(rows, 1)
        if c.n_cat >= 2 and code == 0:
            lat[:, c.z_dim:c.z_dim + c.n_cat] = vals
        else:
            j = c.z_dim + c.n_cat + code - (1 if c.n_cat >= 2 else 0)
            lat[:, j:j + 1] = vals
        return self.sample(len(lat), noise=lat).float().clamp(-1, 1)
