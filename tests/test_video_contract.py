"""The video-detector contract (detectors/stream.py): face-scores' aggregation rules on synthetic scores,
abstention on a clip without faces, a video detector registered in a test reaching the verdict through
``detect`` (nothing names it), a failing detector giving ``error`` evidence, the sampler, and the runnable
template.  CPU; the shared clip is liveportrait_d0.mp4 (3 s, 512 px)."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
import torch
from mediatk.core import registry
from mediatk.core.errors import ConfigError
from mediatk.datasets import load_images
from mediatk.detectors import create, register
from mediatk.detectors.face_scores import FaceScores, FaceScoresConfig, aggregate
from mediatk.detectors.stream import Sampler, VideoDetector, evidence
from mediatk.detectors.verdict import verdict
from mediatk.detectors.video import analyse_video
from mediatk.media.video import VideoWriter

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def clip(shared_data):
    return shared_data / "face-videos" / "real" / "liveportrait_d0.mp4"


@pytest.fixture(scope="module")
def face_det(shared_data):
    """A small image detector trained on DFDC face crops (32 px): real per-face work, not a good detector."""
    ds = load_images("dfdc-faces", split="train", image_size=32, limit=300, seed=0)
    x, y = ds.tensor(), ds.labels
    return create("spectrum").fit(x[y == 0], x[y == 1], face_crops=True)


@pytest.fixture
def registered():
    """Register classes in DETECTORS for one test; the registry is restored afterwards."""
    saved = dict(registry.DETECTORS._entries)
    yield lambda name, cls: register(name, "test video detector", tags=("video",))(cls)
    registry.DETECTORS._entries = saved


# ------------------------------------------------------------------------------------------------ aggregation

def test_confident_rule_takes_the_confident_fakes_when_they_are_many():
    cfg = FaceScoresConfig()
    part_fake = [0.95, 0.9, 0.85, 0.92, 0.5, 0.45, 0.4, 0.5, 0.55, 0.3]  # 4 of 10 confident fakes (40 %)
    score, how = aggregate(part_fake, cfg)
    assert score == pytest.approx(np.mean([0.95, 0.9, 0.85, 0.92])) and "4 confident fakes" in how
    assert aggregate(part_fake, FaceScoresConfig(rule="mean"))[0] == pytest.approx(np.mean(part_fake))
    assert score > 0.8 > np.mean(part_fake)  # the mean dilutes a fake that shows in part of the clip


def test_confident_rule_needs_a_share_and_a_count():
    cfg = FaceScoresConfig()
    few = [0.95, 0.9, 0.85] + [0.4] * 7       # 3 of 10: under the 40 % share → plain mean
    assert aggregate(few, cfg)[0] == pytest.approx(np.mean(few))
    two = [0.95, 0.9, 0.3]                     # 67 % but only 2 faces < min_confident 3 → mean
    assert aggregate(two, cfg)[0] == pytest.approx(np.mean(two))
    real = [0.05] * 9 + [0.5]                  # 90 % confident reals → their mean
    score, how = aggregate(real, cfg)
    assert score == pytest.approx(0.05) and "confident reals" in how
    with pytest.raises(ConfigError, match="rule"):
        aggregate([0.5], FaceScoresConfig(rule="max"))


def test_evidence_is_checked():
    assert evidence("ok", 0.71234, reason="r")["p_synthetic"] == 0.7123
    assert evidence("insufficient", reason="few")["p_synthetic"] is None
    for bad in (lambda: evidence("ok"), lambda: evidence("insufficient", 0.3), lambda: evidence("maybe"),
                lambda: evidence("ok", 1.5)):
        with pytest.raises(ValueError):
            bad()


def test_sampler_picks_one_frame_per_tick():
    times = [i / 25 for i in range(100)]  # 4 s at 25 fps
    s = Sampler(2.0, 1 / 25)
    picked = [t for t in times if s.take(t)]
    assert picked == pytest.approx([0.0, 0.48, 1.0, 1.48, 2.0, 2.48, 3.0, 3.48], abs=0.021)
    every = Sampler(25.0, 1 / 25)
    assert all(every.take(t) for t in times)


# ------------------------------------------------------------------------------------------------ face-scores

def test_face_scores_on_a_shared_clip(clip, face_det, tmp_path):
    fs = FaceScores.over(face_det, FaceScoresConfig(fps=3.0, top_k=2))
    res = analyse_video(clip, [fs], out_dir=tmp_path)
    ev = res["detectors"]["spectrum"]
    d = ev["details"]
    assert ev["status"] == "ok" and 0 <= ev["p_synthetic"] <= 1 and ev["fps"] == 3.0
    assert d["faces_scored"] == ev["frames"] == len(d["timeline"]) == 10  # 3.12 s at 3/s: ticks 0, 1/3, ..., 3
    assert ev["p_synthetic"] == pytest.approx(aggregate([p for _, p in d["timeline"]], fs.cfg)[0], abs=1e-4)
    assert res["frames"]["decoded_fps"] == 3.0 and res["frames"]["analysed"] == 10  # only what it asked for
    assert len(d["drivers"]) == 2 and all((tmp_path / f"liveportrait_d0.spectrum.face-{x['frame']:06d}.png").is_file()
                                          for x in d["drivers"])
    ps = sorted((p for _, p in d["timeline"]), reverse=ev["p_synthetic"] >= 0.5)
    assert [x["p"] for x in d["drivers"]] == pytest.approx(ps[:2], abs=1e-4)
    scored = [e for e in res["timeline"] if "spectrum" in e.get("signals", {})]
    assert [e["signals"]["spectrum"]["p"] for e in scored] == [p for _, p in d["timeline"]]


def test_face_scores_asks_for_a_frame_count(clip, face_det):
    ev = analyse_video(clip, [FaceScores.over(face_det, FaceScoresConfig(frames=5, rule="mean"))])["detectors"]["spectrum"]
    d = ev["details"]
    assert ev["fps"] == pytest.approx(5 / 3.12, abs=1e-3) and d["faces_scored"] == ev["frames"] == 5
    assert ev["p_synthetic"] == pytest.approx(np.mean([p for _, p in d["timeline"]]), abs=1e-4)


def test_no_face_clip_abstains(tmp_path, face_det):
    rng = np.random.default_rng(0)
    noise = tmp_path / "noise.mp4"
    with VideoWriter(noise, fps=10.0) as w:
        for _ in range(40):
            w.write((rng.random((120, 160, 3)) * 255).astype(np.uint8))
    res = analyse_video(noise, [FaceScores.over(face_det)])
    ev = res["detectors"]["spectrum"]
    assert ev["status"] == "insufficient" and ev["p_synthetic"] is None
    assert "0 faces scored; at least 4" in ev["reason"] and res["faces"]["frames_with_face"] == 0
    assert verdict(res["detectors"], 0.5)["label"] == "undecided"


# ------------------------------------------------------------------------------------------------ orchestration

class ConstantDetector(VideoDetector):
    """Says 0.9 once it has seen 3 faces; a test stand-in for a new video detector file."""

    def start(self, info, fps):
        self.faces = 0

    def update(self, frames):
        self.faces += sum(f.face is not None for f in frames)
        return {f.index: {"seen": True} for f in frames if f.face is not None}

    def finish(self, prefix=None):
        if self.faces < 3:
            return evidence("insufficient", reason=f"{self.faces} faces")
        return evidence("ok", 0.9, reason="constant", faces=self.faces)


class BrokenDetector(ConstantDetector):
    def update(self, frames):
        raise RuntimeError("boom")


def test_a_registered_video_detector_reaches_the_verdict(cli, clip, registered):
    registered("test-constant", ConstantDetector)
    registered("test-broken", BrokenDetector)
    code, out, err = cli("detect", clip, "--detector", "test-constant,test-broken", "--json")
    assert code == 0, err
    res = json.loads(out.splitlines()[0])
    ok, broken = res["detectors"]["test-constant"], res["detectors"]["test-broken"]
    assert ok["status"] == "ok" and ok["details"]["faces"] == ok["frames"] == 7  # 2 fps over 3.12 s
    assert broken["status"] == "error" and "boom" in broken["reason"] and broken["p_synthetic"] is None
    assert res["verdict"]["rests_on"] == ["test-constant"] and res["verdict"]["label"] == "synthetic"
    assert res["verdict"]["p_synthetic"] == 0.9 and res["status"] == "ok"
    code, out, err = cli("detect", clip, "--detector", "test-constant")
    assert code == 0 and "SYNTHETIC p=0.900" in out and "test-constant 0.900 - constant" in out


def test_face_scores_is_not_named_directly(cli, clip):
    code, _, err = cli("detect", clip, "--detector", "face-scores")
    assert code == 2 and "name those instead" in err


def test_video_template_runs(clip):
    saved = dict(registry.DETECTORS._entries)
    try:
        mod = importlib.import_module("mediatk.detectors._template_video")
        det = create("template-sharpness")
        assert isinstance(det, mod.SharpnessDetector) and det.media == "video"
        ev = analyse_video(clip, [det])["detectors"]["template-sharpness"]
        assert ev["status"] == "ok" and 0 < ev["p_synthetic"] < 1 and ev["details"]["faces"] == ev["frames"] == 4
        with pytest.raises(ConfigError, match="videos"):
            det.predict_proba(torch.zeros(1, 3, 8, 8))
    finally:
        registry.DETECTORS._entries = saved
