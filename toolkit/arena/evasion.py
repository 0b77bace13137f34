"""How generators evade detectors: a loss on their samples (fine-tuning) and spectral post-processing.

The loss is a :class:`~mediatk.generators.engine.GeneratorPenalty`: the engine adds it to the generator
optimiser's update of the model's own training step, so evasion trains on the same engine as any run.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from mediatk.generators.engine import GeneratorPenalty

#: post-processing: how far the samples' Fourier amplitude moves towards the real images' mean (0..1)
POST_ALPHA = 0.5


def evasion_terms(dets: dict[str, Any], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each differentiable detector's own evasion loss, mean softplus(logit) = −log(1 − P(synthetic)).

    The generator's loss is the mean of these terms, not softplus of the mean logit: with the mean logit, one
    detector driven far below zero (an overshoot to logit −16) paid for another that still caught every fake
    (+13.5), the loss looked small and the fakes stayed detectable.  Each term is ≥ 0 and only falls when its
    own detector is fooled.
    """
    return {d: F.softplus(det.torch_logit(x)).mean() for d, det in dets.items()}


def differentiable(dets: dict[str, Any]) -> dict[str, Any]:
    """The detectors a generator can take gradients through (those with ``torch_logit``)."""
    return {d: det for d, det in dets.items() if hasattr(det, "torch_logit")}


def evasion_penalty(dets: dict[str, Any], lam: float) -> GeneratorPenalty:
    """λ · mean over ``dets`` of :func:`evasion_terms`, logged as ``evasion`` and ``evasion_<detector>``."""
    return GeneratorPenalty("evasion", lambda x: evasion_terms(dets, x), weight=lam)


def post_process(x: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Spectral matching of samples towards the real images' mean Fourier amplitude (``--evasion post``)."""
    from mediatk.media.perturb import mean_amplitude, spectral_match

    return spectral_match(x, mean_amplitude(real), alpha=POST_ALPHA)
