"""FID/KID against closed forms, sample-size checks and intervals, the frozen feature nets, pytorch-fid's
Inception layout, and the evaluator and ``mediatk evaluate`` on tiny real runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from mediatk.core.errors import ConfigError
from mediatk.evaluation.fid import check_sample_sizes, fid_bootstrap_ci
from mediatk.evaluation.quality import (
    QualityEvaluator,
    fid_from_features,
    frechet_distance,
    kid_from_features,
)

INCEPTION_TENSORS = Path(__file__).parent / "data" / "fid_inception_tensors.json"


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


def test_fid_needs_two_samples_and_warns_below_twice_the_dimension():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 8))
    with pytest.raises(ConfigError, match="at least 2 real and 2 generated") as e:
        fid_from_features(x, x[:1])  # once a numpy LinAlgError / nan
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="at least 2 generated images; got n = 1"):
        QualityEvaluator("fashion-mnist", n=1)  # refused before any training starts
    said: list[str] = []
    check_sample_sizes(50, 10, 8, said.append)
    assert len(said) == 1 and said[0].startswith("mediatk: warning: FID from 10 samples with 8-d features")
    check_sample_sizes(50, 16, 8, said.append)
    assert len(said) == 1


def test_fid_bootstrap_interval_covers_the_estimate_and_narrows_with_n():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(4000, 6))
    small, big = rng.normal(size=(300, 6)) + 0.3, rng.normal(size=(3000, 6)) + 0.3
    lo, hi = fid_bootstrap_ci(real, small, n_boot=200)
    assert lo <= fid_from_features(real, small) <= hi
    blo, bhi = fid_bootstrap_ci(real, big, n_boot=200)
    assert blo <= fid_from_features(real, big) <= bhi and bhi - blo < (hi - lo) / 2
    assert blo < 6 * 0.09 < bhi  # the true FID of N(0, I) and N(0.3, I) in 6-d is 6 × 0.3²


# --- pytorch-fid's Inception --------------------------------------------------------------------------------


def test_fid_inception_has_the_weight_files_tensor_names_and_shapes():
    """The FID file holds 566 tensors: 94 conv+BN layers × (conv weight, BN weight, bias, running mean, running
    var, num_batches_tracked) and the 1008-class fc weight and bias; names and shapes are torchvision's
    inception_v3(aux_logits=False, num_classes=1008) (test data generated from it, see the JSON's source)."""
    from mediatk.evaluation.inception import fid_inception_v3

    want = {k: tuple(v) for k, v in json.loads(INCEPTION_TENSORS.read_text())["tensors"]}
    assert len(want) == 566 and want["fc.weight"] == (1008, 2048)
    got = {k: tuple(v.shape) for k, v in fid_inception_v3().state_dict().items()}
    assert got == want


def test_fid_inception_loads_pth_and_safetensors_and_gives_pool3(tmp_path):
    from mediatk.evaluation.inception import FIDInception, FIDInceptionE_2, fid_inception_v3
    from safetensors.torch import save_file

    torch.manual_seed(0)
    src = fid_inception_v3()
    for m in src.modules():  # weights that keep activations in range, as trained ones do
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.normal_(m.weight, std=(2 / m.weight[0].numel()) ** 0.5)
    sd = src.state_dict()
    torch.save(sd, tmp_path / "w.pth")
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "w.safetensors"))
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    a = FIDInception.from_file(tmp_path / "w.pth")
    b = FIDInception.from_file(tmp_path / "w.safetensors")
    fa, fb = a.features(x), b.features(x)
    assert fa.shape == (2, 2048) and torch.equal(fa, fb) and fa.abs().sum() > 0
    assert a.feature_id.startswith("inception-pt2015-") and a.weights_name == "w.pth"
    assert isinstance(a.net.Mixed_7c, FIDInceptionE_2)
    # the FID blocks differ from torchvision's: padding-free averages change the features
    from torchvision.models import inception_v3

    tv = inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=1008).eval()
    tv.load_state_dict(sd)
    tv.fc = torch.nn.Identity()
    with torch.no_grad():
        ref = tv(torch.nn.functional.interpolate(x.repeat(1, 3, 1, 1), size=(299, 299), mode="bilinear"))
    assert ref.shape == fa.shape and not torch.allclose(ref, fa)
    # a file of another network is refused in one line
    torch.save({"conv.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(ConfigError, match="not pytorch-fid's FID Inception weights"):
        FIDInception.from_file(tmp_path / "other.pth")
    for junk in (b"not a zip", b"junk\n"):  # the second once escaped as a KeyError from torch's unpickler
        (tmp_path / "broken.pth").write_bytes(junk)
        with pytest.raises(ConfigError, match="not a readable weight file"):
            FIDInception.from_file(tmp_path / "broken.pth")


# --- frozen feature nets ------------------------------------------------------------------------------------


def test_feature_net_is_frozen_cached_and_deterministic(shared_data, monkeypatch, tmp_path):
    from mediatk.evaluation.feature_nets import RECIPES, Recipe, feature_extractor, train_net

    monkeypatch.setenv("MEDIATK_HOME", str(tmp_path))
    said: list[str] = []
    net, desc = feature_extractor("fashion-mnist", (1, 32, 32), "auto", "test-tiny", log=said.append)
    fid_id = net.feature_id
    assert fid_id.startswith("fashion-mnist-32x32-cls-test-tiny-") and desc.endswith(f"[feat {fid_id}]")
    assert sum("training feature net" in s for s in said) == 1
    again, _ = feature_extractor("fashion-mnist", (1, 32, 32), "auto", "test-tiny", log=said.append)
    assert again.feature_id == fid_id and sum("training feature net" in s for s in said) == 1  # cached
    # retrained from nothing: bit-identical weights (CPU, one thread, seed 0)
    cached = tmp_path / "quality" / f"{fid_id}.safetensors"
    cached.write_bytes(b"corrupt")
    third, _ = feature_extractor("fashion-mnist", (1, 32, 32), "auto", "test-tiny", log=said.append)
    assert any("unreadable" in s and "training it again" in s for s in said)
    for (k, v), w in zip(net.state_dict().items(), third.state_dict().values(), strict=True):
        assert torch.equal(v, w), k
    # anything that defines the net changes the id; the standard recipe's id has no recipe name
    _, other = train_net("fashion-mnist", "classifier", (1, 32, 32), "test-tiny", seed=1)
    assert other["id"] != fid_id and "-seed1-" in other["id"]
    monkeypatch.setitem(RECIPES, "test-tiny", Recipe("test-tiny", 21, batch=32, train_limit=512, n_test=200))
    assert train_net("fashion-mnist", "classifier", (1, 32, 32), "test-tiny")[1]["id"] != fid_id
    with pytest.raises(ConfigError, match="choose one of standard"):
        feature_extractor("fashion-mnist", (1, 32, 32), "auto", "600")


def tiny(name, data, tmp_path, attrs=None, steps=2):
    from mediatk.generators import from_checkpoint
    from mediatk.generators.train import train

    res = train(name, data, steps=steps, batch_size=8, image_size=32, attrs=attrs, limit=64, out=tmp_path / name,
                options=["--g-width", "8", "--d-width", "8"], progress=False, n_preview=8)
    return from_checkpoint(res.last_checkpoint)


def test_evaluator_on_tiny_gan_and_cgan(tmp_path, shared_data):
    model = tiny("dcgan", "fashion-mnist", tmp_path)
    said: list[str] = []
    ev = QualityEvaluator("fashion-mnist", n=100, feature_net="test-tiny", log=said.append)
    res = ev(model, 2)
    assert math.isfinite(res["fid"]) and res["fid"] > 0 and math.isfinite(res["kid"])
    assert res["fid_lo"] <= res["fid"] <= res["fid_hi"]
    assert any("warning: FID from 100 samples with 128-d features" in s for s in said)
    text = " ".join(ev.lines)
    assert "classifier CNN 128-d" in text and "n_real 100" in text and "32 px" in text
    assert ev.report["feature_id"] == ev.feature_id and f"[feat {ev.feature_id}]" in ev.fid_line(res)
    again = ev(model, 3)  # same noise, same stats → same figure
    assert again["fid"] == pytest.approx(res["fid"], rel=1e-6)

    cg = tiny("cgan", "celeba-genki-smiling", tmp_path, attrs=["smiling"], steps=1)
    ev = QualityEvaluator("celeba-genki-smiling", n=60, feature_net="test-tiny", judge_steps=4, log=said.append)
    res = ev(cg, 1)
    assert "autoencoder CNN" in ev.lines[0] and "(2520 images, 4 steps)" in ev.lines[-1]  # train less val
    assert {"attr_Smiling=1", "attr_Smiling=0", "attr_acc"} <= set(res)
    assert 0 <= res["attr_Smiling=1"] <= 1 and any("attribute judge" in s for s in ev.lines)
    acc = ev.report["accuracy"]["attr_Smiling=1"]
    assert acc["n"] == 60 and acc["k"] == round(acc["value"] * 60) and acc["ci"][0] - 1e-9 <= acc["value"] <= acc["ci"][1] + 1e-9
    assert (res["attr_Smiling=1_lo"], res["attr_Smiling=1_hi"]) == tuple(acc["ci"])


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
    ev = QualityEvaluator("fashion-mnist", n=60, feature_net="test-tiny", judge_steps=3, log=said.append)
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
    code, out, err = cli("evaluate", "--model", "dcgan", "--checkpoint", run, "-n", "100", "--feature-net",
                         "test-tiny", "--json", tmp_path / "q.json")
    assert code == 0, err
    assert "FID" in out and "KID" in out and "n_real 100" in out and "image size 32 px" in out
    assert "n_fake 100" in out and "features: classifier" in out
    q = json.loads((tmp_path / "q.json").read_text())
    assert q["feature_id"].startswith("fashion-mnist-32x32-cls-test-tiny-") and f"[feat {q['feature_id']}]" in out
    assert q["fid_ci"][0] <= q["fid"] <= q["fid_ci"][1] and f"FID {q['fid']:.3f} [{q['fid_ci'][0]:.3f}, " in out
    assert "mediatk: warning: FID from 100 samples" in err
    code, out, err = cli("evaluate", "--model", "dcgan", "--checkpoint", run, "--features", "inception", "-n", "100")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--inception-weights" in err and "pt_inception-2015-12-05-6726825d.pth" in err


def test_cli_evaluate_prints_attribute_accuracy(cli, tmp_path, shared_data):
    run = tmp_path / "cg"
    code, out, err = cli("train", "cgan", "--data", "celeba-genki-smiling", "--attr", "smiling", "--steps", "2",
                         "--image-size", "32", "--quiet", "--out", run, "--limit", "64", "--g-width", "8",
                         "--d-width", "8", "--aux-classifier")
    assert code == 0, err
    code, out, err = cli("evaluate", "--model", "cgan", "--checkpoint", run, "-n", "60", "--feature-net",
                         "test-tiny", "--judge-steps", "3")
    assert code == 0, err
    assert "attribute judge: CNN trained on celeba-genki-smiling train (2520 images, 3 steps)" in out
    assert "Smiling=1: " in out and "samples judged Smiling" in out and "samples judged not Smiling" in out
    line = next(s for s in out.splitlines() if s.startswith("Smiling=1: "))
    assert " of 60) samples judged Smiling" in line and "[" in line  # a Wilson interval with its n
    code, out, err = cli("evaluate", "--model", "cgan", "--checkpoint", run, "--judge-steps", "0")
    assert code == 2 and "judge-steps" in err


def test_class_conditional_label_accuracy_per_class_with_wilson_intervals(tmp_path, shared_data):
    cg = tiny("cgan", "fashion-mnist", tmp_path, steps=1)
    ev = QualityEvaluator("fashion-mnist", n=50, feature_net="test-tiny", judge_steps=3, log=lambda s: None)
    res = ev(cg, 1)
    acc = ev.report["accuracy"]
    assert acc["label_acc"]["n"] == 50 and sum(acc[f"label_acc_{c}"]["n"] for c in range(10)) == 50
    assert sum(acc[f"label_acc_{c}"]["k"] for c in range(10)) == acc["label_acc"]["k"]
    assert res["label_acc"] == acc["label_acc"]["value"] and "label_acc_3" not in res  # per class: report only
    lines = ev.accuracy_lines()
    assert lines[0].startswith("label accuracy ") and f"({acc['label_acc']['k']} of 50)" in lines[0]
    assert len(lines) == 11 and lines[4].startswith("  class 3: ")
