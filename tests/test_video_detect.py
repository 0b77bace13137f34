"""``mediatk detect`` on the real face videos (streamed, MTCNN + eyestate blink statistics + a face-crop
detector), the blink rules, and bad video inputs through the CLI.  CPU only; the ten clips are analysed
once, in one CLI call (about a minute)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch.nn.functional as F
from mediatk.datasets import load_images
from mediatk.detectors import create, find_detector, train_detector
from mediatk.detectors.blink import BlinkConfig, BlinkCounter
from mediatk.media.pixels import read_image, save_image
from mediatk.media.video import VideoWriter, probe_video

RESULT_KEYS = {"schema", "path", "kind", "status", "error", "detectors", "verdict", "skipped", "seconds"}
VIDEO_KEYS = {"video", "frames", "faces", "timeline", "outputs", "realtime_factor"}
EVIDENCE_KEYS = {"status", "p_synthetic", "reason", "summary", "details", "fps", "frames"}
BLINK_KEYS = {"finding", "method", "blinks", "rate_per_min", "mean_blink_ms", "seconds_with_face",
              "human_range_per_min", "events"}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def eyestate(shared_data):
    """The eye-state model in the (session's) model store; trained here unless another module did."""
    if find_detector("eyestate") is None:
        train_detector("eyestate", data=str(shared_data / "eyes-open-closed"), options=["--steps", "300"],
                       device="cpu", log=lambda s: None)
    return find_detector("eyestate")


@pytest.fixture(scope="module")
def face_spectrum(shared_data, tmp_path_factory):
    """A face-crop detector: spectrum on 64×64 GENKI faces vs the same faces ×2 nearest-up-sampled from 32×32
    (the blocky spectrum of naive up-sampling).  A pipeline fixture, not a deepfake detector."""
    def blocky(x):
        return F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")

    tr = load_images("celeba-genki-smiling", split="train", limit=300, seed=0).tensor()
    te = load_images("celeba-genki-smiling", split="test", limit=100, seed=0).tensor()
    det = create("spectrum").fit(tr, blocky(tr), face_crops=True)
    det.face_crop_scale = 0.86
    assert det.score(te, blocky(te))["auc"] >= 0.95
    return det.save(tmp_path_factory.mktemp("facespec") / "spectrum")


@pytest.fixture(scope="module")
def all_videos(shared_data, eyestate, face_spectrum):
    """`detect --json` over the whole face-videos folder, once."""
    from click.testing import CliRunner
    from mediatk.cli import main

    res = CliRunner().invoke(main, ["detect", str(shared_data / "face-videos"), "--detector",
                                    f"blink,spectrum={face_spectrum}", "--json", "--sparse-fps", "1"])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    lines = [json.loads(s) for s in res.stdout.strip().splitlines()]
    return res.exit_code, lines, res.stderr


def labels(shared_data):
    with open(shared_data / "face-videos" / "labels.csv", newline="") as fh:
        return {r["file"]: r for r in csv.DictReader(fh)}


def test_every_video_gives_a_well_formed_result(all_videos, shared_data):
    code, lines, err = all_videos
    assert code == 0, err
    results, summary = lines[:-1], lines[-1]
    meta = labels(shared_data)
    assert len(results) == len(meta) == 10
    assert summary["inputs"] == 10 and summary["failed"] == 0 and summary["exit_code"] == 0
    for r in results:
        rel = r["path"].split("face-videos/")[1]
        assert RESULT_KEYS | VIDEO_KEYS <= set(r), r.keys()
        assert r["schema"] == "mediatk.detect/1" and r["kind"] == "video" and r["error"] is None
        assert r["status"] in ("ok", "no_face", "insufficient_evidence")
        blink = r["detectors"]["blink"]
        assert EVIDENCE_KEYS <= set(blink) and BLINK_KEYS <= set(blink["details"])
        assert blink["details"]["method"] == "eyestate" and blink["status"] in ("ok", "insufficient")
        assert r["video"]["frames_total"] == int(meta[rel]["frames"])
        assert r["frames"]["read"] == int(meta[rel]["frames"])  # streamed to the end
        assert 0 < r["frames"]["analysed"] <= r["frames"]["read"]
        assert r["faces"]["fraction"] >= 0.9, (rel, r["faces"])  # incl. the dim DFDC clip (gamma-brightened)
        spec = r["detectors"]["spectrum"]
        assert spec["status"] == "ok" and spec["details"]["input"] == "face crop" and 0 <= spec["p_synthetic"] <= 1
        assert len(r["timeline"]) == r["frames"]["analysed"]
        scored = [e for e in r["timeline"] if "spectrum" in e.get("signals", {})]
        assert len(scored) == spec["details"]["faces_scored"] == len(spec["details"]["timeline"]) > 0
        assert spec["fps"] == 1.0 and blink["fps"] == min(15.0, r["video"]["fps"])
        v = r["verdict"]
        assert "spectrum" in v["rests_on"] and v["label"] in ("synthetic", "real") and v["threshold"] == 0.5


def test_real_talking_heads_blink_like_humans(all_videos, shared_data):
    _, lines, _ = all_videos
    meta = labels(shared_data)
    rows = []
    for r in lines[:-1]:
        rel = r["path"].split("face-videos/")[1]
        ev = r["detectors"]["blink"]
        b = ev["details"]
        rows.append(f"{rel}: {b['finding']} {b['blinks']} blinks / {b['seconds_with_face']} s = {b['rate_per_min']}/min")
        if meta[rel]["label"] == "REAL":
            assert b["finding"] in ("typical", "insufficient_evidence"), (rel, b)
            if b["finding"] == "typical":
                assert 4.5 <= b["rate_per_min"] <= 26 and ev["status"] == "ok" and ev["p_synthetic"] == 0.25
        if b["seconds_with_face"] < 10:
            assert b["finding"] == "insufficient_evidence" and ev["status"] == "insufficient"
            assert ev["p_synthetic"] is None
    print("\n".join(rows))


def test_blink_counter_rules():
    cfg = BlinkConfig()
    c = BlinkCounter(cfg, fps=10.0)
    seq = [0.9] * 10 + [0.1, 0.2] + [0.9] * 5       # 200 ms closure: a blink
    seq += [0.3, 0.55, 0.7] + [0.9] * 5              # 0.55 is still closed (hysteresis): 200 ms blink
    seq += [0.1] * 8 + [0.9] * 3                     # 800 ms: a long closure, not a blink
    seq += [0.1, None, 0.9]                          # interrupted by a frame without a face: dropped
    seq += [0.45, 0.9]                               # above close_below 0.35: no closure
    for i, o in enumerate(seq):
        c.add(i / 10, o)
    assert [b["ms"] for b in c.blinks] == [200.0, 200.0] and c.long_closures == 1
    s = c.summary("eyestate")
    assert s["status"] == "insufficient_evidence" and "10 s" in s["reason"]  # 4 s of face < 10 s
    few = BlinkCounter(cfg, fps=10.0)
    for i in range(1200):  # 120 s, no blink: P(0 | 4.5/min · 2 min = 9) ≈ 1e-4
        few.add(i / 10, 0.9)
    s = few.summary("eyestate")
    assert s["status"] == "too_few_blinks" and s["p_synthetic"] == 0.75 and s["p_value"] < 0.05
    ok = BlinkCounter(cfg, fps=10.0)
    for i in range(600):  # 60 s, a blink every 4 s: 15/min
        ok.add(i / 10, 0.1 if i % 40 == 20 else 0.9)
    s = ok.summary("eyestate")
    assert s["status"] == "typical" and s["rate_per_min"] == 15.0 and s["mean_blink_ms"] == 100.0
    none = BlinkCounter(cfg, fps=10.0)
    for i in range(100):
        none.add(i / 10, None)
    assert none.summary("haar")["status"] == "no_face"


def test_out_writes_timeline_plot_and_annotated_video(cli, shared_data, eyestate, face_spectrum, tmp_path):
    clip = shared_data / "face-videos" / "real" / "liveportrait_d0.mp4"
    code, out, err = cli("detect", clip, "--detector", f"blink,spectrum={face_spectrum}", "--out", tmp_path)
    assert code == 0, err
    assert "blink: insufficient - " in out and "spectrum 0." in out and "real time" in out
    png, mp4 = tmp_path / "liveportrait_d0.timeline.png", tmp_path / "liveportrait_d0.annotated.mp4"
    assert png.stat().st_size > 1000
    res = json.loads((tmp_path / "results.jsonl").read_text().splitlines()[0])
    assert res["outputs"] == {"video": str(mp4), "plot": str(png)}
    assert probe_video(mp4).frame_count == res["frames"]["analysed"]
    drivers = res["detectors"]["spectrum"]["details"]["drivers"]  # the faces that drove its score, saved
    assert len(drivers) == 3 and all(Path(d["crop"]).stat().st_size > 500 for d in drivers)


def test_no_face_is_its_own_status(cli, tmp_path, eyestate, face_spectrum):
    rng = np.random.default_rng(0)
    noise = tmp_path / "noise.mp4"
    with VideoWriter(noise, fps=10.0) as w:
        for _ in range(30):
            w.write((rng.random((96, 128, 3)) * 255).astype(np.uint8))
    flat = tmp_path / "flat.png"
    save_image(np.full((120, 160, 3), 128, np.uint8), flat)
    code, out, err = cli("detect", noise, flat, "--detector", f"blink,spectrum={face_spectrum}", "--json")
    assert code == 0, err
    video, image, summary = (json.loads(s) for s in out.strip().splitlines())
    assert video["status"] == "no_face" and video["detectors"]["blink"]["details"]["finding"] == "no_face"
    for ev in video["detectors"].values():
        assert ev["status"] == "insufficient" and ev["p_synthetic"] is None
    assert video["verdict"]["label"] == "undecided" and video["verdict"]["p_synthetic"] is None
    assert image["status"] == "no_face" and image["face"] is None
    assert image["detectors"]["spectrum"]["status"] == "no_face" and summary["statuses"] == {"no_face": 2}


def test_face_image_is_cropped(cli, shared_data, face_spectrum, tmp_path):
    src = sorted((shared_data / "celeba-genki-smiling" / "img_align_celeba").glob("*.jpg"))[5]
    big = tmp_path / "face.png"
    save_image(np.pad(read_image(src), ((40, 40), (60, 60), (0, 0)), mode="edge"), big)
    code, out, err = cli("detect", big, "--detector", f"spectrum={face_spectrum}", "--json")
    assert code == 0, err
    res = json.loads(out.splitlines()[0])
    assert res["status"] == "ok" and res["face"]["prob"] > 0.9
    x1, y1, x2, y2 = res["face"]["box"]
    assert 40 <= (x1 + x2) / 2 <= 140 and 20 <= (y1 + y2) / 2 <= 120
    assert res["detectors"]["spectrum"]["input"] == "face crop"


def test_cli_bad_video_inputs(cli, shared_data, tmp_path, face_spectrum):
    good = shared_data / "face-videos" / "real" / "liveportrait_d0.mp4"
    zero = tmp_path / "zero.mp4"
    zero.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # index (moov) lost with the tail
    for bad, words in ((zero, "empty"), (text, "cannot open video"), (cut, "cannot open video")):
        code, out, err = cli("detect", bad, "--detector", "blink")
        assert code == 2, (bad, out, err)
        assert len(err.strip().splitlines()) == 1 and words in err and "Traceback" not in out + err
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(good.read_bytes())
    (folder / "b.mp4").write_bytes(cut.read_bytes())
    code, out, err = cli("detect", folder, "--detector", "blink", "--json", "--no-timeline")
    assert code == 1, err
    a, b, summary = (json.loads(s) for s in out.strip().splitlines())
    assert a["status"] in ("ok", "insufficient_evidence") and a["timeline"] is None
    assert b["status"] == "error" and "cannot open video" in b["error"]
    assert summary["failed"] == 1 and summary["analysed"] == 1 and summary["exit_code"] == 1
    code, out, err = cli("detect", good, "--detector", "blink", "--sparse-fps", "0")
    assert code == 2 and "--sparse-fps" in err and "x>0" in err


def test_a_fresh_install_detects_with_the_shipped_face_model(cli, shared_data, tmp_path, monkeypatch):
    """Nothing trained: ``detect`` on a real DFDC fake finds the zoo's face-forgery model through the store,
    runs it on the tracked face and gives a verdict that rests on it, with its evidence."""
    monkeypatch.setenv("MEDIATK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MEDIATK_RUNS", str(tmp_path / "home" / "runs"))
    clip = shared_data / "face-videos" / "fake" / "dfdc_abofeumbvv.mp4"
    code, out, err = cli("detect", clip, "--json")
    assert code == 0, err
    res = json.loads(out.splitlines()[0])
    assert res["status"] == "ok" and res["verdict"]["label"] in ("synthetic", "real")
    ev = res["detectors"]["face-forgery"]
    assert ev["status"] == "ok" and 0.0 <= ev["p_synthetic"] <= 1.0
    assert len(ev["details"]["timeline"]) >= 4 and ev["details"]["drivers"]
    assert "face-forgery" in res["verdict"]["rests_on"]
    # the text form names the model the verdict rests on, and the untrained detectors on one line
    code, out, _ = cli("detect", clip)
    assert code == 0 and "rests on face-forgery" in out and out.count("not trained, so not used") == 1
