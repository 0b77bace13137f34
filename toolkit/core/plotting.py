"""Figures for reports: matplotlib without a display, atomic PNG writes, PNGs inlined into HTML.

Every report mediatk writes (the detector evaluation page, the arena page, a video's timeline) goes through
these three functions, so a figure is never half-written and a report is one self-contained HTML file.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from mediatk.core.fileio import atomic_path


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed); imported on first use, it is slow."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: Path, dpi: int = 110, tight: bool = True) -> Path:
    """Write ``fig`` to ``path`` atomically and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, **({"bbox_inches": "tight"} if tight else {}))
    pyplot().close(fig)
    return path


def img_tag(path: Path, alt: str, width: int | None = None) -> str:
    """An ``<img>`` carrying the PNG at ``path`` as a data URI, so the HTML page needs no side files."""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    w = f' width="{width}"' if width else ""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"{w}>'
