"""Autoencoder-based detectors: ``recon`` (Method II), ``oneclass`` (OC-FakeDect) and ``codes-svm`` (Method I).

**Method II** (the lecture's per-class autoencoders): train one autoencoder per class, present a test
image to each, assign it to the class whose autoencoder reconstructs it with the smallest MSE.
:class:`ReconClassifier` does exactly that for any classes (it reaches the Fashion-MNIST figure in the
README's table on the ten garment classes); ``recon`` uses it with the classes *real* and one per fake
source.  P(class c) = w_c / Σ_k w_k with w_k = e_k^(−1/τ) (e_k the per-pixel MSE of autoencoder k, τ the
``temperature``, default 1).  This is a softmax of −ln(e_k)/τ: scale-free, so an easy image (small errors
everywhere) and a hard one are judged by error *ratios*.  With two classes and τ = 1,
P(synthetic) = e_real / (e_real + e_fake); 0.5 exactly where the two errors are equal, i.e. "lowest MSE
wins" is the 0.5 decision.

**oneclass** (OC-FakeDect, Khalid & Woo 2020): an AE or VAE trained on real images only; the score is the
reconstruction error e; the threshold τ is the ``quantile`` of e on a held-out *real* validation split;
P(synthetic) = σ((ln e − ln τ) / s), s the standard deviation of ln e on that split: monotone in e and
exactly 0.5 at the threshold.  Fakes passed to ``fit`` are not used.

**Method I** (``codes-svm``): one autoencoder (trained on the fit set, or an existing checkpoint given with
``--autoencoder``) turns images into codes; a standardiser + RBF SVM classifies the codes; P(synthetic)
by Platt scaling on a calibration split of the fit set.  The SVM is stored as arrays (support vectors,
dual coefficients, intercept, γ) and evaluated from them (:class:`~mediatk.detectors.base.KernelHead`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from mediatk.core.checkpoint import load_into
from mediatk.core.errors import ConfigError
from mediatk.core.options import config_from_dict, opt
from mediatk.core.registry import GENERATORS
from mediatk.detectors.base import Detector, KernelHead, platt, register, sigmoid

# ----------------------------------------------------------------------------------------------- AE helpers

def ae_options(kind: str, arch: str, code_size: int, hidden: str, lr: float) -> dict[str, Any]:
    if kind == "vae":
        return {"arch": arch, "latent_dim": code_size, "hidden": hidden, "lr": lr, "recon": "mse"}
    return {"arch": arch, "code_size": code_size, "hidden": hidden, "lr": lr}


def build_generator(kind: str, image_shape: tuple[int, ...], options: dict[str, Any]):
    cls = GENERATORS.get(kind)
    return cls(image_shape=tuple(int(s) for s in image_shape), cfg=config_from_dict(cls.Config, options))


def train_inline(model, images: torch.Tensor, steps: int, batch_size: int, device: torch.device,
                 seed: int = 0) -> float:
    """Train a registered generator on ``images`` with the one training engine, in memory (no run
    directory); returns the last logged loss."""
    from mediatk.generators.engine import Feed, TrainConfig, fit

    torch.manual_seed(seed)
    targets = torch.full((len(images),), -1, dtype=torch.long)
    res = fit(model, Feed(images, targets, batch_size, seed=seed), None,
              TrainConfig(steps=steps, batch_size=batch_size, device=str(device), seed=seed, progress=False,
                          log_every=max(1, steps)))
    model.eval()
    last = res.history[-1] if res.history else {}
    return float(next((v for k, v in last.items() if k.endswith("_loss")), float("nan")))


@torch.no_grad()
def recon_errors(model, x: torch.Tensor, device: torch.device, batch_size: int = 512) -> np.ndarray:
    """Per-image mean squared reconstruction error (pixels in [-1, 1])."""
    model.eval()
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(device)
        out.append(((model.reconstruct(xb) - xb) ** 2).flatten(1).mean(1).double().cpu())
    return torch.cat(out).numpy() if out else np.zeros(0)


@torch.no_grad()
def codes_of(model, x: torch.Tensor, device: torch.device, batch_size: int = 512) -> np.ndarray:
    model.eval()
    out = [model.encode(x[i:i + batch_size].to(device)).flatten(1).double().cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy()


@dataclass
class AEConfigMixin:
    model: Literal["ae", "vae"] = opt("ae", "autoencoder type")
    arch: Literal["mlp", "conv"] = opt("mlp", "encoder/decoder type")
    code_size: int = opt(32, "code (latent) size")
    hidden: str = opt("256", "MLP hidden widths")
    steps: int = opt(600, "optimisation steps per autoencoder")
    batch_size: int = opt(64, "minibatch size")
    lr: float = opt(1e-3, "Adam learning rate")
    seed: int = opt(0, "seed")


# ----------------------------------------------------------------------------------------------- Method II

class ReconClassifier:
    """One autoencoder per class; a test image goes to the class whose autoencoder reconstructs it best."""

    def __init__(self, cfg: AEConfigMixin | None = None, device: str | torch.device = "cpu"):
        from mediatk.core.runtime import resolve_device

        self.cfg = cfg or AEConfigMixin()
        self.device = resolve_device(device)
        self.classes: list[str] = []
        self.models: list[Any] = []
        self.specs: list[dict[str, Any]] = []

    def fit(self, x: torch.Tensor, y: Any, classes: list[str] | None = None) -> ReconClassifier:
        y = torch.as_tensor(np.asarray(y)).long()
        k = int(y.max()) + 1
        self.classes = list(classes) if classes is not None else [str(i) for i in range(k)]
        c = self.cfg
        opts = ae_options(c.model, c.arch, c.code_size, c.hidden, c.lr)
        self.models, self.specs = [], []
        for i in range(len(self.classes)):
            xi = x[y == i]
            if len(xi) == 0:
                raise ConfigError(f"class {self.classes[i]!r} has no training images")
            m = build_generator(c.model, tuple(x.shape[1:]), opts)
            train_inline(m, xi, c.steps, c.batch_size, self.device, seed=c.seed + i)
            self.models.append(m)
            self.specs.append({"kind": c.model, "image_shape": list(x.shape[1:]), "options": opts})
        return self

    def errors(self, x: torch.Tensor) -> np.ndarray:
        """``N×K`` per-pixel MSE of each class's autoencoder."""
        return np.stack([recon_errors(m, x, self.device) for m in self.models], 1)

    def predict(self, x: torch.Tensor) -> np.ndarray:
        return self.errors(x).argmin(1)

    def proba(self, x: torch.Tensor, temperature: float = 1.0) -> np.ndarray:
        """P(class) = softmax(−ln e / τ) over the classes (see the module docstring)."""
        return error_softmax(self.errors(x), temperature)

    def accuracy(self, x: torch.Tensor, y: Any) -> float:
        return float((self.predict(x) == np.asarray(y)).mean())

    def modules(self, prefix: str = "ae") -> dict[str, Any]:
        return {f"{prefix}{i}": m for i, m in enumerate(self.models)}

    def extra(self) -> dict[str, Any]:
        return {"classes": list(self.classes), "specs": self.specs}

    def load_from(self, ckpt, extra: dict[str, Any], prefix: str = "ae") -> ReconClassifier:
        self.classes = list(extra["classes"])
        self.specs = list(extra["specs"])
        self.models = []
        for i, spec in enumerate(self.specs):
            m = build_generator(spec["kind"], tuple(spec["image_shape"]), spec["options"])
            load_into(m, ckpt, f"{prefix}{i}")
            self.models.append(m.to(self.device).eval())
        return self


