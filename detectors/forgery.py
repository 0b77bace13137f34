"""``face-forgery``: a torchvision CNN backbone that tells real face crops from face-swapped ones.

What it does, in the order of a training run:

* **Backbone** (``--backbone``): one of torchvision's ``mobilenet_v3_small`` (the default: the one that trains
  to a useful AUC within an hour on two CPU cores), ``mobilenet_v3_large``, ``efficientnet_b0``, ``resnet18``,
  ``resnet50`` or ``convnext_tiny``, with its classifier replaced by one logit.  Inputs in [-1, 1] are
  normalised with ImageNet's mean and spread inside the network, so ImageNet weights fit as they are.
* **Initialisation**: from scratch, or from a local ImageNet state dict (``--weights FILE.safetensors``; nothing
  is downloaded).  Only safetensors files are read: a pickle (``.pt``/``.pth``) is refused, never unpickled.
* **Augmentation** (each with probability ``aug_prob`` per image): horizontal flip (p = 0.5), a random shift,
  colour jitter (brightness, contrast, saturation), and from :mod:`mediatk.media.perturb` JPEG re-compression
  (quality 30-95), Gaussian blur (sigma 0.3-2) and down-and-up scaling (factor 1.2-3): the post-processing
  every shared video goes through, so the net does not key on pristine pixels.
* **Training**: AdamW, cosine learning rate with warm-up, class-balanced minibatches; mixed precision on CUDA
  (bf16 autocast where supported, else fp16 autocast with a gradient scaler).
* **Selection**: every ``eval_every`` steps the validation AUC is measured and the best weights are kept (the
  validation split; never the test split).
* **Calibration**: one temperature ``T`` (P = sigmoid(logit / T)) fitted on the validation logits by
  minimising their log loss; ``info["calibration"]`` records the validation log loss before and after.
* **Mirror averaging** (``mirror``, on by default): a crop's logit is the mean of the net's logits for the crop
  and its left-right mirror image, in calibration and in every score after training.  The selection during
  training does not use it, so ``mirror`` changes nothing but the temperature and the scores: the same
  recipe with ``mirror`` off gives the same weights.  On DFDC crops (the 160 px zoo model) it raised
  validation AUC 0.786 → 0.800 and test AUC 0.807 → 0.814 for twice the inference cost.

Validation data: :meth:`FaceForgeryDetector.set_validation` (``train-detector`` passes a face-crop set's own
``val`` split, which is split by group); without it ``fit`` holds out ``val_fraction`` of each class at random.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from mediatk.core.errors import ConfigError
from mediatk.core.options import opt
from mediatk.core.runtime import import_torchvision
from mediatk.detectors.base import Detector, adapt, register
from torch import nn

BACKBONES = ("mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "resnet18", "resnet50",
             "convnext_tiny")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ForgeryConfig:
    backbone: Literal["mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "resnet18", "resnet50",
                      "convnext_tiny"] = opt("mobilenet_v3_small", "torchvision backbone")
    weights: str = opt("", "local ImageNet state dict (.safetensors) to start from; empty: from scratch")
    size: int = opt(112, "input side in pixels (crops are resized to it)")
    steps: int = opt(1500, "optimisation steps")
    batch_size: int = opt(64, "minibatch size (half real, half fake)")
    lr: float = opt(2e-3, "peak AdamW learning rate (linear warm-up, cosine decay)")
    weight_decay: float = opt(0.05, "AdamW weight decay")
    warmup: int = opt(100, "warm-up steps")
    aug_prob: float = opt(0.3, "probability of each of colour, shift, JPEG, blur, downscale per image")
    paired: bool = opt(True, "with groups (fit_arrays): each batch holds real/fake pairs of one group (video)")
    eval_every: int = opt(100, "validation (and best-checkpoint selection) every N steps")
    mirror: bool = opt(True, "score each crop and its mirror image and average the two logits (calibration and "
                             "scoring; the selection during training looks at the crop alone)",
                       absent=False)  # checkpoints from before the option were calibrated on crops alone
    val_fraction: float = opt(0.1, "share of each class held out for selection when no validation set is given")
    seed: int = opt(0, "seed for initialisation, batches and augmentation")


# ----------------------------------------------------------------------------------------------- network

def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a user's ``.safetensors`` weight file; anything else is refused (never unpickled)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--weights {p}: no such file")
    if p.suffix.lower() != ".safetensors":
        raise ConfigError(f"--weights {p}: give a .safetensors file; mediatk never unpickles a weight file "
                          "(convert it once with safetensors.torch.save_file(torch.load(...)))")
    try:
        sd = load_file(str(p))
    except (SafetensorError, OSError, ValueError) as e:
        raise ConfigError(f"--weights {p}: not a readable safetensors file ({' '.join(str(e).split())[:120]})") from None
    if not sd:
        raise ConfigError(f"--weights {p}: holds no tensors")
    return sd


def _replace_head(net: nn.Module, backbone: str) -> nn.Module:
    """Swap the ImageNet classifier's last linear layer for one logit."""
    if backbone.startswith("resnet"):
        net.fc = nn.Linear(net.fc.in_features, 1)
    else:  # mobilenet / efficientnet / convnext: a Sequential classifier ending in Linear
        last = net.classifier[-1]
        net.classifier[-1] = nn.Linear(last.in_features, 1)
    return net


