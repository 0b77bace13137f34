"""``discriminator``: a trained GAN's discriminator used as a detector.

The discriminator of an (unconditional) GAN checkpoint (``gan``, ``dcgan``, ``lsgan``, ``wgan-gp``, ...:
any generator with a ``D`` network and ``discriminate(x, cond)``) gives a logit ℓ(x) that is high for
images it believes real.  Uncalibrated, P(synthetic) = 1 − σ(ℓ(x)) = σ(−ℓ(x)), i.e. 1 − D(x).  With
``calibrate`` (the default) a 1-D logistic regression on ℓ is fitted on the fit set, P(synthetic) =
σ(a·ℓ + b): needed for WGAN critics (whose output is not a probability) and for discriminators that, at
the end of training, sit near D = 0.5 on everything.  A discriminator only knows the fakes of *its*
generator (at the stage it was trained against), which is the point of the arms-race experiments.

The checkpoint stores the discriminator's weights and the generator's spec (to rebuild the network), not
the generator itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from mediatk.core.checkpoint import load_into, read_meta
from mediatk.core.errors import CheckpointError, ConfigError
from mediatk.core.options import config_from_dict, opt
from mediatk.core.registry import GENERATORS
from mediatk.detectors.base import Detector, register, sigmoid


@dataclass
class DiscriminatorConfig:
    gan: str = opt("", "GAN checkpoint or run dir whose discriminator is used (train-detector: default the "
                       "--fake generator)")
    calibrate: bool = opt(True, "fit P(synthetic) = σ(a·logit + b) on the fit set (else 1 − D(x))")


def build_gan(spec: dict[str, Any], model: str):
    cls = GENERATORS.get(model)
    cfg = config_from_dict(cls.Config, spec.get("config", {}))
    return cls(image_shape=tuple(spec["image_shape"]), cfg=cfg, num_classes=spec.get("num_classes", 0),
               attr_names=tuple(spec.get("attr_names", ())))


@register("discriminator", "A trained GAN's discriminator as detector: 1 - D(x), optionally calibrated")
class DiscriminatorDetector(Detector):
    Config = DiscriminatorConfig

    def attach(self, gan: str | None = None) -> DiscriminatorDetector:
        """Load the discriminator of the GAN checkpoint ``gan`` (file or run dir; default ``cfg.gan``)."""
        from mediatk.core.runs import resolve_checkpoint
        from mediatk.generators import from_checkpoint

        src = gan or self.cfg.gan
        if not src:
            raise ConfigError("discriminator needs a GAN checkpoint: --gan RUNDIR (or a --fake generator run)")
        path = resolve_checkpoint("dcgan", src, "mediatk train dcgan --data DATA")
        meta = read_meta(path)
        model = from_checkpoint(path, use_ema=False)
        if not hasattr(model, "D") or not hasattr(model, "discriminate"):
            raise CheckpointError(f"{path} holds a {meta.get('model')!r} model, which has no discriminator")
        if getattr(model, "conditional", False):
            raise ConfigError(f"{path} is a conditional GAN; its discriminator needs a label per image")
        self.cfg.gan = str(src)
        self.gan_model, self.gan_spec, self.model = str(meta["model"]), dict(meta.get("spec", {})), model
        self.image_size = int(model.image_shape[1])
        self.channels = int(model.image_shape[0])
        self.model.to(self.device).eval()
        return self

    def fit(self, real: Any, fake: Any, image_size: int | None = None, channels: int | None = None,
            face_crops: bool | None = None) -> DiscriminatorDetector:
        if not hasattr(self, "model"):
            self.attach()
        # the network fixes the input size: inputs are always resized to the GAN's image shape
        return super().fit(real, fake, self.image_size, self.channels, face_crops)  # type: ignore[return-value]

    @torch.no_grad()
    def logits(self, x: torch.Tensor, batch_size: int = 512) -> np.ndarray:
        out = [self.model.discriminate(x[i:i + batch_size].to(self.device), None)[0].view(-1).float().cpu()
               for i in range(0, len(x), batch_size)]
        return torch.cat(out).double().numpy()

    def _fit(self, real: torch.Tensor, fake: torch.Tensor) -> None:
        from sklearn.linear_model import LogisticRegression

        self.ab = (-1.0, 0.0)
        if self.cfg.calibrate:
            z = np.r_[self.logits(real), self.logits(fake)].reshape(-1, 1)
            y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
            lr = LogisticRegression(C=1e4, max_iter=1000).fit(z, y)
            self.ab = (float(lr.coef_[0, 0]), float(lr.intercept_[0]))
        self.info.update({"gan": self.cfg.gan, "gan_model": self.gan_model, "a": self.ab[0], "b": self.ab[1]})

    def _predict(self, x: torch.Tensor) -> np.ndarray:
        return sigmoid(self.ab[0] * self.logits(x) + self.ab[1])

    def torch_logit(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable logit of P(synthetic): a·ℓ(x) + b."""
        from mediatk.detectors.base import adapt

        z = self.model.discriminate(adapt(x.float(), self.image_size, self.channels).to(self.device), None)[0]
        return self.ab[0] * z.view(-1) + self.ab[1]

    def _state(self):
        return ({"D": self.model.D, "cal": {"ab": torch.tensor(self.ab, dtype=torch.float64)}},
                {"gan_model": self.gan_model, "gan_spec": self.gan_spec})

    def _load_state(self, ckpt) -> None:
        self.gan_model, self.gan_spec = ckpt.extra["gan_model"], ckpt.extra["gan_spec"]
        self.model = build_gan(self.gan_spec, self.gan_model)
        load_into(self.model.D, ckpt, "D")
        self.model.to(self.device).eval()
        self.ab = tuple(float(v) for v in ckpt.state_dict("cal")["ab"])
