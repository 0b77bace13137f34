"""The ``mediatk`` command line: a thin Click layer over the Python API.

Errors a user can cause are :class:`mediatk.errors.MediatkError`; they are printed as one line
(``mediatk: error: ...``) with a non-zero exit status and no traceback.  Click's own usage errors are
printed the same way.  Command groups live in ``cli_*.py`` modules that attach themselves to :data:`main`.
"""

from __future__ import annotations

import sys

import click

from . import __version__
from .errors import MediatkError


def fail(message: str, code: int = 2) -> click.exceptions.Exit:
    click.echo(f"mediatk: error: {' '.join(str(message).split())}", err=True)
    return click.exceptions.Exit(code)


class MediatkGroup(click.Group):
    """A group that turns expected failures into one-line errors."""

    def main(self, *args, **kwargs):  # type: ignore[override]
        kwargs.setdefault("standalone_mode", True)
        try:
            return super().main(*args, **{**kwargs, "standalone_mode": False})
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("mediatk: interrupted", err=True)
            sys.exit(130)
        except click.ClickException as e:
            msg = e.format_message()
            ctx = getattr(e, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            click.echo(f"mediatk: error: {' '.join(msg.split())}{hint}", err=True)
            sys.exit(e.exit_code)
        except MediatkError as e:
            click.echo(f"mediatk: error: {e}", err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("mediatk: interrupted", err=True)
            sys.exit(130)


@click.group(cls=MediatkGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="mediatk")
def main() -> None:
    """mediatk: train generators, build detectors, and measure the arms race between them."""


def device_option(f):
    return click.option("--device", default="auto", show_default=True,
                        help="auto | cpu | cuda | cuda:N | mps (auto = CUDA when present).")(f)


def seed_option(f):
    return click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")(f)


@main.command("models")
@click.argument("name", required=False)
def models_cmd(name) -> None:
    """List registered generators and detectors, one line each; with NAME, that one's options."""
    from .registry import DETECTORS, GENERATORS

    if name:
        from .options import describe_options

        reg = GENERATORS if name in GENERATORS else DETECTORS
        e = reg.entry(name)
        click.echo(f"{e.name}: {e.summary}")
        for flag, default, help_text in describe_options(e.obj.Config):
            click.echo(f"  {flag:<22} {default:<10} {help_text}")
        _echo_pretrained(name)
        return

    for title, reg in (("generators", GENERATORS), ("detectors", DETECTORS)):
        entries = list(reg)
        click.echo(f"{title} ({len(entries)}):")
        for e in entries:
            click.echo(f"  {e.name:<16} {e.summary}")
        if not entries:
            click.echo("  (none registered)")
    _echo_pretrained(None)


def _echo_pretrained(model: str | None) -> None:
    """The zoo's entries (all, or those of one model): what 'generate' uses when nothing is trained."""
    from .zoo import entries

    shown = [e for e in entries() if model is None or e["model"].lower() == model.lower()]
    if model is not None and not shown:
        return
    click.echo(f"pretrained ({len(shown)}; used by generate/evaluate until you train your own):")
    for e in shown:
        z, fig = e["zoo"], e["zoo"].get("figures", {})
        acc = "".join(f", {k[5:]} {v:.2f}" for k, v in fig.items() if k.startswith("attr_") and "_" not in k[5:])
        score = f" (FID {fig['fid']:.2f}{acc})" if "fid" in fig else ""
        click.echo(f"  {e['name']:<22} {e['model']:<7} {z.get('summary', '')}{score}")


# Command groups register themselves on import.
from . import cli_data  # noqa: F401

for _mod in ("cli_generators", "cli_detectors", "cli_arena", "cli_evaluate", "cli_extract"):
    try:
        __import__(f"mediatk.{_mod}")
    except ModuleNotFoundError as _e:  # not written yet in this version
        if _e.name != f"mediatk.{_mod}":
            raise
