"""``mediatk evaluate``: FID/KID of a trained generator (and attribute accuracy for conditional models).

Every figure is printed with what it was computed from: real and generated sample counts, the feature
extractor (see :mod:`mediatk.quality`) and the image size.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .cli import device_option, main, seed_option


@main.command("evaluate")
@click.option("--model", "model_name", required=True, help="Registered generator name.")
@click.option("--checkpoint", type=click.Path(), default=None, help="Checkpoint file or run dir (default: newest).")
@click.option("--data", default=None, help="Real data to compare with (default: the set the model was trained on).")
@click.option("-n", "n", type=click.IntRange(50, 100000), default=2000, show_default=True,
              help="Generated samples (and at most this many real test images).")
@click.option("--features", type=click.Choice(["auto", "classifier", "autoencoder", "inception"]), default="auto",
              show_default=True, help="Feature extractor (auto: Inception if its weights are cached, else a CNN "
                                      "trained on the set: classifier for labelled sets, autoencoder otherwise).")
@click.option("--feature-steps", type=click.IntRange(1, 10**6), default=None,
              help="Training steps of the feature net (default 600; cached by value).")
@click.option("--judge-steps", type=click.IntRange(1, 10**6), default=None,
              help="Training steps of the attribute/class judge (default 2000; cached by value).")
@device_option
@seed_option
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Also write the figures here.")
def evaluate_cmd(model_name, checkpoint, data, n, features, feature_steps, judge_steps, device, seed, json_out) -> None:
    """Sample quality of MODEL against real test images: FID, KID, attribute accuracy.

    --seed sets the noise, the real test subset and the attribute judge's training; a checkpoint chosen during
    training by --best-metric attr_acc:max (judge seed 0) is scored without that bias with --seed 1.
    """
    from .errors import ConfigError
    from .generators.base import from_checkpoint
    from .generators.sampling import train_hint
    from .quality import QualityEvaluator
    from .registry import GENERATORS
    from .runs import resolve_checkpoint
    from .runtime import resolve_device

    dev = resolve_device(device)
    GENERATORS.get(model_name)
    path = resolve_checkpoint(model_name, checkpoint, train_hint(model_name))
    model = from_checkpoint(path, expect_model=model_name, device=dev)
    meta = getattr(model, "checkpoint_meta", {})
    data = data or meta.get("data")
    if not data:
        raise ConfigError("give --data: the checkpoint does not say which set the model was trained on")
    if not (model.can_sample or model.can_translate):
        raise ConfigError(f"{model_name} neither samples nor translates; evaluate sampling models or cyclegan")
    ev = QualityEvaluator(data, n=n, features=features, feature_steps=feature_steps, seed=seed,
                          judge_steps=judge_steps, judge_seed=seed, log=lambda s: click.echo(s, err=True))
    res = ev(model)
    click.echo(f"model {model_name} at step {meta.get('step', '?')} ({path})")
    for line in ev.lines:
        click.echo(line)
    n_fake = int(res.pop("n_fake"))
    if "fid_a2b" in res:
        click.echo(f"FID a2b {res['fid_a2b']:.3f}  b2a {res['fid_b2a']:.3f}  KID a2b {res['kid_a2b']:.5f}  "
                   f"b2a {res['kid_b2a']:.5f}  (n_fake {n_fake} translated test images)")
    else:
        click.echo(f"FID {res['fid']:.3f}  KID {res['kid']:.5f} ± {res['kid_std']:.5f}  (n_fake {n_fake})")
    judged = int(res.pop("n_judged", 0))
    if "label_acc" in res:
        click.echo(f"label accuracy {res['label_acc']:.3f}: share of {min(n, 1000)} class-conditioned samples the "
                   "judge assigns their class")
    for k, v in res.items():
        if k.startswith("attr_") and "=" in k:
            name, val = k[5:].split("=")
            what = name if val == "1" else f"not {name}"
            click.echo(f"{name}={val}: {v:.3f} of {judged} samples judged {what}")
    if json_out:
        Path(json_out).write_text(json.dumps({"model": model_name, "data": data, "n_fake": n_fake,
                                              "lines": ev.lines, **res}, indent=2))
        click.echo(f"wrote {json_out}")
