"""Model options as dataclasses, and their command-line form.

Every model and detector declares a ``Config`` dataclass; its fields are the options (with defaults and a
``help`` in the field metadata).  The CLI passes the words after the fixed options (``--code-size 16
--arch conv``) to :func:`parse_options`; checkpoints store ``dataclasses.asdict(config)`` and rebuild with
:func:`config_from_dict`.  Unknown or ill-typed options are one-line :class:`ConfigError`.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Literal, get_args, get_origin

from mediatk.core.errors import ConfigError


def opt(default: Any, help: str = "", **kw: Any) -> Any:
    """A dataclass field with a help text: ``code_size: int = opt(32, "size of the code")``.

    ``absent=VALUE`` is what a checkpoint saved before the option existed behaved as, when that differs from
    the new default (:func:`config_from_checkpoint` applies it)."""
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"help": help, **kw})
    return dataclasses.field(default=default, metadata={"help": help, **kw})


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(cls: type, name: str, tp: Any, raw: Any) -> Any:
    flag = "--" + name.replace("_", "-")
    origin = get_origin(tp)
    if origin is Literal:
        choices = get_args(tp)
        for c in choices:
            if str(c).lower() == str(raw).lower():
                return c
        raise ConfigError(f"{flag}: {raw!r} is not one of {', '.join(map(str, choices))}")
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in get_args(tp) if a is not type(None)]
        if raw is None or str(raw).lower() in ("none", "null"):
            return None
        return _convert(cls, name, args[0], raw)
    if origin in (list, tuple):
        (inner, *_) = get_args(tp) or (str,)
        items = raw if isinstance(raw, (list, tuple)) else [s for s in str(raw).split(",") if s != ""]
        vals = [_convert(cls, name, inner, v) for v in items]
        return tuple(vals) if origin is tuple else vals
    if tp is bool:
        if isinstance(raw, bool):
            return raw
        s = str(raw).lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{flag}: expected true or false, got {raw!r}")
    if tp in (int, float, str):
        try:
            return tp(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{flag}: expected {tp.__name__}, got {raw!r}") from None
    return raw


def parse_options(cls: type, words: list[str] | tuple[str, ...], what: str = "model") -> Any:
    """Build ``cls`` (a dataclass) from CLI words like ``["--code-size", "16", "--no-bias"]``."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = _hints(cls)
    values: dict[str, Any] = {}
    i = 0
    words = list(words)
    while i < len(words):
        w = words[i]
        if not w.startswith("--"):
            raise ConfigError(f"unexpected argument {w!r}; {what} options look like --name value")
        key, _, inline = w[2:].partition("=")
        name = key.replace("-", "_")
        negate = False
        if name not in fields and name.startswith("no_") and name[3:] in fields and hints[name[3:]] is bool:
            name, negate = name[3:], True
        if name not in fields:
            known = ", ".join("--" + n.replace("_", "-") for n in fields) or "none"
            raise ConfigError(f"unknown {what} option --{key}; this {what} takes: {known}")
        tp = hints[name]
        if tp is bool and not inline:
            nxt = words[i + 1] if i + 1 < len(words) else None
            if nxt is not None and nxt.lower() in ("true", "false", "yes", "no", "0", "1"):
                values[name] = _convert(cls, name, tp, nxt)
                i += 2
            else:
                values[name] = not negate
                i += 1
            continue
        if inline:
            raw = inline
            i += 1
        else:
            if i + 1 >= len(words):
                raise ConfigError(f"--{key} needs a value")
            raw = words[i + 1]
            i += 2
        values[name] = _convert(cls, name, tp, raw)
    return cls(**values)


def config_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Build a config from a dict (a recipe's options, a checkpoint's stored config); unknown keys are an error."""
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(f"checkpoint config has options this version does not know: {', '.join(unknown)}")
    hints = _hints(cls)
    return cls(**{k: _convert(cls, k, hints[k], v) for k, v in data.items()})


def config_from_checkpoint(cls: type, data: dict[str, Any]) -> Any:
    """:func:`config_from_dict` for a checkpoint's stored config: an option the checkpoint predates takes its
    ``absent`` value (see :func:`opt`) instead of today's default, so an old file behaves as it did."""
    old = {f.name: f.metadata["absent"] for f in dataclasses.fields(cls) if "absent" in f.metadata and f.name not in data}
    return config_from_dict(cls, {**data, **old})


def describe_options(cls: type) -> list[tuple[str, str, str]]:
    """``(flag, default, help)`` rows for ``mediatk models NAME``."""
    rows = []
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else "")  # type: ignore[misc]
        tp = hints[f.name]
        if get_origin(tp) is Literal:
            choice = "|".join(map(str, get_args(tp)))
            help_text = f"{f.metadata.get('help', '')} [{choice}]"
        else:
            help_text = f.metadata.get("help", "")
        rows.append(("--" + f.name.replace("_", "-"), str(default), help_text))
    return rows
