"""``mediatk data list|show``: what data mediatk can see, and a labelled look at it."""

from __future__ import annotations

import click
from mediatk.cli.checks import SIZE
from mediatk.cli.core import main


@main.group("data")
def data_group() -> None:
    """Inspect datasets (registered formats and folders under the data roots)."""


@data_group.command("list")
def data_list() -> None:
    """Every registered set: where it was found and how many images/videos per split."""
    from mediatk.datasets import catalog, data_roots

    roots = data_roots()
    click.echo("data roots: " + (", ".join(str(r) for r in roots) if roots else "(none; set MEDIATK_DATA)"))
    for rec in catalog():
        where = rec.get("path") or "not found"
        counts = rec.get("counts") or {}
        count_txt = ", ".join(f"{k} {v}" for k, v in counts.items()) if counts else "-"
        extra = ""
        if rec.get("attr_names"):
            names = rec["attr_names"]
            extra = f"; attributes: {len(names)} ({', '.join(names[:4])}{', ...' if len(names) > 4 else ''})"
        click.echo(f"  {rec['name']:<22} {rec.get('format', ''):<13} {count_txt:<28} {where}{extra}")


@data_group.command("show")
@click.argument("spec")
@click.option("--attr", "attrs", multiple=True, help="Label tiles by this attribute (CelebA layout), e.g. smiling.")
@click.option("--split", default="train", show_default=True)
@click.option("-n", "n", type=click.IntRange(1, 1024), default=32, show_default=True, help="Number of images.")
@click.option("--image-size", type=SIZE, default=None, help="Resize to S×S.")
@click.option("--domain", type=click.Choice(["A", "B"]), default=None, help="Domain of an unpaired set.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="PNG file to write.")
def data_show(spec, attrs, split, n, image_size, domain, seed, out) -> None:
    """Write a labelled sample grid of SPEC (a name or a path)."""
    from mediatk.cli.preview import show_grid

    path = show_grid(spec, out, attrs=list(attrs) or None, split=split, n=n, image_size=image_size,
                     domain=domain, seed=seed)
    click.echo(f"wrote {path}")


@main.command("info")
@click.argument("paths", nargs=-1, required=True)
def info_cmd(paths) -> None:
    """Describe media files: an image's size, or a video's fps, frame count, duration and size."""
    from mediatk.media.video import describe_media

    for p in paths:
        click.echo(describe_media(p))