class ForgeryNet(nn.Module):
    """ImageNet normalisation → torchvision backbone → one logit (P(fake) = sigmoid(logit / T))."""

    def __init__(self, backbone: str):
        super().__init__()
        torchvision = import_torchvision()
        if backbone not in BACKBONES:
            raise ConfigError(f"--backbone {backbone}: choose one of {', '.join(BACKBONES)}")
        self.backbone = _replace_head(getattr(torchvision.models, backbone)(weights=None), backbone)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("temperature", torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw (uncalibrated) logit of a batch in [-1, 1]."""
        return self.backbone(((x + 1) / 2 - self.mean) / self.std).view(-1)

    def load_imagenet(self, sd: dict[str, torch.Tensor], where: str) -> int:
        """Copy every tensor of ``sd`` whose name and shape match (the 1000-class head does not); returns the
        count.  Too few matches means the file is for another architecture: an error, not a silent no-op."""
        own = self.backbone.state_dict()
        sd = {k.removeprefix("module."): v for k, v in sd.items()}
        match = {k: v for k, v in sd.items() if k in own and own[k].shape == v.shape}
        body = [k for k in own if not k.startswith(("fc.", "classifier."))]
        if len([k for k in body if k in match]) < 0.9 * len(body):
            raise ConfigError(f"--weights {where}: only {len(match)} of {len(own)} tensors fit this "
                              f"backbone; is it a torchvision {type(self.backbone).__name__} state dict?")
        self.backbone.load_state_dict(match, strict=False)
        return len(match)


# ----------------------------------------------------------------------------------------------- augmentation

def colour_jitter(x: torch.Tensor, rng: np.random.Generator, p: float) -> torch.Tensor:
    """Per image, with probability ``p``: brightness ±0.2, contrast and saturation ×[0.7, 1.3] (in [-1, 1])."""
    on = torch.from_numpy(rng.random(len(x)) < p).view(-1, 1, 1, 1)
    if not on.any():
        return x
    n = len(x)
    bright = torch.from_numpy(rng.uniform(-0.2, 0.2, n)).float().view(-1, 1, 1, 1)
    contrast = torch.from_numpy(rng.uniform(0.7, 1.3, n)).float().view(-1, 1, 1, 1)
    sat = torch.from_numpy(rng.uniform(0.7, 1.3, n)).float().view(-1, 1, 1, 1)
    grey = x.mean(1, keepdim=True)
    y = grey + (x - grey) * sat
    m = y.mean((1, 2, 3), keepdim=True)
    y = (y - m) * contrast + m + bright
    return torch.where(on, y.clamp(-1, 1), x)


def shift(x: torch.Tensor, rng: np.random.Generator, p: float, pad: int) -> torch.Tensor:
    """Per image, with probability ``p``: a random translation by up to ``pad`` px (reflect padding)."""
    out = x.clone()
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    h, w = x.shape[-2:]
    for i in np.flatnonzero(rng.random(len(x)) < p):
        dy, dx = rng.integers(0, 2 * pad + 1, 2)
        out[i] = padded[i, :, dy:dy + h, dx:dx + w]
    return out


def augment(x: torch.Tensor, rng: np.random.Generator, p: float) -> torch.Tensor:
    """The training augmentation on a float batch in [-1, 1] (see the module docstring)."""
    from mediatk.media import perturb

    flip = torch.from_numpy(rng.random(len(x)) < 0.5).view(-1, 1, 1, 1)
    x = torch.where(flip, x.flip(-1), x)
    if p <= 0:
        return x
    x = shift(colour_jitter(x, rng, p), rng, p, max(1, x.shape[-1] // 16))
    for i in range(len(x)):
        xi = x[i:i + 1]
        if rng.random() < p:
            xi = perturb.apply(xi, "downscale", rng.uniform(1.2, 3.0))
        if rng.random() < p:
            xi = perturb.apply(xi, "blur", rng.uniform(0.3, 2.0))
        if rng.random() < p:
            xi = perturb.apply(xi, "jpeg", int(rng.integers(30, 96)))
        x[i:i + 1] = xi
    return x


# ----------------------------------------------------------------------------------------------- calibration

def log_loss(logits: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> float:
    """Mean binary cross-entropy of sigmoid(logits / T) against labels ``y`` (numerically stable)."""
    z = np.asarray(logits, np.float64) / temperature
    return float(np.mean(np.logaddexp(0.0, z) - np.asarray(y, np.float64) * z))


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature T > 0 that minimises the log loss of sigmoid(logits / T) on (``logits``, ``y``)."""
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(lambda t: log_loss(logits, y, math.exp(t)), bounds=(-4.0, 4.0), method="bounded")
    t = math.exp(float(res.x))
    return t if log_loss(logits, y, t) <= log_loss(logits, y) else 1.0


# ----------------------------------------------------------------------------------------------- the detector

def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float [-1, 1] → uint8 (a quarter of the memory; how the training set is held)."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_float(u8: torch.Tensor) -> torch.Tensor:
    return u8.float().div_(127.5).sub_(1.0)


@register("face-forgery", "torchvision CNN (MobileNetV3/EfficientNet/ResNet/ConvNeXt) for face-swap crops: "
          "augmented, val-selected, temperature-calibrated", tags=("faces",))
class FaceForgeryDetector(Detector):
    Config = ForgeryConfig
    tiny_options = ("--steps", "60", "--batch-size", "32", "--size", "32", "--eval-every", "20", "--warmup", "5")

    def __init__(self, cfg: Any = None, device: str | torch.device = "cpu"):
        super().__init__(cfg, device)
        self.image_size, self.channels = int(self.cfg.size), 3
        self._val: tuple[torch.Tensor, torch.Tensor] | None = None
        self._pairs: Pairs | None = None
        self.net: ForgeryNet | None = None

    def set_validation(self, real: Any, fake: Any) -> FaceForgeryDetector:
        """Images for checkpoint selection and calibration (e.g. a face-crop set's group-split ``val``)."""
        self._val = (to_uint8(self.prepare(real)), to_uint8(self.prepare(fake)))
        return self

    def fit(self, real: Any, fake: Any, image_size: int | None = None, channels: int | None = None,
            face_crops: bool | None = None) -> Detector:
        # the input side is this detector's own option, whatever the data's native size
        return super().fit(real, fake, self.cfg.size, 3, True if face_crops is None else face_crops)

    def _fit(self, real: torch.Tensor, fake: torch.Tensor) -> None:
        self.fit_arrays(to_uint8(real), to_uint8(fake))

    def fit_arrays(self, real: torch.Tensor, fake: torch.Tensor, val: tuple[torch.Tensor, torch.Tensor] | None = None,
                   log=None, groups: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Train on uint8 ``N×3×S×S`` real and fake crops (already at ``size``); ``val`` likewise.

        ``groups`` (one key per real and per fake crop, e.g. the source video): with ``paired``, each
        minibatch pairs a fake with a real crop of its own group, so the net learns the manipulation rather
        than who is in the picture."""
        c = self.cfg
        val = val or self._val
        if val is None:
            (kr, vr), (kf, vf) = _hold_out(len(real), c.val_fraction, c.seed), _hold_out(len(fake), c.val_fraction,
                                                                                        c.seed + 1)
            val = (real[vr], fake[vf])
            real, fake = real[kr], fake[kf]
            groups = None if groups is None else (np.asarray(groups[0])[kr.numpy()], np.asarray(groups[1])[kf.numpy()])
            self.info["val_source"] = f"random {c.val_fraction:.0%} of each class of the training images"
        else:
            self.info.setdefault("val_source", "validation set given")
        self._pairs = _pairs(*groups) if groups is not None and c.paired else None
        self.info["train_pairs"] = 0 if self._pairs is None else len(self._pairs)
        if min(len(real), len(fake), len(val[0]), len(val[1])) < 1:
            raise ConfigError("face-forgery needs real and fake images for both training and validation")
        torch.manual_seed(c.seed)
        self.net = ForgeryNet(c.backbone)
        if c.weights:
            self.info["init"] = f"{c.weights} ({self.net.load_imagenet(read_safetensors(c.weights), c.weights)} tensors)"
        else:
            self.info["init"] = "scratch"
        t0 = time.perf_counter()
        losses, history = self._train(real, fake, val, log)
        self.info.update({
            "backbone": c.backbone, "counts": {"train_real": len(real), "train_fake": len(fake),
                                               "val_real": len(val[0]), "val_fake": len(val[1])},
            "history": history, "best_step": max(history, key=lambda h: h["val_auc"])["step"],
            "final_loss": float(np.mean(losses[-20:])), "train_seconds": round(time.perf_counter() - t0, 1),
        })
        self.calibrate(*val)
        self.fitted = True

    def calibrate(self, real: torch.Tensor, fake: torch.Tensor) -> float:
        """Fit the temperature on uint8 validation crops (at ``size``) with the current ``mirror`` option, as
        training ends; ``info["calibration"]`` records it.  Calling it on a trained detector after changing
        ``mirror`` gives what training with that option would have given (the weights do not depend on it)."""
        vy = np.r_[np.zeros(len(real)), np.ones(len(fake))]
        raw = self.logits(to_float(torch.cat([real, fake])))
        t = fit_temperature(raw, vy)
        self.net.temperature.fill_(t)
        self.info["calibration"] = {"temperature": round(t, 4), "val_log_loss_before": round(log_loss(raw, vy), 4),
                                    "val_log_loss_after": round(log_loss(raw, vy, t), 4)}
        return t

    def _train(self, real, fake, val, log) -> tuple[list[float], list[dict[str, float]]]:
        from mediatk.core.metrics import rank_auc

        c, dev = self.cfg, self.device
        rng = np.random.default_rng(c.seed)
        g = torch.Generator().manual_seed(c.seed)
        net = self.net.to(dev)
        cuda = dev.type == "cuda"
        amp = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float16
        scaler = torch.amp.GradScaler("cuda", enabled=cuda and amp == torch.float16)
        opt_ = torch.optim.AdamW(net.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        warm = max(1, min(c.warmup, c.steps // 2))
        sched = torch.optim.lr_scheduler.LambdaLR(opt_, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (
            1 + math.cos(math.pi * min(s, c.steps) / c.steps)))
        vx, vy = torch.cat(val), np.r_[np.zeros(len(val[0])), np.ones(len(val[1]))]
        half = max(1, c.batch_size // 2)
        best, history, losses = None, [], []
        for step in range(1, c.steps + 1):
            net.train()
            if self._pairs is not None:
                i0, i1 = self._pairs.draw(half, g)
            else:
                i0, i1 = torch.randint(len(real), (half,), generator=g), torch.randint(len(fake), (half,), generator=g)
            xb = augment(to_float(torch.cat([real[i0], fake[i1]])), rng, c.aug_prob).to(dev)
            yb = torch.cat([torch.zeros(half), torch.ones(half)]).to(dev)
            with torch.autocast(device_type=dev.type, dtype=amp, enabled=cuda):
                loss = F.binary_cross_entropy_with_logits(net(xb).float(), yb)
            opt_.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt_)
            scaler.update()
            sched.step()
            losses.append(float(loss.detach()))
            if step % c.eval_every == 0 or step == c.steps:
                z = self.logits(to_float(vx), mirror=False)
                h = {"step": step, "train_loss": round(float(np.mean(losses[-c.eval_every:])), 4),
                     "val_auc": round(rank_auc(vy, z), 4), "val_log_loss": round(log_loss(z, vy), 4)}
                history.append(h)
                if best is None or h["val_auc"] > best[0]:
                    best = (h["val_auc"], copy.deepcopy(net.state_dict()))
                if log:
                    log(f"step {step}/{c.steps}: loss {h['train_loss']:.4f}, val AUC {h['val_auc']:.4f}, "
                        f"val log loss {h['val_log_loss']:.4f}{' (best)' if best[0] == h['val_auc'] else ''}")
        net.load_state_dict(best[1])
        net.eval()
        return losses, history

    @torch.no_grad()
    def logits(self, x: torch.Tensor, batch_size: int = 256, mirror: bool | None = None) -> np.ndarray:
        """Raw logits (before the temperature) of a float batch already at ``size``; with ``mirror`` (default:
        the option) the mean of the crop's and its mirror image's."""
        self.net.eval()
        dev = self.device
        mirror = self.cfg.mirror if mirror is None else mirror
        out = []
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(dev)
            with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                out.append(self._logit(xb, mirror).cpu())
        return torch.cat(out).double().numpy() if out else np.zeros(0)

    def _predict(self, x: torch.Tensor) -> np.ndarray:
        from mediatk.detectors.base import sigmoid

        return sigmoid(self.logits(x) / float(self.net.temperature))

    def torch_logit(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable calibrated logit of P(synthetic) (eval mode; gradients flow to ``x``)."""
        self.net.eval()
        x = adapt(x.float(), self.image_size, self.channels).to(self.device)
        return self._logit(x, self.cfg.mirror) / self.net.temperature

    def _logit(self, x: torch.Tensor, mirror: bool) -> torch.Tensor:
        """The net's logit of ``x``, averaged with its mirror image's when ``mirror``."""
        z = self.net(x).float()
        return (z + self.net(x.flip(-1)).float()) / 2 if mirror else z

    def _state(self):
        return {"net": self.net}, {}

    def _load_state(self, ckpt) -> None:
        from mediatk.core.checkpoint import load_into

        self.net = ForgeryNet(self.cfg.backbone)
        load_into(self.net, ckpt, "net")
        self.net.to(self.device).eval()


def _hold_out(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(kept, held)`` indices: a random ``fraction`` of ``n`` items (at least one) held out."""
    if n < 2:
        raise ConfigError("face-forgery needs at least two images of each class to hold some out for validation")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    k = min(n - 1, max(1, round(n * fraction)))
    return perm[k:], perm[:k]


class Pairs:
    """Real/fake pairs of one group, drawn so that every fake is equally likely.

    ``fakes``: the fakes whose group holds a real crop (in order); for the k-th of them its group's reals are
    ``reals[start[k] : start[k] + count[k]]``.  A draw picks fakes uniformly, then one real of each one's group
    uniformly.  (Enumerating every real x fake pair of a group instead weights a group by reals x fakes:
    ffpp-crops' 19 coarse id blocks then held 283,362 of 287,675 pairs against DFDC's 4,313 one-to-one
    pairs, and a DFDC + FF++ run learnt almost nothing of DFDC.)  When every group holds one real, the draw
    takes one random number per pair, as the original pair list did, so earlier runs repeat bit for bit."""

    def __init__(self, g_real: np.ndarray, g_fake: np.ndarray):
        where: dict[str, list[int]] = {}
        for i, g in enumerate(np.asarray(g_real, dtype=str)):
            where.setdefault(g, []).append(i)
        fakes, start, count, reals = [], [], [], []
        for j, g in enumerate(np.asarray(g_fake, dtype=str)):
            if g in where:
                fakes.append(j)
                start.append(len(reals))
                count.append(len(where[g]))
                reals.extend(where[g])
        self.fakes, self.start, self.count, self.reals = (torch.tensor(v, dtype=torch.long)
                                                          for v in (fakes, start, count, reals))
        self.one_real = bool(len(count)) and max(count) == 1

    def __len__(self) -> int:
        return len(self.fakes)

    def draw(self, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(real indices, fake indices)`` of ``n`` pairs."""
        k = torch.randint(len(self.fakes), (n,), generator=g)
        off = 0 if self.one_real else (torch.rand(n, generator=g) * self.count[k]).long()
        return self.reals[self.start[k] + off], self.fakes[k]


def _pairs(g_real: np.ndarray, g_fake: np.ndarray) -> Pairs | None:
    """The :class:`Pairs` of the groups; None when no group holds both classes."""
    p = Pairs(g_real, g_fake)
    return p if len(p) else None
