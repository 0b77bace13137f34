"""The arms-race harness end to end on CPU with a tiny budget: results, report, reproducibility, resume."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mediatk.arena import SMALL_NETS, Arena, ArenaConfig, evasion_terms, load_images_file, run_arena
from mediatk.core.errors import ConfigError
from mediatk.core.metrics import rank_auc
from mediatk.detectors.base import Detector

TABLE_KEYS = {"transition", "generator", "detector", "auc_before", "auc_evasion", "auc_recovery", "auc_forgetting",
              "fid_before", "fid_after", "kid_before", "kid_after"}


def tiny(out, **kw) -> ArenaConfig:
    base = {"data": "fashion-mnist", "generators": ["dcgan", "vae"], "detectors": ["cnn", "spectrum"], "rounds": 1,
            "out": str(out), "budget": "tiny", "seed": 0, "device": "cpu", "image_size": 32,
            "generator_options": SMALL_NETS}
    return ArenaConfig(**{**base, **kw})


def _strip_timing(obj):
    """results.json minus wall-clock fields (the only run-dependent values)."""
    if isinstance(obj, dict):
        return {k: _strip_timing(v) for k, v in obj.items() if k not in ("seconds", "time", "machine")}
    if isinstance(obj, list):
        return [_strip_timing(v) for v in obj]
    return obj


def _close(a, b, tol=1e-6):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _close(a[k], b[k], tol)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _close(x, y, tol)
    elif isinstance(a, float):
        assert abs(a - b) <= tol * max(1.0, abs(a)), (a, b)
    else:
        assert a == b


@pytest.fixture(scope="module")
def arena_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("arena") / "a"
    res = run_arena(tiny(out), echo=lambda s: None)
    return out, res


def test_results_have_every_field(arena_run):
    out, _ = arena_run
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["table"] and {r["transition"] for r in on_disk["table"]} == {"0->1"}
    for row in on_disk["table"]:
        assert TABLE_KEYS <= row.keys()
        for what in ("before", "evasion", "recovery", "forgetting"):
            lo, hi = row[f"auc_{what}_ci"]
            assert 0.0 <= lo <= row[f"auc_{what}"] <= hi <= 1.0, (what, lo, hi)  # 1.0 [1.0, 1.0] can be
            assert 0.0 <= row[f"fool_{what}"] <= 1.0 and 0.0 <= row[f"tpr1_{what}"] <= 1.0
    assert any(r["auc_evasion_ci"][1] > r["auc_evasion_ci"][0] for r in on_disk["table"])
    proto = on_disk["protocol"]
    for k in ("n_real_train", "n_real_test", "n_fake_train_per_generator", "n_fake_test_per_generator", "splits",
              "seed", "image_size", "evasion", "quality_features"):
        assert k in proto, k
    assert set(on_disk["cross"]) == {"cnn", "spectrum"}
    assert len(on_disk["cross"]["cnn"]["auc"]) == 2
    assert set(on_disk["robustness"]["spectrum"]) == {"jpeg", "blur", "downscale"}
    assert {"dcgan_r0", "dcgan_r1", "vae_r0", "vae_r1"} <= set(on_disk["quality"])
    assert (out / "report.html").is_file() and (out / "plots" / "auc_rounds.png").is_file()
    assert (out / "samples" / "dcgan_r1.png").is_file()


def test_generators_train_and_evade_on_the_engine(arena_run):
    """Each round's generator is a run of mediatk train's engine; evasion is the engine's penalty term."""
    from mediatk.core.checkpoint import read_meta
    from mediatk.core.runs import newest_checkpoint

    out, res = arena_run
    r0, r1 = (out / "generators" / "dcgan" / f"round{t}" for t in (0, 1))
    assert json.loads((r0 / "config.json").read_text())["options"]["g_width"] == 16
    cfg = json.loads((r1 / "config.json").read_text())
    assert cfg["init"] == str(r0 / "checkpoints" / "last.safetensors") and cfg["limit"] == 256
    meta = read_meta(r1 / "checkpoints" / "last.safetensors")
    assert meta["penalties"] == [{"name": "evasion", "weight": 1.0}] and meta["evaded_against"] == ["cnn", "spectrum"]
    last = res["evasion_logs"]["dcgan_r1"][-1]
    assert last["step"] == 6 and last["evasion"] == pytest.approx((last["evasion_cnn"] + last["evasion_spectrum"]) / 2)
    for g in ("dcgan", "vae"):  # the arena's small nets do not become the newest model of mediatk generate
        ck = newest_checkpoint(g)
        assert ck is None or out.resolve() not in ck.resolve().parents


