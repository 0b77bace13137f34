"""extract-faces: videos → a face-crop set with a manifest; no-face and broken videos are recorded."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from mediatk.datasets import load_images
from mediatk.media.video import VideoWriter


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def video_set(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("vids")
    (root / "real").mkdir()
    (root / "fake").mkdir()
    (root / "real" / "face.mp4").symlink_to(shared_data / "face-videos" / "real" / "hdtf_RD_Radio2_000.mp4")
    rng = np.random.default_rng(0)
    with VideoWriter(root / "fake" / "noface.mp4", fps=10, size=(96, 64)) as w:
        for _ in range(12):
            w.write(np.full((64, 96, 3), 90, np.uint8) + rng.integers(0, 20, (64, 96, 3), dtype=np.uint8))
    (root / "fake" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    return root


def test_extract_faces_writes_a_crop_set_and_records_every_video(video_set, tmp_path, cli, one_thread):
    out = tmp_path / "crops"
    code, stdout, _ = cli("extract-faces", str(video_set), "--out", str(out), "--frames", "4", "--size", "64",
                          "--device", "cpu", "--quiet")
    assert code == 0, stdout
    assert "1 videos with faces, 1 without, 1 failed; 4 crops" in stdout
    videos = {r["video"]: r for r in _rows(out / "videos.csv")}
    assert videos["real__face"]["status"] == "ok" and videos["real__face"]["crops"] == "4"
    assert videos["fake__noface"]["status"] == "no_face" and videos["fake__noface"]["frames"] == "4"
    assert videos["fake__broken"]["status"] == "error" and "broken.mp4" in videos["fake__broken"]["message"]
    crops = _rows(out / "labels.csv")
    frames = sorted(int(r["frame"]) for r in crops)
    assert len(crops) == 4 and frames[0] == 0 and frames[-1] >= 140      # spread over the 200-frame clip
    assert all(float(r["prob"]) >= 0.9 and float(r["x2"]) > float(r["x1"]) for r in crops)
    ds = load_images(out, split="all")
    assert ds.format == "facecrops" and len(ds) == 4 and ds[0][0].shape == (3, 64, 64)
    assert set(ds.groups) == {"real__face"}

    # A rerun resumes: done videos are skipped, the failed one is tried again, nothing is duplicated.
    code, stdout, _ = cli("extract-faces", str(video_set), "--out", str(out), "--frames", "4", "--size", "64",
                          "--device", "cpu", "--quiet")
    assert code == 0 and "0 videos with faces, 0 without, 1 failed; 0 crops" in stdout
    assert len(_rows(out / "labels.csv")) == 4


def test_extract_faces_bad_options_are_usage_errors(video_set, tmp_path, cli):
    code, _, err = cli("extract-faces", str(video_set), "--out", str(tmp_path / "x"), "--margin", "0.5")
    assert code == 2 and err.startswith("mediatk: error: --margin") and err.count("\n") == 1
    code, _, err = cli("extract-faces", str(tmp_path / "missing"), "--out", str(tmp_path / "x"))
    assert code == 2 and "does not exist" in err and err.count("\n") == 1
