"""Detection metrics against brute-force references: continuous, tied and binary scores."""

from __future__ import annotations

import numpy as np
import pytest
from mediatk.core.metrics import (
    average_precision,
    binomial_ci,
    bootstrap_ci,
    bootstrap_cis,
    detection_metrics,
    eer,
    fmt_ci,
    fooling_rate,
    rank_auc,
    threshold_at_fpr,
    tpr_at_fpr,
)


def operating_points(y, s):
    """(fpr, fnr) of "flag if s >= t" for every distinct t, plus t = +inf, ordered by falling t."""
    y, s = np.asarray(y), np.asarray(s, dtype=float)
    ts = np.r_[np.inf, np.unique(s)[::-1]]
    fpr = np.array([(s[y == 0] >= t).mean() for t in ts])
    fnr = np.array([(s[y == 1] < t).mean() for t in ts])
    return fpr, fnr


def brute_eer_randomised(y, s, grid=4001):
    """Min |FPR - FNR| over every threshold randomised between neighbouring operating points."""
    fpr, fnr = operating_points(y, s)
    a = np.linspace(0, 1, grid)
    best, value = np.inf, None
    for i in range(len(fpr) - 1):
        f = fpr[i] + a * (fpr[i + 1] - fpr[i])
        n = fnr[i] + a * (fnr[i + 1] - fnr[i])
        k = int(np.argmin(np.abs(f - n)))
        if abs(f[k] - n[k]) < best:
            best, value = abs(f[k] - n[k]), (f[k] + n[k]) / 2
    return value


def brute_eer_thresholds(y, s):
    fpr, fnr = operating_points(y, s)
    k = int(np.argmin(np.abs(fpr - fnr)))
    return (fpr[k] + fnr[k]) / 2


def brute_tpr_at_fpr(y, s, max_fpr=0.01):
    fpr, fnr = operating_points(y, s)
    return (1 - fnr)[fpr <= max_fpr].max()


def score_sets():
    rng = np.random.default_rng(0)
    n_r, n_f = 700, 500
    y = np.r_[np.zeros(n_r), np.ones(n_f)].astype(int)
    continuous = np.r_[rng.normal(0, 1, n_r), rng.normal(1.2, 1, n_f)]
    tied = np.round(continuous * 2) / 2                       # a handful of distinct values
    binary = np.r_[(rng.random(n_r) < 0.1), (rng.random(n_f) < 0.5)].astype(float)
    # A long flat stretch: 90% of the fakes score above every real image, 10% below; the EER lies halfway
    # along the horizontal ROC segment between, whose inner points sklearn's thinned curve drops.
    flat = np.r_[rng.random(n_r) * 0.5, 0.8 + rng.random(n_f - 50) * 0.2, -rng.random(50)]
    return y, {"continuous": continuous, "tied": tied, "binary": binary, "flat": flat}


@pytest.mark.parametrize("kind", ["continuous", "tied", "binary", "flat"])
def test_eer_matches_a_brute_force_sweep(kind):
    y, sets = score_sets()
    s = sets[kind]
    assert eer(y, s) == pytest.approx(brute_eer_randomised(y, s), abs=1e-3)


def test_eer_of_continuous_scores_is_the_threshold_sweep():
    y, sets = score_sets()
    s = sets["continuous"]
    assert eer(y, s) == pytest.approx(brute_eer_thresholds(y, s), abs=1 / 500)


def test_eer_is_not_read_off_the_thinned_roc():
    # sklearn's default roc_curve drops the intermediate points of flat stretches; the old code averaged FPR
    # and FNR at the nearest remaining point and printed a smaller EER than the truth.
    from sklearn.metrics import roc_curve

    y, sets = score_sets()
    s = sets["flat"]
    fpr, tpr, _ = roc_curve(y, s)
    i = int(np.nanargmin(np.abs((1 - tpr) - fpr)))
    old = (fpr[i] + 1 - tpr[i]) / 2
    assert eer(y, s) == pytest.approx(brute_eer_randomised(y, s), abs=1e-3)
    assert eer(y, s) == pytest.approx(0.1, abs=2e-3)
    assert old == pytest.approx(0.05, abs=2e-3)


@pytest.mark.parametrize("kind", ["continuous", "tied", "binary", "flat"])
def test_tpr_at_fpr_is_an_operating_point(kind):
    y, sets = score_sets()
    s = sets[kind]
    assert tpr_at_fpr(y, s, 0.01) == pytest.approx(brute_tpr_at_fpr(y, s, 0.01), abs=1e-12)
    assert tpr_at_fpr(y, s, 0.2) == pytest.approx(brute_tpr_at_fpr(y, s, 0.2), abs=1e-12)


def test_binary_scores_have_no_tpr_at_one_percent_fpr():
    y, sets = score_sets()
    s = sets["binary"]
    # 10% of the real images score 1, so the only operating point with FPR <= 1% flags nothing.
    assert tpr_at_fpr(y, s, 0.01) == 0.0
    assert detection_metrics(y, s)["tpr_at_1pct_fpr"] == 0.0