def test_start_from_a_checkpoint_and_evade_by_post_processing(arena_run, tmp_path):
    """``--checkpoint vae=RUNDIR`` and ``--evasion post`` copy generators (the copies once failed to load:
    they kept the source's save id, so their sidecar disagreed with their tensors)."""
    out, _ = arena_run
    src = out / "generators" / "vae" / "round0"
    cfg = tiny(tmp_path / "p", generators=["vae"], detectors=["spectrum"], evasion="post", cross=False,
               robustness=False, checkpoints={"vae": str(src)})
    res = run_arena(cfg, echo=lambda s: None)
    assert res["quality"]["vae_r1"]["fid"] == res["quality"]["vae_r0"]["fid"]  # post-only: the same generator
    # round 1's fakes: the one sampler's draws from the copied vae, spectrally matched to the real train images
    from mediatk.arena import stage_seed
    from mediatk.arena.evasion import post_process
    from mediatk.datasets import load_images
    from mediatk.generators import from_checkpoint
    from mediatk.generators.sampling import sample_images

    vae = from_checkpoint(tmp_path / "p" / "generators" / "vae" / "round1" / "checkpoints" / "last.safetensors")
    gen = torch.Generator().manual_seed(stage_seed(0, "fakes:vae:1"))
    sample_images(vae, 256, gen)  # the train split's fakes come first
    real = load_images("fashion-mnist", split="train", limit=256, image_size=32, seed=0).tensor()
    want = post_process(sample_images(vae, 128, gen), real)
    got = load_images_file(tmp_path / "p" / "fakes" / "vae_r1_test.safetensors")
    assert (got - want.clamp(-1, 1)).abs().max() <= 1 / 127.5 + 1e-6  # stored as uint8


def test_fooling_rate_and_tpr_match_the_saved_detector(arena_run):
    """Round 0's fooled / TPR@1%FPR recomputed from the saved detector and fakes; AUC CIs bracket the AUC."""
    out, res = arena_run
    det = Detector.load(out / "detectors" / "cnn_r0.safetensors")
    stats = res["rounds"][0]["stats"]["cnn"]["dcgan"]
    fake_p = det.predict_proba(load_images_file(out / "fakes" / "dcgan_r0_test.safetensors"))
    assert stats["fool"] == pytest.approx(float((fake_p < 0.5).mean()))
    assert stats["tpr1"] == pytest.approx(float((fake_p >= stats["threshold_1pct_fpr"]).mean()))
    assert stats["auc_ci"][0] <= stats["auc"] <= stats["auc_ci"][1]


def test_rank_auc_equals_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(50), np.ones(70)]
    s = np.round(rng.random(120) + 0.3 * y, 1)  # coarse scores: many ties
    assert rank_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


class _LinearDetector(torch.nn.Module):
    """A differentiable detector on the images' mean brightness: logit = a·mean(x) + b."""

    def __init__(self, a: float, b: float):
        super().__init__()
        self.a, self.b = a, b

    def torch_logit(self, x: torch.Tensor) -> torch.Tensor:
        return self.a * x.flatten(1).mean(1) + self.b


