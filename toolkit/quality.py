"""Sample quality: FID, KID and attribute accuracy, offline.

**Features.**  FID/KID compare feature statistics, so they mean what the features mean.  Three extractors:

* ``classifier`` (labelled sets, the default there): a small CNN (3 conv-BN-ReLU-maxpool blocks of 32, 64,
  128 channels, global average pooling, dropout, linear head) trained on the set's own train split to
  predict its class labels; the features are the 128-d pooled activations, the analogue of Inception's pool3.
* ``autoencoder`` (attribute-only or unlabelled sets, the default there): the same encoder trained as a conv
  autoencoder (MSE); the features are its 128-d code.
* ``inception``: torchvision's InceptionV3 2048-d pool features, used by ``auto`` only when torchvision's
  weight file (``inception_v3_google-*.pth``) is already in the torch hub cache; nothing is downloaded.

Trained feature nets are cached in ``$MEDIATK_HOME/quality/`` keyed by dataset, kind, image size, channels
and training steps, so a figure is reproducible and cheap after the first time.  Figures from different
feature nets are not comparable: every report names its features.

**FID** (Heusel et al. 2017): with (μ_r, Σ_r), (μ_g, Σ_g) the feature mean/covariance of real and generated
images, FID = ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2(Σ_r Σ_g)^½) (scipy.linalg.sqrtm, real part).

**KID** (Bińkowski et al. 2018): the unbiased estimate of MMD² with the cubic polynomial kernel
k(x, y) = (xᵀy / d + 1)³, averaged over random subsets of m real and m generated features::

    MMD²_u = Σ_{i≠j} k(x_i, x_j) / m(m−1) + Σ_{i≠j} k(y_i, y_j) / m(m−1) − 2 Σ_{i,j} k(x_i, y_j) / m²

**Attribute accuracy** (conditional models): a judge CNN trained on the real train split (its accuracy on
the real test split is reported) classifies generated samples; for ``--attr smiling`` we report the share
judged smiling among samples asked to smile, and judged not smiling among those asked not to.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError

FEATURE_KINDS = ("auto", "classifier", "autoencoder", "inception")
DEFAULT_STEPS = 600
# The attribute/class judge trains longer than the feature nets: on celeba-genki-smiling at 32 px (2800 train
# images, CPU) the SmallCNN judge reached 0.713 / 0.873 / 0.897 / 0.905 real-test accuracy after 500 / 1000 /
# 1500 / 2000 steps (separate cosine schedules would differ a little); a judge near chance caps what
# attribute accuracy can show.
JUDGE_STEPS = 2000
TRAIN_LIMIT = 20000  # feature nets and judges train on a seeded subset of at most this many images


# ---------------------------------------------------------------------------------------------------------
# the distances


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2(Σ1Σ2)^½)."""
    from scipy import linalg

    diff, s1, s2 = np.atleast_1d(mu1) - np.atleast_1d(mu2), np.atleast_2d(s1), np.atleast_2d(s2)
    with warnings.catch_warnings():  # a singular product (fewer samples than dimensions) is handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():  # regularise as pytorch-fid does
            eps = np.eye(len(s1)) * 1e-6
            covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = np.real(covmean)
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def fid_from_features(real: Any, fake: Any) -> float:
    r, f = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    return frechet_distance(r.mean(0), np.cov(r, rowvar=False), f.mean(0), np.cov(f, rowvar=False))