@pytest.mark.parametrize("kind", ["continuous", "tied", "binary", "flat"])
def test_threshold_at_fpr_is_the_lowest_valid_threshold(kind):
    _, sets = score_sets()
    real = sets[kind][:700]
    for target in (0.0, 0.01, 0.05, 0.5):
        t = threshold_at_fpr(real, target)
        assert (real >= t).mean() <= target + 1e-12
        assert (real >= np.nextafter(t, -np.inf)).mean() > target   # one step lower breaks the bound


def test_threshold_at_fpr_with_flush_to_zero():
    import torch

    before = torch.set_flush_denormal(True)
    try:
        real = np.r_[np.zeros(95), np.ones(5)]
        t = threshold_at_fpr(real, 0.05)
        assert (real >= t).mean() == 0.05 and t > 0
    finally:
        torch.set_flush_denormal(False)
    assert before in (True, False)


def test_fooling_rate_counts_fakes_below_the_threshold():
    assert fooling_rate([0.1, 0.4, 0.5, 0.9], 0.5) == 0.5
    assert fooling_rate([0.9, 0.95], 0.5) == 0.0
    with pytest.raises(ValueError):
        fooling_rate([], 0.5)


def test_wilson_interval_known_values():
    lo, hi = binomial_ci(8, 10)
    assert (lo, hi) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    lo, hi = binomial_ci(0, 50)
    assert lo == 0.0 and hi == pytest.approx(0.0714, abs=1e-4)
    assert binomial_ci(50, 50)[1] == 1.0 and binomial_ci(0, 50)[0] == 0.0
    with pytest.raises(ValueError):
        binomial_ci(3, 0)


def test_bootstrap_interval_resamples_groups():
    rng = np.random.default_rng(1)
    n = 120
    y = np.r_[np.zeros(n), np.ones(n)].astype(int)
    s = np.r_[rng.normal(0, 1, n), rng.normal(1, 1, n)]
    auc = detection_metrics(y, s)["auc"]
    lo, hi = bootstrap_ci(lambda a, b: detection_metrics(a, b)["auc"], y, s, n_boot=300)
    assert lo < auc < hi
    width = hi - lo
    # Every example repeated 5 times (5 frames of one video): resampling frames shrinks the interval,
    # resampling videos keeps it about as wide as for the 240 independent examples.
    yd, sd, gd = np.repeat(y, 5), np.repeat(s, 5), np.repeat(np.arange(2 * n), 5)
    stat = lambda a, b: detection_metrics(a, b)["auc"]
    lo_f, hi_f = bootstrap_ci(stat, yd, sd, n_boot=300)
    lo_g, hi_g = bootstrap_ci(stat, yd, sd, groups=gd, n_boot=300)
    assert hi_f - lo_f < 0.6 * width
    assert 0.75 * width < hi_g - lo_g < 1.33 * width


def reference_group_bootstrap(stat, y, s, groups, n_boot, seed):
    """The percentile group bootstrap written out plainly: draw groups, skip one-class draws, 2.5/97.5 %."""
    rng = np.random.default_rng(seed)
    keys = np.unique(groups)
    rows = {k: np.flatnonzero(groups == k) for k in keys}
    values = []
    while len(values) < n_boot:
        idx = np.concatenate([rows[keys[p]] for p in rng.integers(0, len(keys), size=len(keys))])
        if y[idx].min() != y[idx].max():
            values.append(stat(y[idx], s[idx]))
    return tuple(np.quantile(values, [0.025, 0.975]))


def test_several_statistics_share_one_set_of_resamples():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(40), 3)                 # 40 videos of 3 frames, one label per video
    y = (g % 2).astype(int)
    s = rng.normal(0, 1, len(y)) + 0.8 * y
    stats = {"auc": rank_auc, "ap": average_precision, "eer": eer}
    together = bootstrap_cis(stats, y, s, groups=g, n_boot=200, seed=7)
    for name, fn in stats.items():
        assert together[name] == bootstrap_ci(fn, y, s, groups=g, n_boot=200, seed=7)
        assert together[name] == pytest.approx(reference_group_bootstrap(fn, y, s, g, 200, 7), abs=1e-12)


def test_detection_metrics_intervals_and_format():
    y, sets = score_sets()
    m = detection_metrics(y, sets["continuous"], intervals=True, n_boot=200)
    assert m["auc_ci"][0] < m["auc"] < m["auc_ci"][1]
    assert m["ap_ci"][0] < m["ap"] < m["ap_ci"][1]
    perfect = np.r_[np.zeros(50), np.ones(50)]
    assert bootstrap_ci(lambda a, b: detection_metrics(a, b)["auc"], perfect.astype(int), perfect, n_boot=50) == (1.0, 1.0)
    assert fmt_ci(0.91234, [0.9, 0.93]) == "0.912 [0.900, 0.930]"
    with pytest.raises(ValueError, match="both real and fake"):
        detection_metrics([0, 0], [0.1, 0.2])
