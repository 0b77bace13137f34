"""Sample quality of a generator, offline: FID, KID and attribute accuracy, each with its interval.

The maths is in :mod:`mediatk.evaluation.fid`, the feature nets and judges in :mod:`mediatk.evaluation.feature_nets` (a frozen,
versioned net per dataset, its id printed with every FID), pytorch-fid's Inception in :mod:`mediatk.evaluation.inception`.
This module holds :class:`QualityEvaluator`, which the training engine (``train --eval-every``), ``mediatk
evaluate``, the arena and the benchmarks all use, so the same data gives the same feature net everywhere.

**Attribute accuracy** (conditional models): a judge CNN trained on the real train split (its accuracy on
the real test split is reported) classifies generated samples; for ``--attr smiling`` we report the share
judged smiling among samples asked to smile, and judged not smiling among those asked not to, each with a
Wilson 95% interval over the n samples judged (:func:`mediatk.core.metrics.binomial_ci`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from mediatk.core.errors import ConfigError
from mediatk.core.metrics import binomial_ci, fmt_ci
from mediatk.evaluation.feature_nets import (  # noqa: F401 - re-exported: the names callers used before the split
    FEATURE_KINDS,
    AutoencoderFeatures,
    SmallCNN,
    augment,
    embed,
    feature_extractor,
    judge_recipe,
    train_net,
)
from mediatk.evaluation.fid import (  # noqa: F401
    check_sample_sizes,
    fid_bootstrap_ci,
    fid_from_features,
    frechet_distance,
    kid_from_features,
)

# The attribute/class judge trains longer than the feature nets: on celeba-genki-smiling at 32 px (2800 train
# images, CPU) the SmallCNN judge reached 0.713 / 0.873 / 0.897 / 0.905 real-test accuracy after 500 / 1000 /
# 1500 / 2000 steps (separate cosine schedules would differ a little); a judge near chance caps what
# attribute accuracy can show.
JUDGE_STEPS = 2000
N_BOOT = 200  # bootstrap resamples of the generated features for fid_lo / fid_hi (50 for Inception's 2048-d)


def _cycle(t: torch.Tensor, n: int) -> torch.Tensor:  # t repeated to n rows
    return t.repeat((n // len(t) + 1,) + (1,) * (t.dim() - 1))[:n]


class QualityEvaluator:
    """FID/KID of a model against a real split (+ label/attribute accuracy for conditional models).

    ``evaluator(model, step) -> {"fid", "fid_lo", "fid_hi", "kid", ...}`` (all floats) is what the training
    engine calls every ``eval_every`` steps (with ``best_metric="fid"`` it keeps ``checkpoints/best.*``).
    ``fid_lo``/``fid_hi`` bound a bootstrap 95% interval over the generated samples; accuracies come with
    ``<key>_lo``/``<key>_hi`` (Wilson).  After a call, :attr:`report` holds the same figures with the feature
    net's id, counts and intervals as lists, ready for a JSON file; :meth:`fid_line` and :meth:`accuracy_lines`
    print them.

    The feature net is the dataset's frozen ``feature_net`` recipe (``standard``; ``test-tiny`` only in tests),
    so the same data gives the same net whatever the command.  Reference statistics, feature nets and judges
    are prepared on the first call, for that model's image size and condition; the noise is the same on every
    call (seeded), so figures from successive steps compare like with like.  Generated images are conditioned
    on the real images' labels/attributes (the same mix).  For ``cyclegan``: FID of a2b(A) against B and of
    b2a(B) against A; ``fid`` is their mean.  The judge of conditional models trains ``judge_steps`` steps
    (default ``JUDGE_STEPS``) from ``judge_seed``; a checkpoint chosen by one judge is fairly scored by a
    second one with another seed.

    ``split`` is ``"test"`` for figures that are reported (``mediatk evaluate``) and ``"val"`` for the
    evaluator that picks checkpoints during training (``--best-metric``), so a reported figure never comes
    from the images a checkpoint was chosen on.
    """

    def __init__(self, data: str, n: int = 2000, features: str = "auto", feature_net: str = "standard",
                 seed: int = 0, judge: bool = True, log: Callable[[str], None] = print,
                 judge_steps: int | None = None, judge_seed: int = 0, inception_weights: str | None = None,
                 split: str = "test", n_boot: int = N_BOOT):
        if int(n) < 2:  # before any training: a covariance needs two samples
            raise ConfigError(f"FID needs at least 2 generated images; got n = {n}")
        self.data, self.n, self.features, self.feature_net = str(data), int(n), features, feature_net
        if split not in ("val", "test"):
            raise ConfigError(f"the quality evaluator reads the val or test split, not {split!r}")
        self.judge_steps, self.judge_seed = judge_steps or JUDGE_STEPS, int(judge_seed)
        self.seed, self.use_judge, self.log = seed, judge, log
        self.inception_weights, self.n_boot = inception_weights, int(n_boot)
        self.split = split  # the real images compared with: the reference split
        self._key: Any = None
        self.lines: list[str] = []
        self.feature_id = ""
        self.report: dict[str, Any] = {}
        self.result: dict[str, float] = {}

    def prepare(self, model) -> None:
        from mediatk.datasets import load_images, load_unpaired

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
        self.net, desc = feature_extractor(self.data, shape, self.features, self.feature_net, device=dev,
                                           has_labels=has_labels, log=self.log,
                                           inception_weights=self.inception_weights)
        self.feature_id = self.net.feature_id
        self.real_feats = {k: self.extract(v, dev) for k, v in self.real.items()}
        n_real = ", ".join(f"{len(v)}" for v in self.real.values())
        self.lines = [f"features: {desc}",
                      f"n_real {n_real} ({self.data} {self.split} split), image size {shape[1]} px, seed {self.seed}"]
        if self.use_judge and model.cond_dim and not self.unpaired:
            attrs = tuple(model.attr_names)
            self.judge, info = train_net(self.data, "classifier", shape, judge_recipe(self.judge_steps), attrs=attrs,
                                         device=dev, seed=self.judge_seed, log=self.log)
            what = "attribute" if attrs else "class"
            self.lines.append(f"{what} judge: CNN trained on {self.data} train ({info['n_train']} images, "
                              f"{info['recipe']['steps']} steps"
                              f"{f', seed {self.judge_seed}' if self.judge_seed else ''}), accuracy "
                              f"{info['test_accuracy']:.3f} on {info['n_test']} real test images"
                              f"{' for ' + ', '.join(attrs) if attrs else ''} [judge {info['id']}]")
        self._key = key

    def extract(self, x: torch.Tensor, device: torch.device) -> np.ndarray:
        return embed(self.net.to(device).eval().features, x, device).numpy()

    @staticmethod
    def _samples(model, n: int, cond: torch.Tensor | None, gen: torch.Generator) -> torch.Tensor:
        from mediatk.generators.sampling import sample_images

        return sample_images(model, n, gen, cond=cond)

    def _fid(self, out: dict[str, float], key: str, real: np.ndarray, fake: np.ndarray) -> None:
        """``key``, ``key_lo``, ``key_hi`` and the KID of generated features ``fake`` against ``real``."""
        check_sample_sizes(len(real), len(fake), real.shape[1], self.log if self._warn else None)
        boots = self.n_boot if real.shape[1] <= 512 else min(self.n_boot, 50)
        out[key] = fid_from_features(real, fake)
        out[f"{key}_lo"], out[f"{key}_hi"] = fid_bootstrap_ci(real, fake, n_boot=boots, seed=self.seed)
        kid = key.replace("fid", "kid")
        out[kid], out[f"{kid}_std"] = kid_from_features(real, fake, seed=self.seed)
        self.report[key], self.report[f"{key}_ci"] = out[key], [out[f"{key}_lo"], out[f"{key}_hi"]]
        self.report.update({kid: out[kid], f"{kid}_std": out[f"{kid}_std"], "n_boot": boots})

    @torch.no_grad()
    def __call__(self, model, step: int | None = None) -> dict[str, float]:
        self._warn = self._key is None  # the sample-size warning once, at the first call
        self.prepare(model)
        gen, dev = torch.Generator().manual_seed(self.seed + 1), next(model.parameters()).device
        self.report = {"feature_id": self.feature_id, "features": self.lines[0], "data": self.data,
                       "split": self.split, "ci_level": 0.95, "fid_ci_kind": "bootstrap over generated samples"}
        out: dict[str, float] = {"n_fake": float(self.n)}
        if self.unpaired:
            for d, src, ref in (("a2b", "a", "b"), ("b2a", "b", "a")):
                fake = embed(lambda x, d=d: model.translate(x, d), self.real[src], dev, bs=64)
                self._fid(out, f"fid_{d}", self.real_feats[ref], self.extract(fake.clamp(-1, 1), dev))
            out.update(fid=(out["fid_a2b"] + out["fid_b2a"]) / 2, kid=(out["kid_a2b"] + out["kid_b2a"]) / 2,
                       n_fake=float(len(self.real["a"]) + len(self.real["b"])))
        else:
            cond = _cycle(self.real_cond, self.n) if self.real_cond is not None else None
            self._fid(out, "fid", self.real_feats["x"], self.extract(self._samples(model, self.n, cond, gen), dev))
            if self.judge is not None:
                out.update(self.judge_accuracy(model, gen))
        self.report.update(n_fake=int(out["n_fake"]), n_real=sum(len(v) for v in self.real.values()), step=step)
        self.result = out
        return out

    @torch.no_grad()
    def judge_accuracy(self, model, gen: torch.Generator) -> dict[str, float]:
        """Share of samples the judge assigns the asked-for class, or each attribute value (1 and 0).

        Each share comes with ``_lo``/``_hi`` (Wilson 95%); ``report["accuracy"]`` also holds k and n, and
        for class-conditional models one entry per class.
        """
        dev, m = next(model.parameters()).device, min(self.n, 1000)
        self.judge.to(dev).eval()
        hits: dict[str, tuple[int, int]] = {}
        if not model.attr_names:
            labels = torch.arange(m) % model.num_classes
            x = self._samples(model, m, model.condition_vector(labels), gen)
            ok = embed(self.judge, x, dev).argmax(1) == labels
            hits["label_acc"] = (int(ok.sum()), m)
            for c in range(model.num_classes):
                hits[f"label_acc_{c}"] = (int(ok[labels == c].sum()), int((labels == c).sum()))
        else:
            for i, name in enumerate(model.attr_names):
                for v in (1.0, 0.0):
                    cond = _cycle(self.real_cond, m).clone()
                    cond[:, i] = v
                    pred = embed(self.judge, self._samples(model, m, cond, gen), dev)[:, i] > 0
                    hits[f"attr_{name}={int(v)}"] = (int((pred == bool(v)).sum()), m)
        acc = {k: {"value": kk / n, "k": kk, "n": n, "ci": list(binomial_ci(kk, n))} for k, (kk, n) in hits.items()}
        self.report["accuracy"] = acc
        res: dict[str, float] = {}
        for k, a in acc.items():
            if not k.startswith("label_acc_"):  # per-class figures stay in the report, not the training log
                res.update({k: a["value"], f"{k}_lo": a["ci"][0], f"{k}_hi": a["ci"][1]})
        if model.attr_names:
            res.update(attr_acc=float(np.mean([a["value"] for a in acc.values()])), n_judged=float(m))
        return res

    def fid_line(self, res: dict[str, float]) -> str:
        """``FID 12.345 [11.9, 12.8]  KID ... (n_fake N) [feat ID]`` from a result of :meth:`__call__`."""
        n = int(res["n_fake"])
        if "fid_a2b" in res:
            body = "  ".join(f"FID {d} {fmt_ci(res[f'fid_{d}'], (res[f'fid_{d}_lo'], res[f'fid_{d}_hi']))}  "
                             f"KID {d} {res[f'kid_{d}']:.5f}" for d in ("a2b", "b2a"))
            return f"{body}  (n_fake {n} translated images) [feat {self.feature_id}]"
        return (f"FID {fmt_ci(res['fid'], (res['fid_lo'], res['fid_hi']))}  KID {res['kid']:.5f} ± "
                f"{res['kid_std']:.5f}  (n_fake {n}; FID interval: 95% bootstrap over the generated samples) "
                f"[feat {self.feature_id}]")

    def accuracy_lines(self) -> list[str]:
        """One line per judged figure, with its Wilson interval and n."""
        lines = []
        for k, a in self.report.get("accuracy", {}).items():
            fig = f"{fmt_ci(a['value'], a['ci'])} ({a['k']} of {a['n']})"
            if k == "label_acc":
                lines.append(f"label accuracy {fig}: share of class-conditioned samples the judge assigns their class")
            elif k.startswith("label_acc_"):
                lines.append(f"  class {k[10:]}: {fig}")
            else:
                name, val = k[5:].split("=")
                lines.append(f"{name}={val}: {fig} samples judged {name if val == '1' else 'not ' + name}")
        return lines
