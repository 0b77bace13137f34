"""The engine's generic loss on generated images (GeneratorPenalty) and the one batched sampler.

Real data (Fashion-MNIST), tiny nets, CPU.
"""

from __future__ import annotations

import pytest
import torch
from mediatk.core.errors import ConfigError
from mediatk.generators import create, from_checkpoint
from mediatk.generators.engine import GeneratorPenalty
from mediatk.generators.sampling import generate, sample_images
from mediatk.generators.train import train

TINY = {"g_width": 16, "d_width": 16}
COMMON = {"data": "fashion-mnist", "batch_size": 16, "image_size": 32, "seed": 3, "device": "cpu", "limit": 256,
          "progress": False, "tensorboard": False}


def _dark(x: torch.Tensor) -> torch.Tensor:
    """Penalise bright samples: the mean pixel, shifted so it is ≥ 0."""
    return (x + 1).mean()


def _parts(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Two named parts; the penalty is their mean."""
    return {"mean": (x + 1).mean(), "top": (x + 1).amax(dim=(1, 2, 3)).mean()}


def test_penalty_is_added_to_the_generator_update_and_logged(tmp_path):
    plain = train("dcgan", steps=1, out=tmp_path / "plain", options=TINY, log_every=1, **COMMON)
    pen = train("dcgan", steps=1, out=tmp_path / "pen", options=TINY, log_every=1,
                penalties=[GeneratorPenalty("dark", _parts, weight=3.0)], **COMMON)
    a, b = plain.history[0], pen.history[0]
    # the same seed: the discriminator's step is the same, and G's loss is its own plus 3 × the penalty
    assert b["d_loss"] == pytest.approx(a["d_loss"], rel=1e-6)
    assert b["dark"] == pytest.approx((b["dark_mean"] + b["dark_top"]) / 2, rel=1e-6) and b["dark"] > 0
    assert b["g_loss"] == pytest.approx(a["g_loss"] + 3.0 * b["dark"], rel=1e-5)
    assert from_checkpoint(pen.last_checkpoint).checkpoint_meta["penalties"] == [{"name": "dark", "weight": 3.0}]


def test_penalty_steers_what_the_generator_learns():
    """Trained 30 steps with a heavy penalty on brightness, dcgan's samples end darker than without it.

    Seen when written: mean pixel −0.03 without the penalty, −0.12 with it (Adam at 2e-4 moves G slowly).
    """
    from mediatk.datasets import load_images
    from mediatk.generators.engine import Feed, TrainConfig, fit

    x = load_images("fashion-mnist", split="train", image_size=32, limit=256).tensor()
    tc = TrainConfig(steps=30, batch_size=16, device="cpu", seed=3, progress=False, log_every=10)

    def trained(penalties):
        torch.manual_seed(0)
        model = create("dcgan", (1, 32, 32), cfg=create("dcgan", (1, 32, 32)).Config(**TINY))
        res = fit(model, Feed(x, torch.zeros(len(x)), 16, seed=3), None, tc, penalties=penalties)
        assert "training_step" not in vars(model)  # the model's own step ran; nothing was wrapped
        return model.eval(), res.history

    plain, _ = trained([])
    dark, history = trained([GeneratorPenalty("dark", _dark, weight=20.0)])
    assert history[-1]["dark"] < history[0]["dark"]
    m_plain = sample_images(plain, 256, torch.Generator().manual_seed(0)).mean().item()
    m_dark = sample_images(dark, 256, torch.Generator().manual_seed(0)).mean().item()
    print(f"mean pixel of 256 samples: plain {m_plain:.3f}, penalised {m_dark:.3f}")
    assert m_dark < m_plain - 0.05


def test_resume_with_a_penalty_equals_an_uninterrupted_run(tmp_path):
    """Stopped after 4 steps and resumed to 8 with the same penalty == 8 steps straight, bit for bit."""
    pens = [GeneratorPenalty("dark", _dark, weight=2.0)]
    common = {**COMMON, "options": {"width": 16}, "ckpt_every": 4, "log_every": 2, "penalties": pens}
    full = train("vae", steps=8, out=tmp_path / "full", **common)
    train("vae", steps=4, out=tmp_path / "part", **common)
    with pytest.raises(ConfigError, match="penalties: dark"):
        train(steps=8, resume=tmp_path / "part", progress=False)  # without its penalty: refused
    resumed = train(steps=8, resume=tmp_path / "part", progress=False, penalties=pens)
    a, b = from_checkpoint(full.last_checkpoint), from_checkpoint(resumed.last_checkpoint)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    assert [r["dark"] for r in resumed.run.read_metrics()] == [r["dark"] for r in full.run.read_metrics()]


def test_fine_tuning_from_a_checkpoint_starts_from_its_weights(tmp_path):
    first = train("vae", steps=2, out=tmp_path / "a", options={"width": 16}, **COMMON)
    with pytest.raises(ConfigError, match="keeps that checkpoint's options"):
        train("vae", steps=2, out=tmp_path / "b", init=first.last_checkpoint, options={"width": 8}, **COMMON)
    again = train("vae", steps=1, out=tmp_path / "b", init=first.last_checkpoint, index=False,
                  **{**COMMON, "seed": 9})
    a, b = from_checkpoint(first.last_checkpoint), from_checkpoint(again.last_checkpoint)
    assert b.cfg == a.cfg
    # one small step away from the start point, far closer to it than to a freshly initialised model
    fresh = create("vae", (1, 32, 32), cfg=a.cfg)
    with torch.no_grad():
        dist = [sum(float((p - q).abs().sum()) for p, q in zip(m.parameters(), a.parameters())) for m in (b, fresh)]
    assert 0 < dist[0] < dist[1] / 10


def test_a_penalty_needs_a_model_that_samples(tmp_path):
    with pytest.raises(ConfigError, match="does not sample"):
        train("ae", steps=2, out=tmp_path / "ae", penalties=[GeneratorPenalty("dark", _dark)], **COMMON)


# ---- the one batched sampler ---------------------------------------------------------------------------------


def test_sample_images_does_not_depend_on_the_batch_size():
    torch.manual_seed(0)
    model = create("dcgan", (1, 32, 32), cfg=create("dcgan", (1, 32, 32)).Config(**TINY)).eval()
    a = sample_images(model, 70, torch.Generator().manual_seed(5))
    b = sample_images(model, 70, torch.Generator().manual_seed(5), batch_size=16)
    assert a.shape == (70, 1, 32, 32) and a.min() >= -1 and a.max() <= 1
    assert torch.allclose(a, b, atol=1e-6)
    c = generate("dcgan", model=model, n=70, seed=5).images  # mediatk generate draws through it too
    assert torch.equal(a, c)


def test_detector_fakes_and_fid_samples_come_from_the_one_sampler(tmp_path):
    from mediatk.detectors.api import sample_generator
    from mediatk.evaluation.quality import QualityEvaluator

    run = train("vae", steps=2, out=tmp_path / "v", options={"width": 16}, **COMMON)
    model = from_checkpoint(run.last_checkpoint)
    want = sample_images(model, 300, torch.Generator().manual_seed(11))
    assert torch.equal(sample_generator(run.last_checkpoint, 300, seed=11, device="cpu"), want)
    assert torch.equal(QualityEvaluator._samples(model, 300, None, torch.Generator().manual_seed(11)), want)
    with pytest.raises(ConfigError, match="does not sample"):
        sample_images(create("ae", (1, 32, 32)), 4, torch.Generator())