def test_evasion_loss_is_each_detectors_own_term():
    """The issue's case: one detector overshot to logit −16, the other still catches at +13.5.

    softplus of the mean logit (−1.25) gave 0.25 and hid the second detector; the mean of the per-detector
    terms is ≈ 13.5 / 2, and its gradient pushes towards fooling the detector that still catches.
    """
    x = torch.zeros(4, 1, 8, 8, requires_grad=True)
    dets = {"cnn": _LinearDetector(1.0, -16.0), "spectrum": _LinearDetector(-2.0, 13.5)}
    terms = evasion_terms(dets, x)
    assert terms["cnn"].item() == pytest.approx(F.softplus(torch.tensor(-16.0)).item())
    assert terms["spectrum"].item() == pytest.approx(13.5, abs=1e-5)
    loss = torch.stack(list(terms.values())).mean()
    assert loss.item() > 6.7 > F.softplus(torch.tensor(-1.25)).item()
    loss.backward()
    assert (x.grad < 0).all()  # descent raises brightness, which lowers the spectrum logit (cnn's term ≈ 0)


def test_resume_after_interruption_gives_the_same_results(arena_run, tmp_path):
    """A second arena with the same seed, killed mid-way and resumed, ends with the first one's results.

    Its stages before the kill run from scratch in a new directory, so this is also the same-seed
    reproducibility check (timing fields excluded; floats within 1e-6).
    """
    out, _ = arena_run
    cfg = tiny(tmp_path / "c")
    arena = Arena(cfg, echo=lambda s: None)

    class Killed(Exception):
        pass

    def kill():
        raise Killed

    plan = arena.plan()
    cut = [n for n, _ in plan].index("fit:cnn:1")
    arena.plan = lambda: plan[:cut] + [("fit:cnn:1", kill)] + plan[cut + 1:]  # type: ignore[method-assign]
    with pytest.raises(Killed):
        arena.run()
    stages_done = json.loads((tmp_path / "c" / "results.json").read_text())["stages"]
    assert "evade:dcgan:1" in stages_done and "fit:cnn:1" not in stages_done
    log: list[str] = []
    resumed = run_arena(cfg, resume=True, echo=log.append)
    assert any("skip (done) train:dcgan" in s for s in log)
    first = json.loads((out / "results.json").read_text())
    _close(_strip_timing({k: v for k, v in first.items() if k != "protocol"}),
           _strip_timing({k: v for k, v in resumed.items() if k != "protocol"}))


def test_report_rebuilds_from_results(arena_run, cli):
    out, _ = arena_run
    (out / "report.html").unlink()
    code, _, err = cli("report", out)
    assert code == 0, err
    text = (out / "report.html").read_text()
    assert 'id="round-table"' in text and 'id="round0-table"' in text and "data:image/png;base64," in text
    assert "inverted" in text and "TPR@1%FPR" in text and "fooled" in text
    row = json.loads((out / "results.json").read_text())["table"][0]
    lo, hi = row["auc_before_ci"]
    assert f"{row['auc_before']:.3f} [{lo:.3f}, {hi:.3f}]" in text
    md = (out / "round_table.md").read_text()
    assert f"{row['auc_before']:.3f} [{lo:.3f}, {hi:.3f}]" in md and "TPR at 1% FPR" in md
    assert "http://" not in text and "https://" not in text   # self-contained


