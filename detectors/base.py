"""The detector contract (scikit-learn-like) and the pieces every detector shares.

A detector is a class registered by name in :data:`mediatk.core.registry.DETECTORS` with

* ``Config``: a dataclass of its options (``mediatk models NAME`` lists them);
* ``fit(real, fake)``: images as ``N×C×H×W`` tensors in ``[-1, 1]`` (or lists of ``C×H×W`` images or of
  batches); returns ``self``;
* ``predict_proba(x)``: a NumPy ``float64`` array, **P(synthetic)** per input (0.5 is the decision point);
* ``score(real, fake)``: :func:`mediatk.core.metrics.detection_metrics` on the two sets (fake = positive);
* optionally ``torch_logit(x)``: a differentiable logit of P(synthetic) for a tensor batch (``cnn``,
  ``spectrum``, ``discriminator``), so a generator can be trained against the detector (the arena);
* ``save(path)`` / ``load(path)``: through :mod:`mediatk.core.checkpoint` (safetensors + JSON, never pickle).
  scikit-learn parts are converted to arrays right after fitting (:class:`LinearHead`, :class:`KernelHead`)
  and the detector always predicts from those arrays, so a loaded detector gives identical probabilities.

Attributes recorded in every checkpoint: ``image_size`` and ``channels`` (inputs are resized/converted to
them), ``face_crops`` (True when trained on face crops: ``detect`` then crops faces with MTCNN first, a square
of ``face_crop_scale`` × the MTCNN box), ``preprocess`` (the same as a
:class:`~mediatk.media.pixels.Preprocess`: size, channels, resample rule, crop rule; what ``detect`` applies
to a file, through the same functions the datasets use) and ``info`` (training data, counts, held-out
metrics).  A checkpoint without ``preprocess`` (written before it existed) is read with the one resample rule
and the crop rule its ``face_crops`` names.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from mediatk.core.checkpoint import Checkpoint, load_checkpoint, read_meta, save_checkpoint
from mediatk.core.errors import CheckpointError, ConfigError
from mediatk.core.options import config_from_checkpoint
from mediatk.core.registry import DETECTORS
from mediatk.core.runtime import resolve_device
from mediatk.media import pixels
from mediatk.media.pixels import Preprocess


@dataclass
class EmptyConfig:
    pass


def register(name: str, summary: str, tags: tuple[str, ...] = ()) -> Callable[[type], type]:
    """Class decorator: ``@register("cnn", "Residual CNN ...")``."""

    def deco(cls: type) -> type:
        cls.name = name
        cls.summary = summary
        DETECTORS.register(name, summary, tags=tags)(cls)
        return cls

    return deco


# ----------------------------------------------------------------------------------------------- inputs

def as_batch(x: Any) -> torch.Tensor:
    """A tensor, a NumPy array, a list of ``C×H×W`` images or a list of batches → one float ``N×C×H×W``."""
    if isinstance(x, dict):
        x = list(x.values())
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if isinstance(x, (list, tuple)):
        if not x:
            raise ConfigError("no images given")
        parts = [as_batch(v) for v in x]
        x = torch.cat(parts)
    if not isinstance(x, torch.Tensor):
        raise ConfigError(f"expected images as a tensor or a list of tensors, got {type(x).__name__}")
    if x.dim() == 2:
        x = x[None, None]
    elif x.dim() == 3:
        x = x[None]
    if x.dim() != 4:
        raise ConfigError(f"expected N×C×H×W images, got shape {tuple(x.shape)}")
    return x.detach().float().cpu()


def adapt(x: torch.Tensor, image_size: int | None, channels: int | None) -> torch.Tensor:
    """A float batch to ``channels`` and ``image_size``² by the one pixel path (:func:`mediatk.media.pixels.adapt`:
    luma or replication, centre square, bilinear antialiased when shrinking); differentiable."""
    return pixels.adapt(x, image_size, channels)


def split_sources(fake: Any) -> dict[str, torch.Tensor]:
    """``fake`` as named sources: a dict stays, anything else is the one source ``fake``."""
    if isinstance(fake, dict):
        return {str(k): as_batch(v) for k, v in fake.items()}
    return {"fake": as_batch(fake)}


# ----------------------------------------------------------------------------------------------- sklearn as arrays

def _t(a: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


def platt(decision: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling: ``P = σ(a·d + b)`` fitted by (almost unregularised) logistic regression."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e4, max_iter=1000).fit(np.asarray(decision).reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


@dataclass
class LinearHead:
    """``P = σ(a·(w·((x − μ)/s) + c) + b)``: a standardiser + a linear model (+ Platt), as plain arrays.

    Built from a fitted ``StandardScaler`` and ``LogisticRegression`` (a=1, b=0 reproduces its
    ``predict_proba``) or ``LinearSVC`` (a, b from :func:`platt`)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    a: float = 1.0
    b: float = 0.0

    @classmethod
    def from_sklearn(cls, scaler: Any, clf: Any, a: float = 1.0, b: float = 0.0) -> LinearHead:
        return cls(np.asarray(scaler.mean_, np.float64), np.asarray(scaler.scale_, np.float64),
                   np.asarray(clf.coef_, np.float64).ravel(), float(np.ravel(clf.intercept_)[0]), a, b)

    def decision(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, np.float64) - self.mean) / self.scale) @ self.coef + self.intercept

    def proba(self, x: np.ndarray) -> np.ndarray:
        return sigmoid(self.a * self.decision(x) + self.b)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"mean": _t(self.mean), "scale": _t(self.scale), "coef": _t(self.coef),
                "ab": _t([self.intercept, self.a, self.b])}

    @classmethod
    def from_tensors(cls, t: dict[str, torch.Tensor]) -> LinearHead:
        c, a, b = (float(v) for v in t["ab"].numpy())
        return cls(t["mean"].numpy(), t["scale"].numpy(), t["coef"].numpy(), c, a, b)


