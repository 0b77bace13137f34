"""FID and KID from feature arrays, with the checks and intervals a reported figure needs.

**FID** (Heusel et al. 2017): with (μ_r, Σ_r), (μ_g, Σ_g) the feature mean/covariance of real and generated
images, FID = ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2(Σ_r Σ_g)^½) (scipy.linalg.sqrtm, real part).

**Interval.**  :func:`fid_bootstrap_ci` resamples the generated features with replacement and recomputes FID
against the fixed real statistics (percentile interval, shifted by the resampling bias).  It covers the sampling noise of the generated set
only, not the choice of the feature net (see :func:`mediatk.evaluation.feature_nets.feature_spread` for that).

**Sample size.**  Covariances of n < 2 samples do not exist (a one-line :class:`ConfigError`); with n below
twice the feature dimension the covariance is rank-deficient and FID is biased upwards (a warning line).

**KID** (Bińkowski et al. 2018): the unbiased estimate of MMD² with the cubic polynomial kernel
k(x, y) = (xᵀy / d + 1)³, averaged over random subsets of m real and m generated features::

    MMD²_u = Σ_{i≠j} k(x_i, x_j) / m(m−1) + Σ_{i≠j} k(y_i, y_j) / m(m−1) − 2 Σ_{i,j} k(x_i, y_j) / m²
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from mediatk.core.errors import ConfigError


def check_sample_sizes(n_real: int, n_fake: int, dim: int, log: Callable[[str], None] | None = None) -> None:
    """ConfigError when either side has fewer than 2 samples; a warning line when n < 2 × ``dim``."""
    if min(n_real, n_fake) < 2:
        raise ConfigError(f"FID needs at least 2 real and 2 generated images (got {n_real} real, {n_fake} "
                          "generated): a covariance of one sample does not exist")
    if log is not None and min(n_real, n_fake) < 2 * dim:
        log(f"mediatk: warning: FID from {min(n_real, n_fake)} samples with {dim}-d features (fewer than "
            f"2 × {dim}): the covariance is poorly estimated and FID is biased upwards; use -n {2 * dim} or more")


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2(Σ1Σ2)^½)."""
    from scipy import linalg

    diff, s1, s2 = np.atleast_1d(mu1) - np.atleast_1d(mu2), np.atleast_2d(s1), np.atleast_2d(s2)
    with warnings.catch_warnings():  # a singular product (fewer samples than dimensions) is handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():  # regularise as pytorch-fid does
            eps = np.eye(len(s1)) * 1e-6
            covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = np.real(covmean)
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(0), np.atleast_2d(np.cov(x, rowvar=False))


def fid_from_features(real: Any, fake: Any) -> float:
    """FID of two (n, d) feature arrays; ConfigError (one line) when either has fewer than 2 rows."""
    r, f = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    check_sample_sizes(len(r), len(f), r.shape[-1])
    return frechet_distance(*_stats(r), *_stats(f))


def fid_bootstrap_ci(real: Any, fake: Any, n_boot: int = 200, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of FID over ``n_boot`` resamples (with replacement) of the generated features.

    Tr((Σ_r Σ_g)^½) is computed as Σ √λ of the symmetric Σ_r^½ Σ_g Σ_r^½ (same eigenvalues as Σ_r Σ_g), so
    each resample costs one symmetric eigendecomposition instead of a general matrix square root.
    """
    from scipy import linalg

    r, f = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    check_sample_sizes(len(r), len(f), r.shape[-1])
    mu_r, s_r = _stats(r)
    w, v = linalg.eigh(s_r)
    root_r = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    rng, vals = np.random.default_rng(seed), []
    for _ in range(n_boot):
        mu_g, s_g = _stats(f[rng.integers(0, len(f), len(f))])
        lam = linalg.eigvalsh(root_r @ s_g @ root_r)
        diff = mu_r - mu_g
        vals.append(diff @ diff + np.trace(s_r) + np.trace(s_g) - 2 * np.sqrt(np.clip(lam, 0, None)).sum())
    # Resampling with replacement duplicates samples, which by itself raises FID (most visibly near 0); the
    # percentile interval is shifted back by that bias (the resamples' mean minus the estimate), lo >= 0.
    a, bias = (1 - level) / 2, float(np.mean(vals)) - frechet_distance(mu_r, s_r, *_stats(f))
    return max(0.0, float(np.quantile(vals, a)) - bias), float(np.quantile(vals, 1 - a)) - bias


def kid_from_features(real: Any, fake: Any, subsets: int = 50, subset_size: int = 1000,
                      seed: int = 0) -> tuple[float, float]:
    """(mean, std) over subsets of the unbiased MMD² with k(x, y) = (xᵀy/d + 1)³.

    Subsets hold ``subset_size`` samples, or half of the smaller set when that is smaller, so that the
    subsets differ and the std says something (with all of n = 1000 in every subset it was 0 by construction;
    the estimate is unbiased for any subset size, so the mean does not depend on this choice).
    """
    x, y = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    d, m = x.shape[1], min(subset_size, max(2, min(len(x), len(y)) // 2))
    if min(len(x), len(y)) < 2:
        raise ValueError("KID needs at least 2 real and 2 generated samples")
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(subsets):
        a = x[rng.choice(len(x), m, replace=False)]
        b = y[rng.choice(len(y), m, replace=False)]
        kxx, kyy, kxy = (a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3
        vals.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                    - 2 * kxy.mean())
    return float(np.mean(vals)), float(np.std(vals))
