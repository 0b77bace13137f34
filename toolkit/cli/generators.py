"""``mediatk train | generate | reconstruct``: the generator side of the CLI."""

from __future__ import annotations

from pathlib import Path

import click
from mediatk.cli.checks import BATCH, NON_NEGATIVE, OPEN_UNIT, POSITIVE, POSITIVE_FLOAT, SIZE
from mediatk.cli.core import device_option, main, seed_option


def _load_recipe(ctx, _param, path):
    """``--config FILE``: the file's values become this command's defaults (the command line still wins)."""
    if path is None:
        return None
    from mediatk.cli.recipes import flatten_recipe, option_words, read_recipe

    known = {p.name for p in ctx.command.params if p.name != "config"}
    values, options = flatten_recipe(read_recipe(path), known)
    ctx.default_map = {**(ctx.default_map or {}), **values}
    ctx.meta["recipe_options"] = option_words(options)
    return path


@main.command("train", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--config", type=click.Path(dir_okay=False), default=None, is_eager=True, expose_value=False,
              callback=_load_recipe, help="Recipe file (.toml, or a run's config.json): every option below; "
                                          "the command line wins.")
@click.argument("model", required=False)
@click.option("--data", help="Dataset name (looked up under MEDIATK_DATA) or path.")
@click.option("--steps", type=POSITIVE, default=None, help="Total optimisation steps (default 1000).")
@click.option("--epochs", type=POSITIVE_FLOAT, default=None, help="Alternatively, passes over the training set.")
@click.option("--batch-size", type=BATCH, default=64, show_default=True)
@click.option("--image-size", type=SIZE, default=None, help="Resize images to S×S (default: native size).")
@click.option("--channels", type=click.IntRange(1, 3), default=None, help="Force 1 (grey) or 3 (RGB) channels.")
@click.option("--attr", "attrs", multiple=True, help="Condition on this attribute (CelebA layout); repeatable.")
@click.option("--limit", type=POSITIVE, default=None, help="Use at most N training images.")
@device_option
@seed_option
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Run directory (default runs/MODEL/TIME).")
@click.option("--resume", type=click.Path(), default=None, help="Continue the run in this directory.")
@click.option("--ema", type=OPEN_UNIT, default=None, help="Keep an EMA of the weights with this decay (e.g. 0.999).")
@click.option("--grad-clip", type=POSITIVE_FLOAT, default=None, help="Clip the gradient norm per optimiser step.")
@click.option("--ckpt-every", type=POSITIVE, default=500, show_default=True,
              help="Save a checkpoint every N steps (a resumed run keeps its own unless given).")
@click.option("--sample-every", type=NON_NEGATIVE, default=0, help="Write a sample grid every N steps (0: at the end).")
@click.option("--eval-every", type=NON_NEGATIVE, default=0, help="Evaluate FID/KID every N steps and keep the best checkpoint.")
@click.option("--best-metric", default="fid", show_default=True, help="fid, kid, or e.g. attr_acc:max.")
@click.option("--eval-n", type=POSITIVE, default=1000, show_default=True, help="Generated images per evaluation.")
@click.option("--eval-feature-net", type=click.Choice(["standard", "test-tiny"]), default="standard",
              show_default=True, help="FID feature net recipe (test-tiny: tests only; not comparable).")
@click.option("--eval-judge-steps", type=click.IntRange(1, 10**6), default=None,
              help="Training steps of the attribute judge (conditional models; default 2000).")
