"""The package is built in floors; a module imports only from its own floor or the floors below it.

    core < media < datasets < generators < detectors < evaluation < arena < cli

Every import counts, also those inside functions (a lazy import that runs upward is still a circle waiting to
happen).  ``mediatk.zoo`` (the loader of shipped weights) sits with ``core``; ``mediatk.zoo.build`` evaluates
checkpoints and sits with ``evaluation``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"toolkit": "mediatk", "generators": "mediatk.generators", "detectors": "mediatk.detectors",
           "datasets": "mediatk.datasets"}
FLOORS = ["core", "media", "datasets", "generators", "detectors", "evaluation", "arena", "cli"]
SPECIAL = {"mediatk": "core", "mediatk.zoo": "core", "mediatk.zoo.build": "evaluation",
           "mediatk.__main__": "cli"}


def floor(module: str) -> int:
    for name in sorted(SPECIAL, key=len, reverse=True):
        if module == name or (name != "mediatk" and module.startswith(name + ".")):
            return FLOORS.index(SPECIAL[name])
    parts = module.split(".")
    if parts[0] != "mediatk" or len(parts) < 2:
        raise AssertionError(f"not a mediatk module: {module}")
    if parts[1] not in FLOORS:
        raise AssertionError(f"{module} is in no floor: put it in one of {FLOORS}")
    return FLOORS.index(parts[1])


def modules():
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            is_init = parts[-1] == "__init__"
            if is_init:
                parts = parts[:-1]
            name = ".".join([package, *parts])
            yield path, name, name if is_init else name.rsplit(".", 1)[0]


def imports(path: Path, package: str):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "mediatk":  # from mediatk import datasets, __version__
                for alias in node.names:
                    yield node.lineno, (f"mediatk.{alias.name}" if not alias.name.startswith("_") else "mediatk")
            elif target.startswith("mediatk."):
                yield node.lineno, target
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mediatk"):
                    yield node.lineno, alias.name


def test_every_module_sits_on_a_floor():
    for _, name, _ in modules():
        floor(name)


def test_no_import_runs_upward():
    upward = []
    for path, name, package in modules():
        own = floor(name)
        for line, target in imports(path, package):
            if floor(target) > own:
                upward.append(f"{path.relative_to(ROOT)}:{line} ({FLOORS[own]}) imports {target} "
                              f"({FLOORS[floor(target)]})")
    assert not upward, "imports that run upward:\n" + "\n".join(upward)


def test_the_check_sees_an_upward_import(tmp_path):
    # The checker itself: a core module importing the arena must be reported.
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from mediatk.arena import Arena\n")
    found = [(line, t) for line, t in imports(bad, "mediatk.core") if floor(t) > floor("mediatk.core.bad")]
    assert found == [(2, "mediatk.arena")]
