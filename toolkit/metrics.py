"""Metrics shared across mediatk: image quality (MSE/PSNR) and detection scores (AUC, AP, EER, TPR@FPR)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB between images in [-1, 1], computed on [0, 1] pixels over the whole batch."""
    mse = float((((a.float() + 1) / 2 - (b.float() + 1) / 2) ** 2).mean())
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def detection_metrics(y_true: Any, scores: Any, threshold: float = 0.5) -> dict[str, float]:
    """AUC, AP, EER, accuracy at ``threshold`` and TPR at 1% FPR for P(synthetic) scores (label 1 = fake)."""
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

    y = np.asarray(y_true).astype(int)
    s = np.asarray(scores, dtype=float)
    out: dict[str, float] = {"n_real": int((y == 0).sum()), "n_fake": int((y == 1).sum())}
    if len(np.unique(y)) < 2:
        raise ValueError("detection metrics need both real and fake examples")
    out["auc"] = float(roc_auc_score(y, s))
    out["ap"] = float(average_precision_score(y, s))
    fpr, tpr, _ = roc_curve(y, s)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    out["eer"] = float((fpr[i] + fnr[i]) / 2)
    out["acc"] = float(((s >= threshold).astype(int) == y).mean())
    out["threshold"] = float(threshold)
    out["tpr_at_1pct_fpr"] = float(np.interp(0.01, fpr, tpr))
    return out