@dataclass
class KernelHead:
    """An RBF-kernel SVM as arrays: ``d(x) = Σ_j α_j exp(−γ‖sv_j − z‖²) + c`` with ``z = (x − μ)/s``,
    ``P = σ(a·d + b)``.  Built from a fitted ``SVC(kernel="rbf")``; equals its ``decision_function``."""

    mean: np.ndarray
    scale: np.ndarray
    sv: np.ndarray
    alpha: np.ndarray
    intercept: float
    gamma: float
    a: float = 1.0
    b: float = 0.0

    @classmethod
    def from_sklearn(cls, scaler: Any, svc: Any) -> KernelHead:
        return cls(np.asarray(scaler.mean_, np.float64), np.asarray(scaler.scale_, np.float64),
                   np.asarray(svc.support_vectors_, np.float64), np.asarray(svc.dual_coef_, np.float64).ravel(),
                   float(svc.intercept_[0]), float(svc._gamma))

    def decision(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, np.float64) - self.mean) / self.scale
        d2 = (z ** 2).sum(1)[:, None] + (self.sv ** 2).sum(1)[None, :] - 2 * z @ self.sv.T
        return np.exp(-self.gamma * np.maximum(d2, 0)) @ self.alpha + self.intercept

    def proba(self, x: np.ndarray) -> np.ndarray:
        return sigmoid(self.a * self.decision(x) + self.b)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"mean": _t(self.mean), "scale": _t(self.scale), "sv": _t(self.sv), "alpha": _t(self.alpha),
                "cgab": _t([self.intercept, self.gamma, self.a, self.b])}

    @classmethod
    def from_tensors(cls, t: dict[str, torch.Tensor]) -> KernelHead:
        c, g, a, b = (float(v) for v in t["cgab"].numpy())
        return cls(t["mean"].numpy(), t["scale"].numpy(), t["sv"].numpy(), t["alpha"].numpy(), c, g, a, b)


# ----------------------------------------------------------------------------------------------- the contract

