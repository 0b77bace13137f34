"""The templates a newcomer copies (``*/_template.py``) are real: each passes its kind's contract.

Templates are not discovered (their names start with ``_``), so they are imported here and removed from
the registries again afterwards.
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch
from mediatk.core import registry
from mediatk.datasets import FORMATS, detect_format, load_images
from PIL import Image


@pytest.fixture
def template(request):
    """Import ``mediatk.<kind>._template`` and undo its registrations after the test."""
    saved = {r: dict(r._entries) for r in (registry.GENERATORS, registry.DETECTORS, registry.DATASETS)}
    formats = dict(FORMATS)
    yield importlib.import_module(f"mediatk.{request.param}._template")
    for r, entries in saved.items():
        r._entries = entries
    FORMATS.clear()
    FORMATS.update(formats)


def test_templates_are_not_discovered():
    assert "template-gan" not in registry.GENERATORS.names()
    assert "template-stats" not in registry.DETECTORS.names()
    assert "template-list" not in FORMATS


@pytest.mark.parametrize("template", ["generators"], indirect=True)
def test_generator_template_trains_samples_and_round_trips(template, tmp_path, one_thread):
    from mediatk.core.runs import new_run
    from mediatk.generators import create, from_checkpoint
    from mediatk.generators.engine import Feed, TrainConfig, fit

    ds = load_images("fashion-mnist", split="test", limit=256)
    model = create("template-gan", (1, 28, 28))
    res = fit(model, Feed(ds.tensor(), ds.labels, 32), new_run("template-gan", out=tmp_path / "run"),
              TrainConfig(steps=20, log_every=1, progress=False, device="cpu", batch_size=32))
    assert all(math.isfinite(v) for k, v in res.history[-1].items() if k.endswith("loss"))
    noise = model.sample_noise(4, torch.Generator().manual_seed(0))
    a = model.eval().sample(4, noise=noise)
    assert a.shape == (4, 1, 28, 28) and a.min() >= -1 and a.max() <= 1
    b = from_checkpoint(res.last_checkpoint, expect_model="template-gan").sample(4, noise=noise)
    assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("template", ["detectors"], indirect=True)
def test_detector_template_passes_the_detector_contract(template, tmp_path):
    from test_detectors import check_detector_contract

    x = load_images("fashion-mnist", split="test", limit=600).tensor()
    g = torch.Generator().manual_seed(0)
    fake = (x + 0.3 * torch.randn(x.shape, generator=g)).clamp(-1, 1)  # noisy copies: easy to tell apart
    check_detector_contract(template.TemplateDetector, x[:300], fake[:300], x[300:], fake[300:], tmp_path)


@pytest.mark.parametrize("template", ["datasets"], indirect=True)
def test_dataset_template_reads_its_layout_with_fixed_splits(template, tmp_path):
    root = tmp_path / "listed"
    (root / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = []
    for i in range(40):
        Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(root / "img" / f"{i}.png")
        lines.append(f"img/{i}.png {'cat' if i % 2 else 'dog'}")
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    assert detect_format(root) == "template-list"
    parts = {s: load_images(root, split=s) for s in ("train", "val", "test")}
    assert sum(len(d) for d in parts.values()) == 40 and parts["train"].classes == ["cat", "dog"]
    seen = [set(map(str, d.paths)) for d in parts.values()]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert list(map(str, load_images(root, split="test", seed=5).paths)) == list(map(str, parts["test"].paths))
    x, y = parts["train"][0]
    assert x.shape == (3, 12, 12) and int(y) in (0, 1)