def test_report_renders_in_headless_chromium(arena_run, tmp_path):
    out, _ = arena_run
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium package)")
        pytest.skip("chromium not installed on this developer machine (apt-get install chromium)")
    args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(args + ["--dump-dom", (out / "report.html").as_uri()], capture_output=True, text=True,
                         timeout=120, check=False)
    assert dom.returncode == 0, dom.stderr[-1000:]
    assert 'id="round-table"' in dom.stdout and "dcgan" in dom.stdout and "recovery" in dom.stdout
    shot = tmp_path / "report.png"
    subprocess.run(args + [f"--screenshot={shot}", "--window-size=1200,1600", (out / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=False)
    assert shot.is_file() and shot.stat().st_size > 10_000


@pytest.mark.parametrize("kw, message", [
    ({"generators": ["nosuchgen"]}, "unknown model 'nosuchgen'"),
    ({"detectors": ["nosuchdet"]}, "unknown detector 'nosuchdet'"),
    ({"generators": ["ae"]}, "cannot sample"),
    ({"generators": ["cgan"]}, "needs labels"),
    ({"detectors": ["blink"]}, "works on videos"),
    ({"budget": "huge"}, "--budget"),
])
def test_bad_configuration_is_refused(kw, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        Arena(tiny(tmp_path / "x", **kw), echo=lambda s: None)


def test_bad_configuration_via_cli_is_one_line(cli, tmp_path):
    code, _, err = cli("arena", "--data", "fashion-mnist", "--generators", "dcgan", "--detectors", "nosuch",
                       "--out", tmp_path / "z", "--budget", "tiny")
    assert code != 0 and len(err.strip().splitlines()) == 1 and "unknown detector" in err


def test_empty_dataset_is_refused(cli, tmp_path):
    empty = tmp_path / "empty"
    (empty / "class_a").mkdir(parents=True)
    code, _, err = cli("arena", "--data", empty, "--generators", "vae", "--detectors", "spectrum",
                       "--out", tmp_path / "z", "--budget", "tiny")
    assert code != 0 and len(err.strip().splitlines()) == 1, err


def test_existing_arena_needs_resume(arena_run):
    out, _ = arena_run
    with pytest.raises(ConfigError, match="--resume"):
        Arena(tiny(out), echo=lambda s: None)


def test_report_without_results_is_one_line(cli, tmp_path):
    code, _, err = cli("report", tmp_path)
    assert code != 0 and len(err.strip().splitlines()) == 1 and "no results.json" in err
    (tmp_path / "results.json").write_text("{not json")
    code, _, err = cli("report", tmp_path)
    assert code != 0 and len(err.strip().splitlines()) == 1 and "not valid JSON" in err


def test_demo_falls_back_to_digits_with_a_resize_conv_dcgan(monkeypatch, tmp_path):
    """No data roots: the demo uses scikit-learn's digits, where its dcgan must up-sample by resize-conv."""
    from mediatk.arena import demo_config

    monkeypatch.setenv("MEDIATK_DATA", str(tmp_path / "nonexistent"))
    cfg = demo_config(str(tmp_path / "demo"))
    assert cfg.data == "digits"
    assert cfg.generator_options["dcgan"]["upsample"] == "resize"
    assert SMALL_NETS["dcgan"].get("upsample", "transpose") == "transpose"  # quick arenas keep the default


@pytest.mark.parametrize("row, message", [
    ({"auc_before": 0.9, "auc_before_ci": "wide"}, "table[0] before"),
    ({"auc_evasion": 0.4, "fool_evasion": "most"}, "table[0] evasion"),
])
def test_report_refuses_malformed_intervals(cli, tmp_path, row, message):
    base = {"transition": "0->1", "generator": "vae", "detector": "cnn"}
    (tmp_path / "results.json").write_text(json.dumps({"table": [{**base, **row}]}))
    code, _, err = cli("report", tmp_path)
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err


def test_tensorboard_has_the_per_round_figures(arena_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, res = arena_run
    ea = EventAccumulator(str(out / "tensorboard"))
    ea.Reload()
    tags = ea.Tags()
    assert {"auc/cnn/dcgan", "auc/spectrum/vae", "transition/cnn/dcgan/auc_evasion", "quality/vae/fid"} <= set(
        tags["scalars"])
    assert {"fakes/dcgan", "fakes/vae"} <= set(tags["images"])
    rounds = [e.step for e in ea.Scalars("auc/cnn/dcgan")]
    assert rounds == [0, 1]  # one point per round
    assert [e.value for e in ea.Scalars("auc/cnn/dcgan")] == pytest.approx(
        [row["auc"]["cnn"]["dcgan"] for row in res["rounds"]], rel=1e-6)
