"""The generator contract, checked over the whole registry, plus the engine's guarantees.

Every registered model: one engine step on real data gives finite losses; samples / reconstructions /
translations have the documented shape and range; save → load gives identical outputs.
"""

from __future__ import annotations

import math

import pytest
import torch
from mediatk.core.registry import GENERATORS
from mediatk.core.runs import new_run
from mediatk.generators import create, from_checkpoint
from mediatk.generators.engine import Feed, PairFeed, TrainConfig, fit

SIZE = 32


@pytest.fixture(scope="module")
def fashion32():
    from mediatk.datasets import load_images

    ds = load_images("fashion-mnist", split="test", image_size=SIZE, limit=256)
    return ds.tensor(), ds.labels.long()


@pytest.fixture(scope="module")
def unpaired32():
    from mediatk.datasets import load_unpaired

    a, b = load_unpaired("smile2neutral", split="test", image_size=SIZE, limit=16)
    return a.tensor(), b.tensor()


def _feed(cls, fashion32, unpaired32):
    if cls.needs == "unpaired":
        a, b = unpaired32
        return PairFeed(Feed(a, torch.zeros(len(a)), 4), Feed(b, torch.zeros(len(b)), 4, seed=1)), a.shape[1:]
    x, y = fashion32
    return Feed(x, y, 8), x.shape[1:]


@pytest.mark.parametrize("name", GENERATORS.names())
def test_contract(name, fashion32, unpaired32, tmp_path):
    cls = GENERATORS.get(name)
    feed, shape = _feed(cls, fashion32, unpaired32)
    model = create(name, tuple(shape), num_classes=10 if cls.needs == "labels" else 0)
    res = fit(model, feed, new_run(name, out=tmp_path / "run"), TrainConfig(steps=2, log_every=1, progress=False,
                                                                               device="cpu", batch_size=8))
    losses = {k: v for k, v in res.history[-1].items() if k not in ("step", "epoch", "time")}
    assert losses and all(math.isfinite(v) for v in losses.values()), losses
    assert (tmp_path / "run" / "samples" / "final.png").is_file()
    assert (tmp_path / "run" / "metrics.jsonl").is_file()

    loaded = from_checkpoint(res.last_checkpoint, expect_model=name)
    model.eval()
    x = fashion32[0][:4] if cls.needs != "unpaired" else unpaired32[0][:4]
    with torch.no_grad():
        if cls.can_sample:
            noise = model.sample_noise(4, torch.Generator().manual_seed(0))
            cond = model.condition_vector(torch.arange(4) % 10) if model.cond_dim else None
            a, b = model.sample(4, cond=cond, noise=noise), loaded.sample(4, cond=cond, noise=noise)
            assert a.shape == (4, *shape)
            assert a.min() >= -1 and a.max() <= 1
            assert torch.allclose(a, b, atol=1e-6)
        if cls.can_reconstruct:
            kw = {"cond": model.condition_vector(torch.arange(4) % 10)} if model.cond_dim else {}
            a, b = model.reconstruct(x, **kw), loaded.reconstruct(x, **kw)
            assert a.shape == x.shape and a.min() >= -1 and a.max() <= 1
            assert torch.allclose(a, b, atol=1e-6)
        if cls.can_translate:
            a, b = model.translate(x, "a2b"), loaded.translate(x, "a2b")
            assert a.shape == x.shape and torch.allclose(a, b, atol=1e-6)
        assert cls.can_sample or cls.can_reconstruct or cls.can_translate


def test_wrong_model_checkpoint_is_refused(fashion32, tmp_path):
    from mediatk.core.errors import CheckpointError

    model = create("ae", (1, SIZE, SIZE))
    res = fit(model, Feed(*fashion32, 8), new_run("ae", out=tmp_path / "r"), TrainConfig(steps=1, progress=False,
                                                                                         device="cpu"))
    with pytest.raises(CheckpointError, match="holds a 'ae' model, not 'vae'"):
        from_checkpoint(res.last_checkpoint, expect_model="vae")


def test_nan_guard_stops_and_keeps_last_good_checkpoint(fashion32, tmp_path):
    from mediatk.core.errors import TrainingError

    model = create("ae", (1, SIZE, SIZE))
    run = new_run("ae", out=tmp_path / "r")
    res = fit(model, Feed(*fashion32, 8), run, TrainConfig(steps=3, progress=False, device="cpu", ckpt_every=1))
    good = res.last_checkpoint.read_bytes()
    with torch.no_grad():
        model.head.weight.fill_(float("nan"))
    with pytest.raises(TrainingError, match="became nan at step 0.*last good checkpoint"):
        fit(model, Feed(*fashion32, 8), run, TrainConfig(steps=6, progress=False, device="cpu", ckpt_every=1),
            resume=None)
    assert res.last_checkpoint.read_bytes() == good


def test_ema_weights_are_used_for_sampling(fashion32, tmp_path):
    model = create("vae", (1, SIZE, SIZE))
    res = fit(model, Feed(*fashion32, 8), new_run("vae", out=tmp_path / "r"),
              TrainConfig(steps=3, progress=False, device="cpu", ema=0.5))
    from mediatk.core.checkpoint import load_checkpoint

    ck = load_checkpoint(res.last_checkpoint)
    assert any(k.startswith("ema/") for k in ck.tensors) and any(k.startswith("model/") for k in ck.tensors)
    ema_model = from_checkpoint(res.last_checkpoint)
    raw_model = from_checkpoint(res.last_checkpoint, use_ema=False)
    w_ema = ema_model.head.weight
    w_raw = raw_model.head.weight
    assert not torch.equal(w_ema, w_raw)
