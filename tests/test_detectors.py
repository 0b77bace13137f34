"""Image detectors on real data: Fashion-MNIST real vs fakes of a short DCGAN run, Method II on the ten
garment classes, the eye-state model on eyes-open-closed, save/load round trips, and the CLI's handling
of bad image inputs.  CPU only, small settings (the whole module takes about a minute and a half)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from mediatk.core.errors import CheckpointError, ConfigError
from mediatk.core.registry import DETECTORS
from mediatk.datasets import load_images
from mediatk.detectors import Detector, ReconClassifier, create, find_detector, load
from mediatk.detectors.base import KernelHead, LinearHead
from PIL import Image

N_TRAIN, N_TEST = 1500, 500


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def gan_run(shared_data, tmp_path_factory):
    """A DCGAN trained for 300 steps on Fashion-MNIST (transposed-convolution up-sampling): the fakes."""
    from mediatk.generators.train import train

    out = tmp_path_factory.mktemp("dcgan") / "run"
    train("dcgan", data="fashion-mnist", steps=300, batch_size=64, out=out, options=["--g-width", "16",
          "--d-width", "16"], limit=6000, seed=0, progress=False, ckpt_every=1000)
    return out


@pytest.fixture(scope="module")
def fm(gan_run):
    """Real (train/test) and DCGAN fakes (train/test), 1×28×28 in [-1, 1]."""
    from mediatk.detectors.api import _generator_checkpoint, sample_generator

    real_tr = load_images("fashion-mnist", split="train", limit=N_TRAIN, seed=1).tensor()
    real_te = load_images("fashion-mnist", split="test", limit=N_TEST, seed=1).tensor()
    fake = sample_generator(_generator_checkpoint(str(gan_run)), N_TRAIN + N_TEST, seed=7, device="cpu")
    assert fake.shape[1:] == real_tr.shape[1:] == (1, 28, 28)
    return {"real_tr": real_tr, "real_te": real_te, "fake_tr": fake[:N_TRAIN], "fake_te": fake[N_TRAIN:]}


SETTINGS = {  # name: (options, held-out AUC floor)
    "spectrum": ([], 0.95),
    "cnn": (["--steps", "150", "--width", "16", "--stages", "2"], 0.95),
    "recon": (["--steps", "300"], 0.95),
    "oneclass": (["--steps", "300"], 0.6),
    "codes-svm": (["--steps", "300"], 0.95),
}


@pytest.fixture(scope="module")
def trained(fm, gan_run):
    dets = {name: create(name, options=opts).fit(fm["real_tr"], fm["fake_tr"]) for name, (opts, _) in SETTINGS.items()}
    dets["discriminator"] = create("discriminator", options=["--gan", str(gan_run)]).fit(fm["real_tr"], fm["fake_tr"])
    return dets


@pytest.mark.parametrize("name", list(SETTINGS))
def test_heldout_auc(trained, fm, name):
    m = trained[name].score(fm["real_te"], fm["fake_te"])
    print(f"{name}: held-out AUC {m['auc']:.4f} AP {m['ap']:.4f} EER {m['eer']:.4f} acc {m['acc']:.3f} "
          f"(n_real {m['n_real']}, n_fake {m['n_fake']})")
    assert m["n_real"] == N_TEST and m["n_fake"] == N_TEST
    assert m["auc"] >= SETTINGS[name][1]


def test_discriminator_detects_its_generators_fakes(trained, fm):
    det = trained["discriminator"]
    m = det.score(fm["real_te"], fm["fake_te"])
    assert m["auc"] >= 0.6, m
    assert det.info["gan_model"] == "dcgan"
    x = fm["fake_te"][:8].clone().requires_grad_(True)
    det.torch_logit(x).sum().backward()  # differentiable (the arena trains generators against it)
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", [*SETTINGS, "discriminator"])
def test_save_load_round_trip_identical(trained, fm, tmp_path, name):
    det = trained[name]
    x = torch.cat([fm["real_te"][:64], fm["fake_te"][:64]])
    p = det.predict_proba(x)
    assert p.dtype == np.float64 and p.shape == (128,) and ((p >= 0) & (p <= 1)).all()
    path = det.save(tmp_path / name)
    assert path.suffix == ".safetensors" and path.with_suffix(".json").is_file()
    back = load(path)
    assert type(back) is type(det) and back.image_size == 28 and back.channels == 1 and back.face_crops is False
    np.testing.assert_array_equal(back.predict_proba(x), p)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["kind"] == "detector" and meta["model"] == name


def test_torch_logit_matches_predict_proba(trained, fm):
    x = fm["fake_te"][:32]
    for name in ("spectrum", "cnn"):
        det = trained[name]
        with torch.no_grad():
            p = torch.sigmoid(det.torch_logit(x).double()).numpy()
        np.testing.assert_allclose(p, det.predict_proba(x), atol=1e-5)


def test_recon_classifies_fashion_mnist_classes(shared_data):
    """Method II on the ten garment classes: one MLP autoencoder per class, lowest MSE wins."""
    tr = load_images("fashion-mnist", split="train", limit=6000, seed=0)
    te = load_images("fashion-mnist", split="test", limit=2000, seed=0)
    clf = ReconClassifier(device="cpu")
    clf.cfg.steps = 300
    clf.fit(tr.tensor(), tr.labels, tr.classes)
    acc = clf.accuracy(te.tensor(), te.labels.numpy())
    print(f"Method II on Fashion-MNIST: test accuracy {acc:.4f} (6000 train / 2000 test images, 10 classes)")
    assert acc >= 0.70
    p = clf.proba(te.tensor()[:50])
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-9)
    assert (p.argmax(1) == clf.predict(te.tensor()[:50])).all()


def test_recon_probability_is_error_ratio(trained, fm):
    det = trained["recon"]
    x = fm["real_te"][:20]
    err = det.clf.errors(x)
    np.testing.assert_allclose(det.predict_proba(x), err[:, 0] / (err[:, 0] + err[:, 1]), rtol=1e-9)


def test_oneclass_threshold_is_half(trained, fm):
    det = trained["oneclass"]
    e = det.error(fm["real_te"])
    p = det.predict_proba(fm["real_te"])
    assert np.all(np.diff(p[np.argsort(e)]) >= -1e-12)  # monotone in the error
    tau = det.info["threshold_mse"]
    assert abs((e >= tau).mean() - (p >= 0.5).mean()) < 1e-9
    assert (p >= 0.5).mean() < 0.2  # ~5% of real images over the 95% quantile of real validation errors


def test_sklearn_heads_equal_sklearn(fm):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    y = (x[:, 0] + 0.5 * x[:, 1] ** 2 > 0.3).astype(int)
    sc = StandardScaler().fit(x)
    lr = LogisticRegression().fit(sc.transform(x), y)
    np.testing.assert_allclose(LinearHead.from_sklearn(sc, lr).proba(x), lr.predict_proba(sc.transform(x))[:, 1])
    svc = SVC(kernel="rbf").fit(sc.transform(x), y)
    head = KernelHead.from_sklearn(sc, svc)
    np.testing.assert_allclose(head.decision(x), svc.decision_function(sc.transform(x)), atol=1e-9)
    back = KernelHead.from_tensors(head.tensors())
    np.testing.assert_array_equal(back.decision(x), head.decision(x))


def test_contract_errors(tmp_path, gan_run):
    with pytest.raises(ConfigError, match="not trained"):
        create("spectrum").predict_proba(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ConfigError, match="unknown detector option"):
        create("cnn", options=["--nosuch", "1"])
    with pytest.raises(ConfigError, match="needs fake"):
        create("spectrum").fit(torch.zeros(4, 1, 8, 8), None)
    with pytest.raises(CheckpointError, match="not a detector"):
        Detector.load(gan_run / "checkpoints" / "last.safetensors")
    with pytest.raises(ConfigError, match="videos"):
        create("blink").predict_proba(torch.zeros(1, 3, 8, 8))


def test_train_detector_cli_samples_generator_and_stores(cli, gan_run):
    code, out, err = cli("train-detector", "spectrum", "--real", "fashion-mnist", "--fake", gan_run, "-n", "600",
                         "--classifier", "svm")
    assert code == 0, err
    for key in ("AUC", "AP", "EER", "acc@0.50", "TPR@1%FPR", "n_real 120", "n_fake 120",
                "95% intervals: bootstrap over 240 images, Wilson for acc"):
        assert key in out
    ck = find_detector("spectrum")
    assert ck is not None and str(ck) in out
    info = load(ck).info
    assert info["counts"] == {"train_real": 480, "train_fake": 480, "test_real": 120, "test_fake": 120}
    held = info["heldout"]  # the saved metrics carry the intervals printed above
    for k in ("auc", "ap", "acc"):
        lo, hi = held[f"{k}_ci"]
        # (np.quantile may return 1.0000000000000002 when every resample scores 1)
        assert 0 <= lo <= held[k] <= hi <= 1 + 1e-9 and f"{held[k]:.4f} [{lo:.4f}, {hi:.4f}]" in out
    code, out, _ = cli("models")
    assert code == 0 and all(n in out for n in ("cnn", "spectrum", "recon", "oneclass", "codes-svm",
                                                "discriminator", "eyestate", "blink"))


def test_heldout_intervals_resample_whole_videos(shared_data):
    """On DFDC face crops a real video and the fake made from it share a group: the bootstrap resamples groups."""
    from mediatk.detectors.api import heldout_metrics

    tr = load_images("dfdc-faces", split="train", image_size=32, limit=600, seed=0)
    te = load_images("dfdc-faces", split="test", image_size=32, limit=600, seed=0)
    x, y = tr.tensor(), tr.labels
    det = create("spectrum").fit(x[y == 0], x[y == 1])
    xt, yt = te.tensor(), te.labels.numpy()
    groups = {"real": te.groups[yt == 0], "fake": te.groups[yt == 1]}
    m = heldout_metrics(det, xt[yt == 0], {"fake": xt[yt == 1]}, groups)
    assert m["ci_resampled"] == f"{len(set(te.groups))} groups" and len(set(te.groups)) < len(yt)
    for k in ("auc", "ap", "acc"):
        assert m[f"{k}_ci"][0] <= m[k] <= m[f"{k}_ci"][1]
    plain = heldout_metrics(det, xt[yt == 0], {"fake": xt[yt == 1]})
    assert plain["ci_resampled"] == f"{len(yt)} images" and plain["auc"] == m["auc"]
    assert plain["auc_ci"] != m["auc_ci"]


def test_train_eyestate_reaches_90_percent(cli, shared_data):
    code, out, err = cli("train-detector", "eyestate", "--data", shared_data / "eyes-open-closed", "--steps", "300")
    assert code == 0, err
    acc = float(out.split("held-out accuracy:")[1].split()[0])
    lo, hi = (float(v) for v in out.split("held-out accuracy:")[1].split("[")[1].split("]")[0].split(","))
    assert lo <= acc <= hi  # Wilson 95 % interval on the 791 held-out eyes
    print(f"eyestate held-out accuracy {acc:.4f} on the fixed 20% test split of eyes-open-closed")
    assert acc >= 0.90
    det = load(find_detector("eyestate"))
    assert det.info["counts"]["test_open"] + det.info["counts"]["test_closed"] == 791


def test_cli_bad_image_inputs(cli, tmp_path, shared_data):
    code, out, err = cli("train-detector", "blink", "--real", "x")
    assert code == 2 and "not trained" in err and "Traceback" not in err + out
    code, out, err = cli("train-detector", "spectrum", "--real", tmp_path / "missing", "--fake", tmp_path)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err + out
    code, out, err = cli("detect", tmp_path / "nothing.png", "--detector", "nosuch")
    assert code == 2 and "unknown detector" in err
    # a trained image detector for the detect calls below
    det = create("spectrum").fit(load_images("fashion-mnist", split="test", limit=64).tensor(),
                                 torch.rand(64, 1, 28, 28) * 2 - 1)
    ck = det.save(tmp_path / "ck" / "spectrum")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    code, out, err = cli("detect", empty, "--detector", f"spectrum={ck}")
    assert code == 2 and "empty" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err + out
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray((np.random.default_rng(0).random((40, 40)) * 255).astype(np.uint8)).save(folder / "a.png")
    (folder / "b.png").write_bytes(b"not an image at all")
    code, out, err = cli("detect", folder, "--detector", f"spectrum={ck}", "--json")
    assert code == 1, (out, err)
    lines = [json.loads(s) for s in out.strip().splitlines()]
    assert [r["status"] for r in lines[:2]] == ["ok", "error"]
    assert lines[0]["detectors"]["spectrum"]["status"] == "ok" and lines[1]["error"]
    assert lines[-1]["schema"] == "mediatk.detect-summary/1" and lines[-1]["failed"] == 1
    assert lines[-1]["exit_code"] == 1 and "Traceback" not in err


# ------------------------------------------------------------------------------------ the contract, by registry

def check_detector_contract(cls, real_tr, fake_tr, real_te, fake_te, tmp_path, gan=None):
    """What every trainable image or component detector promises (see detectors/base.py)."""
    det = cls(None) if not cls.tiny_options else create(cls.name, options=list(cls.tiny_options))
    with pytest.raises(ConfigError, match="not trained"):
        det.predict_proba(real_te[:2])
    if hasattr(det, "attach"):
        det.attach(gan)
    assert det.fit(real_tr, fake_tr) is det
    x = torch.cat([real_te, fake_te])
    p = det.predict_proba(x)
    assert p.dtype == np.float64 and p.shape == (len(x),) and ((p >= 0) & (p <= 1)).all()
    m = det.score(real_te, fake_te)
    assert m["n_real"] == len(real_te) and m["n_fake"] == len(fake_te)
    assert m["auc"] > 0.6, (cls.name, m)
    back = load(det.save(tmp_path / cls.name))
    assert type(back) is cls and back.image_size == det.image_size and back.channels == det.channels
    np.testing.assert_array_equal(back.predict_proba(x), p)
    return det


def check_video_detector_contract(cls, shared_data, tmp_path):
    """What every video detector promises (detectors/stream.py): evidence from a shared clip through the
    pipeline, checked by ``evidence``; no image training or scoring.  One that runs over an image detector
    (face-scores) gets a small one trained on DFDC face crops."""
    from mediatk.detectors.stream import VideoDetector
    from mediatk.detectors.video import analyse_video

    assert issubclass(cls, VideoDetector) and not cls.trainable
    det = create(cls.name, options=list(cls.tiny_options))
    with pytest.raises(ConfigError, match="videos"):
        det.predict_proba(torch.zeros(2, 3, 32, 32))
    if cls.over_images:
        ds = load_images("dfdc-faces", split="train", image_size=32, limit=200, seed=0)
        x, y = ds.tensor(), ds.labels
        det = cls.over(create("spectrum").fit(x[y == 0], x[y == 1], face_crops=True), det.cfg)
    clip = shared_data / "face-videos" / "real" / "liveportrait_d0.mp4"  # 3.1 s, one face throughout
    res = analyse_video(clip, [det], out_dir=tmp_path)
    ev = res["detectors"][det.label]
    assert ev["status"] in ("ok", "insufficient"), ev
    assert (ev["p_synthetic"] is None) == (ev["status"] != "ok") and isinstance(ev["details"], dict)
    assert isinstance(ev["summary"], str) and ev["summary"] and 0 < ev["frames"] <= res["frames"]["analysed"]
    assert res["faces"]["fraction"] == 1.0 and json.dumps(res)  # JSON as it stands
    # a second video starts from a clean state: the same clip gives the same evidence
    assert analyse_video(clip, [det])["detectors"][det.label]["p_synthetic"] == ev["p_synthetic"]


@pytest.fixture(scope="module")
def eyes():
    tr = load_images("eyes-open-closed", split="train", limit=400, seed=0, channels=1)
    te = load_images("eyes-open-closed", split="test", limit=200, seed=0, channels=1)
    o = tr.classes.index("opened")
    return {"tr": (tr.tensor()[tr.labels == o], tr.tensor()[tr.labels != o]),
            "te": (te.tensor()[te.labels == o], te.tensor()[te.labels != o])}


@pytest.mark.parametrize("name", DETECTORS.names())
def test_detector_contract(name, fm, eyes, gan_run, tmp_path, shared_data):
    """Every registered detector, found through the registry: a new detector file is checked here unedited."""
    cls = DETECTORS.get(name)
    if cls.media == "video":
        check_video_detector_contract(cls, shared_data, tmp_path)
        return
    if cls.media == "component":  # eyestate: open (as "real") vs closed eye crops
        (o_tr, c_tr), (o_te, c_te) = eyes["tr"], eyes["te"]
        check_detector_contract(cls, o_tr, c_tr, o_te, c_te, tmp_path)
        return
    n = 300
    check_detector_contract(cls, fm["real_tr"][:n], fm["fake_tr"][:n], fm["real_te"][:200], fm["fake_te"][:200],
                            tmp_path, gan=str(gan_run))