def kid_from_features(real: Any, fake: Any, subsets: int = 50, subset_size: int = 1000,
                      seed: int = 0) -> tuple[float, float]:
    """(mean, std) over subsets of the unbiased MMD² with k(x, y) = (xᵀy/d + 1)³.

    Subsets hold ``subset_size`` samples, or half of the smaller set when that is smaller, so that the
    subsets differ and the std says something (with all of n = 1000 in every subset it was 0 by construction;
    the estimate is unbiased for any subset size, so the mean does not depend on this choice).
    """
    x, y = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    d, m = x.shape[1], min(subset_size, max(2, min(len(x), len(y)) // 2))
    if min(len(x), len(y)) < 2:
        raise ValueError("KID needs at least 2 real and 2 generated samples")
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(subsets):
        a = x[rng.choice(len(x), m, replace=False)]
        b = y[rng.choice(len(y), m, replace=False)]
        kxx, kyy, kxy = (a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3
        vals.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                    - 2 * kxy.mean())
    return float(np.mean(vals)), float(np.std(vals))


# ---------------------------------------------------------------------------------------------------------
# feature nets


class SmallCNN(nn.Module):
    """3 × (conv3-BN-ReLU-maxpool) with 32/64/128 channels, global average pool (the features), linear head."""

    def __init__(self, channels: int, n_out: int, width: int = 32):
        super().__init__()
        layers: list[nn.Module] = []
        ch = channels
        for i in range(3):
            layers += [nn.Conv2d(ch, width * 2 ** i, 3, 1, 1), nn.BatchNorm2d(width * 2 ** i), nn.ReLU(True),
                       nn.MaxPool2d(2)]
            ch = width * 2 ** i
        self.trunk = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feat_dim, self.head = ch, nn.Sequential(nn.Dropout(0.2), nn.Linear(ch, n_out))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


class AutoencoderFeatures(nn.Module):
    """SmallCNN's encoder (128-d code) with a conv decoder; trained on reconstruction (MSE)."""

    def __init__(self, image_shape: tuple[int, int, int]):
        super().__init__()
        from .generators.nets import Decoder

        self.enc = SmallCNN(image_shape[0], 1)
        self.feat_dim, self.dec = self.enc.feat_dim, Decoder(self.enc.feat_dim, tuple(image_shape), "conv", [], 32)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.enc.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dec(self.features(x)))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:40] or "data"


def _cache_path(data: str, kind: str, shape: tuple[int, int, int], steps: int, target: str, seed: int = 0) -> Path:
    from .datasets import resolve
    from .datasets.base import SPLIT_SALT
    from .runs import mediatk_home

    _, root = resolve(data)
    # The split rule is part of the key: a net trained on an older train split may have seen val/test images.
    h = hashlib.sha1(f"{Path(root).resolve() if root else data}|{SPLIT_SALT}".encode()).hexdigest()[:8]
    name = f"{_slug(Path(str(data)).name)}-{h}-{kind}{('-' + _slug(target)) if target else ''}-" \
           f"{shape[1]}px-{shape[0]}c-{steps}s{f'-seed{seed}' if seed else ''}"
    return mediatk_home() / "quality" / name


@torch.no_grad()
def embed(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, device: torch.device,
          bs: int = 256) -> torch.Tensor:
    """``fn`` over ``x`` in batches on ``device``; float32 results on the CPU."""
    return torch.cat([fn(x[i:i + bs].to(device)).float().cpu() for i in range(0, len(x), bs)])


def augment(x: torch.Tensor, g: torch.Generator, shift: float = 0.125) -> torch.Tensor:
    """Random horizontal flips and translations of up to ``shift`` of the side (border padding)."""
    n = len(x)
    flip = (torch.rand(n, generator=g) < 0.5).to(x.device)
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
    theta = torch.eye(2, 3).repeat(n, 1, 1)
    theta[:, :, 2] = (torch.rand(n, 2, generator=g) * 2 - 1) * 2 * shift  # grid coordinates span 2
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)


