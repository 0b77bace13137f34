"""The ``mediatk`` command line: a thin Click layer over the Python API.

Errors a user can cause are :class:`mediatk.core.errors.MediatkError`; they are printed as one line
(``mediatk: error: ...``) with a non-zero exit status and no traceback.  Click's own usage errors are
printed the same way.  The group and the shared options live in :mod:`mediatk.cli.core`; each module of
this package attaches its commands to it, and this module imports every one of them (a new command module is
found without editing a list).
"""

from __future__ import annotations

import importlib
import pkgutil

from mediatk.cli.core import MediatkGroup, device_option, fail, main, seed_option

for _m in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_m}")

__all__ = ["MediatkGroup", "device_option", "fail", "main", "seed_option"]
