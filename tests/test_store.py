"""The model store (mediatk.core.store): one index of generator runs and detectors, one "newest of kind K, else
the zoo's entry" rule for both, homes of the two old indexes still read, concurrent writers, bad index lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from mediatk.core import store
from mediatk.core.checkpoint import save_checkpoint
from mediatk.core.errors import CheckpointError, StorageError
from mediatk.core.runs import new_run, resolve_checkpoint
from mediatk.datasets import load_images
from mediatk.detectors import create, find_detector, load_detector, train_detector

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def home(monkeypatch, tmp_path):
    """An empty store and runs folder, and an empty zoo (the package's entries would answer for vae etc.)."""
    h = tmp_path / "home"
    monkeypatch.setenv("MEDIATK_HOME", str(h))
    monkeypatch.setenv("MEDIATK_RUNS", str(h / "runs"))
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    monkeypatch.setattr("mediatk.zoo.ZOO_DIR", zoo)
    return h


@pytest.fixture(scope="module")
def spectrum(shared_data):
    """A spectrum detector fitted on Fashion-MNIST: real images vs the same garments with sensor-like noise."""
    real = load_images("fashion-mnist", split="train", limit=128, seed=0).tensor()
    noisy = (real + 0.2 * torch.randn(real.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    return create("spectrum").fit(real[:64], noisy[64:])


def gen_run(model: str = "vae", out: Path | None = None, when: float | None = None) -> Path:
    """A generator run made by new_run (so it is in the index) holding a checkpoint of an untrained model."""
    from mediatk.generators import create as create_generator

    run = new_run(model, out=out)
    net = create_generator(model, (1, 28, 28))
    ck = save_checkpoint(run.ckpt("last"), {"model": net}, {"model": model, "spec": net.spec(), "step": 1})
    run.release()
    if when is not None:
        os.utime(ck.with_suffix(".json"), (when, when))
    return ck


def saved_detector(det, path: Path, when: float) -> Path:
    ck = det.save(path)
    os.utime(ck.with_suffix(".json"), (when, when))
    return ck


def test_newest_of_each_kind_by_one_rule(home, tmp_path, spectrum, shared_data):
    t = 1_700_000_000
    old = gen_run(when=t)
    new = gen_run(out=tmp_path / "elsewhere" / "vae-run", when=t + 10)  # outside runs/: found by the index
    gen_run("dcgan", when=t + 20)
    assert resolve_checkpoint("vae", None, "hint") == new
    assert [e.checkpoint for e in store.trained("generator", "vae")] == [new, old]
    os.utime(old.with_suffix(".json"), (t + 30, t + 30))  # the run written last wins, wherever it lives
    assert store.newest("generator", "vae").checkpoint == old

    # detectors: train_detector records each save (default folder and out=) in the same index
    res = train_detector("spectrum", real="fashion-mnist", fake=[str(old)], n=120, log=lambda *_: None)
    in_home = Path(res["checkpoint"])
    assert in_home.is_relative_to(home / "detectors" / "spectrum")
    res = train_detector("spectrum", real="fashion-mnist", fake=[str(old)], n=120,
                         out=tmp_path / "det-out", log=lambda *_: None)
    out_ck = Path(res["checkpoint"])
    assert find_detector("spectrum") == out_ck
    os.utime(in_home.with_suffix(".json"), (t + 40, t + 40))
    os.utime(out_ck.with_suffix(".json"), (t + 5, t + 5))
    assert find_detector("spectrum") == in_home and load_detector("spectrum").checkpoint_path == in_home

    rows = store.rows()
    assert [(r["kind"], r["name"]) for r in rows] == [("generator", "vae")] * 2 + [("generator", "dcgan")] + [
        ("detector", "spectrum")] * 2
    assert rows[-1]["path"] == str(out_ck) and rows[-1]["metrics"]["auc"] == round(res["metrics"]["auc"], 4)
    # a kind never answers for the other: a detector is not "the newest generator" of its name
    assert store.newest("generator", "spectrum") is None and store.newest("detector", "vae") is None
    assert find_detector("cnn", zoo=False) is None


def test_zoo_fallback_for_both_kinds(home, tmp_path, spectrum, cli):
    from mediatk.zoo import ZOO_DIR, export

    ck = gen_run(out=tmp_path / "src-run")
    export(ck, ZOO_DIR / "vae-tiny", {"summary": "a tiny vae", "default": True})
    det_zoo = spectrum.save(ZOO_DIR / "spectrum-tiny" / "weights")
    (tmp_path / "src-run").rename(tmp_path / "gone")  # nothing the user trained is left

    got = store.find("generator", "vae")
    assert got.source == "zoo" and got.checkpoint == ZOO_DIR / "vae-tiny" / "weights.safetensors"
    assert resolve_checkpoint("vae", None, "hint") == got.checkpoint
    found = store.find("detector", "spectrum")
    assert found.source == "zoo" and found.label == "spectrum-tiny" and found.checkpoint == det_zoo
    assert store.find("detector", "vae") is None and store.find("generator", "spectrum") is None  # kinds kept apart
    assert find_detector("spectrum") == det_zoo and find_detector("spectrum", zoo=False) is None
    for name in ("spectrum", "spectrum-tiny"):  # the model's name or the entry's own name
        det = load_detector(name)
        assert det.name == "spectrum" and det.checkpoint_path == det_zoo
    code, out, _ = cli("models")
    assert code == 0 and "spectrum-tiny" in out and "spectrum (detector)" in out and "vae-tiny" in out

    # what the user trains wins over the zoo, for both kinds
    mine = gen_run()
    assert resolve_checkpoint("vae", None, "hint") == mine
    own = spectrum.save(store.kind_root("detector", "spectrum") / "t1" / "spectrum")
    assert find_detector("spectrum") == own and load_detector("spectrum").checkpoint_path == own
    with pytest.raises(CheckpointError, match="no trained 'cnn' detector found and none is pretrained"):
        load_detector("cnn")


def test_old_homes_are_migrated_and_kept(home, tmp_path, spectrum):
    t = 1_700_000_000
    run_ck = gen_run(out=tmp_path / "old-run", when=t)
    store.index_file().unlink()  # a home as the old mediatk left it: no store.jsonl, two old indexes
    det_out = saved_detector(spectrum, tmp_path / "old-det" / "spectrum", t + 1)
    det_tree = saved_detector(spectrum, home / "detectors" / "spectrum" / "20261130-120000" / "spectrum", t)
    old_gen = home / "index.jsonl"
    old_det = home / "detectors" / "index.jsonl"
    old_gen.write_text(json.dumps({"model": "vae", "path": str(run_ck.parent.parent), "created": t}) + "\n")
    old_det.write_text(json.dumps({"model": "spectrum", "path": str(det_out), "created": t + 1}) + "\n")
    before = old_gen.read_bytes(), old_det.read_bytes()

    assert store.newest("generator", "vae").checkpoint == run_ck
    assert find_detector("spectrum") == det_out
    assert {e.checkpoint for e in store.trained("detector", "spectrum")} == {det_out, det_tree}  # tree scanned too
    migrated = [json.loads(line) for line in store.index_file().read_text().splitlines()]
    assert [(r["kind"], r["name"], r["path"]) for r in migrated] == [
        ("generator", "vae", str(run_ck.parent.parent)), ("detector", "spectrum", str(det_out))]
    assert (old_gen.read_bytes(), old_det.read_bytes()) == before  # the old files are left as they were
    gen_run(when=t + 5)
    assert len(store.rows()) == 3  # migrated once, then appended to


def test_a_home_that_cannot_be_written_is_read_in_place(home, tmp_path, monkeypatch):
    run_ck = gen_run(out=tmp_path / "old-run")
    store.index_file().unlink()
    (home / "index.jsonl").write_text(json.dumps({"model": "vae", "path": str(run_ck.parent.parent)}) + "\n")
    real_open = os.open

    def refuse(path, flags, *a):  # as a read-only home refuses (injected: tests may run as root)
        if str(path).startswith(str(home)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *a)

    monkeypatch.setattr(os, "open", refuse)
    assert store.newest("generator", "vae").checkpoint == run_ck and not store.index_file().exists()
    with pytest.raises(StorageError, match="cannot write the model store in .*: Permission denied"):
        store.record("generator", "vae", run_ck.parent.parent)


def test_concurrent_writers_do_not_corrupt_the_index(home):
    (home / "index.jsonl").parent.mkdir(parents=True)
    (home / "index.jsonl").write_text("".join(json.dumps({"model": "vae", "path": f"/old/{i}"}) + "\n"
                                              for i in range(3)))
    code = ("import sys\nfrom mediatk.core import store\n"
            "for i in range(300):\n"
            "    store.record(sys.argv[1], 'x', f'/w/{sys.argv[1]}/{i}', {'i': i, 'pad': 'p' * (i * 37 % 5000)})\n")
    env = {**os.environ, "MEDIATK_HOME": str(home)}
    procs = [subprocess.Popen([sys.executable, "-c", code, kind], env=env) for kind in ("generator", "detector")]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not one line may be torn or glued to another
        rows = store.rows()
    assert len(rows) == 3 + 600
    assert [r["path"] for r in rows[:3]] == [f"/old/{i}" for i in range(3)]  # migrated exactly once
    for kind in ("generator", "detector"):
        mine = [r for r in rows[3:] if r["kind"] == kind]
        assert [r["metrics"]["i"] for r in mine] == list(range(300))  # each writer's lines whole and in order


def test_bad_index_lines_are_skipped_with_a_warning(home, tmp_path):
    ck = gen_run(out=tmp_path / "run")
    good = store.index_file().read_text()
    store.index_file().write_text(good + "{not json\n" + json.dumps({"kind": "model", "name": "x", "path": "/p"})
                                  + "\n" + json.dumps({"kind": "generator", "name": "vae"}) + "\n"
                                  + '{"kind": "generator", "na')  # the torn last line of a killed writer
    with pytest.warns(UserWarning) as caught:
        assert store.newest("generator", "vae").checkpoint == ck
    msgs = [str(w.message) for w in caught]
    index = str(store.index_file())
    assert f"{index}:2: not JSON; line skipped" in msgs and f"{index}:5: not JSON; line skipped" in msgs
    assert any(m.startswith(f"{index}:3: not an entry (ConfigError") for m in msgs)
    assert any(m.startswith(f"{index}:4: not an entry (KeyError") for m in msgs)
    later = gen_run(out=tmp_path / "run2")  # an append after a torn line starts on a line of its own
    with pytest.warns(UserWarning):
        rows = store.rows()
    assert [r["path"] for r in rows] == [str(ck.parent.parent), str(later.parent.parent)]


def test_models_lists_both_kinds_from_the_one_index(home, cli, spectrum, shared_data):
    code, out, err = cli("train", "vae", "--data", "fashion-mnist", "--steps", "2", "--limit", "128", "--quiet",
                         "--no-tensorboard")
    assert code == 0, err
    ck = spectrum.save(home / "elsewhere" / "spectrum")
    store.record("detector", "spectrum", ck, store.summary(spectrum.meta()))
    code, out, err = cli("models")
    assert code == 0, err
    lines = out.splitlines()
    start = lines.index(next(x for x in lines if x.startswith("trained (2, newest first")))
    listed = lines[start + 1:start + 3]
    assert listed[0].startswith(" *detector  spectrum") and str(ck) in listed[0]
    assert listed[1].startswith(" *generator vae") and "(step 2)" in listed[1]
    code, out, _ = cli("models", "spectrum")
    assert code == 0 and "trained (1, newest first" in out and "vae" not in out.split("trained (1")[1]
