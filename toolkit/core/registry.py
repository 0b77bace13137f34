"""Name registries: a new model, detector or dataset is one file that registers itself here.

The CLI, the evaluation loop and the contract tests enumerate these registries, so registering is all it
takes to be picked up.  Modules register at import.  Nobody keeps a list of them: each of the packages
``mediatk.generators``, ``mediatk.detectors`` and ``mediatk.datasets`` calls :func:`discover` on itself, which
imports every module in its folder whose name does not start with ``_`` (``_template.py`` files are
templates for newcomers, not models), and :func:`load_builtin` imports the three packages.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from mediatk.core.errors import ConfigError

T = TypeVar("T")


@dataclass
class Entry(Generic[T]):
    name: str
    obj: T
    summary: str
    tags: tuple[str, ...] = field(default_factory=tuple)


class Registry(Generic[T]):
    """A case-insensitive name → object map with one-line summaries."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, summary: str = "", tags: tuple[str, ...] = ()) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            key = name.lower()
            if key in self._entries and self._entries[key].obj is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            doc = summary or (getattr(obj, "__doc__", None) or "").strip().splitlines()[:1]
            text = doc if isinstance(doc, str) else (doc[0] if doc else "")
            self._entries[key] = Entry(name=key, obj=obj, summary=text, tags=tuple(tags))
            return obj

        return deco

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def entry(self, name: str) -> Entry[T]:
        load_builtin()
        key = str(name).lower()
        if key not in self._entries:
            known = ", ".join(sorted(self._entries)) or "none"
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {known}")
        return self._entries[key]

    def __contains__(self, name: object) -> bool:
        load_builtin()
        return str(name).lower() in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        load_builtin()
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def names(self) -> list[str]:
        return [e.name for e in self]


GENERATORS: Registry[Any] = Registry("model")
DETECTORS: Registry[Any] = Registry("detector")
DATASETS: Registry[Any] = Registry("dataset")

# Packages whose import registers the built-ins (each discovers its own modules).
BUILTIN_MODULES = [
    "mediatk.datasets",
    "mediatk.generators",
    "mediatk.detectors",
]

_loaded = False


def load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in BUILTIN_MODULES:
        importlib.import_module(mod)


def discover(package: str) -> list[str]:
    """Import every public module of ``package`` (a package's ``__name__``); returns their names.

    A model, detector or dataset format is one file in its package's folder: importing it registers it, so a
    new file is picked up by the CLI, the arena and the contract tests without editing any list.
    """
    pkg = importlib.import_module(package)
    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))
    for name in names:
        importlib.import_module(f"{package}.{name}")
    return names
