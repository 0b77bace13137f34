"""Tests for mediatk.media against the real data in ../shared/data (never skipped: missing data fails)."""

from __future__ import annotations

import csv
import itertools
import math
import os
import struct
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import psutil
import pytest
import torch
from mediatk.core.errors import MediaError
from mediatk.media import pixels, video
from mediatk.media.draw import annotate_frame, save_grid
from mediatk.media.pixels import is_image, is_video, read_image, save_image, to_tensor, to_uint8
from mediatk.media.video import Frame, VideoInfo, VideoReader, VideoWriter, expected_frames, probe_video
from PIL import Image

# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def data_dir() -> Path:
    root = (Path(__file__).resolve().parents[2] / "shared" / "data").resolve()
    if not (root / "face-videos" / "labels.csv").is_file():
        pytest.fail(f"real data not found at {root} (expected ../shared/data from the repository root)")
    return root


@pytest.fixture(scope="session")
def video_rows(data_dir) -> list[dict]:
    with open(data_dir / "face-videos" / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 10, f"expected 10 videos in labels.csv, found {len(rows)}"
    for row in rows:
        row["path"] = data_dir / "face-videos" / row["file"]
        assert row["path"].is_file(), row["path"]
    return rows


@pytest.fixture(scope="session")
def small_video(video_rows) -> dict:
    """The cheapest real clip to decode fully: SadTalker 256x256, 227 frames at 25 fps."""
    return next(r for r in video_rows if r["file"].endswith("sadtalker_art_0_japanese.mp4"))


def _synthetic_frame(i: int, side: int) -> np.ndarray:
    yy, xx = np.mgrid[0:side, 0:side]
    f = np.empty((side, side, 3), np.uint8)
    f[..., 0] = (xx + 3 * i) % 256
    f[..., 1] = (yy + 2 * i) % 256
    f[..., 2] = ((xx + yy) // 2 + i) % 256
    return f


@pytest.fixture(scope="module")
def synthetic_videos(tmp_path_factory) -> dict[str, Path]:
    """A short (200 frames) and a long (2000 frames, 10x) 256x256 25 fps video written with VideoWriter."""
    d = tmp_path_factory.mktemp("synthetic")
    out = {}
    for name, n in (("short", 200), ("long", 2000)):
        path = d / f"{name}.mp4"
        with VideoWriter(path, 25, (256, 256)) as w:
            for i in range(n):
                w.write(_synthetic_frame(i, 256))
        out[name] = path
    return out


def _one_line_media_error(excinfo, path: Path) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg and "\r" not in msg, msg
    assert path.name in msg, msg
    return msg


# A minimal MP4 "faststart" rewrite (index before the data, as streaming files are), so that the first half of
# a file keeps its index and a truncated download can be simulated with real video data.
_MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"mvex"}


def _mp4_boxes(buf, start, end):
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", bytes(buf[pos:pos + 8]))
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", bytes(buf[pos + 8:pos + 16]))[0], 16
        elif size == 0:
            size = end - pos
        yield kind, pos, header, pos + size
        pos += size


def _shift_chunk_offsets(moov: bytearray, start: int, end: int, delta: int) -> None:
    for kind, pos, header, stop in _mp4_boxes(moov, start, end):
        if kind in _MP4_CONTAINERS:
            _shift_chunk_offsets(moov, pos + header, stop, delta)
        elif kind in (b"stco", b"co64"):
            body = pos + header
            count = struct.unpack(">I", bytes(moov[body + 4:body + 8]))[0]
            fmt, width = (">I", 4) if kind == b"stco" else (">Q", 8)
            for i in range(count):
                at = body + 8 + i * width
                struct.pack_into(fmt, moov, at, struct.unpack(fmt, bytes(moov[at:at + width]))[0] + delta)


def _faststart(data: bytes) -> bytes:
    top = {kind: (pos, stop) for kind, pos, _, stop in _mp4_boxes(data, 0, len(data))}
    (m0, m1), (d0, _) = top[b"moov"], top[b"mdat"]
    assert m0 > d0, "this helper expects the moov box after mdat"
    moov = bytearray(data[m0:m1])
    _shift_chunk_offsets(moov, 8, len(moov), len(moov))
    return data[:d0] + bytes(moov) + data[d0:m0] + data[m1:]


# --------------------------------------------------------------------------------------------- suffixes


def test_suffix_helpers():
    assert is_image("a/b.JPG") and is_image("x.png") and is_image("x.tiff") and not is_image("x.mp4")
    assert is_video("clip.MP4") and is_video("c.avi") and not is_video("x.png") and not is_video("noext")
    assert all(e.startswith(".") and e == e.lower() for e in pixels.IMAGE_EXTS | pixels.VIDEO_EXTS)
    assert not pixels.IMAGE_EXTS & pixels.VIDEO_EXTS


# --------------------------------------------------------------------------------------------- real videos


def test_probe_matches_labels(video_rows):
    for row in video_rows:
        info = probe_video(row["path"])
        assert isinstance(info, VideoInfo)
        assert abs(info.frame_count - int(row["frames"])) <= 1, (row["file"], info.frame_count, row["frames"])
        assert info.fps == pytest.approx(float(row["fps"]), abs=0.01), (row["file"], info.fps)
        assert (info.width, info.height) == (int(row["width"]), int(row["height"])), row["file"]
        assert info.duration == pytest.approx(info.frame_count / info.fps)
        assert info.codec and info.codec != "unknown", row["file"]


def test_sampling_at_5fps_with_max_side(video_rows):
    """One pass per video (the expensive part of this file, ~10 s): 5 fps sampling and 320 px cap."""
    for row in video_rows:
        info = probe_video(row["path"])
        want = expected_frames(info, 5)
        assert abs(want - info.duration * 5) <= 1, (row["file"], want, info.duration)
        with VideoReader(row["path"], target_fps=5, max_side=320) as reader:
            frames = list(reader)
        assert abs(len(frames) - want) <= 1, (row["file"], len(frames), want)
        assert reader.frames_yielded == len(frames)
        assert abs(reader.frames_read - int(row["frames"])) <= 1, (row["file"], reader.frames_read)
        assert not reader.truncated, row["file"]
        idx = [f.index for f in frames]
        assert idx[0] == 0 and all(b > a for a, b in itertools.pairwise(idx))
        gaps = {b - a for a, b in itertools.pairwise(idx)}
        assert gaps <= {math.floor(info.fps / 5), math.ceil(info.fps / 5)}, (row["file"], gaps)
        src_max = max(info.width, info.height)
        for f in frames:
            assert isinstance(f, Frame)
            assert f.time == pytest.approx(f.index / info.fps)
            assert f.image.dtype == np.uint8 and f.image.ndim == 3 and f.image.shape[2] == 3
            assert max(f.image.shape[:2]) <= 320
        h, w = frames[0].image.shape[:2]
        assert max(h, w) == min(320, src_max)
        assert w / h == pytest.approx(info.width / info.height, rel=0.02)  # aspect kept


def test_every_frame_window_and_retrieve_only_kept(small_video, monkeypatch):
    path, n = small_video["path"], int(small_video["frames"])
    info = probe_video(path)
    frames = list(VideoReader(path))
    assert [f.index for f in frames] == list(range(n))
    assert frames[0].image.shape == (256, 256, 3)
    # never upsample: a target above the source rate gives every frame once
    assert expected_frames(info, 60) == n
    # a window [2 s, 4 s) at 25 fps is frames 50..99
    win = list(VideoReader(path, start=2.0, end=4.0))
    assert [f.index for f in win] == list(range(50, 100))
    assert expected_frames(info, None, start=2.0, end=4.0) == 50
    # the frames kept at 5 fps are the very frames of a full read, and only those are retrieve()-d
    calls = {"grab": 0, "retrieve": 0}

    class Counting:
        def __init__(self, cap):
            self.cap = cap

        def grab(self):
            calls["grab"] += 1
            return self.cap.grab()

        def retrieve(self):
            calls["retrieve"] += 1
            return self.cap.retrieve()

        def __getattr__(self, name):  # get(), release(), ... go to the real capture
            return getattr(self.cap, name)

    real_open = video._open_capture
    monkeypatch.setattr(video, "_open_capture", lambda p: Counting(real_open(p)))
    reader = VideoReader(path, target_fps=5)
    sampled = list(reader)
    assert len(sampled) == expected_frames(info, 5) == 46
    assert calls["retrieve"] == reader.frames_yielded == 46
    assert calls["grab"] >= reader.frames_read >= sampled[-1].index + 1
    for f in sampled:
        assert np.array_equal(f.image, frames[f.index].image)


def test_memory_does_not_grow_with_video_length(synthetic_videos):
    """Peak traced (Python + NumPy) memory while streaming 2000 frames vs 200 frames of 256x256.

    Bound: the peaks differ by < 1 MiB (about 5 frames of 192 KiB; a reader that kept the frames would
    differ by ~340 MiB), and RSS grows < 32 MiB more on the long video than on the short one.
    """
    proc = psutil.Process()

    def stream(path: Path) -> tuple[int, int, int]:
        rss0 = peak_rss = proc.memory_info().rss
        tracemalloc.start()
        try:
            n = 0
            with VideoReader(path) as reader:
                for frame in reader:
                    n += 1
                    assert frame.image.shape == (256, 256, 3)
                    if n % 50 == 0:
                        peak_rss = max(peak_rss, proc.memory_info().rss)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return n, peak, peak_rss - rss0

    stream(synthetic_videos["short"])  # warm up codec/library allocations
    n_short, peak_short, rss_short = stream(synthetic_videos["short"])
    n_long, peak_long, rss_long = stream(synthetic_videos["long"])
    assert (n_short, n_long) == (200, 2000)
    print(f"tracemalloc peak: short {peak_short / 2**10:.0f} KiB, long {peak_long / 2**10:.0f} KiB; "
          f"RSS growth: short {rss_short / 2**20:.1f} MiB, long {rss_long / 2**20:.1f} MiB")
    assert peak_long - peak_short < 2**20
    assert peak_long < 8 * 2**20
    assert rss_long - rss_short < 32 * 2**20


# --------------------------------------------------------------------------------------------- writing video


def test_writer_probe_round_trip(synthetic_videos, tmp_path):
    info = probe_video(synthetic_videos["long"])
    assert (info.frame_count, info.width, info.height, info.fps) == (2000, 256, 256, 25.0)
    assert info.codec.lower() in ("fmp4", "mp4v")

    path = tmp_path / "out" / "clip.mp4"  # parent folder is created
    src = [_synthetic_frame(i, 160)[:120] for i in range(30)]  # 160 wide, 120 high
    with VideoWriter(path, 12, size=(160, 120)) as w:
        for f in src:
            w.write(f)
        w.write(np.zeros((60, 80, 3), np.uint8))  # another size: resized
        w.write(np.full((120, 160), 200, np.uint8))  # greyscale: replicated
    assert w.frames_written == 32
    info = probe_video(path)
    assert (info.frame_count, info.width, info.height) == (32, 160, 120)
    assert info.fps == pytest.approx(12.0)
    back = list(VideoReader(path))
    assert len(back) == 32
    err = np.abs(back[10].image.astype(int) - src[10].astype(int)).mean()
    assert err < 12, err  # lossy mp4v, but the same picture in RGB order
    assert abs(int(back[31].image.mean()) - 200) <= 6
    assert sorted(p.name for p in path.parent.iterdir()) == ["clip.mp4"]  # no temp file left


def test_writer_odd_size_lazy_size_and_failures(tmp_path):
    odd = tmp_path / "odd.mp4"
    with VideoWriter(odd, 10) as w:  # size from the first frame; odd dimensions cut to even
        for i in range(5):
            w.write(_synthetic_frame(i, 65)[:33])
    info = probe_video(odd)
    assert (info.width, info.height, info.frame_count) == (64, 32, 5)

    target = tmp_path / "keep.mp4"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), VideoWriter(target, 10, (64, 64)) as w:
        w.write(np.zeros((64, 64, 3), np.uint8))
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"  # untouched on error

    with pytest.raises(MediaError) as ei, VideoWriter(tmp_path / "empty.mp4", 10, (64, 64)):
        pass
    _one_line_media_error(ei, tmp_path / "empty.mp4")
    with pytest.raises(MediaError) as ei:
        VideoWriter(tmp_path / "clip.xyz", 10, (64, 64))
    _one_line_media_error(ei, tmp_path / "clip.xyz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.mp4", "odd.mp4"]


