"""The bad-input net (issue "Reliability"): every command fed the mistakes a user makes and the faults a long
run meets.  Each case asserts the CLI's contract: exactly one line ``mediatk: error: ...`` on stderr, the
documented exit code (2 bad input, 1 a write the system refused, 3 training stopped), no traceback, and
nothing the user had is lost (earlier checkpoints still load, an old report.html is untouched).

Kept cheap: one tiny VAE run (mnist-partial, 64 images, 10 steps) shared by the module; subprocesses only
where a real second process is the point (the run lock, a file-size limit, FFmpeg's logging).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_VAE = ["--limit", "64", "--batch-size", "16", "--quiet", "--arch", "mlp", "--hidden", "32", "--latent-dim", "4"]


@pytest.fixture(scope="module", autouse=True)
def _own_home(tmp_path_factory):
    """This module's runs stay in its own model store: later modules expect no trained vae in the session's."""
    home = tmp_path_factory.mktemp("bad_input_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDIATK_HOME", str(home))
        mp.setenv("MEDIATK_RUNS", str(home / "runs"))
        yield


def one_line(code: int, err: str, want: int = 2, contains: str = "") -> str:
    """Assert the one-line error contract and return the line."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err, err
    assert code == want, (code, err)
    assert len(lines) == 1 and lines[0].startswith("mediatk: error: "), err
    assert contains.lower() in lines[0].lower(), (contains, lines[0])
    return lines[0]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def run_cli(*args, preexec_fn=None, timeout: int = 180) -> subprocess.CompletedProcess:
    """The CLI in a separate process (``python -m mediatk``)."""
    return subprocess.run([sys.executable, "-m", "mediatk", *map(str, args)], capture_output=True, text=True, check=False,
                          env=_env(), preexec_fn=preexec_fn, timeout=timeout)


@pytest.fixture(scope="module")
def mnist(shared_data) -> Path:
    return shared_data / "mnist-partial"


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory, mnist):
    """A real 10-step VAE run that checkpoints every 5 steps (its settings are what --resume must keep)."""
    from click.testing import CliRunner
    from mediatk.cli import main

    out = tmp_path_factory.mktemp("runs") / "vae"
    res = CliRunner().invoke(main, ["train", "vae", "--data", str(mnist), "--steps", "10", "--ckpt-every", "5",
                                    "--out", str(out), *TINY_VAE])
    assert res.exit_code == 0, res.output
    return out


# ------------------------------------------------------------------------------ out-of-range and conflicting options

OPTION_CASES = [
    (["train", "vae", "--data", "D", "--steps", "0"], "--steps"),
    (["train", "vae", "--data", "D", "--steps", "-5"], "--steps"),
    (["train", "vae", "--data", "D", "--epochs", "0"], "--epochs"),
    (["train", "vae", "--data", "D", "--steps", "5", "--epochs", "1"], "--steps and --epochs"),
    (["train", "vae", "--data", "D", "--batch-size", "0"], "--batch-size"),
    (["train", "vae", "--data", "D", "--image-size", "100000"], "--image-size"),
    (["train", "vae", "--data", "D", "--limit", "0"], "--limit"),
    (["train", "vae", "--data", "D", "--ckpt-every", "0"], "--ckpt-every"),
    (["train", "vae", "--data", "D", "--sample-every", "-1"], "--sample-every"),
    (["train", "vae", "--data", "D", "--ema", "1.5"], "--ema"),
    (["train", "vae", "--data", "D", "--grad-clip", "0"], "--grad-clip"),
    (["data", "show", "fashion-mnist", "-n", "0", "--out", "x.png"], "-n"),
    (["data", "show", "fashion-mnist", "-n", "-4", "--out", "x.png"], "-n"),
    (["data", "show", "fashion-mnist", "--image-size", "0", "--out", "x.png"], "--image-size"),
    (["detect", "--threshold", "2", "x.png"], "--threshold"),
    (["detect", "--threshold", "-0.5", "x.png"], "--threshold"),
    (["detect", "--sparse-fps", "0", "x.png"], "--sparse-fps"),
    (["detect", "--detect-side", "-1", "x.png"], "--detect-side"),
    (["train-detector", "cnn", "--real", "D", "--fake", "D", "--test-fraction", "1.5"], "--test-fraction"),
    (["train-detector", "cnn", "--real", "D", "--fake", "D", "--image-size", "100000"], "--image-size"),
    (["generate", "--model", "vae", "-n", "0", "--out", "x.png"], "-n"),
    (["generate", "--model", "cgan", "--label", "-1", "--out", "x.png"], "--label"),
    (["arena", "--data", "D", "--generators", "vae", "--detectors", "cnn", "--out", "o", "--image-size", "100000"],
     "--image-size"),
    (["arena", "--data", "D", "--generators", "vae", "--detectors", "cnn", "--out", "o", "--gen-steps", "0"],
     "--gen-steps"),
]


