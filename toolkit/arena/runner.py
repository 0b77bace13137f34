"""Running an arena's stages: each a named unit, skipped when ``results.json`` lists it as done.

Each stage seeds every RNG from (seed, stage name), so a resumed run produces the same numbers as an
uninterrupted one.  :class:`Progress` prints one status line per stage with an estimate of what is left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from mediatk.arena.config import stage_seed


class Progress:
    """One status line per stage on stderr: round, stage, elapsed and an estimate of what is left."""

    WEIGHTS: ClassVar[dict[str, float]] = {"train": 10.0, "evade": 4.0, "fit": 2.0, "cross": 3.0, "robust": 1.0,
                                           "fakes": 0.5, "eval": 1.0, "quality": 1.0}

    def __init__(self, names: list[str], echo: Callable[[str], None]):
        self.names, self.echo = names, echo
        self.total = sum(self.weight(n) for n in names)
        self.done_w = 0.0
        self.t0 = time.perf_counter()
        self.done_w_timed = 0.0

    def weight(self, name: str) -> float:
        return self.WEIGHTS.get(name.split(":")[0], 1.0)

    def start(self, name: str, skipped: bool = False) -> None:
        i = self.names.index(name) + 1
        el = time.perf_counter() - self.t0
        left = ""
        if self.done_w_timed > 0 and el > 1:
            rate = el / self.done_w_timed
            left = f", ~{fmt_seconds(rate * (self.total - self.done_w))} left"
        what = "skip (done)" if skipped else "run "
        self.echo(f"[arena {i}/{len(self.names)} {fmt_seconds(el)}{left}] {what} {name}")

    def finish(self, name: str, skipped: bool = False) -> None:
        self.done_w += self.weight(name)
        if not skipped:
            self.done_w_timed += self.weight(name)


def fmt_seconds(s: float) -> str:
    s = round(s)
    return f"{s // 60}:{s % 60:02d}"


def run_stages(steps: list[tuple[str, Callable[[], Any]]], results: dict[str, Any], seed: int,
               save: Callable[[], None], echo: Callable[[str], None]) -> None:
    """Run each ``(name, fn)`` not yet in ``results["stages"]``; after each, record it and ``save()``."""
    from mediatk.core.runtime import seed_everything

    progress = Progress([n for n, _ in steps], echo)
    for name, fn in steps:
        if name in results["stages"]:
            progress.start(name, skipped=True)
            progress.finish(name, skipped=True)
            continue
        progress.start(name)
        seed_everything(stage_seed(seed, name))
        fn()
        results["stages"].append(name)
        save()
        progress.finish(name)
