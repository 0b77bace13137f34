"""Recipes: ``mediatk train --config FILE`` reads a training run's options from a file.

A recipe is TOML (``.toml``) or JSON (``.json``; a run's own ``config.json`` is one).  Its keys are the
long options of ``mediatk train`` (``image-size`` or ``image_size``), plus ``model``, ``data`` and a
``[options]`` table of model options as ``mediatk models MODEL`` lists them::

    model = "vae"
    data = "fashion-mnist"
    steps = 300

    [options]
    latent-dim = 16

``config.json``'s nested ``train`` (engine settings) and ``eval`` (evaluation sizes) tables are read the same
way; what a run recorded about its data (``data_info``) is ignored.  Options given on the command line win
over the file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mediatk.core.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: config.json keys that record outcomes, not choices
IGNORED = {"data_info", "progress"}
#: other spellings of train's option names: at the top level, and inside config.json's ``eval`` table
ALIASES = {"attr": "attrs"}
EVAL_ALIASES = {"n": "eval_n", "feature_net": "eval_feature_net", "judge_steps": "eval_judge_steps"}


def read_recipe(path: str | Path) -> dict[str, Any]:
    """The file as a dict (TOML or JSON by suffix); a missing or malformed file is a one-line error."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--config {p}: no such file")
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(p.read_text(encoding="utf-8"))
        elif p.suffix.lower() == ".toml":
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        else:
            raise ConfigError(f"--config {p}: give a .toml or .json recipe")
    except (UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"--config {p}: not valid {p.suffix[1:].upper()} ({' '.join(str(e).split())})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {p}: expected a table of options at the top level")
    return data


def flatten_recipe(data: dict[str, Any], known: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(train options, model options)`` with keys in Python spelling; unknown keys are an error."""
    model_options = dict(data.get("options") or {})
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key == "options":
            continue
        if key in ("train", "eval") and isinstance(value, dict):
            for k, v in value.items():
                name = k.replace("-", "_")
                flat[EVAL_ALIASES.get(name, name) if key == "eval" else name] = v
            continue
        name = key.replace("-", "_")
        flat[ALIASES.get(name, name)] = value
    out = {}
    for name, value in flat.items():
        if name in IGNORED:
            continue
        if name not in known:
            raise ConfigError(f"recipe option {name!r} is not an option of 'mediatk train' (model options go in "
                              "an [options] table)")
        out[name] = value
    return out, {k.replace("_", "-"): v for k, v in model_options.items()}


def option_words(options: dict[str, Any]) -> list[str]:
    """Model options as command-line words: ``{"g-width": 32, "aux-classifier": True}`` → ``--g-width 32 ...``."""
    words: list[str] = []
    for key, value in options.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        words += [f"--{key}", str(value).lower() if isinstance(value, bool) else str(value)]
    return words
