"""Frozen, versioned feature nets for FID/KID, and the attribute/class judges, trained on a set's own images.

FID means what its features mean, so a figure is only comparable with figures from the *same* feature net.
A net's identity is (dataset content fingerprint, image shape, kind, :class:`Recipe`, :data:`CODE_VERSION`,
seed); its id is a short readable name plus a hash of all of these, e.g. ``fashion-mnist-32x32-cls-1a2b3c4d``,
printed with every FID and stored in every metrics JSON.  Nothing a command does (its budget, its steps) changes
the net: ``standard`` is the one recipe; other recipes are selected by name and their ids say so.

Training is deterministic: on the CPU, in one thread, from seed 0 (other seeds only to measure the spread,
:func:`feature_spread`), so the same id means the same weights on any machine.  Nets are cached under
``$MEDIATK_HOME/quality/<id>.safetensors`` (atomic write); a corrupt file is retrained with a warning.

Kinds: ``classifier`` (labelled sets): :class:`SmallCNN` (3 conv-BN-ReLU-maxpool blocks of 32, 64, 128
channels, global average pooling, dropout, linear head) trained to predict the class labels; the features are
the 128-d pooled activations, the analogue of Inception's pool3.  ``autoencoder`` (unlabelled or attribute-only
sets): the same encoder trained as a conv autoencoder (MSE); the features are its 128-d code.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from mediatk.core.errors import CheckpointError, ConfigError
from torch import nn

# Bump when anything that changes a trained net changes (architecture, loss, augmentation, data order).
CODE_VERSION = 1


@dataclass(frozen=True)
class Recipe:
    """Fixed training settings of a feature net or judge (part of its identity)."""

    name: str
    steps: int
    batch: int = 128
    lr: float = 2e-3
    weight_decay: float = 5e-4
    train_limit: int = 20000  # a subset (seed 0) of at most this many train images
    n_test: int = 2000        # test images its accuracy / MSE is reported on


RECIPES = {
    "standard": Recipe("standard", 600),
    # for tests only: a net trained in seconds; its figures are not comparable with anything
    "test-tiny": Recipe("test-tiny", 20, batch=32, train_limit=512, n_test=200),
}


def judge_recipe(steps: int) -> Recipe:
    """The judge of conditional models: the standard settings, ``steps`` long (default 2000)."""
    return Recipe("judge", int(steps))


def recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ConfigError(f"feature net {name!r}: choose one of {', '.join(RECIPES)}")
    return RECIPES[name]


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
        from mediatk.generators.nets import Decoder

        self.enc = SmallCNN(image_shape[0], 1)
        self.feat_dim, self.dec = self.enc.feat_dim, Decoder(self.enc.feat_dim, tuple(image_shape), "conv", [], 32)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.enc.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dec(self.features(x)))


def _make(kind: str, shape: tuple[int, int, int], n_out: int) -> nn.Module:
    return AutoencoderFeatures(shape) if kind == "autoencoder" else SmallCNN(shape[0], n_out)


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


def fingerprint(*tensors: torch.Tensor | None) -> str:
    """SHA-1 of the tensors' bytes (the images and targets a net is trained on)."""
    h = hashlib.sha1()
    for t in tensors:
        if t is not None:
            h.update(str(tuple(t.shape)).encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def net_id(data: str, shape: Sequence[int], kind: str, rec: Recipe, data_fp: str, seed: int = 0,
           target: str = "") -> str:
    """``<set>-<H>x<W>-<kind>[-<recipe>][-<target>][-seedN]-<hash8>`` of everything that defines the net."""
    from pathlib import Path

    ident = {"data": data_fp, "shape": list(shape), "kind": kind, "target": target, "recipe": asdict(rec),
             "code": CODE_VERSION, "seed": seed}
    h = hashlib.sha1(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:8]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(str(data)).name).strip("_")[:30] or "data"
    parts = [name, f"{shape[1]}x{shape[2]}", {"classifier": "cls", "autoencoder": "ae"}.get(kind, kind)]
    parts += [rec.name] if rec.name != "standard" else []
    parts += [re.sub(r"[^A-Za-z0-9]+", "_", target)[:20]] if target else []
    parts += [f"seed{seed}"] if seed else []
    return "-".join(parts + [h])