class Detector:
    """Base class of every detector (see the module docstring for the contract)."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    Config: ClassVar[type] = EmptyConfig
    #: what it looks at: "image" (P(synthetic) per image), "video" (whole clips), "component" (a part
    #: other detectors use, e.g. the eye-state classifier); detect() runs image and video ones.
    media: ClassVar[str] = "image"
    trainable: ClassVar[bool] = True

    def __init__(self, cfg: Any = None, device: str | torch.device = "cpu"):
        self.cfg = cfg if cfg is not None else self.Config()
        self.device = resolve_device(device)
        self.image_size: int | None = None
        self.channels: int | None = None
        self.face_crops = False
        self.face_crop_scale = 1.2  # face crop side / max(MTCNN box w, h) at detection time
        self.fitted = False
        self.info: dict[str, Any] = {}
        self.checkpoint_path: Path | None = None

    # ---- hooks -----------------------------------------------------------------------------------------
    def _fit(self, real: torch.Tensor, fake: Any) -> None:
        raise NotImplementedError

    def _predict(self, x: torch.Tensor) -> np.ndarray:
        raise NotImplementedError

    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(modules, extra)`` for :func:`save_checkpoint`."""
        raise NotImplementedError

    def _load_state(self, ckpt: Checkpoint) -> None:
        raise NotImplementedError

    #: sources given as a dict are kept apart only by detectors that model them separately (recon)
    keeps_sources: ClassVar[bool] = False
    #: False for one-class detectors, which learn from real images only
    needs_fake: ClassVar[bool] = True
    #: options for a fast fit on a few hundred small images: what the contract test (and a newcomer's smoke
    #: run) uses; every registered detector is checked with them by tests/test_detectors.py
    tiny_options: ClassVar[tuple[str, ...]] = ()

    # ---- public API ------------------------------------------------------------------------------------
    def fit(self, real: Any, fake: Any, image_size: int | None = None, channels: int | None = None,
            face_crops: bool | None = None) -> Detector:
        real_b = as_batch(real)
        self.image_size = int(image_size or self.image_size or real_b.shape[-1])
        self.channels = int(channels or self.channels or real_b.shape[1])
        if face_crops is not None:
            self.face_crops = bool(face_crops)
        real_b = self.prepare(real_b)
        if fake is None:
            if self.needs_fake:
                raise ConfigError(f"detector {self.name} needs fake images to fit")
            fake_in: Any = None
        elif self.keeps_sources:
            fake_in = {k: self.prepare(v) for k, v in split_sources(fake).items()}
        else:
            fake_in = self.prepare(as_batch(fake))
        self._fit(real_b, fake_in)
        self.fitted = True
        return self

    def prepare(self, x: Any) -> torch.Tensor:
        """A batch of tensors as this detector's input: :func:`adapt` to its size and channels."""
        return adapt(as_batch(x), self.image_size, self.channels)

    @property
    def preprocess(self) -> Preprocess:
        """How an image file becomes this detector's input (recorded in its checkpoint)."""
        return Preprocess(size=self.image_size, channels=int(self.channels or 3),
                          crop="face" if self.face_crops else "centre", face_scale=float(self.face_crop_scale))

    def input_of(self, image: np.ndarray, face_box: Any = None) -> torch.Tensor | None:
        """An ``H x W x 3`` uint8 image (a decoded file or a video frame) -> this detector's ``C x S x S``
        input by its :attr:`preprocess`; None when it needs a face crop and ``face_box`` is None."""
        return self.preprocess.apply(image, face_box)

    @torch.no_grad()
    def predict_proba(self, x: Any, batch_size: int = 512) -> np.ndarray:
        if not self.fitted:
            raise ConfigError(f"detector {self.name} is not trained; call fit() or load() first")
        xb = self.prepare(x)
        out = [np.asarray(self._predict(xb[i:i + batch_size]), np.float64) for i in range(0, len(xb), batch_size)]
        return np.concatenate(out) if out else np.zeros(0)

    def score(self, real: Any, fake: Any) -> dict[str, float]:
        from mediatk.core.metrics import detection_metrics

        pr, pf = self.predict_proba(real), self.predict_proba(fake)
        y = np.r_[np.zeros(len(pr)), np.ones(len(pf))]
        return detection_metrics(y, np.r_[pr, pf])

    def meta(self) -> dict[str, Any]:
        return {"model": self.name, "kind": "detector", "config": dataclasses.asdict(self.cfg),
                "image_size": self.image_size, "channels": self.channels, "face_crops": self.face_crops,
                "face_crop_scale": self.face_crop_scale, "preprocess": self.preprocess.to_dict(), "info": self.info}

    def save(self, path: str | Path) -> Path:
        if not self.fitted:
            raise ConfigError(f"detector {self.name} is not trained; nothing to save")
        modules, extra = self._state()
        out = save_checkpoint(path, modules, self.meta(), extra=extra)
        self.checkpoint_path = out
        return out

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> Detector:
        meta = read_meta(path)
        if meta.get("kind") != "detector":
            raise CheckpointError(f"checkpoint {path} is not a detector (model {meta.get('model')!r})")
        klass = DETECTORS.get(meta["model"]) if cls is Detector or not cls.name else cls
        ckpt = load_checkpoint(path, expect_model=klass.name)
        det = klass(config_from_checkpoint(klass.Config, ckpt.config), device=device)
        det.image_size = ckpt.meta.get("image_size")
        det.channels = ckpt.meta.get("channels")
        det.face_crops = bool(ckpt.meta.get("face_crops", False))
        det.face_crop_scale = float(ckpt.meta.get("face_crop_scale", 1.2))
        if ckpt.meta.get("preprocess") is not None:  # refuses a rule this version does not know
            pre = Preprocess.from_dict(ckpt.meta["preprocess"])
            det.image_size, det.channels = pre.size, pre.channels
            det.face_crops, det.face_crop_scale = pre.crop == "face", pre.face_scale
        det.info = ckpt.meta.get("info", {})
        det._load_state(ckpt)
        det.fitted = True
        det.checkpoint_path = ckpt.path
        return det

    def __repr__(self) -> str:
        state = f"{self.channels}x{self.image_size}x{self.image_size}" if self.fitted else "untrained"
        return f"{type(self).__name__}({self.name}, {state}, face_crops={self.face_crops})"


