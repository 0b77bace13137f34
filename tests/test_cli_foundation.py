"""The CLI skeleton: version, listings, data commands, and one-line errors for every bad input."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest


def test_version(cli):
    code, out, _ = cli("--version")
    assert code == 0 and "mediatk" in out and "0.1.0" in out


def test_python_dash_m_entry_point():
    res = subprocess.run([sys.executable, "-m", "mediatk", "--version"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "mediatk" in res.stdout


def test_models_lists_registries(cli):
    code, out, _ = cli("models")
    assert code == 0
    assert "generators" in out and "detectors" in out
    assert "vae" in out and "pca" in out


def test_models_shows_options(cli):
    code, out, _ = cli("models", "sparse-ae")
    assert code == 0
    assert "--rho" in out and "--penalty" in out


def test_data_list_shows_shared_sets(cli, shared_data):
    code, out, _ = cli("data", "list")
    assert code == 0, out
    assert "fashion-mnist" in out and "train 54000, val 6000, test 10000" in out
    assert "celeba-genki-smiling" in out and "4000" in out
    assert "face-videos" in out


def test_data_show_writes_labelled_grid(cli, shared_data, tmp_path):
    from PIL import Image

    out = tmp_path / "grid.png"
    code, stdout, err = cli("data", "show", shared_data / "celeba-genki-smiling", "--attr", "smiling",
                            "-n", "8", "--split", "all", "--out", out)
    assert code == 0, err
    im = Image.open(out)
    assert im.size[0] > 64 * 2 and im.size[1] > 64


def _one_line_error(code, err):
    assert code != 0
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("mediatk: error:")
    assert "Traceback" not in err


@pytest.fixture
def bad_inputs(tmp_path, shared_data):
    zero = tmp_path / "zero.mp4"
    zero.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    real = shared_data / "face-videos" / "real" / "ffpp_c23_004.mp4"
    trunc = tmp_path / "trunc.mp4"
    trunc.write_bytes(real.read_bytes()[:4000])
    folder = tmp_path / "adir.mp4"
    folder.mkdir()
    zero_png = tmp_path / "zero.png"
    zero_png.write_bytes(b"")
    return {"missing": tmp_path / "nope.mp4", "zero-byte": zero, "text as mp4": text, "truncated": trunc,
            "directory": folder, "zero-byte image": zero_png}


@pytest.mark.parametrize("kind", ["missing", "zero-byte", "text as mp4", "truncated", "directory",
                                  "zero-byte image"])
def test_bad_media_input_is_one_line(cli, bad_inputs, kind):
    code, _, err = cli("info", bad_inputs[kind])
    _one_line_error(code, err)


def test_info_on_good_video(cli, shared_data):
    code, out, _ = cli("info", shared_data / "face-videos" / "real" / "ffpp_c23_004.mp4")
    assert code == 0 and "309 frames" in out and "25.00 fps" in out


@pytest.mark.parametrize("args", [
    ("data", "show", "no-such-dataset", "--out", "x.png"),
    ("train", "no-such-model", "--data", "digits"),
    ("train", "vae", "--data", "digits", "--no-such-option", "3"),
    ("train", "vae", "--data", "digits", "--latent-dim", "abc"),
    ("generate", "--model", "gan", "--out", "x.png"),          # nothing trained here, nothing pretrained
    ("reconstruct", "--model", "ae", "--checkpoint", "missing.safetensors", "--input", "digits", "--out", "x.png"),
    ("train", "vae", "--data", "digits", "--device", "cuda:7"),
    ("models", "nonexistent"),
    ("train", "--steps", "notanumber"),
])
def test_bad_commands_are_one_line(cli, args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEDIATK_HOME", str(tmp_path / "home"))  # an empty store, whatever ran before
    code, _, err = cli(*args)
    _one_line_error(code, err)


def test_installed_console_script():
    exe = shutil.which("mediatk")
    assert exe is not None, "console script 'mediatk' is not installed in this environment"
    res = subprocess.run([exe, "nonexistent-command"], capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1
