"""Face-forgery data readers: face-crop sets with groups, FaceForensics++ and Celeb-DF layouts.

Real shared data (dfdc-faces, ffpp-crops, ffpp-c40) plus small fixtures in the exact layouts, built from
shared videos.  The central property: no group (video, identity) is on two sides of a split, and the split
is the same for every seed.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from mediatk.core.errors import ConfigError, DataError
from mediatk.datasets import detect_format, load_images, load_videos
from mediatk.datasets.forgery import FFPP, check_groups_disjoint, group_split


def _splits(name, **kw):
    return {s: load_images(name, split=s, **kw) for s in ("train", "val", "test")}


def _assert_disjoint(parts):
    groups = np.concatenate([d.groups for d in parts.values()])
    sides = np.concatenate([[s] * len(d) for s, d in parts.items()])
    check_groups_disjoint(groups, sides)
    files = [set(map(str, d.paths)) for d in parts.values()]
    assert not (files[0] & files[1] or files[0] & files[2] or files[1] & files[2])


def test_dfdc_faces_split_by_group_the_same_for_every_seed(shared_data):
    assert detect_format(shared_data / "dfdc-faces") == "facecrops"
    parts = _splits("dfdc-faces")
    assert sum(len(d) for d in parts.values()) == 12000
    _assert_disjoint(parts)
    for d in parts.values():   # each real crop travels with the fake made from it: classes stay balanced
        assert (d.labels == 0).sum() == (d.labels == 1).sum()
    assert 0.15 < len(parts["test"]) / 12000 < 0.25 and 0.05 < len(parts["val"]) / 12000 < 0.12
    other = load_images("dfdc-faces", split="test", seed=7)
    assert list(map(str, other.paths)) == list(map(str, parts["test"].paths))
    # --limit with another seed keeps another subset, but only of the same split.
    small = load_images("dfdc-faces", split="test", limit=50, seed=3)
    assert set(map(str, small.paths)) <= set(map(str, parts["test"].paths)) and len(small) == 50
    x, y = small[0]
    assert x.shape == (3, 224, 224) and int(y) in (0, 1)


def test_ffpp_crops_keep_the_source_split_and_methods(shared_data):
    parts = _splits("ffpp-crops")
    _assert_disjoint(parts)
    assert len(parts["test"]) == 614       # every row the source marks test, and only those
    methods = Counter(parts["test"].methods.tolist())
    assert set(methods) == {"original", "Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"}
    assert all(n > 90 for n in methods.values())
    assert all(str(p).split("/")[-1].startswith("test_") or "real" in str(p) for p in parts["test"].paths)


def test_ffpp_c40_official_layout(shared_data):
    vs = load_videos("ffpp-c40")
    assert vs.format == "ffpp" and vs.counts() == {"real": 20, "fake": 40, "all": 60}
    by_name = {it.path.name: it for it in vs}
    fake = by_name["183_253.mp4"]
    assert fake.meta["method"] in {"Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"}
    assert fake.meta["compression"] == "c40" and fake.label == "fake"
    # T_S joins target and source: both originals and both directions share one group.
    assert by_name["183.mp4"].meta["group"] == by_name["253.mp4"].meta["group"] == fake.meta["group"]
    assert {it.meta["group"] for it in vs if it.meta["source"] == "actors"} >= {"actor-01"}
    check_groups_disjoint([it.meta["group"] for it in vs], [it.meta["split"] for it in vs])
    assert Counter(it.meta["method"] for it in vs if it.label == "fake") == {
        "Deepfakes": 10, "Face2Face": 10, "FaceSwap": 10, "NeuralTextures": 10}
    with pytest.raises(ConfigError, match="no c23 videos"):
        FFPP.items(vs.root, "c23")


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.symlink_to(src)


def test_ffpp_splits_json_decides_the_split(tmp_path, shared_data):
    src = shared_data / "ffpp-c40"
    root = tmp_path / "ffpp"
    for rel in ["original_sequences/youtube/c40/videos/183.mp4", "original_sequences/youtube/c40/videos/253.mp4",
                "original_sequences/youtube/c40/videos/469.mp4", "original_sequences/youtube/c40/videos/481.mp4",
                "manipulated_sequences/FaceSwap/c40/videos/183_253.mp4",
                "manipulated_sequences/FaceSwap/c40/videos/469_481.mp4"]:
        _link(src / rel, root / rel)
    (root / "splits").mkdir()
    (root / "splits" / "train.json").write_text(json.dumps([["183", "253"]]))
    (root / "splits" / "test.json").write_text(json.dumps([["469", "481"]]))
    vs = load_videos(root)
    split = {it.path.name: it.meta["split"] for it in vs}
    assert split["469.mp4"] == split["481.mp4"] == split["469_481.mp4"] == "test"
    assert {split["183.mp4"], split["183_253.mp4"]} <= {"train", "val"}
    assert split["183.mp4"] == split["253.mp4"] == split["183_253.mp4"]
    (root / "splits" / "test.json").write_text("{not json")
    with pytest.raises(DataError, match="test.json"):
        load_videos(root)


def test_empty_ffpp_layout_is_a_one_line_error(tmp_path, cli):
    root = tmp_path / "ffpp-empty"
    (root / "original_sequences").mkdir(parents=True)
    (root / "manipulated_sequences").mkdir()
    with pytest.raises(DataError, match="no raw/c23/c40 folders"):
        load_videos(root)
    code, _, err = cli("data", "show", str(root), "--out", str(tmp_path / "g.png"))
    assert code == 2 and err.count("\n") == 1 and err.startswith("mediatk: error:")


def _celeb_df_fixture(tmp_path: Path, shared: Path) -> Path:
    real = sorted((shared / "face-videos" / "real").glob("*.mp4"))
    fake = sorted((shared / "face-videos" / "fake").glob("*.mp4"))
    root = tmp_path / "Celeb-DF-v2"
    _link(real[0], root / "Celeb-real" / "id0_0000.mp4")
    _link(real[1], root / "Celeb-real" / "id1_0000.mp4")
    _link(real[2], root / "Celeb-real" / "id2_0003.mp4")
    _link(real[3], root / "YouTube-real" / "00170.mp4")
    _link(fake[0], root / "Celeb-synthesis" / "id0_id1_0000.mp4")
    _link(fake[1], root / "Celeb-synthesis" / "id2_id0_0003.mp4")
    _link(fake[2], root / "Celeb-synthesis" / "id5_id6_0001.mp4")
    (root / "List_of_testing_videos.txt").write_text(
        "1 YouTube-real/00170.mp4\n0 Celeb-synthesis/id5_id6_0001.mp4\n")
    return root


def test_celeb_df_layout(tmp_path, shared_data):
    root = _celeb_df_fixture(tmp_path, shared_data)
    assert detect_format(root) == "celeb-df"
    vs = load_videos(root)
    assert vs.counts() == {"real": 4, "fake": 3, "all": 7}
    by = {it.path.name: it for it in vs}
    # id0, id1 and id2 are joined by their fakes; the official test list is kept.
    assert by["id0_0000.mp4"].meta["group"] == by["id1_0000.mp4"].meta["group"] == by["id2_0003.mp4"].meta["group"]
    assert by["00170.mp4"].meta["split"] == "test" and by["id5_id6_0001.mp4"].meta["split"] == "test"
    assert by["id0_id1_0000.mp4"].label == "fake" and by["00170.mp4"].label == "real"
    check_groups_disjoint([it.meta["group"] for it in vs], [it.meta["split"] for it in vs])
    (root / "List_of_testing_videos.txt").write_text("1 YouTube-real/99999.mp4\n")
    with pytest.raises(DataError, match="do not exist"):
        load_videos(root)


def test_crop_set_naming_missing_files_is_a_one_line_error(tmp_path, shared_data, cli):
    root = tmp_path / "crops"
    (root / "real").mkdir(parents=True)
    shutil.copy(next((shared_data / "dfdc-faces" / "real").glob("*.jpg")), root / "real" / "a.jpg")
    (root / "labels.csv").write_text("file,label,group\nreal/a.jpg,real,g1\nfake/missing.jpg,fake,g1\n")
    with pytest.raises(DataError, match="1 files that do not exist"):
        load_images(root)
    code, _, err = cli("data", "show", str(root), "--out", str(tmp_path / "g.png"))
    assert code == 2 and "do not exist" in err and err.count("\n") == 1
    (root / "labels.csv").write_text("file,label,group\nreal/a.jpg,maybe,g1\n")
    with pytest.raises(DataError, match="neither real nor fake"):
        load_images(root)


def test_group_split_is_by_hash_of_the_group_alone():
    groups = [f"v{i // 3}" for i in range(3000)]          # 1000 groups of 3 items
    a = group_split(groups)
    assert (a == group_split(list(reversed(groups)))[::-1]).all()   # order does not matter
    check_groups_disjoint(groups, a)
    frac = Counter(a.tolist())
    assert abs(frac["test"] / 3000 - 0.2) < 0.04 and abs(frac["val"] / 3000 - 0.08) < 0.03


def test_train_detector_on_a_crop_set_splits_it_by_label_and_group(cli, tmp_path, one_thread):
    code, out, err = cli("train-detector", "spectrum", "--real", "dfdc-faces", "-n", "150", "--image-size", "32",
                         "--out", tmp_path / "det", "--device", "cpu")
    assert code == 0, err
    import re

    n_real, n_fake = map(int, re.search(r"on (\d+) real \(dfdc-faces\) \+ (\d+) fake", out).groups())
    assert n_real + n_fake == 240 and min(n_real, n_fake) > 80 and "held-out: AUC" in out
    assert "bootstrap over" in out                           # intervals resample whole groups
    code, _, err = cli("train-detector", "spectrum", "--real", "dfdc-faces", "--fake", "ffpp-crops",
                       "--out", tmp_path / "det2")
    assert code == 2 and "without --fake" in err and err.count("\n") == 1
