"""The ``face-forgery`` detector on real DFDC crops (CPU, small): it learns, calibration helps, a user's
ImageNet weight file is read (and a pickle refused), and a saved detector predicts exactly as before."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mediatk.core.errors import ConfigError
from mediatk.datasets import load_images
from mediatk.detectors import create, load
from mediatk.detectors.forgery import ForgeryNet, fit_temperature, log_loss, read_safetensors, to_uint8

pytestmark = pytest.mark.usefixtures("one_thread")

SIZE = 64
SMALL = ["--size", str(SIZE), "--steps", "500", "--batch-size", "32", "--eval-every", "100", "--warmup", "20",
         "--lr", "3e-3", "--aug-prob", "0"]


def _split(name: str, split: str, limit: int):
    ds = load_images(name, split=split, image_size=SIZE, limit=limit, seed=0)
    x, y = ds.tensor(), ds.labels.numpy()
    return x[y == 0], x[y == 1], ds.groups[y == 0], ds.groups[y == 1]


@pytest.fixture(scope="module")
def dfdc(shared_data):
    """A small DFDC subset at 64 px: 3000 train (about 500 real/fake pairs of one video), 300 val, 400 test
    crops (the splits are by real video)."""
    return {s: _split("dfdc-faces", s, n) for s, n in (("train", 3000), ("val", 300), ("test", 400))}


@pytest.fixture(scope="module")
def trained(dfdc):
    """Trained on the train subset with real/fake pairs of one video per batch; val selects and calibrates."""
    det = create("face-forgery", options=SMALL)
    det.face_crops = True
    real, fake, g_real, g_fake = dfdc["train"]
    det.fit_arrays(to_uint8(real), to_uint8(fake), val=tuple(map(to_uint8, dfdc["val"][:2])), groups=(g_real, g_fake))
    assert det.info["train_pairs"] > 300
    return det


def test_loss_falls_and_beats_chance(trained, dfdc):
    from mediatk.core.metrics import detection_metrics

    hist = trained.info["history"]
    print("history:", hist)
    assert hist[-1]["train_loss"] < hist[0]["train_loss"] - 0.02
    assert trained.info["val_source"] == "validation set given"
    assert trained.fitted and trained.image_size == SIZE
    real, fake, g_real, g_fake = dfdc["test"]
    p = np.r_[trained.predict_proba(real), trained.predict_proba(fake)]
    y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
    m = detection_metrics(y, p, intervals=True, groups=np.r_[g_real, g_fake])
    print(f"DFDC test subset: AUC {m['auc']:.3f} {m['auc_ci']} (n {len(real)} real / {len(fake)} fake)")
    assert m["auc_ci"][0] > 0.5, m  # better than chance with 95 % confidence, resampling real videos


def test_best_checkpoint_is_the_best_on_val(trained):
    hist = trained.info["history"]
    best = max(hist, key=lambda h: h["val_auc"])
    assert trained.info["best_step"] == best["step"]


def test_calibration_lowers_val_log_loss(trained, dfdc):
    cal = trained.info["calibration"]
    assert cal["val_log_loss_after"] < cal["val_log_loss_before"], cal
    # the stored figure is what the saved detector gives on val
    real, fake = dfdc["val"][:2]
    p = np.clip(np.r_[trained.predict_proba(real), trained.predict_proba(fake)], 1e-12, 1 - 1e-12)
    y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
    nll = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    assert nll == pytest.approx(cal["val_log_loss_after"], abs=1e-3)


def test_temperature_undoes_overconfidence():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-z))).astype(float)  # labels drawn from sigmoid(z): T = 1 is right
    t = fit_temperature(5 * z, y)  # five times too confident
    assert t == pytest.approx(5, rel=0.15)
    assert log_loss(5 * z, y, t) < log_loss(5 * z, y) - 0.1


def test_save_load_round_trip(trained, dfdc, tmp_path):
    x = torch.cat([dfdc["test"][0][:32], dfdc["test"][1][:32]])
    p = trained.predict_proba(x)
    back = load(trained.save(tmp_path / "ff"))
    assert type(back) is type(trained) and back.image_size == SIZE and back.face_crops is True
    assert float(back.net.temperature) == pytest.approx(trained.info["calibration"]["temperature"], rel=1e-3)
    np.testing.assert_array_equal(back.predict_proba(x), p)
    with torch.no_grad():  # the differentiable logit agrees with predict_proba
        np.testing.assert_allclose(torch.sigmoid(back.torch_logit(x).double()).numpy(), p, atol=1e-5)


def test_mirror_averaging_changes_the_temperature_and_the_scores_not_the_weights(dfdc):
    """Selection during training looks at crops alone, so ``--mirror false`` trains the same net: only the
    temperature (fitted on mirror-averaged val logits) and the scores differ."""
    from mediatk.detectors.forgery import to_float

    tiny = ["--size", "32", "--steps", "40", "--batch-size", "16", "--eval-every", "20", "--warmup", "5"]
    real, fake = dfdc["train"][:2]
    vr, vf = (to_uint8(v[:, :, ::2, ::2]) for v in dfdc["val"][:2])
    dets = {}
    for mirror in ("true", "false"):
        det = create("face-forgery", options=[*tiny, "--mirror", mirror])
        det.fit_arrays(to_uint8(real[:200, :, ::2, ::2]), to_uint8(fake[:200, :, ::2, ::2]), val=(vr, vf))
        dets[mirror] = det
    on, off = dets["true"], dets["false"]
    assert on.cfg.mirror and not off.cfg.mirror
    for k, v in on.net.state_dict().items():
        if k != "temperature":
            assert torch.equal(v, off.net.state_dict()[k]), k
    assert on.info["history"] == off.info["history"]
    vx, vy = to_float(torch.cat([vr, vf])), np.r_[np.zeros(len(vr)), np.ones(len(vf))]
    both = (off.logits(vx, mirror=False) + off.logits(vx.flip(-1), mirror=False)) / 2
    np.testing.assert_allclose(on.logits(vx), both, atol=1e-6)
    assert float(on.net.temperature) == pytest.approx(fit_temperature(both, vy), rel=1e-6)
    off.cfg.mirror = True  # a detector trained without it, recalibrated with it, is the one trained with it
    off.calibrate(vr, vf)
    assert float(off.net.temperature) == float(on.net.temperature)
    assert off.info["calibration"] == on.info["calibration"]


def test_scores_average_the_crop_and_its_mirror_image(trained, dfdc):
    from mediatk.detectors.base import sigmoid

    x = torch.cat([dfdc["test"][0][:32], dfdc["test"][1][:32]])
    assert trained.cfg.mirror  # the default
    plain, flipped = trained.logits(x, mirror=False), trained.logits(x.flip(-1), mirror=False)
    assert np.abs(plain - flipped).max() > 0.05  # the net is not mirror-symmetric, so averaging matters
    np.testing.assert_allclose(trained.predict_proba(x), sigmoid((plain + flipped) / 2 / float(trained.net.temperature)),
                               atol=1e-6)


def test_a_checkpoint_from_before_the_mirror_option_scores_crops_alone(trained, tmp_path):
    import json

    saved = trained.save(tmp_path / "old")
    sidecar = saved.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    del meta["config"]["mirror"]
    sidecar.write_text(json.dumps(meta))
    assert trained.cfg.mirror and load(saved).cfg.mirror is False


def test_imagenet_weights_from_a_safetensors_file(tmp_path, dfdc):
    import torchvision
    from safetensors.torch import save_file

    torch.manual_seed(1)
    imagenet = torchvision.models.mobilenet_v3_small(num_classes=1000).state_dict()  # a stand-in, 1000 classes
    f = tmp_path / "mnv3s.safetensors"
    save_file({k: v.contiguous() for k, v in imagenet.items()}, str(f))
    net = ForgeryNet("mobilenet_v3_small")
    n = net.load_imagenet(read_safetensors(f), str(f))
    own = net.backbone.state_dict()
    assert n == len(imagenet) - 2  # everything but the 1000-class head's weight and bias
    for k in ("features.0.0.weight", "features.12.0.weight", "classifier.0.weight"):
        assert torch.equal(own[k], imagenet[k]), k
    assert own["classifier.3.weight"].shape == (1, 1024)
    # the same through the detector's --weights option
    det = create("face-forgery", options=["--weights", str(f), "--size", "32", "--steps", "2", "--eval-every", "1",
                                          "--batch-size", "8", "--warmup", "1"])
    det.fit(*(x[:20] for x in dfdc["train"][:2]))
    assert det.info["init"].startswith(str(f)) and f"({n} tensors)" in det.info["init"]
    with pytest.raises(ConfigError, match="only .* tensors fit"):
        ForgeryNet("resnet18").load_imagenet(read_safetensors(f), str(f))


def test_a_pickle_weight_file_is_refused(tmp_path, cli):
    sd = ForgeryNet("mobilenet_v3_small").backbone.state_dict()
    pt = tmp_path / "weights.pth"
    torch.save(sd, pt)
    with pytest.raises(ConfigError, match="never unpickles"):
        read_safetensors(pt)
    disguised = tmp_path / "weights.safetensors"  # a pickle under a safetensors name is not read either
    disguised.write_bytes(pt.read_bytes())
    with pytest.raises(ConfigError, match="not a readable safetensors"):
        read_safetensors(disguised)
    with pytest.raises(ConfigError, match="no such file"):
        read_safetensors(tmp_path / "missing.safetensors")
    code, out, err = cli("train-detector", "face-forgery", "--real", "dfdc-faces", "-n", "20", "--image-size", "32",
                         "--weights", pt, "--steps", "2", "--size", "32", "--out", tmp_path / "det")
    assert code == 2, (out, err)
    assert err.strip().startswith("mediatk: error:") and len(err.strip().splitlines()) == 1
    assert "Traceback" not in out + err and not (tmp_path / "det").exists()


def test_pairs_draw_fakes_uniformly_whatever_the_group_sizes():
    """A group with many reals and fakes (ffpp-crops' id blocks) must not outweigh one-to-one groups (DFDC)."""
    from mediatk.detectors.forgery import Pairs

    g_real = np.array(["big"] * 30 + [f"v{i}" for i in range(100)] + ["lonely"])
    g_fake = np.array(["big"] * 100 + [f"v{i}" for i in range(100)] + ["nobody"])
    p = Pairs(g_real, g_fake)
    assert len(p) == 200 and not p.one_real            # the fake of group "nobody" has no real: left out
    r, f = p.draw(20_000, torch.Generator().manual_seed(0))
    assert (g_real[r.numpy()] == g_fake[f.numpy()]).all()
    share = float((g_fake[f.numpy()] == "big").mean())
    assert 0.47 < share < 0.53, share                  # 100 of 200 fakes; the old pair list gave 3000 of 3100
    big_reals = r.numpy()[g_real[r.numpy()] == "big"]
    assert len(np.unique(big_reals)) == 30             # every real of the big group is used


def test_one_real_per_group_draws_as_the_original_pair_list():
    """DFDC's one-to-one groups: the same random draws as before (the shipped model stays reproducible)."""
    from mediatk.detectors.forgery import Pairs

    rng = np.random.default_rng(0)
    g_real = np.array([f"v{i}" for i in rng.permutation(50)])
    g_fake = np.array([f"v{i}" for i in range(50)])
    p = Pairs(g_real, g_fake)
    where = {g: i for i, g in enumerate(g_real)}
    old = torch.tensor([(where[g], j) for j, g in enumerate(g_fake)])
    r, f = p.draw(64, torch.Generator().manual_seed(3))
    i0, i1 = old[torch.randint(len(old), (64,), generator=torch.Generator().manual_seed(3))].T
    assert p.one_real and torch.equal(r, i0) and torch.equal(f, i1)
