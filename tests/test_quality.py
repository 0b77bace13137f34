"""FID/KID against closed forms, and the evaluator and ``mediatk evaluate`` on tiny real runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from mediatk.quality import (
    QualityEvaluator,
    fid_from_features,
    frechet_distance,
    inception_weights,
    kid_from_features,
)


def analytic_fid_diag(mu1, v1, mu2, v2):
    """FID of N(μ1, diag v1) and N(μ2, diag v2): Σ(μ1−μ2)² + Σ(v1 + v2 − 2√(v1 v2))."""
    return float(((mu1 - mu2) ** 2).sum() + (v1 + v2 - 2 * np.sqrt(v1 * v2)).sum())


def test_fid_closed_form_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, -2.0, 0.5]), np.array([1.0, 1.0, 0.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 0.25, 2.0]), np.array([2.0, 1.0, 0.25, 0.5])
    want = analytic_fid_diag(mu1, v1, mu2, v2)
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(want, rel=1e-9)
    # a non-diagonal case with a known answer: Σ1 = Σ2 gives ‖μ1 − μ2‖² whatever Σ is
    a = np.random.default_rng(0).normal(size=(4, 4))
    s = a @ a.T + np.eye(4)
    assert frechet_distance(mu1, s, mu2, s) == pytest.approx(((mu1 - mu2) ** 2).sum(), abs=1e-6)
    # from samples: the estimate converges to the analytic value
    rng = np.random.default_rng(1)
    x = mu1 + rng.normal(size=(40000, 4)) * np.sqrt(v1)
    y = mu2 + rng.normal(size=(40000, 4)) * np.sqrt(v2)
    assert fid_from_features(x, y) == pytest.approx(want, abs=0.1)
    assert abs(fid_from_features(x, x)) < 1e-6


def test_kid_unbiased_and_ordered():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(1500, 8)), rng.normal(size=(1500, 8))
    same, _ = kid_from_features(x, y, subsets=20, subset_size=500)
    shifted, sd = kid_from_features(x, y + 0.5, subsets=20, subset_size=500)
    assert abs(same) < 0.01  # unbiased: ≈ 0 for the same distribution (may be slightly negative)
    assert shifted > 0.05 and shifted > 10 * abs(same) and sd >= 0
    # n below the subset size: subsets of n/2 differ, so the spread is not 0 by construction
    mean, sd = kid_from_features(x[:1000], y[:1000] + 0.5)
    assert sd > 0 and abs(mean - shifted) < 5 * sd
    with pytest.raises(ValueError, match="at least 2"):
        kid_from_features(x[:1], y)


def test_inception_is_offline_only(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert inception_weights() is None


def tiny(name, data, tmp_path, attrs=None, steps=2):
    from mediatk.generators import from_checkpoint
    from mediatk.generators.train import train

    res = train(name, data, steps=steps, batch_size=8, image_size=32, attrs=attrs, limit=64, out=tmp_path / name,
                options=["--g-width", "8", "--d-width", "8"], progress=False, n_preview=8)
    return from_checkpoint(res.last_checkpoint)


def test_evaluator_on_tiny_gan_and_cgan(tmp_path, shared_data):
    model = tiny("dcgan", "fashion-mnist", tmp_path)
    said: list[str] = []
    ev = QualityEvaluator("fashion-mnist", n=100, feature_steps=5, log=said.append)
    res = ev(model, 2)
    assert math.isfinite(res["fid"]) and res["fid"] > 0 and math.isfinite(res["kid"])
    assert any("Inception features unavailable offline" in s for s in said)
    text = " ".join(ev.lines)
    assert "classifier CNN 128-d" in text and "n_real 100" in text and "32 px" in text
    again = ev(model, 3)  # same noise, same stats → same figure
    assert again["fid"] == pytest.approx(res["fid"], rel=1e-6)

    cg = tiny("cgan", "celeba-genki-smiling", tmp_path, attrs=["smiling"], steps=1)
    ev = QualityEvaluator("celeba-genki-smiling", n=60, feature_steps=5, judge_steps=4, log=said.append)
    res = ev(cg, 1)
    assert "autoencoder CNN" in ev.lines[0] and "(2520 images, 4 steps)" in ev.lines[-1]  # train less val
    assert {"attr_Smiling=1", "attr_Smiling=0", "attr_acc"} <= set(res)
    assert 0 <= res["attr_Smiling=1"] <= 1 and any("attribute judge" in s for s in ev.lines)


def test_unconditional_model_on_a_labelled_set_gets_no_judge(tmp_path, shared_data, cli):
    """A vae trained on Fashion-MNIST takes no class: no judge is trained, no label accuracy is reported, and
    `generate --label` says it does not apply (the labels of the set were once taken for a condition)."""
    from mediatk.generators import from_checkpoint
    from mediatk.generators.train import train

    res = train("vae", "fashion-mnist", steps=1, batch_size=8, limit=32, out=tmp_path / "v",
                options=["--width", "8"], progress=False, n_preview=8)
    vae = from_checkpoint(res.last_checkpoint)
    assert vae.num_classes == 10 and vae.label_dim == 10 and vae.cond_dim == 0
    said: list[str] = []
    ev = QualityEvaluator("fashion-mnist", n=60, feature_steps=3, judge_steps=3, log=said.append)
    out = ev(vae, 1)
    assert "label_acc" not in out and not any("judge" in s for s in ev.lines + said)
    code, _, err = cli("generate", "--model", "vae", "--checkpoint", tmp_path / "v", "--label", "3",
                       "--out", tmp_path / "g.png")
    assert code == 2 and "vae is not conditional" in err and len(err.strip().splitlines()) == 1


def test_cli_evaluate(cli, tmp_path, shared_data):
    run = tmp_path / "dc"
    code, out, err = cli("train", "dcgan", "--data", "fashion-mnist", "--steps", "2", "--image-size", "32", "--quiet",
                         "--out", run, "--limit", "128", "--g-width", "8", "--d-width", "8")
    assert code == 0, err
    code, out, err = cli("evaluate", "--model", "dcgan", "--checkpoint", run, "-n", "100", "--feature-steps", "5",
                         "--json", tmp_path / "q.json")
    assert code == 0, err
    assert "FID" in out and "KID" in out and "n_real 100" in out and "image size 32 px" in out
    assert "n_fake 100" in out and "features: classifier" in out
    assert (tmp_path / "q.json").is_file()
    code, out, err = cli("evaluate", "--model", "dcgan", "--checkpoint", run, "--features", "inception", "-n", "100")
    assert code != 0 and len(err.strip().splitlines()) == 1


def test_cli_evaluate_prints_attribute_accuracy(cli, tmp_path, shared_data):
    run = tmp_path / "cg"
    code, out, err = cli("train", "cgan", "--data", "celeba-genki-smiling", "--attr", "smiling", "--steps", "2",
                         "--image-size", "32", "--quiet", "--out", run, "--limit", "64", "--g-width", "8",
                         "--d-width", "8", "--aux-classifier")
    assert code == 0, err
    code, out, err = cli("evaluate", "--model", "cgan", "--checkpoint", run, "-n", "60", "--feature-steps", "3",
                         "--judge-steps", "3")
    assert code == 0, err
    assert "attribute judge: CNN trained on celeba-genki-smiling train (2520 images, 3 steps)" in out
    assert "Smiling=1: " in out and "samples judged Smiling" in out and "samples judged not Smiling" in out
    code, out, err = cli("evaluate", "--model", "cgan", "--checkpoint", run, "--judge-steps", "0")
    assert code == 2 and "judge-steps" in err
