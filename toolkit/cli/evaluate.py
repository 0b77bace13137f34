"""``mediatk evaluate``: FID/KID of a trained generator (and attribute accuracy for conditional models).

Every figure is printed with what it was computed from: real and generated sample counts, the feature
net's id (see :mod:`mediatk.evaluation.feature_nets`), the image size, and its 95% interval (FID: bootstrap over the
generated samples; accuracies: Wilson).
"""

from __future__ import annotations

import click
from mediatk.cli.core import device_option, main, seed_option
from mediatk.core.fileio import write_json


@main.command("evaluate")
@click.option("--model", "model_name", required=True, help="Registered generator name.")
@click.option("--checkpoint", type=click.Path(), default=None, help="Checkpoint file or run dir (default: newest).")
@click.option("--data", default=None, help="Real data to compare with (default: the set the model was trained on).")
@click.option("-n", "n", type=click.IntRange(50, 100000), default=2000, show_default=True,
              help="Generated samples (and at most this many real test images).")
@click.option("--features", type=click.Choice(["auto", "classifier", "autoencoder", "inception"]), default="auto",
              show_default=True, help="Feature extractor (auto: the set's frozen classifier CNN for labelled sets, "
                                      "else its autoencoder; inception: pytorch-fid's network, needs "
                                      "--inception-weights).")
@click.option("--feature-net", type=click.Choice(["standard", "test-tiny"]), default="standard", show_default=True,
              help="Recipe of the trained feature net (test-tiny: for tests only; its FIDs compare with nothing).")
@click.option("--inception-weights", type=click.Path(dir_okay=False), default=None,
              help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth (or a .safetensors copy) for --features "
                   "inception; never downloaded.")
@click.option("--judge-steps", type=click.IntRange(1, 10**6), default=None,
              help="Training steps of the attribute/class judge (default 2000; cached by value).")
@device_option
@seed_option
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Also write the figures here.")
def evaluate_cmd(model_name, checkpoint, data, n, features, feature_net, inception_weights, judge_steps, device, seed,
                 json_out) -> None:
    """Sample quality of MODEL against real test images: FID, KID, attribute accuracy.

    --seed sets the noise, the real test subset and the attribute judge's training; a checkpoint chosen during
    training by --best-metric attr_acc:max (judge seed 0) is scored without that bias with --seed 1.
    """
    from mediatk.core.errors import ConfigError
    from mediatk.core.registry import GENERATORS
    from mediatk.core.runs import resolve_checkpoint
    from mediatk.core.runtime import resolve_device
    from mediatk.evaluation.quality import QualityEvaluator
    from mediatk.generators.base import from_checkpoint
    from mediatk.generators.sampling import train_hint

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
    ev = QualityEvaluator(data, n=n, features=features, feature_net=feature_net, seed=seed, judge_steps=judge_steps,
                          judge_seed=seed, inception_weights=inception_weights, log=lambda s: click.echo(s, err=True))
    res = ev(model)
    click.echo(f"model {model_name} at step {meta.get('step', '?')} ({path})")
    for line in ev.lines + [ev.fid_line(res)] + ev.accuracy_lines():
        click.echo(line)
    if json_out:
        write_json(json_out, {**ev.report, "model": model_name, "checkpoint": str(path), "step": meta.get("step"),
                              "lines": ev.lines})
        click.echo(f"wrote {json_out}")