def train_net(data: str, kind: str, shape: tuple[int, int, int], steps: int = DEFAULT_STEPS,
              attrs: tuple[str, ...] = (), device: str | torch.device = "cpu", seed: int = 0,
              log: Callable[[str], None] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """A cached feature/judge net: ``classifier`` (class labels, or ``attrs``) or ``autoencoder``.

    Trained with AdamW (2e-3, weight decay 5e-4, cosine decay), batch 128, ``steps`` steps of random flips and
    shifts (:func:`augment`) on the train split (a seeded subset of at most ``TRAIN_LIMIT`` images); its
    test accuracy (or MSE) on ≤ 2000 test images is stored with it.
    """
    from .checkpoint import load_checkpoint, load_into, save_checkpoint
    from .datasets import load_images

    dev, target = torch.device(device), ",".join(attrs)
    path = _cache_path(data, kind, shape, steps, target, seed)
    if path.with_suffix(".safetensors").is_file():
        ck = load_checkpoint(path)
        net = _make(kind, shape, ck.meta["n_out"])
        load_into(net, ck, "net")
        return net.to(dev).eval(), ck.meta["info"]
    opts = {"image_size": shape[1], "channels": shape[0], "attrs": list(attrs) or None}
    train = load_images(data, split="train", limit=TRAIN_LIMIT, seed=seed, **opts)
    test = load_images(data, split="test", limit=2000, seed=seed, **opts)

    def targets(ds):
        if kind == "classifier" and not attrs and ds.labels is None:
            raise ConfigError(f"{data} has no class labels for a classifier; use --features autoencoder")
        return ds.attrs.float() if attrs else ds.labels.long() if kind == "classifier" else None

    x, y = train.tensor(), targets(train)
    n_out = (y.shape[1] if attrs else int(y.max()) + 1) if y is not None else 1
    g, _ = torch.Generator().manual_seed(seed), torch.manual_seed(seed)
    net = _make(kind, shape, n_out).to(dev).train()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=5e-4)
    if log:
        log(f"training the {kind} {'judge' if attrs else 'feature net'} on {data} train ({len(x)} images, "
            f"{shape[1]} px, {steps} steps; cached in {path.parent})")
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    with torch.enable_grad():  # the engine calls evaluators under no_grad
        for _ in range(steps):
            idx = torch.randint(0, len(x), (min(128, len(x)),), generator=g)
            xb = augment(x[idx].to(dev), g)
            if kind == "autoencoder":
                loss = F.mse_loss(net(xb), xb)
            elif attrs:
                loss = F.binary_cross_entropy_with_logits(net(xb), y[idx].to(dev))
            else:
                loss = F.cross_entropy(net(xb), y[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    xt, yt = test.tensor(), targets(test)
    info: dict[str, Any] = {"kind": kind, "data": str(data), "image_size": shape[1], "steps": steps,
                            "n_train": len(x), "n_test": len(xt), "target": target or None}
    out = embed(net, xt, dev)
    if kind == "autoencoder":
        info["test_mse"] = float(((out - xt) ** 2).mean())
    else:
        info["test_accuracy"] = float((((out > 0).float() if attrs else out.argmax(1)) == yt).float().mean())
    save_checkpoint(path, {"net": net}, {"model": f"quality-{kind}", "n_out": n_out, "info": info})
    return net, info


def _make(kind: str, shape: tuple[int, int, int], n_out: int) -> nn.Module:
    return AutoencoderFeatures(shape) if kind == "autoencoder" else SmallCNN(shape[0], n_out)


def inception_weights() -> Path | None:
    """torchvision's InceptionV3 weight file if it is already in the torch hub cache (never downloads)."""
    d = Path(torch.hub.get_dir()) / "checkpoints"
    found = sorted(d.glob("inception_v3_google-*.pth")) if d.is_dir() else []
    return found[0] if found else None


class InceptionFeatures(nn.Module):
    """InceptionV3 pool features (2048-d) of images in [-1, 1], resized to 299 px, grey replicated."""

    feat_dim = 2048

    def __init__(self, weights: Path):
        super().__init__()
        from torchvision.models import inception_v3

        net = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        net.fc = nn.Identity()
        self.net = net.eval()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = x.repeat(1, 3 // x.shape[1], 1, 1)  # grey → RGB
        return self.net(F.interpolate(x.float(), size=(299, 299), mode="bilinear", align_corners=False))


def feature_extractor(data: str, shape: tuple[int, int, int], features: str = "auto", steps: int | None = None,
                      device: str | torch.device = "cpu", has_labels: bool = True,
                      log: Callable[[str], None] = print) -> tuple[nn.Module, str]:
    """(feature net, its description), trained if needed; ``log`` gets one line when Inception is missing."""
    if features not in FEATURE_KINDS:
        raise ConfigError(f"--features {features}: choose one of {', '.join(FEATURE_KINDS)}")
    steps = steps or DEFAULT_STEPS
    if features in ("auto", "inception"):
        w = inception_weights()
        if w is not None:
            return InceptionFeatures(w), "InceptionV3 pool3 (2048-d, torchvision weights, 299 px)"
        where = Path(torch.hub.get_dir()) / "checkpoints"
        if features == "inception":
            raise ConfigError(f"--features inception: torchvision's InceptionV3 weights are not in {where} and "
                              "mediatk does not download them; use --features auto")
        alt = "classifier" if has_labels else "autoencoder"
        log(f"Inception features unavailable offline (no inception_v3_google-*.pth in {where}); "
            f"using the {alt} features")
        features = alt
    net, info = train_net(data, features, shape, steps, device=device, log=log)
    what = f"test accuracy {info['test_accuracy']:.3f}" if "test_accuracy" in info else f"test MSE {info['test_mse']:.4f}"
    return net, (f"{features} CNN {net.feat_dim}-d trained on {data} train ({info['n_train']} images, "
                 f"{info['steps']} steps, {what})")


# ---------------------------------------------------------------------------------------------------------
# evaluating a model


def _cycle(t: torch.Tensor, n: int) -> torch.Tensor:  # t repeated to n rows
    return t.repeat((n // len(t) + 1,) + (1,) * (t.dim() - 1))[:n]


class QualityEvaluator:
    """FID/KID of a model against a real split (+ label/attribute accuracy for conditional models).

    ``split`` is ``"test"`` for figures that are reported (``mediatk evaluate``) and ``"val"`` for the
    evaluator that picks checkpoints during training (``--best-metric``), so a reported figure never comes
    from the images a checkpoint was chosen on.

    ``evaluator(model, step) -> {"fid": ..., "kid": ...}`` is what the training engine calls every
    ``eval_every`` steps (with ``best_metric="fid"`` it keeps ``checkpoints/best.*``).  Reference statistics,
    feature nets and judges are prepared on the first call, for that model's image size and condition; the
    noise is the same on every call (seeded), so figures from successive steps compare like with like.
    Generated images are conditioned on the real images' labels/attributes (the same mix).  For
    ``cyclegan``: FID of a2b(A) against B and of b2a(B) against A on the split; ``fid`` is their mean.
    The judge of conditional models trains ``judge_steps`` steps (default ``JUDGE_STEPS``) from ``judge_seed``;
    a checkpoint chosen by one judge is fairly scored by a second one with another seed.
    """

    def __init__(self, data: str, n: int = 2000, features: str = "auto", feature_steps: int | None = None,
                 seed: int = 0, judge: bool = True, log: Callable[[str], None] = print,
                 judge_steps: int | None = None, judge_seed: int = 0, split: str = "test"):
        if split not in ("val", "test"):
            raise ConfigError(f"the quality evaluator reads the val or test split, not {split!r}")
        self.data, self.n, self.features, self.steps = str(data), int(n), features, feature_steps
        self.split = split
        self.judge_steps, self.judge_seed = judge_steps or JUDGE_STEPS, int(judge_seed)
        self.seed, self.use_judge, self.log = seed, judge, log
        self._key: Any = None
        self.lines: list[str] = []

    def prepare(self, model) -> None:
        from .datasets import load_images, load_unpaired

        shape = tuple(model.image_shape)
        key = (shape, tuple(model.attr_names), model.cond_dim, model.needs)
        if key == self._key:
            return
        opts = {"split": self.split, "image_size": shape[1], "channels": shape[0]}
        self.unpaired, self.judge = model.needs == "unpaired", None
        if self.unpaired:
            a, b = load_unpaired(self.data, limit=self.n, seed=self.seed, **opts)
            self.real = {"a": a.tensor(), "b": b.tensor()}
            has_labels, self.real_cond = False, None
        else:
            ds = load_images(self.data, attrs=list(model.attr_names) or None, limit=self.n, seed=self.seed, **opts)
            self.real = {"x": ds.tensor()}
            has_labels = ds.labels is not None
            y = ds.attrs if model.attr_names else ds.labels
            self.real_cond = model.condition_vector(y) if model.cond_dim and y is not None else None
        dev = next(model.parameters()).device
        self.net, desc = feature_extractor(self.data, shape, self.features, self.steps, device=dev,
                                           has_labels=has_labels, log=self.log)
        self.real_feats = {k: self.extract(v, dev) for k, v in self.real.items()}
        n_real = ", ".join(f"{len(v)}" for v in self.real.values())
        self.lines = [f"features: {desc}",
                      f"n_real {n_real} ({self.data} {self.split} split), image size {shape[1]} px, seed {self.seed}"]
        if self.use_judge and model.cond_dim and not self.unpaired:
            attrs = tuple(model.attr_names)
            self.judge, info = train_net(self.data, "classifier", shape, self.judge_steps, attrs=attrs,
                                         device=dev, seed=self.judge_seed, log=self.log)
            what = "attribute" if attrs else "class"
            self.lines.append(f"{what} judge: CNN trained on {self.data} train ({info['n_train']} images, "
                              f"{info['steps']} steps{f', seed {self.judge_seed}' if self.judge_seed else ''}), "
                              f"accuracy "
                              f"{info['test_accuracy']:.3f} on {info['n_test']} real test images"
                              f"{' for ' + ', '.join(attrs) if attrs else ''}")
        self._key = key

    def extract(self, x: torch.Tensor, device: torch.device) -> np.ndarray:
        return embed(self.net.to(device).eval().features, x, device).numpy()

    @torch.no_grad()
    def _samples(self, model, n: int, cond: torch.Tensor | None, gen: torch.Generator) -> torch.Tensor:
        noise, dev, bs = model.sample_noise(n, gen), next(model.parameters()).device, 256
        out = [model.sample(len(noise[i:i + bs]), cond=cond[i:i + bs].to(dev) if cond is not None else None,
                            noise=noise[i:i + bs].to(dev)).float().cpu() for i in range(0, n, bs)]
        return torch.cat(out).clamp(-1, 1)

    @torch.no_grad()
    def __call__(self, model, step: int | None = None) -> dict[str, float]:
        self.prepare(model)
        gen, dev = torch.Generator().manual_seed(self.seed + 1), next(model.parameters()).device
        out: dict[str, float] = {"n_fake": float(self.n)}
        if self.unpaired:
            for d, src, ref in (("a2b", "a", "b"), ("b2a", "b", "a")):
                fake = embed(lambda x, d=d: model.translate(x, d), self.real[src], dev, bs=64)
                f = self.extract(fake.clamp(-1, 1), dev)
                out[f"fid_{d}"] = fid_from_features(self.real_feats[ref], f)
                out[f"kid_{d}"] = kid_from_features(self.real_feats[ref], f, seed=self.seed)[0]
            out.update(fid=(out["fid_a2b"] + out["fid_b2a"]) / 2, kid=(out["kid_a2b"] + out["kid_b2a"]) / 2,
                       n_fake=float(len(self.real["a"]) + len(self.real["b"])))
            return out
        cond = _cycle(self.real_cond, self.n) if self.real_cond is not None else None
        f = self.extract(self._samples(model, self.n, cond, gen), dev)
        out["fid"] = fid_from_features(self.real_feats["x"], f)
        out["kid"], out["kid_std"] = kid_from_features(self.real_feats["x"], f, seed=self.seed)
        if self.judge is not None:
            out.update(self.judge_accuracy(model, gen))
        return out

    @torch.no_grad()
    def judge_accuracy(self, model, gen: torch.Generator) -> dict[str, float]:
        """Share of samples the judge assigns the asked-for class, or each attribute value (1 and 0)."""
        dev, m = next(model.parameters()).device, min(self.n, 1000)
        self.judge.to(dev).eval()
        res: dict[str, float] = {}
        if not model.attr_names:
            labels = torch.arange(m) % model.num_classes
            x = self._samples(model, m, model.condition_vector(labels), gen)
            res["label_acc"] = float((embed(self.judge, x, dev).argmax(1) == labels).float().mean())
            return res
        for i, name in enumerate(model.attr_names):
            for v in (1.0, 0.0):
                cond = _cycle(self.real_cond, m).clone()
                cond[:, i] = v
                pred = embed(self.judge, self._samples(model, m, cond, gen), dev)[:, i] > 0
                res[f"attr_{name}={int(v)}"] = float((pred == bool(v)).float().mean())
        res.update(attr_acc=float(np.mean(list(res.values()))), n_judged=float(m))
        return res
