"""Make a zoo entry from a trained run: measure it, export its sampling weights, write its model card.

    uv run python -m mediatk.zoo.build cgan-smiling --checkpoint runs/cgan/X/checkpoints/best.safetensors \\
        --recipe recipes/cgan-smiling.toml --command "uv run mediatk train ..." --load "2.1-6.8"

The figures come from :class:`mediatk.evaluation.quality.QualityEvaluator` (the code behind ``mediatk evaluate``) with
``--seed`` (default 1: an attribute judge other than the seed-0 one that chose a best checkpoint), so every
figure on a card is reproduced by ``mediatk evaluate --model M --checkpoint ... -n N --seed S``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

from mediatk.core.fileio import write_text

from . import ZOO_DIR, export

#: what each development set is and the terms it comes with (from the sets' own notes)
DATA_TERMS = {
    "celeba-genki-smiling": (
        ("GENKI-4K (MPLab, UC San Diego): 4000 face photos of people found on the web, with smile/non-smile "
         "labels, laid out like CelebA with one attribute, `Smiling` (train 2800 / test 1200; mediatk trains on "
         "2520 of the 2800 and keeps 280 as its val split)."),
        ("The GENKI-4K notes ask that any publication acknowledge the set with the citation \"http://mplab.ucsd.edu, "
         "The MPLab GENKI-4K Dataset.\"; no licence beyond that is stated, and the photos show real people: use the "
         "set and this model for research and teaching, and do not use the samples to depict or identify anyone.")),
    "fashion-mnist": (
        ("Fashion-MNIST (Zalando Research): 60,000 train / 10,000 test 28x28 grey images of clothing in 10 classes "
         "(mediatk trains on 54,000 of the 60,000 and keeps 6,000 as its val split)."),
        "MIT (Expat) licence, Copyright 2017 Zalando SE (the set's COPYRIGHT file, as packaged by Debian)."),
}


def _run_facts(checkpoint: Path) -> dict[str, Any]:
    """Steps, wall time and settings from the run directory that holds ``checkpoint``."""
    from mediatk.core.runs import RunDir

    run = RunDir(checkpoint.parent.parent)
    config = json.loads(run.config_file.read_text())
    rows = run.read_metrics()
    times = [r["time"] for r in rows if "time" in r]
    evals = [r for r in rows if any(k.startswith("eval/") for k in r)]
    return {"config": config, "wall_s": round(max(times), 1) if times else None, "evaluations": evals}


def build(entry: str, checkpoint: str, recipe: str, command: str, load: str, summary: str, n: int = 1000,
          seed: int = 1, device: str = "cpu", note: str = "") -> Path:
    """Evaluate ``checkpoint``, export it to ``zoo/<entry>/`` and write ``MODEL_CARD.md``; returns the card."""
    from mediatk.evaluation.quality import QualityEvaluator
    from mediatk.generators.base import from_checkpoint

    ck = Path(checkpoint)
    model = from_checkpoint(ck, device=device)
    meta = model.checkpoint_meta
    facts = _run_facts(ck)
    data = facts["config"]["data"]
    ev = QualityEvaluator(data, n=n, seed=seed, judge_seed=seed, log=print)
    res = ev(model)
    lines = ev.lines + [ev.fid_line(res)] + ev.accuracy_lines()
    rep = ev.report
    figures: dict[str, Any] = {"fid": rep["fid"], "fid_ci": rep["fid_ci"], "kid": rep["kid"], "kid_std": rep["kid_std"],
                               "feature_net": rep["feature_id"], "features": rep["features"], "n_fake": rep["n_fake"],
                               "n_real": rep["n_real"], "seed": seed, "lines": lines}
    for k, a in rep.get("accuracy", {}).items():
        figures[k], figures[f"{k}_ci"], figures[f"{k}_n"] = a["value"], a["ci"], a["n"]
    judge = [line for line in ev.lines if "judge:" in line]
    if judge:
        figures["judge"] = judge[0]
    what, terms = DATA_TERMS.get(str(data), (str(data), "see the set's own notes"))
    device_note = f"CPU, 2 cores shared with other jobs (load average {load} during training), torch threads 2"
    zoo_facts = {"summary": summary, "data": what, "terms": terms, "recipe": recipe, "command": command,
                 "wall_s": facts["wall_s"], "device": device_note, "figures": figures, "default": True,
                 "checkpoint_step": meta.get("step"), "checkpoint_tag": ck.stem, "note": note}
    weights = export(ck, ZOO_DIR / entry, zoo_facts)
    size = weights.stat().st_size
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    card = _card(entry, meta, zoo_facts, facts, size, sha, n, seed)
    return write_text(ZOO_DIR / entry / "MODEL_CARD.md", card)


def _card(entry: str, meta: dict[str, Any], z: dict[str, Any], facts: dict[str, Any], size: int, sha: str, n: int,
          seed: int) -> str:
    fig = z["figures"]
    model = meta["model"]
    use = (f"uv run mediatk generate --model {model} --attr smiling        # asked to smile\n"
           f"uv run mediatk generate --model {model} --attr smiling=0      # asked not to"
           if meta.get("spec", {}).get("attr_names") else f"uv run mediatk generate --model {model} -n 64")
    attrs = [k for k in (facts["evaluations"] or [{}])[0]
             if k.startswith("eval/attr_") and "=" in k and not k.endswith(("_lo", "_hi"))]
    head = " | ".join(["step", "FID"] + [k[10:] for k in attrs])
    evals = f"| {head} |\n|{'---|' * (2 + len(attrs))}\n" + "".join(
        "| " + " | ".join([str(r["step"]), f"{r['eval/fid']:.3f}"] + [f"{r[k]:.3f}" for k in attrs]) + " |\n"
        for r in facts["evaluations"]) if facts["evaluations"] else "(none)\n"
    fig_lines = "\n".join(f"- {line}" for line in fig["lines"])
    return f"""# {entry}: {z['summary']}

