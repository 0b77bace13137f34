"""What an arena is asked to do: its configuration, the budgets (sizes per stage) and up-front checks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from mediatk.core.errors import ConfigError
from mediatk.core.registry import DETECTORS, GENERATORS

BUDGETS: dict[str, dict[str, Any]] = {
    # images per split, generator steps, evasion steps, detector training steps, bootstrap resamples per AUC
    "tiny": {"n_real_train": 256, "n_real_test": 128, "n_fake_train": 256, "n_fake_test": 128, "gen_steps": 20,
             "evade_steps": 6, "det_steps": 30, "quality_n": 128, "batch_size": 32, "robust_n": 64,
             "feature_steps": 40, "n_boot": 200},
    "quick": {"n_real_train": 1500, "n_real_test": 600, "n_fake_train": 1500, "n_fake_test": 600, "gen_steps": 500,
              "evade_steps": 120, "det_steps": 150, "quality_n": 600, "batch_size": 64, "robust_n": 300,
              "feature_steps": 300, "n_boot": 1000},
    "full": {"n_real_train": 10000, "n_real_test": 5000, "n_fake_train": 10000, "n_fake_test": 5000,
             "gen_steps": 4000, "evade_steps": 800, "det_steps": 800, "quality_n": 5000, "batch_size": 64,
             "robust_n": 2000, "feature_steps": None, "n_boot": 1000},
}
#: the perturbation levels of the robustness curves
ROBUSTNESS = {"jpeg": [95, 75, 50, 30], "blur": [0.5, 1.0, 1.5, 2.0], "downscale": [1.5, 2.0, 3.0, 4.0]}

#: narrow networks: a CPU trains them in seconds (used by quick arenas and the tests)
SMALL_NETS: dict[str, dict[str, Any]] = {"dcgan": {"g_width": 16, "d_width": 16}, "vae": {"width": 16}}


@dataclass
class ArenaConfig:
    data: str
    generators: list[str]
    detectors: list[str]
    rounds: int = 2
    out: str = "runs/arena"
    budget: str = "quick"
    seed: int = 0
    device: str = "cpu"
    image_size: int = 32
    channels: int | None = None
    evasion: str = "finetune"          # finetune | post | both
    lam: float = 1.0                   # weight of the evasion loss
    accumulate: bool = True            # retrain on every round's fakes so far
    cross: bool = True
    robustness: bool = True
    checkpoints: dict[str, str] = field(default_factory=dict)   # generator → checkpoint to start from
    overrides: dict[str, Any] = field(default_factory=dict)     # budget entries to override
    generator_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def budget_values(self) -> dict[str, Any]:
        if self.budget not in BUDGETS:
            raise ConfigError(f"--budget {self.budget!r}: expected one of {', '.join(BUDGETS)}")
        return {**BUDGETS[self.budget], **{k: v for k, v in self.overrides.items() if v is not None}}


def validate(cfg: ArenaConfig) -> None:
    """Refuse bad configurations before any work starts (one-line errors)."""
    if not cfg.generators:
        raise ConfigError("--generators: give at least one generator")
    if not cfg.detectors:
        raise ConfigError("--detectors: give at least one detector")
    if cfg.rounds < 0:
        raise ConfigError("--rounds must be ≥ 0")
    if cfg.evasion not in ("finetune", "post", "both"):
        raise ConfigError(f"--evasion {cfg.evasion!r}: expected finetune, post or both")
    for g in cfg.generators:
        cls = GENERATORS.get(g)
        if not cls.can_sample:
            raise ConfigError(f"generator {g!r} cannot sample images from noise; the arena needs samplers "
                              f"(e.g. {', '.join(n for n in GENERATORS.names() if GENERATORS.get(n).can_sample)})")
        if cls.needs != "images":
            raise ConfigError(f"generator {g!r} needs {cls.needs}; the arena trains unconditional generators")
    for d in cfg.detectors:
        cls = DETECTORS.get(d)
        if getattr(cls, "media", "image") != "image":
            raise ConfigError(f"detector {d!r} works on {cls.media}s, not images; the arena compares image detectors")
        if d == "discriminator":
            raise ConfigError("detector 'discriminator' needs a trained GAN checkpoint; use it with mediatk "
                              "train-detector, not in the arena")
    cfg.budget_values()


def stage_seed(seed: int, name: str) -> int:
    """The seed of one stage (or one interval), a function of the arena's seed and the stage's name only."""
    return (seed * 1_000_003 + int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)) % (2**31)
