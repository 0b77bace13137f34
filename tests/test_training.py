"""Learning and resumption on real data (Fashion-MNIST), CPU, small budgets."""

from __future__ import annotations

import pytest
import torch
from mediatk.core.runs import new_run
from mediatk.generators import create, from_checkpoint
from mediatk.generators.engine import Feed, TrainConfig, fit
from mediatk.generators.train import train


@pytest.fixture(scope="module")
def fashion():
    from mediatk.datasets import load_images

    tr = load_images("fashion-mnist", split="train", limit=20000)
    te = load_images("fashion-mnist", split="test", limit=2000)
    return tr.tensor(), te.tensor()


def _mse01(a, b):
    return float((((a + 1) / 2 - (b + 1) / 2) ** 2).mean())


def test_reconstruction_loss_falls(fashion, tmp_path):
    x, _ = fashion
    model = create("vae", (1, 28, 28))
    res = fit(model, Feed(x, torch.zeros(len(x)), 64), new_run("vae", out=tmp_path / "r"),
              TrainConfig(steps=150, log_every=25, progress=False, device="cpu"))
    recon = [r["recon"] for r in res.history if "recon" in r]
    assert recon[-1] < 0.8 * recon[0], recon


def test_nonlinear_autoencoder_beats_pca_at_the_same_code_size(fashion, tmp_path):
    """The lectures' claim.  Budget: 600 Adam steps of 128 images (20k train images), code size 8.

    Seen when written: PCA test MSE 0.0260, AE 0.0176 (pixels in [0, 1], 2000 test images).
    """
    x, xt = fashion
    code = 8
    pca = create("pca", (1, 28, 28), cfg=create("pca", (1, 28, 28)).Config(code_size=code))
    pca.fit_offline(x)
    cfg = create("ae", (1, 28, 28)).Config(code_size=code, hidden="256,128", loss="bce", lr=2e-3)
    ae = create("ae", (1, 28, 28), cfg=cfg)
    fit(ae, Feed(x, torch.zeros(len(x)), 128), new_run("ae", out=tmp_path / "r"),
        TrainConfig(steps=600, batch_size=128, progress=False, device="cpu"))
    ae.eval()
    with torch.no_grad():
        mse_pca, mse_ae = _mse01(pca.reconstruct(xt), xt), _mse01(ae.reconstruct(xt), xt)
    print(f"code {code}: PCA test MSE {mse_pca:.4f}, AE test MSE {mse_ae:.4f}")
    assert mse_ae < mse_pca


@pytest.mark.parametrize("model", ["dae", "vae"])
def test_resume_equals_uninterrupted_run(model, tmp_path):
    """Stopped after 4 steps and resumed to 8 == 8 steps straight (CPU, same seed): same weights, bit for bit."""
    common = dict(data="fashion-mnist", batch_size=16, seed=3, device="cpu", limit=256, progress=False,
                  ckpt_every=4, log_every=2)
    full = train(model, steps=8, out=tmp_path / "full", **common)
    part = train(model, steps=4, out=tmp_path / "part", **common)
    resumed = train(model, steps=8, resume=tmp_path / "part", progress=False)
    assert resumed.step == 8 and part.step == 4
    a = from_checkpoint(full.last_checkpoint)
    b = from_checkpoint(resumed.last_checkpoint)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    # metrics.jsonl of the resumed run continues where it stopped
    steps = [r["step"] for r in resumed.run.read_metrics()]
    assert steps == [2, 4, 6, 8]


def test_resume_refuses_a_finished_run(tmp_path):
    from mediatk.core.errors import TrainingError

    train("ae", data="fashion-mnist", steps=2, out=tmp_path / "r", limit=64, device="cpu", progress=False)
    with pytest.raises(TrainingError, match="already at step 2"):
        train("ae", data="fashion-mnist", steps=2, resume=tmp_path / "r", progress=False)


