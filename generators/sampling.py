"""Using trained generators: sample grids, latent interpolation, reconstructions, translations.

The Python API behind ``mediatk generate`` and ``mediatk reconstruct``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from mediatk.core.errors import ConfigError
from mediatk.core.registry import GENERATORS
from mediatk.core.runs import resolve_checkpoint
from mediatk.generators.base import Generator, from_checkpoint


def train_hint(model: str) -> str:
    cls = GENERATORS.get(model)
    if cls.needs == "unpaired":
        return f"mediatk train {model} --data smile2neutral --steps 2000"
    if cls.needs == "labels":
        return f"mediatk train {model} --data celeba-genki-smiling --attr smiling --steps 2000"
    return f"mediatk train {model} --data fashion-mnist --steps 2000"


def load_model(model: str, checkpoint: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> Generator:
    """The model from ``checkpoint`` (file or run dir), or the newest trained one of that name."""
    GENERATORS.get(model)  # unknown name → one-line error listing the known ones
    path = resolve_checkpoint(model, checkpoint, train_hint(model))
    return from_checkpoint(path, expect_model=model, device=device)


def parse_attr_requests(model: Generator, requests: list[str] | tuple[str, ...]) -> dict[str, float]:
    """``["smiling", "male=0"]`` → ``{"Smiling": 1.0, "Male": 0.0}`` against the model's attribute names."""
    names = {n.lower(): n for n in model.attr_names}
    out: dict[str, float] = {}
    for req in requests:
        key, _, val = req.partition("=")
        name = names.get(key.strip().lower())
        if name is None:
            known = ", ".join(model.attr_names) or "none (this model is not attribute-conditioned)"
            raise ConfigError(f"--attr {key}: the model was trained with attributes: {known}")
        if val.strip() not in ("", "0", "1"):
            raise ConfigError(f"--attr {req}: value must be 0 or 1")
        out[name] = 0.0 if val.strip() == "0" else 1.0
    return out


def build_condition(model: Generator, n: int, label: int | None, attrs: dict[str, float],
                    gen: torch.Generator) -> torch.Tensor | None:
    """The condition batch for a conditional model; None for an unconditional one."""
    if not model.cond_dim:
        if label is not None or attrs:
            raise ConfigError(f"{model.name} is not conditional: --label/--attr do not apply")
        return None
    if model.attr_names:
        if label is not None:
            raise ConfigError("this model is conditioned on attributes; use --attr NAME[=0|1]")
        cond = (torch.rand(n, len(model.attr_names), generator=gen) < 0.5).float()
        for i, name in enumerate(model.attr_names):
            if name in attrs:
                cond[:, i] = attrs[name]
        return cond
    if attrs:
        raise ConfigError("this model is conditioned on class labels; use --label K")
    if label is not None:
        if not 0 <= label < model.num_classes:
            raise ConfigError(f"--label {label}: the model knows classes 0..{model.num_classes - 1}")
        labels = torch.full((n,), label, dtype=torch.long)
    else:
        labels = torch.arange(n) % model.num_classes  # one column per class
    return model.condition_vector(labels)


@dataclass
class GenerateResult:
    images: torch.Tensor
    condition: torch.Tensor | None
    checkpoint: Path
    info: dict[str, Any]


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between Gaussian latents (keeps the norm typical of the prior)."""
    an, bn = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((an * bn).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


@torch.no_grad()
def generate(model_name: str, checkpoint: str | os.PathLike | None = None, n: int = 64, label: int | None = None,
             attrs: list[str] | tuple[str, ...] = (), interpolate: bool = False,
             inputs: list[str] | tuple[str, ...] = (), seed: int = 0, device: str = "cpu",
             model: Generator | None = None, **extra: Any) -> GenerateResult:
    """Sample ``n`` images (or an interpolation walk) from a trained model."""
    from mediatk.core.runtime import resolve_device
    from mediatk.media.pixels import read_image, to_tensor

    dev = resolve_device(device)
    if model is None:
        model = load_model(model_name, checkpoint, device=dev)
    ckpt = Path(getattr(model, "checkpoint_meta", {}).get("path", checkpoint or ""))
    gen = torch.Generator().manual_seed(seed)
    want = parse_attr_requests(model, attrs)
    special = {k: v for k, v in extra.items() if v is not None}
    if special and not hasattr(model, "generate_special"):
        raise ConfigError(f"{model.name} does not take {', '.join('--' + k for k in special)}")
    if special:
        if "direction" in special:
            special["inputs"] = list(inputs)
        images = model.generate_special(n=n, gen=gen, **special)  # e.g. InfoGAN --code, CycleGAN --input
        return GenerateResult(images.cpu(), None, ckpt, {"n": len(images)})
    if interpolate:
        steps = max(2, n)
        t = torch.linspace(0, 1, steps).view(-1, 1)
        if inputs:
            if len(inputs) != 2 or not model.can_reconstruct:
                raise ConfigError("--interpolate with --input needs exactly two images and a model with an encoder")
            xs = torch.stack([to_tensor(read_image(p), size=model.image_shape[1:], channels=model.image_shape[0])
                              for p in inputs]).to(dev)
            z = model.encode(xs)
            zs = z[0:1] + t.to(dev) * (z[1:2] - z[0:1])
            images = model.decode(zs)
            cond = None
        else:
            if not model.can_sample:
                raise ConfigError(f"{model.name} cannot sample; use --interpolate --input A B")
            z = model.sample_noise(2, gen)
            zs = slerp(z[0:1].flatten(1), z[1:2].flatten(1), t).view(steps, *z.shape[1:])
            cond1 = build_condition(model, 1, label, want, gen)
            cond = cond1.repeat(steps, 1) if cond1 is not None else None
            images = model.sample(steps, cond=cond.to(dev) if cond is not None else None, noise=zs.to(dev))
    else:
        if not model.can_sample:
            hint = "use mediatk reconstruct" if model.can_reconstruct else "it only translates (--input)"
            raise ConfigError(f"{model.name} does not sample from a prior; {hint}")
        noise = model.sample_noise(n, gen)
        cond = build_condition(model, n, label, want, gen)
        images = model.sample(n, cond=cond.to(dev) if cond is not None else None, noise=noise.to(dev))
    return GenerateResult(images.float().clamp(-1, 1).cpu(), cond, ckpt, {"n": len(images)})


@torch.no_grad()
def reconstruct(model: Generator, x: torch.Tensor) -> dict[str, Any]:
    """Reconstructions with MSE and PSNR (on [0, 1] pixels); for denoising models also the corrupted inputs."""
    from mediatk.core.metrics import psnr

    x = x.to(next(iter(model.state_dict().values())).device)
    rows = [x]
    if hasattr(model, "corrupt_for_display"):
        noisy = model.corrupt_for_display(x)
        rows.append(noisy)
        rec = model.reconstruct(noisy)
    else:
        rec = model.reconstruct(x)
    rec = rec.float().clamp(-1, 1)
    rows.append(rec)
    mse = float((((rec + 1) / 2 - (x + 1) / 2) ** 2).mean())
    return {"grid": torch.cat(rows).cpu(), "rows": len(rows), "mse": mse, "psnr": psnr(rec, x),
            "reconstruction": rec.cpu()}
