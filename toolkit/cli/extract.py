"""``mediatk extract-faces``: videos → a face-crop set (Python API: :mod:`mediatk.detectors.extract`)."""

from __future__ import annotations

import click
from mediatk.cli.core import device_option, main


@main.command("extract-faces")
@click.argument("data")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Output folder (a facecrops set: real/, fake/, labels.csv, videos.csv); reruns resume.")
@click.option("--frames", type=int, default=32, show_default=True, help="Frames per video, spread over the clip.")
@click.option("--margin", type=float, default=1.3, show_default=True, help="Crop side / MTCNN box side.")
@click.option("--size", type=int, default=224, show_default=True, help="Side of the square crops in pixels.")
@click.option("--all-faces", is_flag=True, help="Every confident face (tracked across frames), not only the main one.")
@click.option("--min-prob", type=float, default=0.9, show_default=True, help="MTCNN confidence a face needs.")
@click.option("--jobs", type=int, default=1, show_default=True, help="Videos decoded in parallel ahead of detection.")
@click.option("--limit", type=click.IntRange(1, None), default=None, help="Only the first N videos of the set.")
@device_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def extract_faces_cmd(data, out, frames, margin, size, all_faces, min_prob, jobs, limit, device, quiet) -> None:
    """Cut face crops from the videos of DATA (FaceForensics++, Celeb-DF, real/ fake/ folders, one video)."""
    from mediatk.core.runtime import resolve_device
    from mediatk.detectors.extract import ExtractOptions, extract_faces

    opts = ExtractOptions(frames=frames, margin=margin, size=size, all_faces=all_faces, min_prob=min_prob, jobs=jobs)
    rep = extract_faces(data, out, opts, device=str(resolve_device(device)), limit=limit, progress=not quiet,
                        log=lambda s: click.echo(s, err=True))
    click.echo(f"{rep['ok']} videos with faces, {rep['no_face']} without, {rep['error']} failed; {rep['crops']} crops "
               f"in {rep['seconds']} s → {rep['out']} (labels.csv, videos.csv)")
    for v in rep["no_face_videos"]:
        click.echo(f"  no face: {v}")
    for v, msg in rep["errors"].items():
        click.echo(f"  failed: {v}: {msg}")