@click.option("--tensorboard/--no-tensorboard", default=True, show_default=True,
              help="Also log losses, learning rates, evaluations and samples to RUNDIR/tensorboard.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def train_cmd(ctx, model, data, steps, epochs, batch_size, image_size, channels, attrs, limit, device, seed, out,
              resume, ema, grad_clip, ckpt_every, sample_every, eval_every, best_metric, eval_n, eval_feature_net,
              eval_judge_steps, tensorboard, quiet) -> None:
    """Train MODEL on --data; model options follow (see 'mediatk models MODEL')."""
    from mediatk.cli.checks import exclusive, fixed_on_resume, given
    from mediatk.core.errors import ConfigError
    from mediatk.generators.train import train

    exclusive(ctx, "steps", "epochs")
    if model is not None and model.startswith("-"):  # a model option, not a name ("train --resume RUN --width 8"
        ctx.args.insert(0, model)                    # or "train --config FILE --g-width 16": MODEL from the file)
        model = (ctx.default_map or {}).get("model")
    if resume is None and (model is None or data is None):
        raise ConfigError("give MODEL and --data (or --resume RUNDIR)")
    kw = {"ema": ema, "grad_clip": grad_clip, "ckpt_every": ckpt_every, "sample_every": sample_every,
          "progress": not quiet, "tensorboard": tensorboard}
    if resume is not None:
        saved = _saved_config(resume)
        fixed_on_resume(ctx, ("data", "batch_size", "image_size", "channels", "attrs", "limit", "seed", "out"))
        if model is not None and model.lower() != str(saved.get("model", "")).lower():
            raise click.UsageError(f"--resume {resume} is a {saved.get('model')!r} run, not {model!r}", ctx=ctx)
        # a resumed run keeps its saved settings; only options typed now override them
        kw = {k: v for k, v in kw.items() if k == "progress" or given(ctx, k)}
        if not given(ctx, "eval_every"):
            eval_every = int(saved.get("train", {}).get("eval_every") or 0)
    evaluator = None
    if eval_every and eval_every > 0:
        from mediatk.evaluation.quality import QualityEvaluator

        eval_data = data if resume is None else saved["data"]
        # the val split: checkpoints are chosen on it, so that `mediatk evaluate` (test split) stays unbiased
        evaluator = QualityEvaluator(eval_data, n=eval_n, feature_net=eval_feature_net, split="val",
                                     judge_steps=eval_judge_steps, log=lambda s: click.echo(s, err=True))
        kw["eval_every"] = eval_every
        if resume is None or given(ctx, "best_metric"):
            kw["best_metric"] = best_metric
    kw["evaluator"] = evaluator
    if resume is not None:
        if ctx.args or ctx.meta.get("recipe_options"):
            raise ConfigError("model options cannot change on --resume; they come from the run's config.json")
        result = train(model or "", data or "", steps=steps, epochs=epochs, device=device if device != "auto" else None,
                       resume=resume, **kw)
    else:
        result = train(model, data, steps=steps, epochs=epochs, batch_size=batch_size, image_size=image_size,
                       channels=channels, attrs=list(attrs), device=device, seed=seed, out=out,
                       options=ctx.meta.get("recipe_options", []) + list(ctx.args), limit=limit,
                       record={"eval": {"n": eval_n, "feature_net": eval_feature_net,
                                        "judge_steps": eval_judge_steps}}, **kw)
    import os

    if int(os.environ.get("RANK", "0")) != 0:
        # Under torchrun only rank 0 reports.  The other ranks have written nothing and closed their process
        # group; they leave without running interpreter teardown, where gloo's threads sometimes met a store
        # that rank 0 had already closed and aborted the process (SIGABRT, "terminate called without an
        # active exception"), which failed the whole launch after a successful training.
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    last = result.history[-1] if result.history else {}
    losses = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k not in ("step", "epoch", "time"))
    rate = result.images_seen / max(result.seconds, 1e-9)
    click.echo(f"trained {result.step} steps in {result.seconds:.1f}s ({rate:.0f} images/s); {losses}")
    click.echo(f"run: {result.run.path}")
    click.echo(f"checkpoint: {result.last_checkpoint}")
    if evaluator is not None and evaluator.report:  # the last evaluation, with its feature net's id
        from mediatk.core.fileio import write_json

        click.echo(f"evaluation on the {evaluator.split} split at step {evaluator.report['step']}: {evaluator.fid_line(evaluator.result)}")
        for line in evaluator.accuracy_lines():
            click.echo(line)
        path = write_json(result.run.path / "eval.json", {"lines": evaluator.lines, **evaluator.report})
        click.echo(f"evaluation: {path}")
    sel = result.selection
    if sel is not None:
        click.echo(f"best checkpoint: {result.best_checkpoint} ({sel['metric']} {sel['value']:.4g} at step "
                   f"{sel['step']}, chosen on the {sel['split']} split; 'mediatk evaluate' reports on test)")


def _saved_config(run_dir: str) -> dict:
    """The config.json of the run to resume (one-line errors for a missing or broken one)."""
    import json

    from mediatk.core.errors import CheckpointError
    from mediatk.core.runs import open_run

    f = open_run(run_dir).config_file
    try:
        cfg = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{f} is not readable JSON ({e.__class__.__name__})") from None
    if not isinstance(cfg, dict) or "model" not in cfg or "data" not in cfg:
        raise CheckpointError(f"{f} is not a mediatk run config (no model or data)")
    return cfg


@main.command("generate", context_settings={"ignore_unknown_options": False})
@click.option("--model", "model_name", required=True, help="Registered model name.")
@click.option("--checkpoint", type=click.Path(), default=None, help="Checkpoint file or run dir (default: newest).")
@click.option("-n", "n", type=click.IntRange(1, 4096), default=64, show_default=True)
@click.option("--label", type=click.IntRange(0, None), default=None, help="Class label for class-conditional models.")
@click.option("--attr", "attrs", multiple=True, help="NAME or NAME=0|1 for attribute-conditional models.")
@click.option("--interpolate", is_flag=True, help="Walk the latent space between two samples (or two --input).")
@click.option("--input", "inputs", multiple=True, type=click.Path(), help="Input image(s) or folder.")
@click.option("--direction", type=click.Choice(["a2b", "b2a"]), default=None, help="CycleGAN direction.")
@click.option("--code", type=click.IntRange(0, None), default=None, help="InfoGAN: index of the code to vary, others fixed.")
@device_option
@seed_option
@click.option("--out", type=click.Path(), default=None,
              help="PNG file for a grid, or a directory for one file each (default: a new MODEL_WHAT.png here).")