@pytest.mark.parametrize("args,names", OPTION_CASES, ids=[" ".join(a[:1] + a[-2:]) for a, _ in OPTION_CASES])
def test_out_of_range_and_conflicting_options(cli, tmp_path, args, names):
    code, _, err = cli(*[str(tmp_path / a) if a in ("x.png", "o") else a for a in args])
    one_line(code, err, 2, names)


def test_resume_refuses_options_it_would_ignore(cli, vae_run, mnist):
    for extra, name in ((["--data", str(mnist)], "--data"), (["--batch-size", "8"], "--batch-size"),
                        (["--image-size", "16"], "--image-size"), (["--seed", "3"], "--seed"),
                        (["--out", str(vae_run)], "--out")):
        code, _, err = cli("train", "--resume", vae_run, "--steps", "20", *extra)
        one_line(code, err, 2, name)
    code, _, err = cli("train", "dcgan", "--resume", vae_run, "--steps", "20")
    one_line(code, err, 2, "'vae' run")
    code, _, err = cli("train", "--resume", vae_run, "--steps", "20", "--width", "8")
    one_line(code, err, 2, "model options cannot change")
    code, _, err = cli("train", "--resume", vae_run, "--steps", "10")
    one_line(code, err, 3, "already at step 10")
    code, _, err = cli("train", "--resume", vae_run.parent / "nothing-here", "--steps", "20")
    one_line(code, err, 2, "does not exist")


def test_resume_keeps_the_runs_own_settings(cli, vae_run, tmp_path):
    import shutil

    from mediatk.core.checkpoint import read_meta

    run = tmp_path / "copy"
    shutil.copytree(vae_run, run)
    code, _, err = cli("train", "--resume", run, "--steps", "15", "--quiet")
    assert code == 0, err
    assert read_meta(run / "checkpoints" / "last")["train"]["ckpt_every"] == 5  # not the CLI default 500
    assert json.loads((run / "config.json").read_text())["train"]["ckpt_every"] == 5
    # an explicit override is used and kept for the next resume
    code, _, err = cli("train", "--resume", run, "--steps", "20", "--ckpt-every", "7", "--quiet")
    assert code == 0, err
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["ckpt_every"] == 7 and cfg["steps"] == 20
    assert read_meta(run / "checkpoints" / "last")["train"]["ckpt_every"] == 7


# ---------------------------------------------------------------------------------- failed starts and the run lock

def test_failed_start_leaves_nothing_and_retry_works(cli, tmp_path, mnist, monkeypatch):
    from mediatk.core.fileio import read_jsonl

    out = tmp_path / "new-run"
    code, _, err = cli("train", "vae", "--data", mnist, "--steps", "2", "--out", out, "--device", "cuda:7", *TINY_VAE)
    one_line(code, err, 2, "--device cuda:7")
    assert not out.exists()
    # a fault inside the engine before its first step: the folder the user made stays, mediatk's files go
    out.mkdir()

    def boom(*a, **k):
        raise MemoryError("simulated allocation failure")

    import mediatk.generators.train as gtrain

    monkeypatch.setattr(gtrain, "fit", boom)
    with pytest.raises(MemoryError):
        gtrain.train("vae", str(mnist), steps=2, out=out, limit=64, batch_size=16, device="cpu")
    assert out.is_dir() and list(out.iterdir()) == []
    monkeypatch.undo()
    # a run that crashed after logging but before its first checkpoint: --resume says to retry, the retry works
    from mediatk.core.runs import new_run

    run = new_run("vae", out=out)
    run.write_config({"model": "vae", "data": str(mnist)})
    run.log({"step": 1})
    run.release()
    code, _, err = cli("train", "--resume", out, "--steps", "4")
    one_line(code, err, 2, "start it again with the same --out")
    code, _, err = cli("train", "vae", "--data", mnist, "--steps", "2", "--out", out, *TINY_VAE)
    assert code == 0, err
    assert (out / "checkpoints" / "last.safetensors").is_file()
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [2]  # the failed start's log is gone


def test_run_lock_in_one_process(tmp_path):
    from mediatk.core.errors import CheckpointError
    from mediatk.core.runs import new_run, open_run

    a = new_run("vae", out=tmp_path / "r")
    a.write_config({"model": "vae", "data": "x"})
    with pytest.raises(CheckpointError, match=f"in use by another training \\(pid {os.getpid()}\\)"):
        new_run("vae", out=tmp_path / "r")
    with pytest.raises(CheckpointError, match="in use"):
        open_run(tmp_path / "r", lock=True)
    a.release()
    open_run(tmp_path / "r", lock=True).release()


