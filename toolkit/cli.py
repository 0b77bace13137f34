"""The ``mediatk`` command line: a thin Click layer over the Python API.

Errors a user can cause are :class:`mediatk.errors.MediatkError`; they are printed as one line
(``mediatk: error: ...``) with a non-zero exit status and no traceback.  Click's own usage errors are
printed the same way.  The group and the shared options live in :mod:`mediatk.cli_core`; each ``cli_*.py``
module attaches its commands to it, and this module imports every one of them (a new command module is
found without editing a list).
"""

from __future__ import annotations

import importlib
import pkgutil

from .cli_core import MediatkGroup, device_option, fail, main, seed_option

_package = importlib.import_module(__package__)
for _m in sorted(m.name for m in pkgutil.iter_modules(_package.__path__) if m.name.startswith("cli_")):
    importlib.import_module(f"{__package__}.{_m}")

__all__ = ["MediatkGroup", "device_option", "fail", "main", "seed_option"]
