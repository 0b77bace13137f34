"""The arms-race harness: generators adapt to detectors, detectors retrain on the new fakes.

Protocol (every number in ``results.json`` carries it in ``protocol``):

* Round 0: train each generator (or load ``--checkpoint``); sample fakes (a train set and a held-out test
  set); split the real data into train and test; fit each detector on real-train vs the pooled fakes of all
  generators; evaluate on real-test vs each generator's held-out fakes.
* Round t → t+1, for each generator G_t:
  1. **Evasion.** Fine-tune G_t against the frozen detectors D_t: the engine runs the model's own training
     step and adds λ·mean_D[mean softplus(logit_D(G(z)))], each detector's −log(1 − P_D(synthetic))
     averaged over the differentiable detectors (``torch_logit``), to the update of the optimiser that owns
     the sampling path (GAN: G's; VAE: the whole model's).  With ``--evasion post|both`` the samples are also
     post-processed (spectral matching towards the real images' mean Fourier amplitude).
  2. **Measure.** AUC(D_t on G_t) (before), AUC(D_t on G_t+1) (evasion), FID/KID of G_t and G_t+1 against
     the real test split (the price of evasion).  Every AUC comes with its bootstrap 95% interval, the
     fooling rate at the decision point P(synthetic) ≥ 0.5 and the TPR at the threshold that flags 1% of
     the real test images (an AUC below 0.5 means inverted scores; how many fakes pass is what these say).
  3. **Retrain.** D_t+1 is fitted on real-train vs G_t+1's fakes (plus every earlier round's with
     ``accumulate``): AUC(D_t+1 on G_t+1) (recovery) and AUC(D_t+1 on G_≤t) (forgetting).
* Also: a cross-generator matrix at round 0 (a detector trained on G_i's fakes only, tested on G_j's) and
  robustness curves of D_0 (AUC against JPEG quality, blur σ, downscale factor).

Every stage is a named unit whose outputs are files in the arena directory, recorded in ``results.json``
when the stage ends; ``--resume`` skips finished stages.  Each stage seeds every RNG from (seed, stage name),
so a resumed run produces the same numbers as an uninterrupted one, and the same seed on CPU gives the same
``results.json``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from mediatk.core.errors import ConfigError, DataError
from mediatk.core.fileio import atomic_path, write_json
from mediatk.core.metrics import rank_auc
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
ROBUSTNESS = {"jpeg": [95, 75, 50, 30], "blur": [0.5, 1.0, 1.5, 2.0], "downscale": [1.5, 2.0, 3.0, 4.0]}


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


# ---------------------------------------------------------------------------------------------------------
# small helpers


def stage_seed(seed: int, name: str) -> int:
    return (seed * 1_000_003 + int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)) % (2**31)


def save_images(path: Path, x: torch.Tensor) -> None:
    """Images in [-1, 1] stored as uint8 safetensors (what a PNG would hold, a few MB per set)."""
    from safetensors.torch import save_file

    u8 = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).contiguous()
    with atomic_path(path) as tmp:
        save_file({"images": u8}, str(tmp))


def load_images_file(path: Path) -> torch.Tensor:
    from safetensors.torch import load_file

    return load_file(str(path))["images"].float() / 127.5 - 1


def auc(real_p: np.ndarray, fake_p: np.ndarray) -> float:
    return rank_auc(np.r_[np.zeros(len(real_p)), np.ones(len(fake_p))], np.r_[real_p, fake_p])


#: the decision point of every detector's calibrated P(synthetic) (detectors/base.py)
DECISION = 0.5
#: the false-positive rate on real test images that sets the second, deployment-style threshold
MAX_FPR = 0.01


def detection_stats(real_p: np.ndarray, fake_p: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    """AUC with its bootstrap 95% interval, and how many fakes pass at two thresholds.

    ``fool``: fraction of fakes with P(synthetic) < 0.5 (judged real at the detector's own decision point).
    ``tpr1``: fraction of fakes flagged at the threshold that flags at most 1% of the real test images.
    An AUC far below 0.5 with a low fooling rate is a detector whose scores are inverted, not one fooled.
    """
    from mediatk.core.metrics import bootstrap_ci, fooling_rate, threshold_at_fpr

    y = np.r_[np.zeros(len(real_p)), np.ones(len(fake_p))]
    s = np.r_[real_p, fake_p]
    t1 = threshold_at_fpr(real_p, MAX_FPR)
    lo, hi = bootstrap_ci(rank_auc, y, s, n_boot=n_boot, seed=seed)
    return {"auc": rank_auc(y, s), "auc_ci": [float(lo), float(hi)],
            "fool": float(fooling_rate(fake_p, DECISION)), "tpr1": 1.0 - float(fooling_rate(fake_p, t1)),
            "threshold_1pct_fpr": float(t1)}


def evasion_terms(dets: dict[str, Any], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each differentiable detector's own evasion loss, mean softplus(logit) = −log(1 − P(synthetic)).

    The generator's loss is the mean of these terms, not softplus of the mean logit: with the mean logit, one
    detector driven far below zero (an overshoot to logit −16) paid for another that still caught every fake
    (+13.5), the loss looked small and the fakes stayed detectable.  Each term is ≥ 0 and only falls when its
    own detector is fooled.
    """
    return {d: F.softplus(det.torch_logit(x)).mean() for d, det in dets.items()}


def roc_points(real_p: np.ndarray, fake_p: np.ndarray, n: int = 60) -> dict[str, list[float]]:
    from sklearn.metrics import roc_curve

    y = np.r_[np.zeros(len(real_p)), np.ones(len(fake_p))]
    fpr, tpr, _ = roc_curve(y, np.r_[real_p, fake_p])
    grid = np.linspace(0, 1, n)
    return {"fpr": [round(float(v), 4) for v in grid], "tpr": [round(float(v), 4) for v in np.interp(grid, fpr, tpr)]}


class Progress:
    """One status line per stage on stderr: round, stage, elapsed and an estimate of what is left."""

    WEIGHTS: ClassVar[dict[str, float]] = {"train": 10.0, "evade": 4.0, "fit": 2.0, "cross": 3.0, "robust": 1.0,
                                           "fakes": 0.5, "eval": 1.0, "quality": 1.0}

    def __init__(self, names: list[str], echo: Callable[[str], None]):
        self.names, self.echo = names, echo
        self.total = sum(self.weight(n) for n in names)
        self.done_w = 0.0
        self.t0 = time.perf_counter()
        self.done_w_timed = 0.0

    def weight(self, name: str) -> float:
        return self.WEIGHTS.get(name.split(":")[0], 1.0)

    def start(self, name: str, skipped: bool = False) -> None:
        i = self.names.index(name) + 1
        el = time.perf_counter() - self.t0
        left = ""
        if self.done_w_timed > 0 and el > 1:
            rate = el / self.done_w_timed
            left = f", ~{_fmt(rate * (self.total - self.done_w))} left"
        what = "skip (done)" if skipped else "run "
        self.echo(f"[arena {i}/{len(self.names)} {_fmt(el)}{left}] {what} {name}")

    def finish(self, name: str, skipped: bool = False) -> None:
        self.done_w += self.weight(name)
        if not skipped:
            self.done_w_timed += self.weight(name)


def _plain(v: Any) -> Any:
    """A quality figure as JSON: floats, intervals as lists of floats, text as it is."""
    if isinstance(v, str):
        return v
    return [float(x) for x in v] if isinstance(v, (list, tuple)) else float(v)


def _fmt(s: float) -> str:
    s = round(s)
    return f"{s // 60}:{s % 60:02d}"


# ---------------------------------------------------------------------------------------------------------
# the arena


class Arena:
    def __init__(self, cfg: ArenaConfig, resume: bool = False, echo: Callable[[str], None] = print):
        validate(cfg)
        if not cfg.generator_options and cfg.budget in ("tiny", "quick"):
            cfg.generator_options = dict(SMALL_NETS)  # CPU-sized nets; --budget full keeps the models' defaults
        self.cfg = cfg
        self.b = cfg.budget_values()
        self.out = Path(cfg.out)
        self.echo = echo
        from mediatk.core.runtime import resolve_device

        self.device = resolve_device(cfg.device)
        results_file = self.out / "results.json"
        if results_file.is_file() and not resume:
            raise ConfigError(f"{self.out} already holds an arena run; add --resume to continue it or choose "
                              "another --out")
        if resume and results_file.is_file():
            self.results = json.loads(results_file.read_text())
            old = self.results["protocol"]["config"]
            mine = json.loads(json.dumps(asdict(cfg)))
            if {k: v for k, v in old.items() if k != "out"} != {k: v for k, v in mine.items() if k != "out"}:
                raise ConfigError(f"{self.out} was started with a different configuration; --resume needs the "
                                  "same options (see results.json protocol.config)")
        else:
            self.results = {"protocol": {}, "stages": [], "rounds": [], "table": [], "cross": {}, "robustness": {},
                            "roc": {}, "quality": {}}
        self.out.mkdir(parents=True, exist_ok=True)
        self._real: dict[str, torch.Tensor] | None = None
        self._dets: dict[tuple[str, int], Any] = {}
        self._quality = None

    # ---- persistence -------------------------------------------------------------------------------------
    def save_results(self) -> None:
        write_json(self.out / "results.json", self.results)

    def stage(self, name: str, fn: Callable[[], Any], progress: Progress) -> None:
        from mediatk.core.runtime import seed_everything

        if name in self.results["stages"]:
            progress.start(name, skipped=True)
            progress.finish(name, skipped=True)
            return
        progress.start(name)
        seed_everything(stage_seed(self.cfg.seed, name))
        fn()
        self.results["stages"].append(name)
        self.save_results()
        progress.finish(name)

    # ---- data ----------------------------------------------------------------------------------------------
    def real(self) -> dict[str, torch.Tensor]:
        if self._real is None:
            from mediatk.datasets import load_images

            kw = {"image_size": self.cfg.image_size, "channels": self.cfg.channels, "seed": self.cfg.seed}
            tr = load_images(self.cfg.data, split="train", limit=self.b["n_real_train"], **kw)
            te = load_images(self.cfg.data, split="test", limit=self.b["n_real_test"], **kw)
            if len(tr) < 8 or len(te) < 8:
                raise DataError(f"{self.cfg.data}: too few images for an arena ({len(tr)} train, {len(te)} test)")
            self._real = {"train": tr.tensor(), "test": te.tensor(), "name": tr.name,
                          "splits": f"{tr.format} train split (n={len(tr)}) / test split (n={len(te)})"}
        return self._real  # type: ignore[return-value]

    def fake_path(self, g: str, t: int, split: str) -> Path:
        return self.out / "fakes" / f"{g}_r{t}_{split}.safetensors"

    def fakes(self, g: str, t: int, split: str) -> torch.Tensor:
        return load_images_file(self.fake_path(g, t, split))

    def gen_dir(self, g: str, t: int) -> Path:
        return self.out / "generators" / g / f"round{t}"

    def det_path(self, d: str, t: int) -> Path:
        return self.out / "detectors" / f"{d}_r{t}"

    # ---- stages --------------------------------------------------------------------------------------------
    def train_generator(self, g: str) -> None:
        from mediatk.core.runs import RunDir
        from mediatk.generators.base import create, from_checkpoint
        from mediatk.generators.engine import Feed, TrainConfig, fit

        run_dir = self.gen_dir(g, 0)
        if g in self.cfg.checkpoints:
            model = from_checkpoint(self.cfg.checkpoints[g], expect_model=g)
            model.train()
            from mediatk.core.checkpoint import save_checkpoint

            save_checkpoint(RunDir(run_dir).ckpt("last"), {"model": model}, model.checkpoint_meta)
            return
        real = self.real()["train"]
        from mediatk.core.options import config_from_dict

        cls = GENERATORS.get(g)
        cfg = config_from_dict(cls.Config, self.cfg.generator_options.get(g, {}))
        model = create(g, tuple(real.shape[1:]), cfg=cfg)
        run = RunDir(run_dir)
        for sub in (run.checkpoints, run.samples):
            sub.mkdir(parents=True, exist_ok=True)
        tc = TrainConfig(steps=self.b["gen_steps"], batch_size=self.b["batch_size"], device=str(self.device),
                         seed=stage_seed(self.cfg.seed, f"train:{g}"), progress=False, ckpt_every=10**9,
                         log_every=max(1, self.b["gen_steps"] // 10), extra_meta={"dataset": self.real()["name"]})
        fit(model, Feed(real, torch.zeros(len(real)), tc.batch_size, seed=tc.seed), run, tc)

    def load_generator(self, g: str, t: int):
        from mediatk.generators.base import from_checkpoint

        return from_checkpoint(self.gen_dir(g, t) / "checkpoints" / "last.safetensors", device=self.device)

    @torch.no_grad()
    def sample_fakes(self, g: str, t: int) -> None:
        model = self.load_generator(g, t)
        gen = torch.Generator().manual_seed(stage_seed(self.cfg.seed, f"fakes:{g}:{t}"))
        for split, n in (("train", self.b["n_fake_train"]), ("test", self.b["n_fake_test"])):
            outs = []
            for i in range(0, n, 256):
                k = min(256, n - i)
                outs.append(model.sample(k, noise=model.sample_noise(k, gen).to(self.device)).float().cpu())
            x = torch.cat(outs).clamp(-1, 1)
            if t > 0 and self.cfg.evasion in ("post", "both"):
                from mediatk.media.perturb import mean_amplitude, spectral_match

                x = spectral_match(x, mean_amplitude(self.real()["train"]), alpha=0.5)
            save_images(self.fake_path(g, t, split), x)
        from mediatk.media.draw import save_grid

        save_grid(self.fakes(g, t, "test")[:64], self.out / "samples" / f"{g}_r{t}.png", nrow=8)

    def fit_detector(self, d: str, t: int, sources: dict[str, torch.Tensor] | None = None,
                     path: Path | None = None) -> Any:
        cls = DETECTORS.get(d)
        fields = {f for f in cls.Config.__dataclass_fields__}
        opts = {"steps": self.b["det_steps"]} if "steps" in fields else {}
        if "seed" in fields:
            opts["seed"] = stage_seed(self.cfg.seed, f"fit:{d}:{t}") % 100000
        det = cls(cls.Config(**opts), device=self.device)
        if sources is None:
            rounds = range(t + 1) if (self.cfg.accumulate or t == 0) else [t]
            sources = {f"{g}_r{r}": self.fakes(g, r, "train") for g in self.cfg.generators for r in rounds}
            if not self.cfg.accumulate and t > 0:
                sources = {f"{g}_r{t}": self.fakes(g, t, "train") for g in self.cfg.generators}
        real = self.real()["train"]
        fake: Any = sources if getattr(cls, "keeps_sources", False) else torch.cat(list(sources.values()))
        det.fit(real, fake)
        det.save(path or self.det_path(d, t))
        return det

    def detector(self, d: str, t: int):
        key = (d, t)
        if key not in self._dets:
            from mediatk.detectors.base import Detector

            self._dets[key] = Detector.load(self.det_path(d, t).with_suffix(".safetensors"), device=self.device)
        return self._dets[key]

    def proba(self, d: str, t: int, x: torch.Tensor) -> np.ndarray:
        return self.detector(d, t).predict_proba(x)

    def quality(self, g: str, t: int) -> None:
        if self._quality is None:
            from mediatk.evaluation.quality import QualityEvaluator

            self._quality = QualityEvaluator(self.cfg.data, n=self.b["quality_n"], seed=self.cfg.seed,
                                             judge=False, log=lambda s: None)  # the set's frozen feature net
        model = self.load_generator(g, t)
        res = self._quality(model)
        self.results["quality"][f"{g}_r{t}"] = {k: _plain(v) for k, v in res.items()}
        self.results["protocol"]["quality_features"] = list(self._quality.lines)

    def stats(self, key: str, real_p: np.ndarray, fake_p: np.ndarray) -> dict[str, Any]:
        """:func:`detection_stats` with a bootstrap seeded from (seed, key): the same run gives the same CIs."""
        return detection_stats(real_p, fake_p, self.b["n_boot"], stage_seed(self.cfg.seed, f"ci:{key}"))

    def evaluate_round0(self) -> None:
        real_test = self.real()["test"]
        row: dict[str, Any] = {"round": 0, "auc": {}, "stats": {}}
        for d in self.cfg.detectors:
            pr = self.proba(d, 0, real_test)
            stats = {g: self.stats(f"0:{d}:{g}", pr, self.proba(d, 0, self.fakes(g, 0, "test")))
                     for g in self.cfg.generators}
            row["stats"][d] = stats
            row["auc"][d] = {g: st["auc"] for g, st in stats.items()}
            pooled = np.concatenate([self.proba(d, 0, self.fakes(g, 0, "test")) for g in self.cfg.generators])
            self.results["roc"].setdefault(d, {})["0"] = roc_points(pr, pooled)
        self.results["rounds"].append(row)

    def evade(self, g: str, t: int) -> None:
        """G_t → G_t+1: fine-tune against the frozen detectors D_t (or copy G_t for post-only evasion)."""
        from mediatk.core.checkpoint import save_checkpoint
        from mediatk.core.runs import RunDir
        from mediatk.generators.base import Update
        from mediatk.generators.engine import Feed, TrainConfig, fit

        model = self.load_generator(g, t)
        run = RunDir(self.gen_dir(g, t + 1))
        for sub in (run.checkpoints, run.samples):
            sub.mkdir(parents=True, exist_ok=True)
        dets = {d: self.detector(d, t) for d in self.cfg.detectors}
        dets = {d: det for d, det in dets.items() if hasattr(det, "torch_logit")}
        if self.cfg.evasion == "post" or not dets:
            save_checkpoint(run.ckpt("last"), {"model": model}, {**model.checkpoint_meta, "evaded": False})
            return
        lam = self.cfg.lam
        inner = model.training_step
        gen_opt = model.generator_optimizer

        def evading_step(batch, ctx):
            for upd in inner(batch, ctx):
                if upd.optimizer == gen_opt:
                    x = model.sample(batch[0].shape[0])
                    terms = evasion_terms(dets, x)
                    ev = torch.stack(list(terms.values())).mean()
                    logs = {**upd.logs, "evasion": ev.detach(), **{f"evasion_{d}": v.detach() for d, v in terms.items()}}
                    upd = Update(upd.optimizer, upd.loss + lam * ev, logs)
                yield upd

        model.training_step = evading_step  # type: ignore[method-assign]
        model.train()
        real = self.real()["train"]
        tc = TrainConfig(steps=self.b["evade_steps"], batch_size=self.b["batch_size"], device=str(self.device),
                         seed=stage_seed(self.cfg.seed, f"evade:{g}:{t}"), progress=False, ckpt_every=10**9,
                         log_every=max(1, self.b["evade_steps"] // 5),
                         extra_meta={"dataset": self.real()["name"], "evaded_against": self.cfg.detectors,
                                     "round": t + 1})
        res = fit(model, Feed(real, torch.zeros(len(real)), tc.batch_size, seed=tc.seed), run, tc)
        self.results.setdefault("evasion_logs", {})[f"{g}_r{t + 1}"] = res.history

    def evaluate_transition(self, t: int) -> None:
        """The round table rows for t → t+1 (needs D_t, D_t+1, G_t, G_t+1 and their fakes)."""
        real_test = self.real()["test"]
        q = self.results["quality"]
        row: dict[str, Any] = {"round": t + 1, "auc": {}}
        for d in self.cfg.detectors:
            pr_t, pr_next = self.proba(d, t, real_test), self.proba(d, t + 1, real_test)
            row["auc"][d] = {}
            for g in self.cfg.generators:
                old = np.concatenate([self.proba(d, t + 1, self.fakes(g, r, "test")) for r in range(t + 1)])
                cells = {"before": (pr_t, self.proba(d, t, self.fakes(g, t, "test"))),
                         "evasion": (pr_t, self.proba(d, t, self.fakes(g, t + 1, "test"))),
                         "recovery": (pr_next, self.proba(d, t + 1, self.fakes(g, t + 1, "test"))),
                         "forgetting": (pr_next, old)}
                entry: dict[str, Any] = {"transition": f"{t}->{t + 1}", "generator": g, "detector": d}
                for what, (real_p, fake_p) in cells.items():
                    st = self.stats(f"{t + 1}:{d}:{g}:{what}", real_p, fake_p)
                    entry.update({f"auc_{what}": st["auc"], f"auc_{what}_ci": st["auc_ci"], f"fool_{what}": st["fool"],
                                  f"tpr1_{what}": st["tpr1"], f"threshold_1pct_fpr_{what}": st["threshold_1pct_fpr"]})
                row["auc"][d][g] = entry["auc_recovery"]
                self.results["table"].append({
                    **entry,
                    "fid_before": q.get(f"{g}_r{t}", {}).get("fid"), "fid_after": q.get(f"{g}_r{t + 1}", {}).get("fid"),
                    "kid_before": q.get(f"{g}_r{t}", {}).get("kid"), "kid_after": q.get(f"{g}_r{t + 1}", {}).get("kid"),
                })
            pooled = np.concatenate([self.proba(d, t + 1, self.fakes(g, t + 1, "test")) for g in self.cfg.generators])
            self.results["roc"].setdefault(d, {})[str(t + 1)] = roc_points(pr_next, pooled)
        self.results["rounds"].append(row)

    def cross_matrix(self) -> None:
        real_test = self.real()["test"]
        gens = self.cfg.generators
        for d in self.cfg.detectors:
            mat = []
            for gi in gens:
                det = self.fit_detector(d, 0, sources={f"{gi}_r0": self.fakes(gi, 0, "train")},
                                        path=self.out / "detectors" / "cross" / f"{d}_on_{gi}")
                pr = det.predict_proba(real_test)
                mat.append([auc(pr, det.predict_proba(self.fakes(gj, 0, "test"))) for gj in gens])
            self.results["cross"][d] = {"train_on": gens, "test_on": gens, "auc": mat}

    def robustness_curves(self) -> None:
        from mediatk.media.perturb import apply

        n = self.b["robust_n"]
        real = self.real()["test"][:n]
        fake = torch.cat([self.fakes(g, 0, "test")[: max(1, n // len(self.cfg.generators))]
                          for g in self.cfg.generators])
        for d in self.cfg.detectors:
            curves: dict[str, list[list[float]]] = {}
            for kind, levels in ROBUSTNESS.items():
                pts = [[0.0 if kind != "jpeg" else 100.0, auc(self.proba(d, 0, real), self.proba(d, 0, fake))]]
                for lv in levels:
                    pts.append([float(lv), auc(self.proba(d, 0, apply(real, kind, lv)),
                                               self.proba(d, 0, apply(fake, kind, lv)))])
                curves[kind] = pts
            self.results["robustness"][d] = curves

    # ---- the whole run ---------------------------------------------------------------------------------------
    def plan(self) -> list[tuple[str, Callable[[], None]]]:
        c = self.cfg
        steps: list[tuple[str, Callable[[], None]]] = []
        for g in c.generators:
            steps.append((f"train:{g}", lambda g=g: self.train_generator(g)))
            steps.append((f"fakes:{g}:0", lambda g=g: self.sample_fakes(g, 0)))
            steps.append((f"quality:{g}:0", lambda g=g: self.quality(g, 0)))
        for d in c.detectors:
            steps.append((f"fit:{d}:0", lambda d=d: self.fit_detector(d, 0)))
        steps.append(("eval:0", self.evaluate_round0))
        if c.cross and len(c.generators) > 1:
            steps.append(("cross:0", self.cross_matrix))
        if c.robustness:
            steps.append(("robust:0", self.robustness_curves))
        for t in range(c.rounds):
            for g in c.generators:
                steps.append((f"evade:{g}:{t + 1}", lambda g=g, t=t: self.evade(g, t)))
                steps.append((f"fakes:{g}:{t + 1}", lambda g=g, t=t: self.sample_fakes(g, t + 1)))
                steps.append((f"quality:{g}:{t + 1}", lambda g=g, t=t: self.quality(g, t + 1)))
            for d in c.detectors:
                steps.append((f"fit:{d}:{t + 1}", lambda d=d, t=t: self.fit_detector(d, t + 1)))
            steps.append((f"eval:{t + 1}", lambda t=t: self.evaluate_transition(t)))
        return steps

    def protocol(self) -> dict[str, Any]:
        from mediatk.core.runtime import describe_machine, package_versions

        real = self.real()
        return {
            "config": json.loads(json.dumps(asdict(self.cfg))), "budget": self.b, "data": self.cfg.data,
            "dataset": real["name"], "splits": real["splits"], "image_size": self.cfg.image_size,
            "channels": int(real["train"].shape[1]), "seed": self.cfg.seed,
            "n_real_train": len(real["train"]), "n_real_test": len(real["test"]),
            "n_fake_train_per_generator": self.b["n_fake_train"], "n_fake_test_per_generator": self.b["n_fake_test"],
            "detector_training": "real-train vs the pooled train fakes of every generator"
                                 + (" of every round so far" if self.cfg.accumulate else " of the current round"),
            "evasion": {"mode": self.cfg.evasion, "lambda": self.cfg.lam, "steps": self.b["evade_steps"],
                        "loss": "lambda * mean over the differentiable detectors D of mean softplus(logit_D(G(z))) "
                                "(each detector's own term), added to the generator's own update",
                        "post": "spectral matching to the real mean amplitude, alpha 0.5"
                        if self.cfg.evasion in ("post", "both") else None},
            "robustness": {"levels": ROBUSTNESS, "n_real": self.b["robust_n"], "detectors": "round 0"},
            "device": str(self.device), "machine": describe_machine(self.device), "versions": package_versions(),
        }

    def run(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        if not self.results["protocol"]:
            self.results["protocol"] = self.protocol()
            self.save_results()
        steps = self.plan()
        progress = Progress([n for n, _ in steps], self.echo)
        for name, fn in steps:
            self.stage(name, fn, progress)
        self.results["seconds"] = self.results.get("seconds", 0.0) + (time.perf_counter() - t0)
        self.save_results()
        from mediatk.core.tblog import log_arena  # per-round figures for `tensorboard --logdir OUT`

        log_arena(self.out, self.results, {f"{g}_r{t}": self.fakes(g, t, "test") for g in self.cfg.generators
                                           for t in range(self.cfg.rounds + 1) if self.fake_path(g, t, "test").is_file()})
        from mediatk.arena.report import write_report

        write_report(self.out)
        return self.results


def run_arena(cfg: ArenaConfig, resume: bool = False, echo: Callable[[str], None] = print) -> dict[str, Any]:
    return Arena(cfg, resume=resume, echo=echo).run()


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


#: narrow networks: a CPU trains them in seconds (used by quick arenas and the tests)
SMALL_NETS: dict[str, dict[str, Any]] = {"dcgan": {"g_width": 16, "d_width": 16}, "vae": {"width": 16}}

#: the demo's nets: dcgan up-samples by resize-conv (nearest ×2, then a 3×3 conv).  With transposed convs
#: (the model's default) a 16-channel dcgan on the 8×8 digits, which are up-sampled to smooth 32×32 images,
#: never learnt: its checkerboard texture gave the fakes away at once (step 300: D(real) 0.997, D(fake) 0.010,
#: G's loss rising, FID 264 vs the vae's 8) and the demo's samples were grey noise.
DEMO_NETS: dict[str, dict[str, Any]] = {**SMALL_NETS, "dcgan": {**SMALL_NETS["dcgan"], "upsample": "resize"}}


DEMO_OVERRIDES: dict[str, Any] = {"n_real_train": 800, "n_real_test": 400, "n_fake_train": 800, "n_fake_test": 400,
                                  "gen_steps": 300, "evade_steps": 60, "det_steps": 60, "quality_n": 400,
                                  "robust_n": 200, "feature_steps": 150}
