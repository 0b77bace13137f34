"""The one pixel path and the one perturbation module, on real data from ../shared/data.

* For images of every Pillow mode and several sizes, the tensor a dataset gives for training equals, bit for
  bit, the tensor detection computes from the same file (a detector's recorded preprocessing).
* A tiny trained detector's P(synthetic) for a file through ``mediatk detect`` equals its P through the
  training-time evaluation.
* The checkpoint records the preprocessing; old checkpoints get the documented default; unknown rules are
  refused.
* Perturbations: shape, range, JPEG error grows as quality drops, H.264 round trips (tensor and file).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from mediatk.core.errors import CheckpointError, MediaError
from mediatk.datasets import load_images
from mediatk.detectors import create, load
from mediatk.media import perturb
from mediatk.media.pixels import RESAMPLE, Preprocess, read_image, to_tensor, uint8_to_tensor
from mediatk.media.video import VideoWriter, probe_video
from PIL import Image

pytestmark = pytest.mark.usefixtures("one_thread")

MODES = ("RGB", "L", "RGBA", "LA", "P", "I;16", "CMYK")
SIZES = ((64, 64), (96, 128), (33, 17))  # (height, width): square, landscape, odd and portrait


def _face(shared_data, i: int = 0) -> np.ndarray:
    """A real 224 px DFDC face crop, RGB uint8."""
    files = sorted((shared_data / "dfdc-faces" / "real").glob("*.jpg"))
    return np.asarray(Image.open(files[i]).convert("RGB"))


def _as_mode(rgb: np.ndarray, mode: str, size: tuple[int, int]) -> tuple[Image.Image, str]:
    """The face at ``size`` in Pillow ``mode`` (with real transparency where the mode has alpha) and the
    file suffix that can hold it."""
    im = Image.fromarray(rgb).resize(size[::-1], Image.BILINEAR)
    h, w = size
    alpha = Image.fromarray(np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1)), "L")  # 0 left, opaque right
    if mode == "RGBA":
        im.putalpha(alpha)
    elif mode == "LA":
        im = im.convert("L")
        im.putalpha(alpha)
        im = im.convert("LA")
    elif mode == "P":
        im = im.convert("P", palette=Image.ADAPTIVE, colors=64)
        im.info["transparency"] = 0  # palette index 0 is transparent
    elif mode == "I;16":
        grey = np.asarray(im.convert("L")).astype(np.uint16) * 257 + np.uint16(100)
        im = Image.fromarray(grey.clip(0, 65535).astype(np.uint16))
    else:
        im = im.convert(mode)
    return im, (".jpg" if mode == "CMYK" else ".png")


@pytest.fixture(scope="module")
def mode_files(shared_data, tmp_path_factory):
    """One folder per mode, holding the face at every size."""
    root = tmp_path_factory.mktemp("modes")
    out = {}
    for mode in MODES:
        folder = root / mode.replace(";", "")
        folder.mkdir()
        for k, size in enumerate(SIZES):
            im, suffix = _as_mode(_face(shared_data, k), mode, size)
            kw = {"transparency": 0} if mode == "P" else {}
            im.save(folder / f"{k}{suffix}", **kw)
            assert Image.open(folder / f"{k}{suffix}").mode == mode
        out[mode] = folder
    return out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size,channels", [(32, 1), (32, 3), (48, 3), (None, 3)])
def test_training_tensor_equals_detection_tensor(mode_files, mode, size, channels):
    folder = mode_files[mode]
    files = sorted(folder.iterdir())
    ds = load_images(str(folder), split="all", image_size=size, channels=channels)
    assert [p.name for p in ds.paths] == [p.name for p in files]
    batch = ds.tensor() if size is not None else None  # at native size the images differ in size
    pre = Preprocess(size=size, channels=channels)
    for i, p in enumerate(files):
        det = pre.apply(read_image(p))
        assert det.dtype == torch.float32 and det.shape[0] == channels
        assert det.shape[1:] == ((size, size) if size else SIZES[i])
        assert torch.equal(ds[i][0], det), (mode, p.name)  # one item at a time
        if batch is not None:
            assert torch.equal(batch[i], det), (mode, p.name)  # and the whole set at once
        assert det.min() >= -1 and det.max() <= 1


def test_alpha_16bit_and_cmyk_rules(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200                       # red under full transparency ...
    rgba[:, 2:, 3] = 255                     # ... on the left half only
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    assert (img[:, :2] == 255).all()                      # transparent: white, whatever colour is under it
    assert (img[:, 2:] == [200, 0, 0]).all()              # opaque: as is
    ds = load_images(str(tmp_path), split="all", channels=3)
    assert torch.equal(ds.tensor()[0], to_tensor(img))   # the dataset applies the same rule
    Image.fromarray(np.array([[0, 32768, 65535]], np.uint16)).save(tmp_path / "b.png")
    assert read_image(tmp_path / "b.png")[0, :, 0].tolist() == [0, 128, 255]  # scaled, not clipped
    Image.new("CMYK", (3, 3), (0, 0, 0, 0)).save(tmp_path / "c.jpg", quality=100)
    assert (read_image(tmp_path / "c.jpg") >= 250).all()  # CMYK white is RGB white


def test_resize_rule_and_batches(shared_data):
    x = np.stack([_face(shared_data, i) for i in range(5)])
    batch = uint8_to_tensor(x, 32, 1)
    for i in range(5):  # a batch is its images one by one
        assert torch.equal(batch[i], to_tensor(x[i], 32, channels=1))
    # antialiased: a 224 px checkerboard shrunk to 28 px is flat grey, not aliased stripes
    board = (np.indices((224, 224)).sum(0) % 2 * 255).astype(np.uint8)
    small = to_tensor(board, 28, channels=1)
    assert float(small.std()) < 0.01 and abs(float(small.mean())) < 0.01
    assert RESAMPLE == "bilinear-antialias"
    wide = np.zeros((10, 30, 3), np.uint8)
    wide[:, 10:20] = 255  # the centre square of a wide image is the white band
    assert (to_tensor(wide, 10) == 1).all()
    assert to_tensor(wide, (5, 15)).shape == (3, 5, 15)


@pytest.fixture(scope="module")
def real_fake_dirs(shared_data, tmp_path_factory):
    """40 real and 40 fake DFDC face crops (224 px JPEG) in ``real/`` and ``fake/``."""
    root = tmp_path_factory.mktemp("rf")
    for label in ("real", "fake"):
        (root / label).mkdir()
        for f in sorted((shared_data / "dfdc-faces" / label).glob("*.jpg"))[:40]:
            shutil.copy(f, root / label / f.name)
    return root


@pytest.mark.parametrize("name,options", [("spectrum", []), ("cnn", ["--steps", "30", "--width", "8",
                                                                   "--stages", "2"])])
def test_detect_p_equals_training_evaluation(cli, real_fake_dirs, tmp_path, name, options):
    ckpt = tmp_path / f"{name}.safetensors"
    code, out, err = cli("train-detector", name, "--real", real_fake_dirs / "real", "--fake",
                         real_fake_dirs / "fake", "--image-size", "32", "--channels", "1", "-n", "40",
                         "--no-face-crops", "--out", ckpt, *options)
    assert code == 0, err
    det = load(ckpt)
    assert det.preprocess == Preprocess(size=32, channels=1)
    held = load_images(str(real_fake_dirs / "fake"), split="test", image_size=32, channels=1)
    p_train = det.predict_proba(held.tensor())  # what train-detector's held-out evaluation computes
    for i, p in enumerate(held.paths):
        assert torch.equal(det.input_of(read_image(p)), held.tensor([i])[0])
    code, out, err = cli("detect", *held.paths, "--detector", f"{name}={ckpt}", "--json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    p_detect = {r["path"]: r["detectors"][name]["p_synthetic"] for r in rows if "path" in r}
    assert len(p_detect) == len(held.paths) >= 5
    assert [p_detect[str(p)] for p in held.paths] == [round(float(v), 4) for v in p_train]


def test_checkpoint_records_preprocessing(shared_data, tmp_path):
    x = load_images("fashion-mnist", split="test", limit=64, seed=0).tensor()
    det = create("spectrum").fit(x[:32], perturb.blur(x[32:], 1.0), image_size=16, channels=1)
    path = det.save(tmp_path / "spec.safetensors")
    side = path.with_suffix(".json")
    meta = json.loads(side.read_text())
    assert meta["preprocess"] == {"size": 16, "channels": 1, "resample": RESAMPLE, "crop": "centre",
                                  "face_scale": 1.2}
    p = det.predict_proba(x)
    del meta["preprocess"]  # a checkpoint from before the record: the documented default
    side.write_text(json.dumps(meta))
    old = load(path)
    assert old.preprocess == Preprocess(size=16, channels=1) and np.array_equal(old.predict_proba(x), p)
    meta["preprocess"] = {"size": 16, "channels": 1, "resample": "lanczos", "crop": "centre"}
    side.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="resample rule 'lanczos'"):
        load(path)
    face = Preprocess(size=8, channels=3, crop="face", face_scale=1.0)
    img = np.zeros((40, 40, 3), np.uint8)
    img[10:20, 10:20] = 255
    assert face.apply(img) is None  # a face-crop detector without a face
    assert torch.allclose(face.apply(img, (10, 10, 20, 20)), torch.ones(3, 8, 8), atol=1e-6)  # the box, resized


# --------------------------------------------------------------------------------------------- perturbations

@pytest.fixture(scope="module")
def faces(shared_data):
    return load_images("celeba-genki-smiling", split="test", limit=8, seed=0, image_size=32).tensor()


def test_perturbations_shape_range(faces):
    for kind, level in (("jpeg", 50), ("blur", 1.5), ("downscale", 2.0), ("h264", 30)):
        y = perturb.apply(faces, kind, level)
        assert y.shape == faces.shape and y.dtype == torch.float32, kind
        assert y.min() >= -1 and y.max() <= 1, kind
        assert 0 < float((y - faces).abs().mean()) < 0.5, kind
    grey = faces[:, :1]
    assert perturb.jpeg(grey, 80).shape == grey.shape
    with pytest.raises(ValueError, match="unknown perturbation"):
        perturb.apply(faces, "sharpen", 1)
    with pytest.raises(MediaError):
        perturb.jpeg(faces, 0)


def test_stronger_perturbation_loses_more(faces):
    def err(y):
        return float((y - faces).abs().mean())

    jpeg = [err(perturb.jpeg(faces, q)) for q in (95, 75, 50, 25, 10)]
    assert jpeg == sorted(jpeg), jpeg
    blur = [err(perturb.blur(faces, s)) for s in (0.5, 1.0, 2.0)]
    assert blur == sorted(blur), blur
    down = [err(perturb.downscale(faces, f)) for f in (1.5, 2.0, 4.0)]
    assert down == sorted(down), down
    h264 = [err(perturb.h264(faces, c)) for c in (10, 28, 45)]
    assert h264 == sorted(h264), h264
    assert h264[0] < 0.03  # near-lossless at crf 10


def test_h264_clip_and_file(faces, tmp_path):
    odd = faces[:, :, :31, :29]  # odd sizes are padded for the encoder and cut back
    y = perturb.h264(odd, 23, out=tmp_path / "clip.mp4")
    assert y.shape == odd.shape
    info = probe_video(tmp_path / "clip.mp4")
    assert info.frame_count == len(odd) and info.codec.lower() in ("avc1", "h264"), info
    with VideoWriter(tmp_path / "src.mp4", fps=10) as w:
        for f in faces:
            w.write(((f.permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8))
    z = perturb.h264(tmp_path / "src.mp4", 30)
    assert z.shape == faces.shape
    with pytest.raises(MediaError):
        perturb.h264(faces, 60)
    with pytest.raises(MediaError):
        perturb.h264(tmp_path / "missing.mp4", 23)
