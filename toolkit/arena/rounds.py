"""The rounds runner: the :class:`Arena`'s stages, each a call into the library.

Generators train and evade through :func:`mediatk.generators.train.train` (the engine behind ``mediatk
train``; evasion is a :class:`~mediatk.generators.engine.GeneratorPenalty`), fakes come from
:func:`mediatk.generators.sampling.sample_images`, detectors from the registry (:func:`mediatk.detectors.create`)
and their own ``fit``, figures from :mod:`mediatk.core.metrics` (via :mod:`.stats`) and FID/KID from
:mod:`mediatk.evaluation.quality`.  The order of stages and the files they write are in :meth:`Arena.plan`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mediatk.arena.config import ROBUSTNESS, SMALL_NETS, ArenaConfig, stage_seed, validate
from mediatk.arena.evasion import differentiable, evasion_penalty, post_process
from mediatk.arena.protocol import protocol_record
from mediatk.arena.runner import run_stages
from mediatk.arena.stats import auc, detection_stats, roc_points
from mediatk.arena.storage import ArenaStore, save_images
from mediatk.core.errors import DataError
from mediatk.core.registry import DETECTORS


def _plain(v: Any) -> Any:
    """A quality figure as JSON: floats, intervals as lists of floats, text as it is."""
    if isinstance(v, str):
        return v
    return [float(x) for x in v] if isinstance(v, (list, tuple)) else float(v)


class Arena:
    def __init__(self, cfg: ArenaConfig, resume: bool = False, echo: Callable[[str], None] = print):
        validate(cfg)
        if not cfg.generator_options and cfg.budget in ("tiny", "quick"):
            cfg.generator_options = dict(SMALL_NETS)  # CPU-sized nets; --budget full keeps the models' defaults
        self.cfg = cfg
        self.b = cfg.budget_values()
        self.store = ArenaStore(cfg.out)
        self.out = self.store.out
        self.echo = echo
        from mediatk.core.runtime import resolve_device

        self.device = resolve_device(cfg.device)
        self.results = self.store.open_results(json.loads(json.dumps(dataclasses.asdict(cfg))), resume)
        self.out.mkdir(parents=True, exist_ok=True)
        self._real: dict[str, Any] | None = None
        self._dets: dict[tuple[str, int], Any] = {}
        self._quality = None

    def save_results(self) -> None:
        self.store.save_results(self.results)

    # ---- data ----------------------------------------------------------------------------------------------
    def real(self) -> dict[str, Any]:
        """The real train and test images (the same subset the generators train on: limit and seed)."""
        if self._real is None:
            from mediatk.datasets import load_images

            kw = {"image_size": self.cfg.image_size, "channels": self.cfg.channels, "seed": self.cfg.seed}
            tr = load_images(self.cfg.data, split="train", limit=self.b["n_real_train"], **kw)
            te = load_images(self.cfg.data, split="test", limit=self.b["n_real_test"], **kw)
            if len(tr) < 8 or len(te) < 8:
                raise DataError(f"{self.cfg.data}: too few images for an arena ({len(tr)} train, {len(te)} test)")
            self._real = {"train": tr.tensor(), "test": te.tensor(), "name": tr.name,
                          "splits": f"{tr.format} train split (n={len(tr)}) / test split (n={len(te)})"}
        return self._real

    def fakes(self, g: str, t: int, split: str) -> torch.Tensor:
        return self.store.fakes(g, t, split)

    # ---- generators ----------------------------------------------------------------------------------------
    def _train(self, g: str, t: int, steps: int, seed_name: str, log_parts: int, **kw: Any):
        """One engine run of generator ``g`` into round ``t``'s folder, on the arena's real-train subset."""
        from mediatk.generators.train import train

        self.real()  # too small a set is refused here, before a run starts
        return train(g, data=self.cfg.data, steps=steps, batch_size=self.b["batch_size"],
                     image_size=self.cfg.image_size, channels=self.cfg.channels, device=str(self.device),
                     seed=stage_seed(self.cfg.seed, seed_name), out=self.store.fresh_gen_dir(g, t),
                     limit=self.b["n_real_train"], data_seed=self.cfg.seed, index=False, progress=False,
                     ckpt_every=10**9, log_every=max(1, steps // log_parts), **kw)

    def _copy_generator(self, model: Any, g: str, t: int, meta: dict[str, Any]) -> None:
        """Save ``model`` as round ``t``'s generator with ``meta`` (less its path and the source's versions: the
        save records its own)."""
        from mediatk.core.checkpoint import save_checkpoint
        from mediatk.core.runs import RunDir

        own = {k: v for k, v in meta.items() if k not in ("versions", "path")}
        save_checkpoint(RunDir(self.store.fresh_gen_dir(g, t)).ckpt("last"), {"model": model}, own)

    def train_generator(self, g: str) -> None:
        """G_0: trained on the engine (as ``mediatk train`` does), or the ``--checkpoint`` (file or run) given."""
        if g in self.cfg.checkpoints:
            from mediatk.generators.sampling import load_model

            model = load_model(g, self.cfg.checkpoints[g])
            self._copy_generator(model, g, 0, model.checkpoint_meta)
            return
        self._train(g, 0, self.b["gen_steps"], f"train:{g}", 10, options=self.cfg.generator_options.get(g, {}))

    def load_generator(self, g: str, t: int):
        from mediatk.generators.base import from_checkpoint

        return from_checkpoint(self.store.gen_checkpoint(g, t), device=self.device)

    def evade(self, g: str, t: int) -> None:
        """G_t → G_t+1: fine-tune against the frozen detectors D_t (or copy G_t for post-only evasion)."""
        dets = differentiable({d: self.detector(d, t) for d in self.cfg.detectors})
        if self.cfg.evasion == "post" or not dets:
            model = self.load_generator(g, t)
            self._copy_generator(model, g, t + 1, {**model.checkpoint_meta, "evaded": False})
            return
        res = self._train(g, t + 1, self.b["evade_steps"], f"evade:{g}:{t}", 5,
                          init=self.store.gen_checkpoint(g, t), penalties=[evasion_penalty(dets, self.cfg.lam)],
                          meta={"evaded_against": self.cfg.detectors, "round": t + 1})
        self.results.setdefault("evasion_logs", {})[f"{g}_r{t + 1}"] = res.history

    def sample_fakes(self, g: str, t: int) -> None:
        from mediatk.generators.sampling import sample_images
        from mediatk.media.draw import save_grid

        model = self.load_generator(g, t)
        gen = torch.Generator().manual_seed(stage_seed(self.cfg.seed, f"fakes:{g}:{t}"))
        for split, n in (("train", self.b["n_fake_train"]), ("test", self.b["n_fake_test"])):
            x = sample_images(model, n, gen)
            if t > 0 and self.cfg.evasion in ("post", "both"):
                x = post_process(x, self.real()["train"])
            save_images(self.store.fake_path(g, t, split), x)
        save_grid(self.fakes(g, t, "test")[:64], self.out / "samples" / f"{g}_r{t}.png", nrow=8)

    def quality(self, g: str, t: int) -> None:
        if self._quality is None:
            from mediatk.evaluation.quality import QualityEvaluator

            self._quality = QualityEvaluator(self.cfg.data, n=self.b["quality_n"], seed=self.cfg.seed,
                                             judge=False, log=lambda s: None)  # the set's frozen feature net
        res = self._quality(self.load_generator(g, t))
        self.results["quality"][f"{g}_r{t}"] = {k: _plain(v) for k, v in res.items()}
        self.results["protocol"]["quality_features"] = list(self._quality.lines)

    # ---- detectors -----------------------------------------------------------------------------------------
    def fit_detector(self, d: str, t: int, sources: dict[str, torch.Tensor] | None = None,
                     path: Path | None = None) -> Any:
        """D_t: the registry's detector with the budget's steps, fitted by its own ``fit`` and saved."""
        from mediatk.detectors import create

        budget = {"steps": self.b["det_steps"], "seed": stage_seed(self.cfg.seed, f"fit:{d}:{t}") % 100000}
        fields = {f.name for f in dataclasses.fields(DETECTORS.get(d).Config)}
        det = create(d, device=str(self.device), options={k: v for k, v in budget.items() if k in fields})
        if sources is None:
            rounds = range(t + 1) if (self.cfg.accumulate or t == 0) else [t]
            sources = {f"{g}_r{r}": self.fakes(g, r, "train") for g in self.cfg.generators for r in rounds}
        fake: Any = sources if getattr(det, "keeps_sources", False) else torch.cat(list(sources.values()))
        det.fit(self.real()["train"], fake)
        det.save(path or self.store.det_path(d, t))
        return det

    def detector(self, d: str, t: int):
        if (d, t) not in self._dets:
            from mediatk.detectors import load

            self._dets[(d, t)] = load(self.store.det_path(d, t).with_suffix(".safetensors"), device=self.device)
        return self._dets[(d, t)]

    def proba(self, d: str, t: int, x: torch.Tensor) -> np.ndarray:
        return self.detector(d, t).predict_proba(x)

    # ---- measurement ---------------------------------------------------------------------------------------
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
            clean = auc(self.proba(d, 0, real), self.proba(d, 0, fake))  # the same first point of every curve
            for kind, levels in ROBUSTNESS.items():
                pts = [[0.0 if kind != "jpeg" else 100.0, clean]]
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
        return protocol_record(self.cfg, self.b, self.real(), self.device)

    def run(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        if not self.results["protocol"]:
            self.results["protocol"] = self.protocol()
            self.save_results()
        run_stages(self.plan(), self.results, self.cfg.seed, self.save_results, self.echo)
        self.results["seconds"] = self.results.get("seconds", 0.0) + (time.perf_counter() - t0)
        self.save_results()
        from mediatk.core.tblog import log_arena  # per-round figures for `tensorboard --logdir OUT`

        log_arena(self.out, self.results, {f"{g}_r{t}": self.fakes(g, t, "test") for g in self.cfg.generators
                                           for t in range(self.cfg.rounds + 1)
                                           if self.store.fake_path(g, t, "test").is_file()})
        from mediatk.arena.report import write_report

        write_report(self.out)
        return self.results


def run_arena(cfg: ArenaConfig, resume: bool = False, echo: Callable[[str], None] = print) -> dict[str, Any]:
    return Arena(cfg, resume=resume, echo=echo).run()
