"""The arena's detection figures, all computed by :mod:`mediatk.core.metrics` (label 1 = fake)."""

from __future__ import annotations

from typing import Any

import numpy as np
from mediatk.core.metrics import bootstrap_ci, fooling_rate, full_roc, rank_auc, threshold_at_fpr

#: the decision point of every detector's calibrated P(synthetic) (detectors/base.py)
DECISION = 0.5
#: the false-positive rate on real test images that sets the second, deployment-style threshold
MAX_FPR = 0.01


def _labelled(real_p: np.ndarray, fake_p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.r_[np.zeros(len(real_p)), np.ones(len(fake_p))], np.r_[real_p, fake_p]


def auc(real_p: np.ndarray, fake_p: np.ndarray) -> float:
    """ROC AUC of P(synthetic) on real vs fake images."""
    return rank_auc(*_labelled(real_p, fake_p))


def detection_stats(real_p: np.ndarray, fake_p: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    """AUC with its bootstrap 95% interval, and how many fakes pass at two thresholds.

    ``fool``: fraction of fakes with P(synthetic) < 0.5 (judged real at the detector's own decision point).
    ``tpr1``: fraction of fakes flagged at the threshold that flags at most 1% of the real test images.
    An AUC far below 0.5 with a low fooling rate is a detector whose scores are inverted, not one fooled.
    """
    y, s = _labelled(real_p, fake_p)
    t1 = threshold_at_fpr(real_p, MAX_FPR)
    lo, hi = bootstrap_ci(rank_auc, y, s, n_boot=n_boot, seed=seed)
    return {"auc": rank_auc(y, s), "auc_ci": [float(lo), float(hi)],
            "fool": float(fooling_rate(fake_p, DECISION)), "tpr1": 1.0 - float(fooling_rate(fake_p, t1)),
            "threshold_1pct_fpr": float(t1)}


def roc_points(real_p: np.ndarray, fake_p: np.ndarray, n: int = 60) -> dict[str, list[float]]:
    """The ROC curve read at ``n`` evenly spaced false-positive rates (for the report's plots)."""
    fpr, tpr, _ = full_roc(*_labelled(real_p, fake_p))
    grid = np.linspace(0, 1, n)
    return {"fpr": [round(float(v), 4) for v in grid], "tpr": [round(float(v), 4) for v in np.interp(grid, fpr, tpr)]}
