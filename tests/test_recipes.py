"""Recipes as files: every recipe in recipes/ trains for a few steps; a run's config.json is itself a recipe;
the command line wins over the file; a bad recipe is a one-line error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").glob("*.toml"))
FAST = ["--steps", "2", "--eval-every", "0", "--limit", "256", "--quiet", "--no-tensorboard"]


def test_the_repo_has_recipes():
    names = {p.stem for p in RECIPES}
    assert {"cgan-smiling", "dcgan-fashion-mnist", "vae-fashion-mnist", "vae-first-run"} <= names


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_each_recipe_runs_a_few_steps(cli, shared_data, tmp_path, recipe):
    from mediatk.cli.recipes import read_recipe

    code, out, err = cli("train", "--config", recipe, *FAST, "--out", tmp_path / "run")
    assert code == 0, err
    assert "trained 2 steps" in out
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    want = read_recipe(recipe)
    assert cfg["model"] == want["model"] and cfg["data"] == want["data"] and cfg["steps"] == 2
    assert cfg["attrs"] == [a for a in want.get("attrs", [])]
    if "image-size" in want:
        assert cfg["image_size"] == want["image-size"]
    for key, value in want.get("options", {}).items():
        assert cfg["options"][key.replace("-", "_")] == value, key
    if "ema" in want:
        assert cfg["train"]["ema"] == want["ema"]
    assert cfg["eval"]["n"] == want.get("eval-n", 1000)


def test_config_json_is_a_recipe(cli, shared_data, tmp_path):
    recipe = ROOT / "recipes" / "cgan-smiling.toml"
    code, _, err = cli("train", "--config", recipe, *FAST, "--out", tmp_path / "a")
    assert code == 0, err
    code, _, err = cli("train", "--config", tmp_path / "a" / "config.json", "--steps", "3", "--quiet",
                       "--no-tensorboard", "--out", tmp_path / "b")
    assert code == 0, err
    a, b = (json.loads((tmp_path / r / "config.json").read_text()) for r in "ab")
    assert b["steps"] == 3 and b["options"]["aux_weight"] == 2
    a.pop("steps"), b.pop("steps")
    assert a == b  # everything else, model options and evaluation sizes included, came back from the file


def test_command_line_wins_over_recipe(cli, shared_data, tmp_path):
    recipe = ROOT / "recipes" / "cgan-smiling.toml"
    code, _, err = cli("train", "--config", recipe, *FAST, "--batch-size", "16", "--g-width", "16",
                       "--out", tmp_path / "r")
    assert code == 0, err
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["batch_size"] == 16 and cfg["options"]["g_width"] == 16 and cfg["options"]["d_width"] == 32


@pytest.mark.parametrize("text, suffix, message", [
    ("model = 'vae'\nstepz = 3\n", ".toml", "'stepz' is not an option"),
    ("model = 'vae\n", ".toml", "not valid TOML"),
    ("model: vae\n", ".yaml", "give a .toml or .json recipe"),
    ("model = 'vae'\ndata = 'fashion-mnist'\nsteps = 'many'\n", ".toml", "--steps"),
    ("model = 'vae'\ndata = 'fashion-mnist'\n[options]\nlatent-dimm = 3\n", ".toml", "--latent-dimm"),
])
def test_bad_recipe_is_one_line(cli, shared_data, tmp_path, text, suffix, message):
    path = tmp_path / f"r{suffix}"
    path.write_text(text)
    code, _, err = cli("train", "--config", path, "--quiet", "--out", tmp_path / "run")
    assert code == 2 and err.startswith("mediatk: error:") and err.count("\n") == 1 and message in err, err


def test_missing_recipe_is_one_line(cli, tmp_path):
    code, _, err = cli("train", "--config", tmp_path / "nope.toml")
    assert code == 2 and "no such file" in err and err.count("\n") == 1
