"""The arena's protocol, in words here and as the ``protocol`` record of every ``results.json``.

* Round 0: train each generator (or load ``--checkpoint``); sample fakes (a train set and a held-out test
  set); split the real data into train and test; fit each detector on real-train vs the pooled fakes of all
  generators; evaluate on real-test vs each generator's held-out fakes.
* Round t → t+1, for each generator G_t:
  1. **Evasion.** Fine-tune G_t against the frozen detectors D_t on the training engine: the engine runs the
     model's own training step and adds a penalty (:mod:`mediatk.arena.evasion`),
     λ·mean_D[mean softplus(logit_D(G(z)))], each detector's −log(1 − P_D(synthetic)) averaged over the
     differentiable detectors (``torch_logit``), to the update of the optimiser that owns the sampling path
     (GAN: G's; VAE: the whole model's).  With ``--evasion post|both`` the samples are also post-processed
     (spectral matching towards the real images' mean Fourier amplitude).
  2. **Measure.** AUC(D_t on G_t) (before), AUC(D_t on G_t+1) (evasion), FID/KID of G_t and G_t+1 against
     the real test split (the price of evasion).  Every AUC comes with its bootstrap 95% interval, the
     fooling rate at the decision point P(synthetic) ≥ 0.5 and the TPR at the threshold that flags 1% of
     the real test images (an AUC below 0.5 means inverted scores; how many fakes pass is what these say).
  3. **Retrain.** D_t+1 is fitted on real-train vs G_t+1's fakes (plus every earlier round's with
     ``accumulate``): AUC(D_t+1 on G_t+1) (recovery) and AUC(D_t+1 on G_≤t) (forgetting).
* Also: a cross-generator matrix at round 0 (a detector trained on G_i's fakes only, tested on G_j's) and
  robustness curves of D_0 (AUC against JPEG quality, blur σ, downscale factor).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import torch
from mediatk.arena.config import ROBUSTNESS, ArenaConfig
from mediatk.arena.evasion import POST_ALPHA

EVASION_LOSS = ("lambda * mean over the differentiable detectors D of mean softplus(logit_D(G(z))) "
                "(each detector's own term), added to the generator's own update")


def protocol_record(cfg: ArenaConfig, budget: dict[str, Any], real: dict[str, Any],
                    device: torch.device) -> dict[str, Any]:
    """What ``results.json`` says about how its numbers were made (config, sizes, splits, machine)."""
    from mediatk.core.runtime import describe_machine, package_versions

    return {
        "config": json.loads(json.dumps(asdict(cfg))), "budget": budget, "data": cfg.data,
        "dataset": real["name"], "splits": real["splits"], "image_size": cfg.image_size,
        "channels": int(real["train"].shape[1]), "seed": cfg.seed,
        "n_real_train": len(real["train"]), "n_real_test": len(real["test"]),
        "n_fake_train_per_generator": budget["n_fake_train"], "n_fake_test_per_generator": budget["n_fake_test"],
        "detector_training": "real-train vs the pooled train fakes of every generator"
                             + (" of every round so far" if cfg.accumulate else " of the current round"),
        "evasion": {"mode": cfg.evasion, "lambda": cfg.lam, "steps": budget["evade_steps"], "loss": EVASION_LOSS,
                    "post": f"spectral matching to the real mean amplitude, alpha {POST_ALPHA}"
                    if cfg.evasion in ("post", "both") else None},
        "robustness": {"levels": ROBUSTNESS, "n_real": budget["robust_n"], "detectors": "round 0"},
        "device": str(device), "machine": describe_machine(device), "versions": package_versions(),
    }