def test_cli_train_generate_reconstruct_round_trip(cli, tmp_path):
    run = tmp_path / "vae-run"
    code, out, err = cli("train", "vae", "--data", "fashion-mnist", "--steps", "5", "--limit", "256",
                         "--batch-size", "32", "--device", "cpu", "--quiet", "--out", run, "--latent-dim", "4")
    assert code == 0, err
    assert "run:" in out and (run / "checkpoints" / "last.safetensors").is_file()
    grid = tmp_path / "vae.png"
    code, out, err = cli("generate", "--model", "vae", "-n", "16", "--out", grid)   # newest checkpoint
    assert code == 0, err
    assert grid.is_file()
    code, out, err = cli("generate", "--model", "vae", "--checkpoint", run, "--interpolate", "-n", "8",
                         "--out", tmp_path / "walk.png")
    assert code == 0, err
    code, out, err = cli("reconstruct", "--model", "vae", "--checkpoint", run, "--input", "fashion-mnist",
                         "--out", tmp_path / "rec.png")
    assert code == 0, err
    assert "PSNR" in out
    code, out, err = cli("train", "dae", "--data", "fashion-mnist", "--steps", "3", "--limit", "128", "--quiet",
                         "--out", tmp_path / "dae", "--noise", "masking", "--noise-level", "0.4")
    assert code == 0, err
    code, out, err = cli("reconstruct", "--model", "dae", "--checkpoint", tmp_path / "dae", "--input",
                         "fashion-mnist", "-n", "8", "--out", tmp_path / "dae.png")
    assert code == 0 and "3 rows" in out, (out, err)
    code, _, err = cli("generate", "--model", "ae", "--checkpoint", tmp_path / "dae", "--out", tmp_path / "x.png")
    assert code != 0 and "holds a 'dae' model" in err


def test_cvae_is_class_conditional(cli, tmp_path):
    code, out, err = cli("train", "cvae", "--data", "fashion-mnist", "--steps", "3", "--limit", "128", "--quiet",
                         "--out", tmp_path / "c")
    assert code == 0, err
    code, out, err = cli("generate", "--model", "cvae", "--checkpoint", tmp_path / "c", "--label", "3", "-n", "4",
                         "--out", tmp_path / "c.png")
    assert code == 0, err
    code, out, err = cli("generate", "--model", "cvae", "--checkpoint", tmp_path / "c", "--label", "11",
                         "--out", tmp_path / "c.png")
    assert code != 0 and "classes 0..9" in err


@pytest.mark.parametrize("model", [["ae"], ["dcgan", "--image-size", "32", "--g-width", "8", "--d-width", "8"]],
                         ids=["ae", "dcgan"])
def test_torchrun_data_parallel_on_cpu(tmp_path, model):
    """``torchrun --nproc_per_node=2 -m mediatk train ...`` runs (gloo), rank 0 writes one run; a GAN's two
    optimisers (D and G updates per step) go through the same gradient all-reduce."""
    import os
    import shutil
    import subprocess

    exe = shutil.which("torchrun")
    assert exe is not None
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([exe, "--nproc_per_node=2", "-m", "mediatk", "train", *model, "--data", "fashion-mnist",
                          "--steps", "4", "--limit", "256", "--batch-size", "16", "--quiet", "--device", "cpu",
                          "--out", str(tmp_path / "ddp")], capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr[-8000:]
    assert res.stdout.count("trained 4 steps") == 1          # only rank 0 reports
    assert (tmp_path / "ddp" / "checkpoints" / "last.safetensors").is_file()


def test_cli_eval_every_keeps_the_best_checkpoint(cli, tmp_path):
    run = tmp_path / "g"
    code, out, err = cli("train", "vae", "--data", "fashion-mnist", "--steps", "4", "--limit", "128", "--quiet",
                         "--out", run, "--eval-every", "2", "--eval-n", "64", "--eval-feature-net",
                         "test-tiny", "--width", "8")
    assert code == 0, err
    # the last evaluation is printed with its interval and the feature net's id, and kept in eval.json
    assert "evaluation on the val split at step 4: FID " in out and "[feat fashion-mnist-28x28-cls-test-tiny-" in out
    import json

    assert json.loads((run / "eval.json").read_text())["feature_id"].startswith("fashion-mnist-28x28-cls-test-tiny-")
    assert (run / "checkpoints" / "best.safetensors").is_file()
    assert "chosen on the val split" in out                       # selection never uses the test split
    from mediatk.core.fileio import read_jsonl

    evals = [r for r in read_jsonl(run / "metrics.jsonl") if "eval/fid" in r]
    assert [r["step"] for r in evals] == [2, 4]
    for flag, bad in (("--eval-judge-steps", "0"), ("--eval-feature-net", "600")):
        code, _, err = cli("train", "vae", "--data", "fashion-mnist", "--steps", "2", "--eval-every", "1", flag, bad)
        assert code == 2 and flag in err and len(err.strip().splitlines()) == 1
