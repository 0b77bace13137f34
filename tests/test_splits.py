"""Train/val/test splits are fixed by the data, never by ``--seed`` (issue 12, items 5 and 6).

Checked on the sets without an official split (``digits``, a plain folder of images, CelebA without a
partition file), on an official CelebA val partition, and end to end: the evaluator that picks checkpoints
during training reads val, ``mediatk evaluate`` reads test, whatever its ``--seed``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from mediatk.core.errors import ConfigError
from mediatk.datasets import load_images
from mediatk.datasets.base import fixed_split, index_keys
from PIL import Image

SPLITS = ("train", "val", "test")
SEEDS = (0, 1, 7)


def _rows(ds) -> list[bytes]:
    """One byte string per image (digits holds no duplicate images, so these identify them)."""
    return [r.tobytes() for r in ds.tensor().numpy()]


def _ids(ds) -> list:
    return [p.as_posix() for p in ds.paths] if ds.paths is not None else _rows(ds)


@pytest.fixture(scope="module")
def plain_folder(tmp_path_factory):
    """A folder of two classes of distinct PNGs and no train/ test/ subfolders."""
    root = tmp_path_factory.mktemp("plain")
    for i in range(50):
        d = root / ("cats" if i % 3 else "dogs")
        d.mkdir(exist_ok=True)
        Image.fromarray(np.full((6, 6), i * 5, np.uint8), mode="L").save(d / f"img{i:02d}.png")
    return root


@pytest.mark.parametrize("spec", ["digits", "plain", "celeba-mini"])
def test_split_is_the_same_for_every_seed_and_disjoint(spec, plain_folder, shared_data):
    if spec == "celeba-mini":
        assert not (shared_data / spec / "list_eval_partition.txt").exists()  # the case under test
    data = plain_folder if spec == "plain" else spec
    by_seed = {seed: {s: _ids(load_images(data, split=s, seed=seed)) for s in SPLITS} for seed in SEEDS}
    for seed in SEEDS[1:]:
        assert by_seed[seed] == by_seed[0], f"--seed {seed} moved images between splits of {spec}"
    parts = {s: set(ids) for s, ids in by_seed[0].items()}
    assert all(parts.values())
    assert not parts["train"] & parts["test"] and not parts["val"] & parts["train"]
    assert not parts["val"] & parts["test"]
    everything = _ids(load_images(data, split="all"))
    assert parts["train"] | parts["val"] | parts["test"] == set(everything)
    assert sum(map(len, parts.values())) == len(everything)


def test_digits_split_sizes_and_the_seed_1_leak_is_gone():
    """The issue's case: ``evaluate --seed 1`` took 295 of its 359 digits references from the seed-0 train."""
    train = set(_rows(load_images("digits", split="train", seed=0)))
    test1 = _rows(load_images("digits", split="test", seed=1))
    assert len(test1) == 359 and sum(r in train for r in test1) == 0
    sizes = [len(fixed_split(index_keys(1797), s)) for s in SPLITS]
    assert sizes == [1294, 144, 359]


def test_seed_only_changes_the_limit_subset(shared_data):
    test = set(load_images("eyes-open-closed", split="test").paths)
    a = set(load_images("eyes-open-closed", split="test", limit=100, seed=0).paths)
    b = set(load_images("eyes-open-closed", split="test", limit=100, seed=1).paths)
    assert len(a) == len(b) == 100 and a != b and a <= test and b <= test


def test_official_celeba_val_partition_is_used(tmp_path):
    root = tmp_path / "celeba"
    (root / "img_align_celeba").mkdir(parents=True)
    names = [f"{i:06d}.jpg" for i in range(1, 13)]
    for i, n in enumerate(names):
        Image.fromarray(np.full((8, 8, 3), 20 * i, np.uint8)).save(root / "img_align_celeba" / n)
    rows = "".join(f"{n} {'1' if i % 2 else '-1'}\n" for i, n in enumerate(names))
    (root / "list_attr_celeba.txt").write_text(f"{len(names)}\nSmiling\n{rows}")
    codes = [0] * 6 + [1] * 3 + [2] * 3
    (root / "list_eval_partition.txt").write_text("".join(f"{n} {c}\n" for n, c in zip(names, codes)))
    got = {s: [p.name for p in load_images(root, split=s, seed=7).paths] for s in SPLITS}
    assert got == {"train": names[:6], "val": names[6:9], "test": names[9:]}


def test_the_quality_evaluator_reads_only_val_or_test():
    from mediatk.evaluation.quality import QualityEvaluator

    with pytest.raises(ConfigError):
        QualityEvaluator("digits", split="train")


def test_training_selects_on_val_and_evaluate_reports_on_test(cli, tmp_path):
    """`train --eval-every` chooses best on digits' val split; `evaluate --seed 1` compares with test."""
    run = tmp_path / "dc"
    code, out, err = cli("train", "dcgan", "--data", "digits", "--steps", "4", "--image-size", "32", "--quiet",
                         "--out", run, "--batch-size", "16", "--eval-every", "2", "--eval-n", "64",
                         "--eval-feature-net", "test-tiny", "--g-width", "8", "--d-width", "8")
    assert code == 0, err
    assert "chosen on the val split" in out and "'mediatk evaluate' reports on test" in out
    from mediatk.core.checkpoint import read_meta

    sel = read_meta(run / "checkpoints" / "best.safetensors")["selection"]
    assert sel["split"] == "val" and sel["metric"] == "fid" and sel["step"] in (2, 4)
    code, out, err = cli("evaluate", "--model", "dcgan", "--checkpoint", run, "-n", "400", "--feature-net", "test-tiny",
                         "--seed", "1", "--json", tmp_path / "q.json")
    assert code == 0, err
    assert "n_real 359 (digits test split)" in out
    assert "digits test split" in " ".join(json.loads((tmp_path / "q.json").read_text())["lines"])


def test_the_engine_refuses_to_select_on_test(tmp_path):
    from mediatk.evaluation.quality import QualityEvaluator
    from mediatk.generators.train import train

    ev = QualityEvaluator("digits", n=50, feature_net="test-tiny", log=lambda s: None)  # split="test" by default
    with pytest.raises(ConfigError, match="test split"):
        train("dcgan", "digits", steps=2, batch_size=8, image_size=32, out=tmp_path / "t", evaluator=ev,
              eval_every=1, best_metric="fid", options=["--g-width", "8", "--d-width", "8"], progress=False)
    assert not (tmp_path / "t").exists()  # refused before a run directory was made