`{model}` shipped with mediatk. Used by `mediatk generate --model {model}` (and `evaluate`) until you train a
`{model}` of your own; the output line `checkpoint:` says which one was used.

```
{use}
```

## Data

{z['data']}

Terms: {z['terms']}

## Recipe

`uv run mediatk train --config {z['recipe']}` (the file in this repository). The run behind these weights was
started as:

```
{z['command']}
```

Shipped: the `{z['checkpoint_tag']}` checkpoint at step {z['checkpoint_step']} of {facts['config']['steps']}
({'EMA' if facts['config']['train'].get('ema') else 'live'} weights; no optimiser state). Image size {meta['spec']['image_shape'][1]} px, seed {facts['config']['seed']}.

## Training

Wall time {z['wall_s']} s (the engine's clock, evaluations included) on {z['device']}. {z['note']}

Evaluations during training (the engine's evaluator at the time of the run, judge seed 0 for attributes; its
feature net may differ from the one below, so compare these FIDs only with each other):

{evals}
## Figures

Measured after training with the code behind `mediatk evaluate` ({n} generated samples, seed {seed}):

{fig_lines}

FID {fig['fid']:.2f} (95% bootstrap interval {fig['fid_ci'][0]:.2f} to {fig['fid_ci'][1]:.2f}) is computed in the
feature space of `{fig['feature_net']}`, a small CNN trained on the set itself, so it compares only with other FIDs
taken with that feature net (not with Inception FIDs in papers). To reproduce:
`uv run mediatk evaluate --model {model} --checkpoint toolkit/zoo/{entry}/weights.safetensors -n {n} --seed {seed}`
(needs the data set).

## Weights

`weights.safetensors`: {size / 2**20:.2f} MiB, sha256 `{sha}`; the sidecar `weights.json` holds the model's
spec and these facts. Safetensors + JSON: loading never runs code from the files.

## Limits

Small models at low resolution trained on a small set; samples are recognisably faces/clothes, not photographs.
The figures depend on the feature net and the judge named above (a second judge moves attribute accuracy by a
few points).
"""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("entry")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--recipe", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--load", required=True, help="load average range during training, e.g. 2.1-6.8")
    ap.add_argument("--summary", required=True)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--note", default="", help="a sentence for the card's Training section (pauses, early stop)")
    a = ap.parse_args(argv)
    print(build(a.entry, a.checkpoint, a.recipe, a.command, a.load, a.summary, n=a.n, seed=a.seed, note=a.note))


if __name__ == "__main__":
    main()