def _one_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` with torch on one CPU thread: multi-threaded reductions change the last bits run to run."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn()
    finally:
        torch.set_num_threads(before)


def train_net(data: str, kind: str, shape: tuple[int, int, int], rec: Recipe | str = "standard",
              attrs: tuple[str, ...] = (), device: str | torch.device = "cpu", seed: int = 0,
              log: Callable[[str], None] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """The cached net of this identity (trained first if needed), on ``device``, and its info (``id`` etc.).

    ``kind`` is ``classifier`` (class labels, or ``attrs``) or ``autoencoder``.  Training: AdamW (lr, weight
    decay of the recipe, cosine decay), random flips and shifts (:func:`augment`), on the CPU in one thread.
    """
    from mediatk.core.checkpoint import load_checkpoint, load_into, save_checkpoint
    from mediatk.core.runs import mediatk_home
    from mediatk.datasets import load_images

    rec = recipe(rec) if isinstance(rec, str) else rec
    opts = {"image_size": shape[1], "channels": shape[0], "attrs": list(attrs) or None}
    train = load_images(data, split="train", limit=rec.train_limit, seed=0, **opts)

    def targets(ds):
        if kind == "classifier" and not attrs and ds.labels is None:
            raise ConfigError(f"{data} has no class labels for a classifier; use --features autoencoder")
        return ds.attrs.float() if attrs else ds.labels.long() if kind == "classifier" else None

    x, y = train.tensor(), targets(train)
    ident = net_id(data, shape, kind, rec, fingerprint(x, y), seed, ",".join(attrs))
    path = mediatk_home() / "quality" / ident
    if path.with_suffix(".safetensors").is_file():
        try:
            ck = load_checkpoint(path)
            net = _make(kind, shape, ck.meta["n_out"])
            load_into(net, ck, "net")
            return net.to(device).eval(), ck.meta["info"]
        except (CheckpointError, KeyError) as e:
            if log:
                log(f"mediatk: warning: cached feature net {path} is unreadable ({e}); training it again")
    n_out = (y.shape[1] if attrs else int(y.max()) + 1) if y is not None else 1
    if log:
        log(f"training {'judge' if attrs else 'feature net'} {ident} ({kind}, recipe {rec.name}: {rec.steps} steps "
            f"on {len(x)} {data} train images, {shape[1]} px, CPU; cached in {path.parent})")
    net = _one_thread(lambda: _fit(kind, shape, n_out, rec, x, y, bool(attrs), seed))
    test = load_images(data, split="test", limit=rec.n_test, seed=0, **opts)
    xt, yt = test.tensor(), targets(test)
    info: dict[str, Any] = {"id": ident, "kind": kind, "data": str(data), "image_size": shape[1],
                            "recipe": asdict(rec), "code_version": CODE_VERSION, "seed": seed, "n_train": len(x),
                            "n_test": len(xt), "target": ",".join(attrs) or None, "feat_dim": net.feat_dim}
    out = embed(net, xt, torch.device("cpu"))
    if kind == "autoencoder":
        info["test_mse"] = float(((out - xt) ** 2).mean())
    else:
        info["test_accuracy"] = float((((out > 0).float() if attrs else out.argmax(1)) == yt).float().mean())
    save_checkpoint(path, {"net": net}, {"model": f"quality-{kind}", "n_out": n_out, "info": info})
    return net.to(device), info


def _fit(kind: str, shape: tuple[int, int, int], n_out: int, rec: Recipe, x: torch.Tensor,
         y: torch.Tensor | None, multi_label: bool, seed: int) -> nn.Module:
    g, _ = torch.Generator().manual_seed(seed), torch.manual_seed(seed)
    net = _make(kind, shape, n_out).train()
    opt = torch.optim.AdamW(net.parameters(), lr=rec.lr, weight_decay=rec.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, rec.steps)
    with torch.enable_grad():  # the engine calls evaluators under no_grad
        for _ in range(rec.steps):
            idx = torch.randint(0, len(x), (min(rec.batch, len(x)),), generator=g)
            xb = augment(x[idx], g)
            if y is None:
                loss = F.mse_loss(net(xb), xb)
            elif multi_label:
                loss = F.binary_cross_entropy_with_logits(net(xb), y[idx])
            else:
                loss = F.cross_entropy(net(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return net.eval()


FEATURE_KINDS = ("auto", "classifier", "autoencoder", "inception")


def feature_extractor(data: str, shape: tuple[int, int, int], features: str = "auto", net: str | Recipe = "standard",
                      device: str | torch.device = "cpu", has_labels: bool = True,
                      log: Callable[[str], None] = print, seed: int = 0,
                      inception_weights: str | None = None) -> tuple[nn.Module, str]:
    """(feature net, its description); the net's id is ``net.feature_id`` (also at the end of the description).

    ``auto`` is ``classifier`` on labelled sets and ``autoencoder`` otherwise; ``inception`` is pytorch-fid's
    FID Inception from the user's ``pt_inception-2015-12-05`` file (:mod:`mediatk.evaluation.inception`).
    """
    if features not in FEATURE_KINDS:
        raise ConfigError(f"--features {features}: choose one of {', '.join(FEATURE_KINDS)}")
    if features == "inception":
        from mediatk.evaluation.inception import FIDInception

        model = FIDInception.from_file(inception_weights).to(device)
        return model, (f"FID Inception v3 pool3 (2048-d, pytorch-fid's weights {model.weights_name}, bilinear "
                       f"resize to 299 px) [feat {model.feature_id}]")
    if inception_weights:
        raise ConfigError("--inception-weights is used only with --features inception")
    if features == "auto":
        features = "classifier" if has_labels else "autoencoder"
    model, info = train_net(data, features, shape, net, device=device, seed=seed, log=log)
    model.feature_id = info["id"]
    what = f"test accuracy {info['test_accuracy']:.3f}" if "test_accuracy" in info else f"test MSE {info['test_mse']:.4f}"
    return model, (f"{features} CNN {info['feat_dim']}-d trained on {data} train ({info['n_train']} images, "
                   f"recipe {info['recipe']['name']}: {info['recipe']['steps']} steps, {what}) [feat {info['id']}]")


def feature_spread(data: str, shape: tuple[int, int, int], real: torch.Tensor, fakes: dict[str, torch.Tensor],
                   seeds: Sequence[int] = (0, 1, 2), features: str = "auto", net: str | Recipe = "standard",
                   log: Callable[[str], None] = print, n_boot: int = 200) -> dict[str, Any]:
    """FID of each set of saved ``fakes`` against ``real`` under feature nets trained with each seed.

    Returns ``{"ids": {seed: id}, "fid": {name: {seed: fid}}, "ci": {name: {seed: (lo, hi)}}, "spread":
    {name: (min, max, std)}}``: the part of a FID that comes from which net was trained, beside the
    bootstrap interval (the part that comes from which samples were drawn).
    """
    from mediatk.evaluation.fid import fid_bootstrap_ci, fid_from_features

    ids: dict[int, str] = {}
    fid: dict[str, dict[int, float]] = {k: {} for k in fakes}
    ci: dict[str, dict[int, tuple[float, float]]] = {k: {} for k in fakes}
    for s in seeds:
        model, _ = feature_extractor(data, shape, features, net, seed=s, log=log)
        ids[s] = model.feature_id
        r = embed(model.features, real, torch.device("cpu")).numpy()
        for name, x in fakes.items():
            f = embed(model.features, x, torch.device("cpu")).numpy()
            fid[name][s], ci[name][s] = fid_from_features(r, f), fid_bootstrap_ci(r, f, n_boot=n_boot)
    spread = {k: (min(v.values()), max(v.values()), float(np.std(list(v.values()), ddof=1)) if len(v) > 1 else 0.0)
              for k, v in fid.items()}
    return {"ids": ids, "fid": fid, "ci": ci, "spread": spread}