def test_two_processes_into_one_out(tmp_path, mnist):
    """Two real trainings released at the same moment into the same --out: exactly one runs."""
    out, barrier = tmp_path / "shared-out", tmp_path / "go"
    script = (
        "import sys, time, pathlib\n"
        "from mediatk.cli import main\n"
        f"b = pathlib.Path({str(barrier)!r})\n"
        "while not b.exists(): time.sleep(0.01)\n"
        f"main(['train', 'vae', '--data', {str(mnist)!r}, '--steps', '40', '--out', {str(out)!r}, "
        + ", ".join(repr(a) for a in TINY_VAE) + "])\n")
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=_env()) for _ in range(2)]
    time.sleep(4)  # both have imported torch and wait at the barrier
    barrier.touch()
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 2], results
    loser = next(r for r in results if r[0] == 2)
    one_line(loser[0], loser[2], 2)
    assert "in use by another training" in loser[2] or "already holds a run" in loser[2]
    from mediatk.core.checkpoint import load_checkpoint

    assert load_checkpoint(out / "checkpoints" / "last").meta["step"] == 40


# ------------------------------------------------------------------------------- faults while writing: disk, perms

def test_disk_full_while_checkpointing_keeps_the_last_good_one(vae_run, tmp_path):
    import shutil

    from mediatk.core.checkpoint import load_checkpoint

    run = tmp_path / "run"
    shutil.copytree(vae_run, run)
    size = (run / "checkpoints" / "last.safetensors").stat().st_size
    before = (run / "checkpoints" / "last.safetensors").read_bytes()

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (size // 2, size // 2))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death, like a full disk's ENOSPC

    res = run_cli("train", "--resume", run, "--steps", "15", "--quiet", preexec_fn=limit)
    line = one_line(res.returncode, res.stderr, 1, "cannot write checkpoint")
    assert ": File too large; the previous last checkpoint (step 10) is kept" in line, line
    ck = load_checkpoint(run / "checkpoints" / "last")
    assert ck.meta["step"] == 10 and (run / "checkpoints" / "last.safetensors").read_bytes() == before
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]  # no temporary left


def test_read_only_out_and_refused_checkpoint_write_are_one_line(cli, tmp_path, mnist, monkeypatch):
    """The permission errors of a read-only folder (injected: the tests may run as root, which ignores modes)."""
    import pathlib
    import tempfile

    real_mkdir = pathlib.Path.mkdir

    def mkdir(self, *a, **k):
        if "ro-folder-x" in str(self):
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *a, **k)

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    code, _, err = cli("train", "vae", "--data", mnist, "--steps", "2", "--out", tmp_path / "ro-folder-x" / "run",
                       *TINY_VAE)
    one_line(code, err, 1, "cannot create run directory")
    assert "Permission denied" in err
    monkeypatch.undo()

    from mediatk.core.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "ckdir-x" / "m", {"m": {"w": torch.ones(3)}}, {"model": "vae", "step": 1})
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*a, **k):
        if "ckdir-x" in str(k.get("dir")):
            raise PermissionError(13, "Permission denied")
        return real_mkstemp(*a, **k)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    from mediatk.core.errors import StorageError

    with pytest.raises(StorageError, match=r"cannot write checkpoint .*m.safetensors: Permission denied; the "
                                           r"previous m checkpoint \(step 1\) is kept"):
        save_checkpoint(tmp_path / "ckdir-x" / "m", {"m": {"w": torch.zeros(3)}}, {"model": "vae", "step": 2})


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    from mediatk.core.checkpoint import save_checkpoint
    from mediatk.core.fileio import write_json

    old = os.umask(umask)
    try:
        ck = save_checkpoint(tmp_path / "m", {"m": {"w": torch.ones(2)}}, {"model": "vae"})
        write_json(tmp_path / "config.json", {"a": 1})
    finally:
        os.umask(old)
    for f in (ck, ck.with_suffix(".json"), tmp_path / "config.json"):
        assert f.stat().st_mode & 0o777 == mode, (f, oct(f.stat().st_mode))
    (tmp_path / "config.json").chmod(0o640)  # a mode the user chose is kept on rewrite
    write_json(tmp_path / "config.json", {"a": 2})
    assert (tmp_path / "config.json").stat().st_mode & 0o777 == 0o640


# ------------------------------------------------------------------ foreign, corrupt, pickled, half-written checkpoints

