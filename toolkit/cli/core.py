"""The ``mediatk`` command group and what every command module shares: one-line errors, common options.

Command modules (``cli_*.py``) import :data:`main` from here and attach their commands to it;
:mod:`mediatk.cli` imports them all.  Nothing here imports a command module, so there is no import circle.
"""

from __future__ import annotations

import sys

import click
from mediatk import __version__
from mediatk.core.errors import MediatkError


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