def generate_cmd(model_name, checkpoint, n, label, attrs, interpolate, inputs, direction, code, device, seed,
                 out) -> None:
    """Sample from a trained generator (yours when there is one, else the pretrained one: 'mediatk models')."""
    from mediatk.core.runs import resolve_checkpoint
    from mediatk.generators.sampling import generate, train_hint
    from mediatk.media.draw import save_grid
    from mediatk.media.pixels import save_image
    from mediatk.zoo import describe_source

    extra = {}
    if direction is not None:
        extra["direction"] = direction
    if code is not None:
        extra["code"] = code
    path = resolve_checkpoint(model_name, checkpoint, train_hint(model_name))
    res = generate(model_name, path, n=n, label=label, attrs=list(attrs), interpolate=interpolate,
                   inputs=list(inputs), seed=seed, device=device, **extra)
    click.echo(f"checkpoint: {describe_source(path)}")
    outp = Path(out) if out is not None else default_out(model_name, attrs, label, interpolate, direction, code)
    if outp.suffix.lower() in (".png", ".jpg", ".jpeg"):
        nrow = len(res.images) if interpolate else None
        save_grid(res.images, outp, nrow=nrow)
        click.echo(f"wrote {len(res.images)} images as a grid to {outp}")
    else:
        outp.mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(res.images):
            save_image(img, outp / f"{model_name}_{i:05d}.png")
        click.echo(f"wrote {len(res.images)} images to {outp}/")
    for k, v in res.info.items():
        if k != "n":
            click.echo(f"{k}: {v}")


def default_out(model: str, attrs, label, interpolate, direction, code) -> Path:
    """``cgan_smiling.png``, ``cgan_not-smiling.png``, ``dcgan.png``... in the working directory; a name
    that exists already gets ``-2``, ``-3``... so nothing is overwritten."""
    parts = [model]
    for a in attrs:
        name, _, val = a.partition("=")
        parts.append(("not-" if val.strip() == "0" else "") + name.strip().lower())
    parts += [f"label{label}"] if label is not None else []
    parts += [direction] if direction else []
    parts += [f"code{code}"] if code is not None else []
    parts += ["interpolation"] if interpolate else []
    stem = "_".join(parts)
    path, i = Path(f"{stem}.png"), 1
    while path.exists():
        i += 1
        path = Path(f"{stem}-{i}.png")
    return path


@main.command("reconstruct")
@click.option("--model", "model_name", required=True)
@click.option("--checkpoint", type=click.Path(), default=None)
@click.option("--input", "source", required=True, help="Image file, folder, or dataset name/path (test split).")
@click.option("-n", "n", type=click.IntRange(1, 1024), default=16, show_default=True)
@device_option
@click.option("--out", type=click.Path(dir_okay=False), required=True)
def reconstruct_cmd(model_name, checkpoint, source, n, device, out) -> None:
    """Originals above reconstructions (for dae: originals, corrupted, reconstructed), with MSE/PSNR."""
    from mediatk.core.runtime import resolve_device
    from mediatk.generators.sampling import load_model, reconstruct
    from mediatk.media.draw import save_grid

    dev = resolve_device(device)
    model = load_model(model_name, checkpoint, device=dev)
    if not model.can_reconstruct:
        from mediatk.core.errors import ConfigError

        raise ConfigError(f"{model_name} has no encoder to reconstruct with")
    x = load_inputs(source, model.image_shape, n)
    res = reconstruct(model, x)
    save_grid(res["grid"], out, nrow=len(x))
    click.echo(f"{len(x)} images: MSE {res['mse']:.5f} (pixels in [0,1]), PSNR {res['psnr']:.2f} dB")
    click.echo(f"wrote {out} ({res['rows']} rows)")


def load_inputs(source: str, image_shape: tuple[int, ...], n: int):
    """An image, a folder of images, or a dataset's test split, as a batch shaped for the model."""
    import torch
    from mediatk.media.pixels import IMAGE_EXTS, read_image, to_tensor

    c, h, w = image_shape
    p = Path(source)
    if p.is_file():
        return to_tensor(read_image(p), size=(h, w), channels=c).unsqueeze(0)
    if p.is_dir() and any(f.suffix.lower() in IMAGE_EXTS for f in p.iterdir()):
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTS)[:n]
        return torch.stack([to_tensor(read_image(f), size=(h, w), channels=c) for f in files])
    from mediatk.datasets import load_images

    ds = load_images(source, split="test", image_size=h, channels=c)
    return ds.tensor(list(range(min(n, len(ds)))))
