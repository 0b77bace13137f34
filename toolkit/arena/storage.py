"""Where an arena keeps its files: ``results.json``, fakes, generator runs and detectors under ``--out``.

Every stage's outputs are files here, so a resumed arena reads what an earlier process wrote.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from mediatk.core.errors import ConfigError
from mediatk.core.fileio import atomic_path, write_json


def save_images(path: Path, x: torch.Tensor) -> None:
    """Images in [-1, 1] stored as uint8 safetensors (what a PNG would hold, a few MB per set)."""
    from safetensors.torch import save_file

    u8 = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).contiguous()
    with atomic_path(path) as tmp:
        save_file({"images": u8}, str(tmp))


def load_images_file(path: Path) -> torch.Tensor:
    from safetensors.torch import load_file

    return load_file(str(path))["images"].float() / 127.5 - 1


def empty_results() -> dict[str, Any]:
    return {"protocol": {}, "stages": [], "rounds": [], "table": [], "cross": {}, "robustness": {}, "roc": {},
            "quality": {}}


class ArenaStore:
    """The layout of one arena directory."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.results_file = self.out / "results.json"

    def open_results(self, config: dict[str, Any], resume: bool) -> dict[str, Any]:
        """The results so far (``resume``) or a fresh record; refuses to mix two configurations."""
        if self.results_file.is_file() and not resume:
            raise ConfigError(f"{self.out} already holds an arena run; add --resume to continue it or choose "
                              "another --out")
        if not (resume and self.results_file.is_file()):
            return empty_results()
        results = json.loads(self.results_file.read_text())
        old = results["protocol"]["config"]
        if {k: v for k, v in old.items() if k != "out"} != {k: v for k, v in config.items() if k != "out"}:
            raise ConfigError(f"{self.out} was started with a different configuration; --resume needs the "
                              "same options (see results.json protocol.config)")
        return results

    def save_results(self, results: dict[str, Any]) -> None:
        write_json(self.results_file, results)

    def fake_path(self, g: str, t: int, split: str) -> Path:
        return self.out / "fakes" / f"{g}_r{t}_{split}.safetensors"

    def fakes(self, g: str, t: int, split: str) -> torch.Tensor:
        return load_images_file(self.fake_path(g, t, split))

    def gen_dir(self, g: str, t: int) -> Path:
        """The engine run of generator ``g`` at round ``t`` (round 0: trained; later: evaded)."""
        return self.out / "generators" / g / f"round{t}"

    def gen_checkpoint(self, g: str, t: int) -> Path:
        return self.gen_dir(g, t) / "checkpoints" / "last.safetensors"

    def fresh_gen_dir(self, g: str, t: int) -> Path:
        """``gen_dir`` emptied of what an interrupted run of its stage left (a stage starts over)."""
        path = self.gen_dir(g, t)
        if path.is_dir():
            shutil.rmtree(path)
        return path

    def det_path(self, d: str, t: int) -> Path:
        return self.out / "detectors" / f"{d}_r{t}"
