"""``mediatk models [NAME]``: what is registered, what you trained (the model store) and what is pretrained
(the zoo)."""

from __future__ import annotations

import click
from mediatk.cli.core import main


@main.command("models")
@click.argument("name", required=False)
def models_cmd(name) -> None:
    """List registered generators and detectors, one line each, then what you trained and what is pretrained;
    with NAME, that one's options and checkpoints."""
    from mediatk.core.registry import DETECTORS, GENERATORS

    if name:
        from mediatk.core.options import describe_options

        reg = GENERATORS if name in GENERATORS else DETECTORS
        e = reg.entry(name)
        click.echo(f"{e.name}: {e.summary}")
        for flag, default, help_text in describe_options(e.obj.Config):
            click.echo(f"  {flag:<22} {default:<10} {help_text}")
        _echo_trained(e.name)
        _echo_pretrained(name)
        return

    for title, reg in (("generators", GENERATORS), ("detectors", DETECTORS)):
        entries = list(reg)
        click.echo(f"{title} ({len(entries)}):")
        for e in entries:
            click.echo(f"  {e.name:<16} {e.summary}")
        if not entries:
            click.echo("  (none registered)")
    _echo_trained(None)
    _echo_pretrained(None)


def _figures(metrics: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())


def _echo_trained(model: str | None) -> None:
    """What the model store knows you trained (both kinds, newest first): what generate/detect pick."""
    import time

    from mediatk.core import store

    shown = store.trained(name=model)
    if model is not None and not shown:
        return
    click.echo(f"trained ({len(shown)}, newest first; index {store.index_file()}):")
    if not shown:
        click.echo("  (none yet)")
    newest: set[tuple[str, str]] = set()
    for e in shown:
        mark = "*" if (e.kind, e.name) not in newest else " "  # * = the one used when none is named
        newest.add((e.kind, e.name))
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.written))
        figs = _figures(e.metrics)
        click.echo(f" {mark}{e.kind:<9} {e.name:<14} {when}  {e.checkpoint}" + (f"  ({figs})" if figs else ""))


def _echo_pretrained(model: str | None) -> None:
    """The zoo's entries (all, or those of one model): what 'generate' uses when nothing is trained."""
    from mediatk.zoo import entries

    shown = [e for e in entries() if model is None or e["model"].lower() == model.lower()]
    if model is not None and not shown:
        return
    click.echo(f"pretrained ({len(shown)}; used by generate/evaluate/detect until you train your own):")
    for e in shown:
        z, fig = e["zoo"], e["zoo"].get("figures", {})
        acc = "".join(f", {k[5:]} {v:.2f}" for k, v in fig.items() if k.startswith("attr_") and "_" not in k[5:])
        score = f" (FID {fig['fid']:.2f}{acc})" if "fid" in fig else (f" (AUC {fig['auc']:.3f})" if "auc" in fig else "")
        model = e["model"] if e["kind"] == "generator" else f"{e['model']} (detector)"
        click.echo(f"  {e['name']:<22} {model:<7} {z.get('summary', '')}{score}")
