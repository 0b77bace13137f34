"""Detectors of synthetic media (registered in :data:`mediatk.core.registry.DETECTORS`).

Image detectors (P(synthetic) per image): ``cnn``, ``spectrum``, ``recon``, ``oneclass``, ``codes-svm``,
``discriminator``.  Video detectors (the contract in :mod:`.stream`): ``blink`` (eye-blink statistics from
MTCNN landmarks + the ``eyestate`` component) and ``face-scores`` (an image detector's per-face scores
aggregated over the clip).  The image contract is in :mod:`.base`; training in :mod:`.api`; detection (what
the CLI calls) in :mod:`.inference`, the streamed video pipeline in :mod:`.video`, the verdict in :mod:`.verdict`.

>>> from mediatk.detectors import create, load
>>> det = create("spectrum").fit(real, fake)          # doctest: +SKIP
>>> det.predict_proba(images)                          # doctest: +SKIP
"""

from __future__ import annotations

from mediatk.core.registry import discover
from mediatk.detectors.api import find_detector, load_detector, store_dir, train_detector
from mediatk.detectors.base import Detector, KernelHead, LinearHead, register
from mediatk.detectors.inference import detect, detect_paths
from mediatk.detectors.recon import ReconClassifier

discover(__name__)  # every module here registers itself on import; _template.py shows what to write


def create(name: str, device: str = "cpu", options: list[str] | dict | None = None) -> Detector:
    """A fresh, untrained detector ``name`` with ``options`` (CLI words or a dict)."""
    from mediatk.core.options import config_from_dict, parse_options
    from mediatk.core.registry import DETECTORS

    cls = DETECTORS.get(name)
    cfg = config_from_dict(cls.Config, options) if isinstance(options, dict) else parse_options(
        cls.Config, options or [], what="detector")
    return cls(cfg, device=device)


def load(path, device: str = "cpu") -> Detector:
    """A trained detector from its checkpoint (the class comes from the checkpoint)."""
    return Detector.load(path, device=device)


__all__ = ["Detector", "KernelHead", "LinearHead", "ReconClassifier", "create", "detect", "detect_paths",
           "find_detector", "load", "load_detector", "register", "store_dir", "train_detector"]
