"""``mediatk arena | report | demo``: the generate-vs-detect loop and its report."""

from __future__ import annotations

import click
from mediatk.cli.checks import POSITIVE, POSITIVE_FLOAT, SIZE
from mediatk.cli.core import main, seed_option


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


@main.command("arena")
@click.option("--data", required=True, help="Real images: dataset name or path.")
@click.option("--generators", required=True, help="Comma-separated generator names, e.g. dcgan,vae.")
@click.option("--detectors", required=True, help="Comma-separated detector names, e.g. cnn,spectrum,recon.")
@click.option("--rounds", type=click.IntRange(0, 50), default=2, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), required=True)
@click.option("--budget", type=click.Choice(["quick", "full", "tiny"]), default="quick", show_default=True)
@seed_option
@click.option("--device", default="auto", show_default=True)
@click.option("--image-size", type=SIZE, default=32, show_default=True)
@click.option("--evasion", type=click.Choice(["finetune", "post", "both"]), default="finetune", show_default=True,
              help="finetune: loss against frozen detectors; post: spectral matching of samples; both.")
@click.option("--lam", type=POSITIVE_FLOAT, default=1.0, show_default=True, help="Weight of the evasion loss.")
@click.option("--no-accumulate", is_flag=True, help="Retrain detectors on the current round's fakes only.")
@click.option("--no-cross", is_flag=True, help="Skip the cross-generator matrix.")
@click.option("--no-robustness", is_flag=True, help="Skip the robustness curves.")
@click.option("--checkpoint", "checkpoints", multiple=True, help="GEN=PATH: start GEN from this checkpoint.")
@click.option("--gen-steps", type=POSITIVE, default=None, help="Override the budget's generator training steps.")
@click.option("--evade-steps", type=POSITIVE, default=None, help="Override the budget's evasion steps.")
@click.option("--det-steps", type=POSITIVE, default=None, help="Override the budget's detector training steps.")
@click.option("-n", "n", type=click.IntRange(8, None), default=None, help="Override images per split (real and fake).")
@click.option("--resume", is_flag=True, help="Continue the arena in --out from its last finished stage.")
def arena_cmd(data, generators, detectors, rounds, out, budget, seed, device, image_size, evasion, lam,
              no_accumulate, no_cross, no_robustness, checkpoints, gen_steps, evade_steps, det_steps, n,
              resume) -> None:
    """Generators vs detectors over R rounds of evasion and retraining; writes results.json and report.html."""
    from mediatk.arena import ArenaConfig, run_arena
    from mediatk.core.errors import ConfigError
    from mediatk.core.runtime import resolve_device

    ck = {}
    for item in checkpoints:
        g, sep, path = item.partition("=")
        if not sep:
            raise ConfigError(f"--checkpoint {item!r}: expected GEN=PATH")
        ck[g.strip()] = path
    overrides = {"gen_steps": gen_steps, "evade_steps": evade_steps, "det_steps": det_steps}
    if n is not None:
        overrides.update(n_real_train=n, n_real_test=max(8, n // 2), n_fake_train=n, n_fake_test=max(8, n // 2),
                         quality_n=max(8, n // 2), robust_n=max(8, n // 4))
    cfg = ArenaConfig(data=data, generators=_names(generators), detectors=_names(detectors), rounds=rounds, out=out,
                      budget=budget, seed=seed, device=str(resolve_device(device)), image_size=image_size,
                      evasion=evasion, lam=lam, accumulate=not no_accumulate, cross=not no_cross,
                      robustness=not no_robustness, checkpoints=ck, overrides=overrides)
    finish(run_arena(cfg, resume=resume, echo=lambda s: click.echo(s, err=True)), out)


def finish(results, out) -> None:
    from pathlib import Path

    from mediatk.arena.report import round_table_markdown

    click.echo(round_table_markdown(results))
    click.echo(f"wall time {results.get('seconds', 0):.0f} s")
    click.echo(f"report: {Path(out) / 'report.html'}")


@main.command("report")
@click.argument("directory", type=click.Path())
def report_cmd(directory) -> None:
    """Rebuild DIR/report.html and its plots from DIR/results.json."""
    from mediatk.arena.report import write_report

    click.echo(f"report: {write_report(directory)}")


@main.command("demo")
@click.option("--out", type=click.Path(file_okay=False), default="runs/demo", show_default=True)
@seed_option
@click.option("--device", default="auto", show_default=True)
@click.option("--resume", is_flag=True)
def demo_cmd(out, seed, device, resume) -> None:
    """A quick arena on built-in data: 2 generators, 2 detectors, 2 rounds (minutes on a laptop CPU)."""
    from mediatk.arena import demo_config, run_arena
    from mediatk.core.runtime import resolve_device

    cfg = demo_config(out, seed=seed, device=str(resolve_device(device)))
    click.echo(f"demo: {', '.join(cfg.generators)} vs {', '.join(cfg.detectors)} on {cfg.data}, {cfg.rounds} rounds "
               f"-> {out}", err=True)
    finish(run_arena(cfg, resume=resume, echo=lambda s: click.echo(s, err=True)), out)
