"""The generator contract.

A model is one ``nn.Module`` subclass registered by name.  It declares

* ``Config``: a dataclass of its options (see :mod:`mediatk.core.options`);
* ``configure_optimizers()``: named optimisers, e.g. ``{"g": Adam(...), "d": Adam(...)}``;
* ``training_step(batch, ctx)``: a *generator function* that yields :class:`Update` objects, one per
  optimiser step it wants, in order.  The engine (:mod:`mediatk.generators.engine`) runs the backward pass,
  gradient clipping, the NaN guard, the optimiser step, mixed precision and data-parallel gradient
  averaging for each yielded update, then resumes the model's code, so a GAN's k discriminator steps see
  the updated discriminator.  Models say what a step computes; the engine owns how training runs.

and, depending on what it can do, ``sample``, ``encode``/``decode``/``reconstruct`` or ``translate``.

A model is rebuilt from ``spec()`` (image shape, class count, attribute names, config) alone, which is
what a checkpoint's sidecar stores next to the weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from mediatk.core.checkpoint import Checkpoint, load_checkpoint, load_into
from mediatk.core.errors import ConfigError
from mediatk.core.options import config_from_checkpoint
from mediatk.core.registry import GENERATORS
from torch import nn


@dataclass
class Update:
    """One optimiser step a model asks for: ``loss`` is minimised with optimiser ``optimizer``."""

    optimizer: str
    loss: torch.Tensor
    logs: dict[str, float | torch.Tensor] = field(default_factory=dict)


@dataclass
class StepContext:
    """What a training step may use besides its batch."""

    step: int
    device: torch.device
    next_batch: Callable[[], tuple[torch.Tensor, torch.Tensor]]  # a fresh minibatch (GAN's k D-steps)


@dataclass
class EmptyConfig:
    pass


class Generator(nn.Module):
    """Base class of every generative model (autoencoders included)."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    Config: ClassVar[type] = EmptyConfig
    #: what the training data must provide: "images", "labels" (class labels or attributes), "unpaired"
    needs: ClassVar[str] = "images"
    #: what the model can do after training
    can_sample: ClassVar[bool] = False
    can_reconstruct: ClassVar[bool] = False
    can_translate: ClassVar[bool] = False
    #: trained in one shot by ``fit_offline(images)`` instead of gradient steps (PCA)
    offline: ClassVar[bool] = False
    #: the optimiser that owns the sampling path (the arena adds its evasion loss to that update)
    generator_optimizer: ClassVar[str] = "g"
    #: submodules whose EMA copy is used for sampling when EMA is on (default: the whole model)
    ema_modules: ClassVar[tuple[str, ...]] = ()

    def __init__(self, image_shape: tuple[int, int, int], cfg: Any = None, num_classes: int = 0,
                 attr_names: tuple[str, ...] | list[str] = ()):
        super().__init__()
        self.image_shape = tuple(int(s) for s in image_shape)
        self.cfg = cfg if cfg is not None else self.Config()
        self.num_classes = int(num_classes)
        self.attr_names = tuple(attr_names)
        if self.needs == "labels" and not self.num_classes and not self.attr_names:
            raise ConfigError(f"{self.name} is conditional: train it on a labelled dataset or give --attr NAME")

    # ---- description -------------------------------------------------------------------------------
    @property
    def label_dim(self) -> int:
        """Width of the labels of the set the model was built on: one-hot classes or the attribute vector."""
        return len(self.attr_names) if self.attr_names else self.num_classes

    @property
    def cond_dim(self) -> int:
        """Width of the condition vector the model takes: 0 for an unconditional model, also when the set it
        was trained on has labels (a ``vae`` on Fashion-MNIST takes no class)."""
        return self.label_dim if self.needs == "labels" else 0

    def spec(self) -> dict[str, Any]:
        return {"image_shape": list(self.image_shape), "num_classes": self.num_classes,
                "attr_names": list(self.attr_names), "config": dataclasses.asdict(self.cfg)}

    def condition_vector(self, y: torch.Tensor) -> torch.Tensor:
        """Turn a batch of labels (int) or attribute vectors (float 0/1) into a float condition."""
        if self.attr_names:
            return y.float().view(y.shape[0], -1)
        return nn.functional.one_hot(y.long().view(-1), self.num_classes).float()

    # ---- training ----------------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], ctx: StepContext) -> Iterator[Update]:
        raise NotImplementedError

    def fit_offline(self, images: torch.Tensor) -> dict[str, float]:  # pragma: no cover - PCA overrides
        raise NotImplementedError

    def preview(self, fixed: dict[str, torch.Tensor]) -> torch.Tensor:
        """Images for the periodic sample grid, from inputs fixed at the start of training."""
        if self.can_sample and "noise" in fixed:
            return self.sample(fixed["noise"].shape[0], cond=fixed.get("cond"), noise=fixed["noise"])
        if self.can_reconstruct and "images" in fixed:
            x = fixed["images"]
            return torch.cat([x, self.reconstruct(x)])
        if self.can_translate and "images" in fixed:
            x = fixed["images"]
            return torch.cat([x, self.translate(x, "a2b")])
        raise NotImplementedError

    def preview_inputs(self, batch: tuple[torch.Tensor, torch.Tensor], n: int,
                       gen: torch.Generator) -> dict[str, torch.Tensor]:
        x, y = batch
        out: dict[str, torch.Tensor] = {"images": x[:n]}
        if self.can_sample:
            out["noise"] = self.sample_noise(n, gen).to(x.device)
            if self.cond_dim:
                out["cond"] = self.condition_vector(y[:n]) if y.shape[0] >= n else self.condition_vector(
                    y.repeat((n // max(1, y.shape[0]) + 1,) + (1,) * (y.ndim - 1))[:n])
        return out

    # ---- use ---------------------------------------------------------------------------------------
    def sample_noise(self, n: int, gen: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, n: int, cond: torch.Tensor | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} cannot sample")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} has no encoder")

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} has no decoder")

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def translate(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        raise NotImplementedError(f"{self.name} cannot translate")

    def latent_shape(self) -> tuple[int, ...]:
        """Shape of one latent/noise vector (for interpolation)."""
        return tuple(self.sample_noise(1).shape[1:])


def register(name: str, summary: str) -> Callable[[type[Generator]], type[Generator]]:
    """Class decorator: ``@register("vae", "Variational autoencoder ...")``."""

    def deco(cls: type[Generator]) -> type[Generator]:
        cls.name = name
        cls.summary = summary
        GENERATORS.register(name, summary)(cls)
        return cls

    return deco


def create(name: str, image_shape: tuple[int, int, int], cfg: Any = None, num_classes: int = 0,
           attr_names: tuple[str, ...] | list[str] = ()) -> Generator:
    cls = GENERATORS.get(name)
    return cls(image_shape=tuple(image_shape), cfg=cfg, num_classes=num_classes, attr_names=attr_names)


def from_checkpoint(path: str | Path | Checkpoint, expect_model: str | None = None,
                    device: str | torch.device = "cpu", use_ema: bool = True) -> Generator:
    """Rebuild a model from a checkpoint (shape-checked, no pickle)."""
    ckpt = path if isinstance(path, Checkpoint) else load_checkpoint(path, expect_model=expect_model)
    meta = ckpt.meta
    cls = GENERATORS.get(meta["model"])
    spec = meta.get("spec") or {}
    cfg = config_from_checkpoint(cls.Config, spec.get("config", {}))
    model = cls(image_shape=tuple(spec["image_shape"]), cfg=cfg, num_classes=spec.get("num_classes", 0),
                attr_names=tuple(spec.get("attr_names", ())))
    prefix = "ema" if use_ema and any(k.startswith("ema/") for k in ckpt.tensors) else "model"
    load_into(model, ckpt, prefix)
    model.checkpoint_meta = meta  # type: ignore[attr-defined]
    return model.to(device).eval()
