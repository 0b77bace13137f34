"""The model zoo and 'out of the box' use: shipped weights and cards, generate with no data and no --out,
a user-trained checkpoint winning over the shipped one, TensorBoard logs of a training run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from mediatk.core.checkpoint import read_meta
from mediatk.generators.base import from_checkpoint
from mediatk.zoo import ZOO_DIR, entries, pretrained

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = {"cgan-smiling": "cgan", "dcgan-fashion-mnist": "dcgan", "vae-fashion-mnist": "vae"}


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A new user: empty MEDIATK_HOME and runs folder, no data roots, working in an empty folder."""
    home = tmp_path / "home"
    monkeypatch.setenv("MEDIATK_HOME", str(home))
    monkeypatch.setenv("MEDIATK_RUNS", str(home / "runs"))
    monkeypatch.setenv("MEDIATK_DATA", str(tmp_path / "nonexistent"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_zoo_ships_the_required_entries():
    found = {e["name"]: e["model"] for e in entries()}
    assert REQUIRED.items() <= found.items()
    for model in set(REQUIRED.values()):
        assert pretrained(model) is not None


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_entry_has_small_weights_a_card_and_measured_figures(name):
    d = ZOO_DIR / name
    weights = d / "weights.safetensors"
    assert weights.stat().st_size < 8 * 2**20  # a few MB at most: it ships in the wheel
    meta = read_meta(weights)
    z = meta["zoo"]
    for key in ("summary", "data", "terms", "recipe", "command", "wall_s", "device", "figures"):
        assert z.get(key), key
    fig = z["figures"]
    assert fig["fid"] > 0 and fig["feature_net"] and fig["n_fake"] >= 1000
    if meta["model"] == "cgan":
        for side in ("attr_Smiling=1", "attr_Smiling=0"):
            acc, (lo, hi) = fig[side], fig[side + "_ci"]
            assert lo <= acc <= hi and acc >= 0.8
        assert fig["judge"]
    card = (d / "MODEL_CARD.md").read_text()
    for section in ("## Data", "## Recipe", "## Figures", "## Training"):
        assert section in card, section
    assert z["recipe"] in card and f"{fig['fid']:.2f}" in card
    # the recipe in the repo rebuilds this very model: same model options and training settings
    from mediatk.cli.recipes import flatten_recipe, read_recipe

    recipe = read_recipe(ROOT / z["recipe"])
    assert recipe["model"] == meta["model"]
    opts = {k.replace("-", "_"): v for k, v in recipe.get("options", {}).items()}
    assert opts.items() <= meta["spec"]["config"].items()
    flat, _ = flatten_recipe(recipe, {"model", "data", "steps", "attrs", "image_size", "ema", "eval_every",
                                      "eval_n", "best_metric"})
    assert flat["steps"] >= meta["step"]


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_entry_loads_and_samples(name):
    model = from_checkpoint(ZOO_DIR / name / "weights.safetensors")
    noise = model.sample_noise(4, torch.Generator().manual_seed(0))
    cond = torch.ones(4, model.cond_dim) if model.cond_dim else None
    x = model.sample(4, cond=cond, noise=noise)
    assert x.shape == (4, *model.image_shape) and torch.isfinite(x).all()
    assert x.std() > 0.05  # not a constant image


def test_generate_out_of_the_box(cli, fresh):
    code, out, err = cli("generate", "--model", "cgan", "--attr", "smiling", "-n", "16")
    assert code == 0, err
    assert "pretrained zoo model cgan-smiling" in out
    assert (fresh / "cgan_smiling.png").is_file() and "cgan_smiling.png" in out
    code, out, _ = cli("generate", "--model", "cgan", "--attr", "smiling", "-n", "16")
    assert code == 0 and (fresh / "cgan_smiling-2.png").is_file()  # never overwritten
    code, out, _ = cli("generate", "--model", "cgan", "--attr", "smiling=0", "-n", "16")
    assert code == 0 and (fresh / "cgan_not-smiling.png").is_file()
    code, out, _ = cli("models")
    assert code == 0 and re.search(r"pretrained \(\d+", out) and "cgan-smiling" in out


def test_user_trained_checkpoint_wins(cli, fresh, shared_data, monkeypatch):
    monkeypatch.setenv("MEDIATK_DATA", str(shared_data))
    code, out, err = cli("train", "vae", "--data", "fashion-mnist", "--steps", "2", "--limit", "256", "--quiet",
                         "--no-tensorboard")
    assert code == 0, err
    code, out, err = cli("generate", "--model", "vae", "-n", "4")
    assert code == 0, err
    assert "your trained checkpoint" in out and "zoo" not in out and (fresh / "vae.png").is_file()


def test_no_checkpoint_and_nothing_pretrained_is_one_line(cli, fresh):
    code, _, err = cli("generate", "--model", "wgan-gp")
    assert code != 0 and err.startswith("mediatk: error: no trained 'wgan-gp' checkpoint") and err.count("\n") == 1


def test_training_logs_to_tensorboard(cli, fresh, shared_data, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.setenv("MEDIATK_DATA", str(shared_data))
    code, _, err = cli("train", "vae", "--data", "fashion-mnist", "--steps", "50", "--limit", "256", "--quiet",
                       "--out", "run")
    assert code == 0, err
    ea = EventAccumulator(str(fresh / "run" / "tensorboard"))
    ea.Reload()
    tags = ea.Tags()
    assert {"train/vae_loss", "train/kl", "lr/vae"} <= set(tags["scalars"]) and tags["images"] == ["samples"]
    logged = [e.value for e in ea.Scalars("train/vae_loss")]
    on_disk = [r["vae_loss"] for r in map(json.loads, (fresh / "run" / "metrics.jsonl").read_text().splitlines())]
    assert logged == pytest.approx(on_disk, rel=1e-6)  # the same figures as metrics.jsonl
