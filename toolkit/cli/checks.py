"""Option checks shared by the CLI commands: ranges, conflicts, and what ``--resume`` may change.

Click's own range types (``click.IntRange``) already print a usage error naming the option; these helpers
cover what a type cannot say: two options that exclude each other, options a resumed run would silently
ignore, and "did the user type this option or is it the default?".
"""

from __future__ import annotations

import click
from click.core import ParameterSource

SIZE = click.IntRange(8, 1024)            # image sides: 8 px .. 1024 px (a 100000 px side would need 160 GB)
BATCH = click.IntRange(1, 65536)
POSITIVE = click.IntRange(1, None)
NON_NEGATIVE = click.IntRange(0, None)
POSITIVE_FLOAT = click.FloatRange(0, None, min_open=True)
OPEN_UNIT = click.FloatRange(0, 1, min_open=True, max_open=True)  # probabilities, fractions, EMA decays


def given(ctx: click.Context, name: str) -> bool:
    """True when the user set option ``name`` (command line or environment), not its default."""
    src = ctx.get_parameter_source(name)
    return src not in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)


def flag(ctx: click.Context, name: str) -> str:
    """The option's spelling on the command line, e.g. ``--batch-size``."""
    for p in ctx.command.params:
        if p.name == name:
            return p.opts[0] if p.opts else name
    return name


def exclusive(ctx: click.Context, *names: str) -> None:
    """A usage error when more than one of these options was given."""
    set_ = [flag(ctx, n) for n in names if given(ctx, n)]
    if len(set_) > 1:
        raise click.UsageError(f"{' and '.join(set_)} exclude each other; give one", ctx=ctx)


def fixed_on_resume(ctx: click.Context, names: tuple[str, ...]) -> None:
    """A usage error for options that a resumed run takes from its config.json (they would be ignored)."""
    for n in names:
        if given(ctx, n):
            raise click.UsageError(f"{flag(ctx, n)} cannot change on --resume: the run keeps the value in its "
                                   "config.json (start a new run with --out to change it)", ctx=ctx)
