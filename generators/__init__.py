"""Generators: the autoencoder family, VAEs and GANs, all on one training engine.

Importing this package registers every built-in model in :data:`mediatk.core.registry.GENERATORS`.  A new model
is one module here that subclasses :class:`Generator` and decorates itself with ``@register(name, summary)``
(``_template.py`` shows what to write); :func:`mediatk.core.registry.discover` imports it, nothing else changes.
"""

from mediatk.core.registry import discover
from mediatk.generators.base import Generator, StepContext, Update, create, from_checkpoint, register

discover(__name__)

__all__ = ["Generator", "StepContext", "Update", "create", "from_checkpoint", "register"]
