"""The combined verdict of ``mediatk detect``: one rule over whatever detectors gave evidence, naming none."""

from __future__ import annotations

from typing import Any

import numpy as np

VERDICT_RULE = ("mean P(synthetic) of the detectors whose evidence is ok (image detectors: their score; video "
                "detectors: their own video-level score, e.g. face-scores' aggregate, blink's 0.25 typical / 0.75 "
                "too few blinks); the others abstain; synthetic if >= threshold, undecided when none is ok")


def verdict(evidence: dict[str, dict[str, Any]], threshold: float) -> dict[str, Any]:
    """``{label, p_synthetic, threshold, rests_on, rule}`` from ``{detector: {"status", "p_synthetic", ...}}``."""
    votes = {n: float(e["p_synthetic"]) for n, e in evidence.items()
             if e.get("status") == "ok" and e.get("p_synthetic") is not None}
    p = float(np.mean(list(votes.values()))) if votes else None
    label = "undecided" if p is None else ("synthetic" if p >= threshold else "real")
    return {"label": label, "p_synthetic": None if p is None else round(p, 4), "threshold": threshold,
            "rests_on": sorted(votes), "rule": VERDICT_RULE}
