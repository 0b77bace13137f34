"""mediatk: build generators, build detectors, and measure the arms race between them.

The command line (``mediatk``) is a thin layer over this package; a notebook uses the same calls::

    import mediatk
    ds = mediatk.datasets.load_images("fashion-mnist", split="train")
    model = mediatk.generators.create("vae", image_shape=(1, 28, 28))
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    # Lazy submodule access (``mediatk.datasets`` etc.) without importing torch at ``import mediatk``.
    import importlib

    if name in {"datasets", "generators", "detectors", "media", "core", "evaluation", "arena", "cli", "zoo"}:
        return importlib.import_module(f"mediatk.{name}")
    raise AttributeError(name)
