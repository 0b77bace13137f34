"""``mediatk demo``: a quick arena on the built-in data (Fashion-MNIST when found, else scikit-learn's digits)."""

from __future__ import annotations

from typing import Any

from mediatk.arena.config import SMALL_NETS, ArenaConfig

#: the demo's nets: dcgan up-samples by resize-conv (nearest ×2, then a 3×3 conv).  With transposed convs
#: (the model's default) a 16-channel dcgan on the 8×8 digits, which are up-sampled to smooth 32×32 images,
#: never learnt: its checkerboard texture gave the fakes away at once (step 300: D(real) 0.997, D(fake) 0.010,
#: G's loss rising, FID 264 vs the vae's 8) and the demo's samples were grey noise.
DEMO_NETS: dict[str, dict[str, Any]] = {**SMALL_NETS, "dcgan": {**SMALL_NETS["dcgan"], "upsample": "resize"}}

DEMO_OVERRIDES: dict[str, Any] = {"n_real_train": 800, "n_real_test": 400, "n_fake_train": 800, "n_fake_test": 400,
                                  "gen_steps": 300, "evade_steps": 60, "det_steps": 60, "quality_n": 400,
                                  "robust_n": 200, "feature_steps": 150}


def demo_config(out: str, seed: int = 0, device: str = "cpu") -> ArenaConfig:
    """``mediatk demo``: Fashion-MNIST when the data roots have it, else scikit-learn's bundled digits."""
    from mediatk.datasets import resolve

    try:
        _, path = resolve("fashion-mnist")
        data = "fashion-mnist" if path is not None else "digits"
    except Exception:  # noqa: BLE001 - any failure to find it means: use the offline default
        data = "digits"
    return ArenaConfig(data=data, generators=["dcgan", "vae"], detectors=["cnn", "spectrum"], rounds=2, out=out,
                       budget="quick", seed=seed, device=device, image_size=32, evasion="finetune", lam=1.0,
                       cross=False, overrides=DEMO_OVERRIDES, generator_options=DEMO_NETS)