def error_softmax(err: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    logits = -np.log(np.maximum(err, 1e-12)) / max(temperature, 1e-6)
    logits -= logits.max(1, keepdims=True)
    w = np.exp(logits)
    return w / w.sum(1, keepdims=True)


@dataclass
class ReconConfig(AEConfigMixin):
    temperature: float = opt(1.0, "τ in P(class) ∝ error^(-1/τ)")


@register("recon", "Per-class autoencoders (real + each fake source); lowest reconstruction MSE wins (Method II)")
class ReconDetector(Detector):
    Config = ReconConfig
    tiny_options = ("--steps", "60")
    keeps_sources = True

    def _fit(self, real: torch.Tensor, fake: dict[str, torch.Tensor]) -> None:
        names = ["real", *fake]
        x = torch.cat([real, *fake.values()])
        y = torch.cat([torch.full((len(real),), 0)] + [torch.full((len(v),), i + 1) for i, v in enumerate(fake.values())])
        self.clf = ReconClassifier(self.cfg, self.device).fit(x, y, names)
        self.info["classes"] = names

    def _predict(self, x: torch.Tensor) -> np.ndarray:
        p = self.clf.proba(x, self.cfg.temperature)
        return 1.0 - p[:, 0]

    def _state(self):
        return self.clf.modules(), self.clf.extra()

    def _load_state(self, ckpt) -> None:
        self.clf = ReconClassifier(self.cfg, self.device).load_from(ckpt, ckpt.extra)


# ----------------------------------------------------------------------------------------------- one-class

@dataclass
class OneClassConfig(AEConfigMixin):
    quantile: float = opt(0.95, "threshold = this quantile of real validation errors")
    val_fraction: float = opt(0.2, "fraction of the real images held out to set the threshold")


@register("oneclass", "AE/VAE trained on real only; reconstruction error vs a real-validation quantile (OC-FakeDect)")
class OneClassDetector(Detector):
    Config = OneClassConfig
    needs_fake = False
    tiny_options = ("--steps", "60")

    def _fit(self, real: torch.Tensor, fake: Any) -> None:
        c = self.cfg
        if not 0 < c.quantile < 1 or not 0 < c.val_fraction < 1:
            raise ConfigError("--quantile and --val-fraction must lie strictly between 0 and 1")
        perm = torch.randperm(len(real), generator=torch.Generator().manual_seed(c.seed))
        n_val = max(2, round(len(real) * c.val_fraction))
        val, train = real[perm[:n_val]], real[perm[n_val:]]
        opts = ae_options(c.model, c.arch, c.code_size, c.hidden, c.lr)
        self.spec = {"kind": c.model, "image_shape": list(real.shape[1:]), "options": opts}
        self.model = build_generator(c.model, tuple(real.shape[1:]), opts)
        train_inline(self.model, train, c.steps, c.batch_size, self.device, seed=c.seed)
        le = np.log(np.maximum(recon_errors(self.model, val, self.device), 1e-12))
        self.log_tau = float(np.quantile(le, c.quantile))
        self.log_scale = float(max(le.std(), 1e-3))
        self.info.update({"threshold_mse": math.exp(self.log_tau), "n_val_real": int(n_val),
                          "fakes_used": False})

    def error(self, x: torch.Tensor) -> np.ndarray:
        return recon_errors(self.model, self.prepare(x), self.device)

    def _predict(self, x: torch.Tensor) -> np.ndarray:
        le = np.log(np.maximum(recon_errors(self.model, x, self.device), 1e-12))
        return sigmoid((le - self.log_tau) / self.log_scale)

    def _state(self):
        return ({"ae": self.model, "cal": {"v": torch.tensor([self.log_tau, self.log_scale], dtype=torch.float64)}},
                {"spec": self.spec})

    def _load_state(self, ckpt) -> None:
        self.spec = ckpt.extra["spec"]
        self.model = build_generator(self.spec["kind"], tuple(self.spec["image_shape"]), self.spec["options"])
        load_into(self.model, ckpt, "ae")
        self.model.to(self.device).eval()
        self.log_tau, self.log_scale = (float(v) for v in ckpt.state_dict("cal")["v"])


# ----------------------------------------------------------------------------------------------- Method I

@dataclass
class CodesSVMConfig(AEConfigMixin):
    autoencoder: str = opt("", "use this trained ae/vae checkpoint or run dir for the codes ('' : train one)")
    c: float = opt(1.0, "SVM C")
    gamma: float = opt(0.0, "RBF gamma (0: sklearn's 'scale')")
    max_train: int = opt(3000, "at most this many codes train the SVM (kernel SVMs grow quadratically)")
    cal_fraction: float = opt(0.2, "fraction of the fit set kept apart for Platt scaling")


@register("codes-svm", "Autoencoder codes -> RBF SVM (Method I); SVM stored as arrays, no pickle")
class CodesSVMDetector(Detector):
    Config = CodesSVMConfig
    tiny_options = ("--steps", "60")

    def _ae(self, shape: tuple[int, ...], data: torch.Tensor) -> None:
        c = self.cfg
        if c.autoencoder:
            from mediatk.core.checkpoint import read_meta
            from mediatk.core.runs import resolve_checkpoint
            from mediatk.generators import from_checkpoint

            path = resolve_checkpoint("ae", c.autoencoder, "mediatk train ae --data DATA")
            self.model = from_checkpoint(path, device=self.device)
            meta = read_meta(path)
            spec = meta.get("spec", {})
            if tuple(spec.get("image_shape", ())) != tuple(shape):
                raise ConfigError(f"--autoencoder {c.autoencoder} takes {spec.get('image_shape')} images; the "
                                  f"detector's inputs are {list(shape)} (use --image-size/--channels)")
            self.spec = {"kind": meta["model"], "image_shape": list(shape), "options": spec.get("config", {})}
            return
        opts = ae_options(c.model, c.arch, c.code_size, c.hidden, c.lr)
        self.spec = {"kind": c.model, "image_shape": list(shape), "options": opts}
        self.model = build_generator(c.model, shape, opts)
        train_inline(self.model, data, c.steps, c.batch_size, self.device, seed=c.seed)

    def _fit(self, real: torch.Tensor, fake: torch.Tensor) -> None:
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        c = self.cfg
        x = torch.cat([real, fake])
        y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
        self._ae(tuple(x.shape[1:]), x)
        z = codes_of(self.model, x, self.device)
        rng = np.random.default_rng(c.seed)
        perm = rng.permutation(len(z))
        n_cal = max(10, int(len(z) * c.cal_fraction))
        cal, tr = perm[:n_cal], perm[n_cal:][:c.max_train]
        scaler = StandardScaler().fit(z[tr])
        svc = SVC(kernel="rbf", C=c.c, gamma=c.gamma if c.gamma > 0 else "scale").fit(scaler.transform(z[tr]), y[tr])
        self.head = KernelHead.from_sklearn(scaler, svc)
        self.head.a, self.head.b = platt(self.head.decision(z[cal]), y[cal])
        self.info.update({"n_support": len(self.head.sv), "n_svm_train": len(tr), "n_cal": int(n_cal)})

    def _predict(self, x: torch.Tensor) -> np.ndarray:
        return self.head.proba(codes_of(self.model, x, self.device))

    def _state(self):
        return {"ae": self.model, "svm": self.head.tensors()}, {"spec": self.spec}

    def _load_state(self, ckpt) -> None:
        self.spec = ckpt.extra["spec"]
        self.model = build_generator(self.spec["kind"], tuple(self.spec["image_shape"]), self.spec["options"])
        load_into(self.model, ckpt, "ae")
        self.model.to(self.device).eval()
        self.head = KernelHead.from_tensors(ckpt.state_dict("svm"))