# --------------------------------------------------------------------------------------------- bad video input


def test_bad_video_inputs_raise_one_line(tmp_path, small_video):
    d = tmp_path / "folder.mp4"
    d.mkdir()
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    half = tmp_path / "half.mp4"
    data = small_video["path"].read_bytes()
    half.write_bytes(data[: len(data) // 2])  # index (moov) is at the end: the half cannot be opened
    cases = {
        tmp_path / "missing.mp4": "not found",
        d: "directory",
        empty: "empty",
        text: "cannot open",
        half: "cannot open",
    }
    for path, words in cases.items():
        for fn in (probe_video, VideoReader):
            with pytest.raises(MediaError) as ei:
                fn(path)
            assert words in _one_line_media_error(ei, path)


def test_truncated_video_yields_what_it_can(tmp_path, small_video):
    """A streaming-layout MP4 cut in half: frames up to the cut, then ``truncated``; no exception."""
    data = _faststart(small_video["path"].read_bytes())
    full = tmp_path / "faststart.mp4"
    full.write_bytes(data)
    n = int(small_video["frames"])
    assert sum(1 for _ in VideoReader(full)) == n  # the rewrite itself is lossless

    half = tmp_path / "cut.mp4"
    half.write_bytes(data[: len(data) // 2])
    info = probe_video(half)
    assert info.frame_count == n  # the index still promises every frame
    reader = VideoReader(half, target_fps=5)
    frames = list(reader)
    assert 0 < len(frames) < expected_frames(info, 5)
    assert 0 < reader.frames_read < n - 1
    assert reader.truncated is True
    assert [f.index for f in frames] == [round(k * 5) for k in range(len(frames))]


# --------------------------------------------------------------------------------------------- images


def test_read_real_images(data_dir):
    genki = min((data_dir / "celeba-genki-smiling" / "img_align_celeba").glob("*.jpg"))
    img = read_image(genki)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    celeb = min((data_dir / "celeba-mini").rglob("*.jpg"))
    assert read_image(celeb).shape == (218, 178, 3)
    eye = min((data_dir / "eyes-open-closed" / "images").glob("*.jpg"))
    eye_img = read_image(eye)
    assert eye_img.shape == (24, 24, 3)
    assert np.array_equal(eye_img[..., 0], eye_img[..., 1])  # grey replicated


def test_read_image_modes(tmp_path):
    # greyscale
    grey = (np.arange(12 * 10).reshape(12, 10) % 256).astype(np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    out = read_image(tmp_path / "grey.png")
    assert out.shape == (12, 10, 3) and out.dtype == np.uint8
    assert all(np.array_equal(out[..., c], grey) for c in range(3))

    # 1-bit
    Image.fromarray(grey > 60).convert("1").save(tmp_path / "bits.png")
    assert set(np.unique(read_image(tmp_path / "bits.png"))) <= {0, 255}

    # RGBA: alpha composited onto white
    rgba = np.array([[[255, 0, 0, 255], [0, 0, 0, 0], [0, 0, 255, 128]]], np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    out = read_image(tmp_path / "rgba.png")
    assert out.shape == (1, 3, 3)
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[0, 1].tolist() == [255, 255, 255]
    assert np.abs(out[0, 2].astype(int) - [127, 127, 255]).max() <= 1

    # CMYK JPEG
    colours = [(255, 0, 0), (0, 128, 0), (30, 60, 200), (250, 250, 250)]
    rgb = np.repeat(np.array(colours, np.uint8)[None], 16, axis=0).repeat(16, axis=1)  # 16 x 64
    Image.fromarray(rgb, "RGB").convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    out = read_image(tmp_path / "cmyk.jpg")
    assert out.shape == (16, 64, 3)
    for i, c in enumerate(colours):
        assert np.abs(out[8, 16 * i + 8].astype(int) - c).max() <= 10, (c, out[8, 16 * i + 8])

    # 16-bit greyscale PNG and TIFF: scaled, not clipped
    g16 = np.array([[0, 257, 32768, 65535]], np.uint16)
    for name in ("g16.png", "g16.tif"):
        Image.fromarray(g16).save(tmp_path / name)
        out = read_image(tmp_path / name)
        assert out.shape == (1, 4, 3)
        assert out[..., 0].tolist() == [[0, 1, 128, 255]], name

    # 16-bit colour PNG (written by OpenCV in BGR order)
    c16 = np.zeros((2, 2, 3), np.uint16)
    c16[0, 0] = (0, 32768, 65535)  # B, G, R
    cv2.imwrite(str(tmp_path / "c16.png"), c16)
    out = read_image(tmp_path / "c16.png")
    assert out[0, 0].tolist() == [255, 128, 0] and out[1, 1].tolist() == [0, 0, 0]

    # palette GIF: exact palette colours
    pal = Image.new("P", (3, 2))
    pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    pal.putdata([0, 1, 2, 2, 1, 0])
    pal.save(tmp_path / "pal.gif")
    out = read_image(tmp_path / "pal.gif")
    assert out.shape == (2, 3, 3)
    assert out[0].tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]

    # palette PNG with a transparent index: white
    pal.save(tmp_path / "pal_t.png", transparency=1)
    out = read_image(tmp_path / "pal_t.png")
    assert out[0, 1].tolist() == [255, 255, 255] and out[0, 0].tolist() == [255, 0, 0]


def test_read_image_applies_exif_orientation(tmp_path):
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :20] = (255, 0, 0)  # left half red
    img[:, 20:] = (0, 0, 255)  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    Image.fromarray(img).save(tmp_path / "rot.jpg", exif=exif, quality=95)
    out = read_image(tmp_path / "rot.jpg")
    assert out.shape == (40, 20, 3)  # upright: portrait
    assert out[5, 10, 0] > 200 and out[5, 10, 2] < 60  # the left half is now on top
    assert out[35, 10, 2] > 200 and out[35, 10, 0] < 60


def test_bad_images_raise_one_line(tmp_path, data_dir):
    d = tmp_path / "dir.png"
    d.mkdir()
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "text.png"
    text.write_text("hello, not an image\n")
    real_jpg = min((data_dir / "celeba-genki-smiling" / "img_align_celeba").glob("*.jpg")).read_bytes()
    cut_jpg = tmp_path / "cut.jpg"
    cut_jpg.write_bytes(real_jpg[: len(real_jpg) // 2])
    buf = tmp_path / "full.png"
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)).save(buf)
    cut_png = tmp_path / "cut.png"
    cut_png.write_bytes(buf.read_bytes()[: buf.stat().st_size // 2])
    cases = {
        tmp_path / "missing.png": "not found",
        d: "directory",
        empty: "empty",
        text: "not an image",
        cut_jpg: "truncated",
        cut_png: "truncated",
    }
    for path, words in cases.items():
        with pytest.raises(MediaError) as ei:
            read_image(path)
        assert words in _one_line_media_error(ei, path)


# --------------------------------------------------------------------------------------------- tensors


def test_tensor_round_trip_and_resizing():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    t = to_tensor(img)
    assert t.shape == (3, 30, 40) and t.dtype == torch.float32
    assert t.min() >= -1 and t.max() <= 1
    assert np.array_equal(to_uint8(t), img)  # exact inverse
    assert np.array_equal(to_uint8(t[None]), img)  # a batch of one is accepted
    assert to_tensor(img, 16).shape == (3, 16, 16)  # centre-cropped square
    assert to_tensor(img, (12, 20)).shape == (3, 12, 20)  # (height, width)
    g = to_tensor(img, 28, channels=1)
    assert g.shape == (1, 28, 28)
    back = to_uint8(g)
    assert back.shape == (28, 28, 3) and np.array_equal(back[..., 0], back[..., 2])
    assert to_uint8(torch.full((3, 2, 2), 5.0)).max() == 255  # clamped
    assert to_uint8(torch.full((3, 2, 2), -1.0)).max() == 0


def test_save_image_round_trip(tmp_path):
    img = np.random.default_rng(2).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    p = save_image(img, tmp_path / "a.png")
    assert p == tmp_path / "a.png" and np.array_equal(read_image(p), img)
    save_image(to_tensor(img), tmp_path / "b.png")
    assert np.array_equal(read_image(tmp_path / "b.png"), img)
    save_image(img, tmp_path / "c.jpg")
    assert read_image(tmp_path / "c.jpg").shape == (20, 30, 3)
    with pytest.raises(MediaError):
        save_image(img, tmp_path / "d.unknown")
    assert sorted(os.listdir(tmp_path)) == ["a.png", "b.png", "c.jpg"]


# --------------------------------------------------------------------------------------------- grids


def test_save_grid_sizes_labels_and_atomicity(tmp_path):
    # ten 28x28 grey tiles, 5 per row: default scale x3 -> 84 px tiles
    gen = torch.Generator().manual_seed(0)
    imgs = torch.rand(10, 1, 28, 28, generator=gen) * 2 - 1
    p = save_grid(imgs, tmp_path / "plain.png", nrow=5)
    plain = np.asarray(Image.open(p).convert("RGB"))
    assert plain.shape == (2 * 84 + 3 * 2, 5 * 84 + 6 * 2, 3)
    tile0 = to_uint8(imgs[0]).repeat(3, axis=0).repeat(3, axis=1)  # nearest-neighbour upscale
    assert np.array_equal(plain[2:86, 2:86], tile0)

    labels = ["Smiling", "not Smiling"] * 5
    p = save_grid(imgs, tmp_path / "labelled.png", nrow=5, labels=labels)
    lab = np.asarray(Image.open(p).convert("RGB"))
    assert lab.shape[1] >= plain.shape[1] and lab.shape[0] > plain.shape[0] + 2 * 10  # a text band per row
    band_h = (lab.shape[0] - plain.shape[0]) // 2
    cell_w = (lab.shape[1] - 6 * 2) // 5
    for i in range(10):  # dark text pixels under every tile, inside its cell
        r, c = divmod(i, 5)
        y0 = 2 + r * (84 + band_h + 2) + 84
        x0 = 2 + c * (cell_w + 2)
        band = lab[y0:y0 + band_h, x0:x0 + cell_w]
        assert (band.min(axis=2) < 100).sum() > 20, i

    p = save_grid(imgs, tmp_path / "titled.jpg", labels=labels, title="Fashion-MNIST samples")
    assert Image.open(p).format == "JPEG"
    assert sorted(os.listdir(tmp_path)) == ["labelled.png", "plain.png", "titled.jpg"]  # no temp files

    # 64 px RGB tiles (GENKI faces) are not upscaled; default nrow = ceil(sqrt(N))
    faces = torch.rand(6, 3, 64, 64, generator=gen) * 2 - 1
    grid = np.asarray(Image.open(save_grid(faces, tmp_path / "faces.png", pad=0)))
    assert grid.shape == (2 * 64, 3 * 64, 3)

    with pytest.raises(MediaError):
        save_grid(imgs, tmp_path / "bad.png", labels=["only one"])
    assert not (tmp_path / "bad.png").exists()


def test_annotate_frame():
    img = np.full((120, 160, 3), 128, np.uint8)
    out = annotate_frame(img, boxes=[(20, 30, 100, 110, "face 0.97", (255, 0, 0)), (5, 5, 15, 15)],
                         text_lines=["frame 12", "blinks: 3"])
    assert out.shape == img.shape and out.dtype == np.uint8
    assert (img == 128).all()  # input untouched
    assert out[70, 20].tolist() != [128, 128, 128]  # left edge of the box
    assert out[70, 60].tolist() == [128, 128, 128]  # inside the box
    assert (out[:10, :40] != 128).any()  # text strip
