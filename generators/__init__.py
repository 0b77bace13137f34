"""Generators: the autoencoder family, VAEs and GANs, all on one training engine.

Importing this package registers every built-in model in :data:`mediatk.registry.GENERATORS`.  A new model
is one module here that subclasses :class:`Generator`, decorates itself with ``@register(name, summary)``,
and is added to the imports below.
"""

from . import autoencoders, pca, vae  # noqa: F401  (registration)
from .base import Generator, StepContext, Update, create, from_checkpoint, register

for _optional in ("gans",):  # model families added by later work register themselves when present
    try:
        __import__(f"{__name__}.{_optional}")
    except ModuleNotFoundError as _e:
        if _e.name != f"{__name__}.{_optional}":
            raise

__all__ = ["Generator", "StepContext", "Update", "create", "from_checkpoint", "register"]
