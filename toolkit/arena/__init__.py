"""The arms-race harness: generators adapt to detectors, detectors retrain on the new fakes.

The arena is a client of the library: generators train and evade on the one engine, fakes come from the
one batched sampler, detectors from the registry and their own ``fit``, figures from the metrics module.
Its modules, by concern:

* :mod:`.config`: ``ArenaConfig``, the budgets and up-front checks;
* :mod:`.protocol`: the protocol in words, and the ``protocol`` record of ``results.json``;
* :mod:`.rounds`: the :class:`Arena` (its stages) and :func:`run_arena`;
* :mod:`.runner`: runs the stages, skips finished ones on ``--resume``, prints progress;
* :mod:`.evasion`: the evasion loss (a penalty the engine adds) and spectral post-processing;
* :mod:`.stats`: AUC with intervals, fooling rate, TPR at 1% FPR, ROC points;
* :mod:`.storage`: the files under ``--out``;
* :mod:`.demo`: ``mediatk demo``'s configuration; :mod:`.report`: ``report.html`` and ``round_table.md``.

Every stage is a named unit whose outputs are files in the arena directory, recorded in ``results.json``
when the stage ends; ``--resume`` skips finished stages.  Each stage seeds every RNG from (seed, stage name),
so a resumed run produces the same numbers as an uninterrupted one, and the same seed on CPU gives the same
``results.json``.
"""

from __future__ import annotations

from mediatk.arena.config import BUDGETS, ROBUSTNESS, SMALL_NETS, ArenaConfig, stage_seed, validate
from mediatk.arena.demo import DEMO_NETS, DEMO_OVERRIDES, demo_config
from mediatk.arena.evasion import evasion_penalty, evasion_terms
from mediatk.arena.rounds import Arena, run_arena
from mediatk.arena.stats import DECISION, MAX_FPR, auc, detection_stats, roc_points
from mediatk.arena.storage import load_images_file, save_images

__all__ = ["BUDGETS", "DECISION", "DEMO_NETS", "DEMO_OVERRIDES", "MAX_FPR", "ROBUSTNESS", "SMALL_NETS", "Arena",
           "ArenaConfig", "auc", "demo_config", "detection_stats", "evasion_penalty", "evasion_terms",
           "load_images_file", "roc_points", "run_arena", "save_images", "stage_seed", "validate"]