@pytest.fixture(scope="module")
def bad_checkpoints(vae_run, tmp_path_factory):
    d = tmp_path_factory.mktemp("badck")
    last = vae_run / "checkpoints" / "last"
    torch.save({"w": torch.zeros(2)}, d / "model.pt")
    torch.save({"w": torch.zeros(2)}, d / "weights.data")           # a pickle under a foreign name
    (d / "notes.txt").write_text("not a checkpoint")
    data = last.with_suffix(".safetensors").read_bytes()
    (d / "trunc.safetensors").write_bytes(data[: len(data) // 3])
    (d / "trunc.json").write_bytes(last.with_suffix(".json").read_bytes())
    (d / "half.safetensors").write_bytes(data)                       # killed between the two renames
    meta = json.loads(last.with_suffix(".json").read_text())
    (d / "half.json").write_text(json.dumps({**meta, "id": "0" * 32}))
    (d / "nosidecar.safetensors").write_bytes(data)
    (d / "badjson.safetensors").write_bytes(data)
    (d / "badjson.json").write_text("{ not json")
    (d / "pickled.safetensors").write_bytes((d / "model.pt").read_bytes())
    (d / "pickled.json").write_bytes(last.with_suffix(".json").read_bytes())
    return d


CKPT_CASES = [
    ("model.pt", "PyTorch pickle checkpoint"), ("weights.data", "PyTorch pickle checkpoint"),
    ("missing.pth", "missing.pth does not exist"), ("notes.txt", "not a mediatk checkpoint"),
    ("trunc.safetensors", "corrupt or truncated"), ("half.safetensors", "different saves"),
    ("nosidecar.safetensors", "no nosidecar.json sidecar"), ("badjson.safetensors", "not valid JSON"),
    ("pickled.safetensors", "corrupt or truncated"),
]


@pytest.mark.parametrize("name,message", CKPT_CASES, ids=[c[0] for c in CKPT_CASES])
def test_bad_checkpoints_are_refused(cli, bad_checkpoints, tmp_path, name, message):
    code, _, err = cli("generate", "--model", "vae", "--checkpoint", bad_checkpoints / name, "-n", "2",
                       "--out", tmp_path / "g.png")
    one_line(code, err, 2, message)
    assert not (tmp_path / "g.png").exists()


def test_pickle_message_says_how_to_convert(cli, bad_checkpoints, tmp_path):
    code, _, err = cli("detect", "--detector", f"cnn={bad_checkpoints / 'model.pt'}", bad_checkpoints / "notes.txt")
    line = one_line(code, err, 2, "never loads pickles")
    assert "safetensors" in line and "torch.load" in line


def test_foreign_checkpoint_of_another_model(cli, vae_run, tmp_path):
    code, _, err = cli("generate", "--model", "dcgan", "--checkpoint", vae_run, "-n", "2", "--out", tmp_path / "g.png")
    one_line(code, err, 2, "holds a 'vae' model")


# --------------------------------------------------------------------------- empty, truncated, mislabelled, odd media

@pytest.fixture(scope="module")
def media_folder(tmp_path_factory, shared_data):
    from mediatk.media.pixels import save_image
    from mediatk.media.video import VideoWriter

    d = tmp_path_factory.mktemp("media")
    rng = np.random.default_rng(0)
    save_image(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8), d / "a_good.png")
    (d / "b_empty.png").write_bytes(b"")
    (d / "c_text.jpg").write_text("this is not a jpeg")
    (d / "d_empty.mp4").write_bytes(b"")
    real = next(iter(sorted((shared_data / "face-videos" / "real").glob("*.mp4"))))
    (d / "e_truncated.mp4").write_bytes(real.read_bytes()[:20000])  # the index (moov) is cut off
    (d / "f_png_named.mp4").write_bytes((d / "a_good.png").read_bytes())
    with VideoWriter(d / "g_tiny.mp4", fps=10) as w:              # valid, 17x9 px: below MTCNN's smallest face
        for i in range(10):
            w.write(np.full((9, 17, 3), 20 * i, np.uint8))
    save_image(rng.integers(0, 255, (7, 5, 3), dtype=np.uint8), d / "h_tiny.png")
    (d / "i_text.mp4").write_text("mislabelled: text named .mp4")
    return d


def test_info_on_bad_media_is_one_line(cli, media_folder):
    for name in ("b_empty.png", "c_text.jpg", "d_empty.mp4", "e_truncated.mp4", "i_text.mp4"):
        code, _, err = cli("info", media_folder / name)
        one_line(code, err, 2, name)
    code, out, err = cli("info", media_folder / "g_tiny.mp4")
    assert code == 0 and "10 frames" in out, (out, err)


def test_folder_run_goes_past_every_bad_file(cli, media_folder):
    code, out, err = cli("detect", "--detector", "blink", "--json", media_folder)
    assert "Traceback" not in err
    rows = [json.loads(ln) for ln in out.splitlines()]
    by_name = {Path(r["path"]).name: r for r in rows[:-1]}
    summary = rows[-1]
    assert summary["inputs"] == 9 and len(by_name) == 9, out
    assert by_name["g_tiny.mp4"]["status"] == "no_face"
    for name in ("b_empty.png", "c_text.jpg", "d_empty.mp4", "e_truncated.mp4", "i_text.mp4"):
        assert by_name[name]["status"] in ("error", "no_detector"), by_name[name]
    assert by_name["f_png_named.mp4"]["status"]  # FFmpeg reads a PNG as a one-frame video: analysed or refused
    assert summary["failed"] == sum(r["status"] in ("error", "no_detector") for r in by_name.values())
    assert code == 1
    assert all(ln.startswith("mediatk: error: ") for ln in err.splitlines() if ln.strip())


def test_folder_run_survives_any_exception_in_one_file(cli, media_folder, monkeypatch):
    from mediatk.detectors import inference

    real = inference.Detection._video

    def flaky(self, path):
        if path.name == "g_tiny.mp4":
            raise RuntimeError("simulated failure inside a library")
        return real(self, path)

    monkeypatch.setattr(inference.Detection, "_video", flaky)
    code, out, err = cli("detect", "--detector", "blink", media_folder / "g_tiny.mp4", media_folder / "a_good.png")
    assert "Traceback" not in err and code in (1, 2)
    assert "g_tiny.mp4: ERROR unexpected RuntimeError while analysing it: simulated failure" in out
    assert out.strip().splitlines()[-1].startswith("2 input(s)")


def test_ffmpeg_and_opencv_lines_are_silenced(media_folder):
    res = run_cli("info", media_folder / "e_truncated.mp4")
    one_line(res.returncode, res.stderr, 2, "cannot open video")
    assert "moov atom" not in res.stderr and "WARN" not in res.stderr


# ----------------------------------------------------------------------------------------- arena results and report

REPORT_CASES = [
    ([1, 2, 3], "the top level should be an object"),
    ({"table": {"a": 1}}, "'table' should be a list"),
    ({"table": [{"transition": 0, "generator": "vae", "detector": "cnn"}]}, "table[0]"),
    ({"table": [{"transition": "0->1", "generator": "vae", "detector": "cnn", "auc_before": "high"}]},
     "table[0].auc_before"),
    ({"roc": {"cnn": {"0": {"fpr": [0, 1], "tpr": "up"}}}}, "roc.cnn.0"),
    ({"cross": {"cnn": {"auc": [[0.9, 0.8]], "train_on": ["a"], "test_on": ["a"]}}}, "cross.cnn"),
    ({"quality": {"vae_r0": {"fid": "x"}}}, "quality.vae_r0"),
    ({"protocol": {"config": {"generators": "vae"}}}, "protocol.config"),
    ({"seconds": "long"}, "'seconds'"),
]


@pytest.mark.parametrize("content,message", REPORT_CASES, ids=[m for _, m in REPORT_CASES])
def test_report_refuses_wrong_shaped_results(cli, tmp_path, content, message):
    (tmp_path / "results.json").write_text(json.dumps(content))
    (tmp_path / "report.html").write_text("the old report")
    code, _, err = cli("report", tmp_path)
    one_line(code, err, 2, message)
    assert (tmp_path / "report.html").read_text() == "the old report"
    assert not (tmp_path / "plots").exists()


def test_report_on_minimal_results_still_renders(cli, tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"protocol": {"config": {"generators": [], "rounds": 0}},
                                                       "seconds": 1.5}))
    code, _, err = cli("report", tmp_path)
    assert code == 0, err
    assert "mediatk arena report" in (tmp_path / "report.html").read_text()


def test_python_api_refuses_empty_runs(tmp_path):
    from mediatk.core.errors import ConfigError
    from mediatk.generators.train import train

    for kw, msg in (({"steps": 0}, "steps must be at least 1"), ({"steps": 5, "epochs": 1.0}, "not both"),
                    ({"epochs": 0.0}, "epochs must be positive"), ({"batch_size": 0}, "batch_size")):
        with pytest.raises(ConfigError, match=msg):
            train("vae", "fashion-mnist", out=tmp_path / "r", **kw)
    assert not (tmp_path / "r").exists()
