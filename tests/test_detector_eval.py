"""``mediatk evaluate-detector`` on real face crops: a tiny cnn trained on dfdc-faces, evaluated on dfdc-faces and
ffpp-crops (frame and video level, per method, cross-dataset, robustness), and its one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shared_data):
    """A tiny cnn trained on dfdc-faces through the train-detector API: (checkpoint, held-out metrics)."""
    from mediatk.detectors.api import train_detector

    out = tmp_path_factory.mktemp("det")
    rep = train_detector("cnn", real="dfdc-faces", n=150, image_size=32, device="cpu", seed=0, out=out,
                         options=["--steps", "60", "--width", "8", "--stages", "2"], log=lambda s: None)
    return rep["checkpoint"], rep["metrics"]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, trained):
    from click.testing import CliRunner
    from mediatk.cli import main

    out = tmp_path_factory.mktemp("eval") / "ev"
    res = CliRunner().invoke(main, ["evaluate-detector", f"cnn={trained[0]}", "--data", "dfdc-faces", "--data",
                                    "ffpp-crops", "--limit", "240", "--robustness", "--n-boot", "100", "--out",
                                    str(out), "--device", "cpu"])
    assert res.exit_code == 0, res.stderr
    return out, json.loads((out / "results.json").read_text()), res.stdout


def _row(res, dataset):
    return next(r for r in res["results"] if r["dataset"] == dataset)


def test_results_json_names_command_counts_detector_and_seed(evaluated, trained):
    _, res, stdout = evaluated
    assert res["schema"] == "mediatk.detector-eval/1" and res["seed"] == 0 and res["split"] == "test"
    assert res["command"].startswith("mediatk evaluate-detector cnn=") and "--data ffpp-crops" in res["command"]
    det = res["detectors"][0]
    assert det["id"].startswith("cnn-") and len(det["id"]) == 12 and det["trained_on"] == "dfdc-faces"
    assert det["checkpoint"] == trained[0] and det["threshold"] == 0.5
    for d in res["datasets"]:
        c = d["counts"]
        assert c["crops"]["real"] + c["crops"]["fake"] == 240 and min(c["crops"].values()) > 0 and c["groups"] > 1
    for r in res["results"]:
        for level in ("frame", "video"):
            m = r[level]
            for k in ("auc", "ap", "eer", "tpr_at_1pct_fpr", "acc", "log_loss"):
                lo, hi = m[f"{k}_ci"]
                assert lo <= m[k] <= hi, (r["dataset"], level, k)
            assert m["log_loss"] > 0 and m["threshold"] == 0.5
    assert _row(res, "dfdc-faces")["in_domain"] and not _row(res, "ffpp-crops")["in_domain"]
    # ffpp-crops' test split has a handful of approximate-id blocks: its intervals come with a warning
    assert [w.split(":")[0] for w in res["warnings"]] == ["ffpp-crops"] * 2 and "warning: ffpp-crops" in stdout
    assert "cnn-" in stdout and "on ffpp-crops (video)" in stdout and "NeuralTextures" in stdout


def test_one_row_per_ffpp_method_against_all_reals(evaluated):
    _, res, _ = evaluated
    r = _row(res, "ffpp-crops")
    assert [m["method"] for m in r["methods"]] == ["Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"]
    assert all(m["frame"]["n_real"] == r["frame"]["n_real"] for m in r["methods"])
    assert sum(m["frame"]["n_fake"] for m in r["methods"]) == r["frame"]["n_fake"]
    assert [m["method"] for m in _row(res, "dfdc-faces")["methods"]] == ["DFDC swap (method not released)"]


def test_video_level_is_the_mean_over_each_video(evaluated, trained):
    from mediatk.detectors.api import load_detector
    from mediatk.evaluation.detection import load_crop_set
    from sklearn.metrics import roc_auc_score

    _, res, _ = evaluated
    det = load_detector("cnn", trained[0])
    for name in ("dfdc-faces", "ffpp-crops"):
        cs = load_crop_set(name, "test", limit=240, seed=0)
        s = det.predict_proba(cs.ds.tensor())
        units: dict[tuple, list[float]] = {}
        for g, y, m, p in zip(cs.groups, cs.labels, cs.methods, s):      # neither set names its videos
            units.setdefault((g, y, m), []).append(p)
        keys = sorted(units)
        auc = roc_auc_score([k[1] for k in keys], [np.mean(units[k]) for k in keys])
        v = _row(res, name)["video"]
        assert v["auc"] == pytest.approx(auc, abs=1e-12) and v["n_real"] + v["n_fake"] == len(keys)
        f = _row(res, name)["frame"]
        assert f["auc"] == pytest.approx(roc_auc_score(cs.labels, s), abs=1e-12)
        if name == "dfdc-faces":          # one crop per video: video level is frame level
            assert len(keys) == 240 and v["auc"] == pytest.approx(f["auc"])
        else:                             # approximate id blocks: far fewer units than crops
            assert len(keys) < 60 and v["n_groups"] == f["n_groups"]


def test_cross_matrix_and_robustness_curves(evaluated):
    _, res, _ = evaluated
    cm = res["cross"]
    assert cm["rows"] == [res["detectors"][0]["id"]] and cm["columns"] == ["dfdc-faces", "ffpp-crops"]
    assert cm["frame_auc"][0] == [_row(res, d)["frame"]["auc"] for d in cm["columns"]]
    rob = _row(res, "ffpp-crops")["robustness"]
    assert [p["level"] for p in rob["jpeg"]] == [90, 70, 50, 30] and [p["level"] for p in rob["h264"]] == [23, 30, 37, 44]
    assert set(rob) == {"clean", "jpeg", "blur", "downscale", "h264"}
    # perturbing changes the scores: not every curve can sit exactly on the clean AUC
    assert any(p["auc"] != rob["clean"]["auc"] for k in ("jpeg", "blur", "downscale", "h264") for p in rob[k])


def test_html_report_has_the_plots_and_tables(evaluated):
    out, _, _ = evaluated
    doc = (out / "report.html").read_text()
    for title in ("ROC curves: dfdc-faces", "ROC curves: ffpp-crops", "Cross-dataset matrix", "Robustness curves",
                  'id="summary"', 'id="methods"', 'id="cross"', 'id="robustness"', "NeuralTextures"):
        assert title in doc, title
    assert doc.count("data:image/png;base64,") == 4
    for png in ("roc_dfdc-faces.png", "roc_ffpp-crops.png", "cross.png", "robustness.png"):
        assert (out / "plots" / png).stat().st_size > 5000


def test_reproduces_train_detector_held_out_figures(trained, tmp_path, cli):
    ckpt, held = trained
    code, _, err = cli("evaluate-detector", "--checkpoint", ckpt, "--data", "dfdc-faces", "--limit", "60",
                       "--out", tmp_path / "ev", "--device", "cpu")
    assert code == 0, err
    m = json.loads((tmp_path / "ev" / "results.json").read_text())["results"][0]["frame"]
    for k in ("n_real", "n_fake", "auc", "ap", "eer", "acc", "tpr_at_1pct_fpr", "auc_ci", "ap_ci"):
        assert m[k] == pytest.approx(held[k], abs=1e-12), k


def test_a_video_column_names_the_videos_and_h264_encodes_each_as_a_clip(trained, tmp_path, shared_data):
    """An extract-faces set names each crop's video: video level averages those crops, H.264 gets real clips."""
    from mediatk.detectors.api import load_detector
    from mediatk.evaluation.detection import EvalOptions, evaluate, load_crop_set

    src = shared_data / "dfdc-faces"
    rows = ["file,label,method,group,split,video,frame"]
    for label in ("real", "fake"):
        for i, f in enumerate(sorted((src / label).glob("*.jpg"))[:12]):       # 4 videos of 3 crops per class
            shutil.copy(f, tmp_path / f"{label}{i}.jpg")
            rows.append(f"{label}{i}.jpg,{label},{'original' if label == 'real' else 'swap'},g{i // 3},test,"
                        f"{label}-v{i // 3},{i % 3}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    cs = load_crop_set(str(tmp_path), "test")
    assert cs.counts()["videos"] == {"real": 4, "fake": 4} and "video column" in cs.video_unit
    opts = EvalOptions(n_boot=50, robustness=True, levels={"h264": (40,)})
    res = evaluate({"cnn": load_detector("cnn", trained[0])}, [str(tmp_path)], opts, log=lambda s: None)
    r = res["results"][0]
    s = load_detector("cnn", trained[0]).predict_proba(cs.ds.tensor())
    means = [s[cs.video == v].mean() for v in range(8)]
    from sklearn.metrics import roc_auc_score

    assert r["video"]["auc"] == pytest.approx(roc_auc_score(cs.video_labels(), means), abs=1e-12)
    assert r["video"]["n_real"] == 4 and r["frame"]["n_real"] == 12
    assert r["robustness"]["h264"][0]["level"] == 40 and 0 <= r["robustness"]["h264"][0]["auc"] <= 1


def test_a_video_set_is_cut_into_face_crops_once_and_scored_per_video(trained, tmp_path, cli, monkeypatch):
    """A video layout is cut with extract-faces (--frames per video) into the home's cache, then evaluated;
    the second evaluation reads the cache instead of cutting again."""
    monkeypatch.setenv("MEDIATK_HOME", str(tmp_path / "home"))
    args = ("evaluate-detector", f"cnn={trained[0]}", "--data", "face-videos", "--split", "all", "--frames", "2",
            "--n-boot", "50", "--device", "cpu")
    code, _, err = cli(*args, "--out", tmp_path / "a")
    assert code == 0, err
    assert "cutting 2 face crops per video" in err and "--frames 2" in json.loads(
        (tmp_path / "a" / "results.json").read_text())["command"]
    res = json.loads((tmp_path / "a" / "results.json").read_text())
    ds = res["datasets"][0]
    ex = ds["extraction"]
    assert ex["frames_per_video"] == 2 and ex["videos"] == 10 and not ex["failed"], ex
    # every video is either scored or reported as faceless (here one clip's 2 frames hold no face at p >= 0.9)
    assert ex["videos_with_faces"] + len(ex["no_face"]) == 10 and ex["videos_with_faces"] >= 8, ex
    assert sum(ds["counts"]["videos"].values()) == ex["videos_with_faces"] and "video column" in ds["video_unit"]
    assert sum(ds["counts"]["crops"].values()) <= 20 and res["results"][0]["video"]["n_real"] >= 5
    assert any("gave no face crop and are not scored" in w for w in res["warnings"]) == bool(ex["no_face"])
    assert Path(ex["crops"]).parent == tmp_path / "home" / "cache" / "faces"
    assert "cut from 10 videos, 2 frames each" in (tmp_path / "a" / "report.html").read_text()
    code, _, err2 = cli(*args, "--out", tmp_path / "b")
    assert code == 0 and "cutting" not in err2, err2
    again = json.loads((tmp_path / "b" / "results.json").read_text())
    assert again["results"][0]["video"]["auc"] == res["results"][0]["video"]["auc"]


def test_a_video_set_without_any_face_is_one_line_exit_2(trained, tmp_path, cli, monkeypatch):
    """Videos in which MTCNN finds no face: one line naming the set, exit 2, no results written."""
    from mediatk.media.video import VideoWriter

    monkeypatch.setenv("MEDIATK_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(0)
    for label in ("real", "fake"):
        (tmp_path / "vids" / label).mkdir(parents=True)
        with VideoWriter(tmp_path / "vids" / label / "noise.mp4", 10.0) as w:
            for _ in range(10):
                w.write(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    code, _, err = cli("evaluate-detector", f"cnn={trained[0]}", "--data", tmp_path / "vids", "--split", "all",
                       "--frames", "2", "--out", tmp_path / "ev", "--device", "cpu")
    assert code == 2 and "no face was found in any of its 2 videos" in err, err
    # stderr: the progress line announcing the cut, then the one-line error (no traceback)
    assert err.splitlines()[-1].startswith("mediatk: error:") and err.count("mediatk: error:") == 1
    assert "Traceback" not in err and not (tmp_path / "ev").exists()


def test_the_shipped_model_by_its_zoo_name(tmp_path, cli):
    code, _, err = cli("evaluate-detector", "face-forgery-dfdc", "--data", "dfdc-faces", "--limit", "200",
                         "--n-boot", "100", "--out", tmp_path / "ev", "--device", "cpu")
    assert code == 0, err
    res = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert res["detectors"][0]["id"].startswith("face-forgery-") and res["results"][0]["frame"]["auc"] > 0.6
    assert res["detectors"][0]["trained_on"] == "dfdc-faces" and res["results"][0]["in_domain"]


def test_bad_input_is_one_line_exit_2(trained, tmp_path, shared_data, cli):
    ckpt = trained[0]
    cases = [(("nosuch", "--data", "dfdc-faces"), "unknown detector 'nosuch'"),
             (("blink", "--data", "dfdc-faces"), "does not score face crops"),
             ((f"cnn={ckpt}", "--data", "fashion-mnist"), "is not a face-crop set"),
             (("--data", "dfdc-faces"), "name a detector")]
    root = tmp_path / "crops"
    (root / "real").mkdir(parents=True)
    shutil.copy(next((shared_data / "dfdc-faces" / "real").glob("*.jpg")), root / "real" / "a.jpg")
    (root / "labels.csv").write_text("file,label,group\nreal/a.jpg,real,g1\nfake/missing.jpg,fake,g2\n")
    cases.append(((f"cnn={ckpt}", "--data", str(root)), "1 files that do not exist"))
    done = tmp_path / "done"
    done.mkdir()
    (done / "results.json").write_text("{}")
    cases.append(((f"cnn={ckpt}", "--data", "dfdc-faces", "--out", str(done)), "already holds an evaluation"))
    for args, msg in cases:
        code, _, err = cli("evaluate-detector", *args, "--out", tmp_path / "x", "--device", "cpu") if "--out" not in \
            args else cli("evaluate-detector", *args, "--device", "cpu")
        assert code == 2 and msg in err and err.startswith("mediatk: error:") and err.count("\n") == 1, (args, err)
    assert not (tmp_path / "x").exists() and (done / "results.json").read_text() == "{}"


def test_h264_round_trip_keeps_shape_and_loses_more_at_higher_crf(shared_data):
    from mediatk.datasets import load_images
    from mediatk.media.perturb import apply, h264

    x = load_images("dfdc-faces", split="test", limit=6, seed=0).tensor()[:, :, :223, :221]   # odd sides
    errs = [float((h264(x, crf) - x).abs().mean()) for crf in (10, 30, 50)]
    assert errs[0] < errs[1] < errs[2] and errs[0] < 0.03
    assert apply(x, "h264", 30).shape == x.shape and h264(x[:, :1], 30).shape == (6, 1, 223, 221)