# ----------------------------------------------------------------------------------------------- torch training

def train_binary(net: torch.nn.Module, x0: torch.Tensor, x1: torch.Tensor, steps: int, batch_size: int,
                 lr: float, device: torch.device, seed: int = 0,
                 augment: Callable[[torch.Tensor, np.random.Generator], torch.Tensor] | None = None,
                 weight_decay: float = 1e-4) -> list[float]:
    """Train ``net`` (one logit out; positive = class 1) with balanced minibatches, Adam + cosine LR.

    Returns the loss per step.  Each minibatch draws ``batch_size/2`` from each class, so an unbalanced
    training set does not bias the logit."""
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    half = max(1, batch_size // 2)
    losses = []
    for _ in range(steps):
        i0 = torch.randint(len(x0), (half,), generator=g)
        i1 = torch.randint(len(x1), (half,), generator=g)
        xb = torch.cat([x0[i0], x1[i1]])
        if augment is not None:
            xb = augment(xb, rng)
        yb = torch.cat([torch.zeros(half), torch.ones(half)])
        logit = net(xb.to(device)).view(-1)
        loss = F.binary_cross_entropy_with_logits(logit, yb.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    net.eval()
    return losses


@torch.no_grad()
def logits_of(net: torch.nn.Module, x: torch.Tensor, device: torch.device, batch_size: int = 512) -> np.ndarray:
    net.eval()
    out = [net(x[i:i + batch_size].to(device)).view(-1).float().cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy().astype(np.float64) if out else np.zeros(0)
