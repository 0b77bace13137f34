"""FID's spread over feature nets: the same saved fakes scored under nets that differ only in their seed.

A dcgan and a vae are trained briefly on Fashion-MNIST (32 px) through mediatk's engine; ``--n`` samples of
each (fixed noise) are kept and scored against ``--n`` real test images under the ``standard`` feature net
trained with seeds 0, 1 and 2 (:func:`mediatk.evaluation.feature_nets.feature_spread`), next to each FID's bootstrap
interval over the generated samples.  With ``--old`` the same fakes are also scored under nets trained
150 and 300 steps (the old demo and quick budgets; the old full budget was the standard recipe's 600),
to show what a command-dependent feature net did to the figure.

    nice -n 10 uv run python bench/fid_spread.py --old     # ≈15 min on 2 shared CPU cores

Results: ``bench/results/fid_feature_spread.md`` and ``.json``.  :func:`spread_markdown` is reused by
``gan_bench.py --spread``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch
from mediatk.core.metrics import fmt_ci
from mediatk.datasets import load_images
from mediatk.evaluation.feature_nets import Recipe, feature_spread
from mediatk.generators import from_checkpoint
from mediatk.generators.train import train

RESULTS = Path(__file__).resolve().parent / "results"


def log(s: str) -> None:
    print(s, flush=True)


def _label(s: int | str) -> str:
    return f"seed {s}" if isinstance(s, int) else str(s)


def spread_markdown(sp: dict, title: str) -> list[str]:
    """A table: one row per set of fakes, one column per feature-net seed, then min–max and std."""
    seeds = list(sp["ids"])
    md = [f"### {title}", "", "Feature nets: " + ", ".join(f"{_label(s)} `{i}`" for s, i in sp["ids"].items()), "",
          "| fakes | " + " | ".join(f"FID, net {_label(s)} [95% bootstrap]" for s in seeds) + " | min–max | std |",
          "|---|" + "---:|" * (len(seeds) + 2)]
    for name, v in sp["fid"].items():
        lo, hi, sd = sp["spread"][name]
        md.append(f"| {name} | " + " | ".join(fmt_ci(v[s], sp["ci"][name][s], 2) for s in seeds)
                  + f" | {lo:.2f}–{hi:.2f} | {sd:.2f} |")
    return md + [""]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=300, help="generator steps of the dcgan and the vae")
    p.add_argument("--n", type=int, default=2000, help="generated and real test images")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2, help="for the generators (feature nets train on 1)")
    p.add_argument("--net", default="standard", help="feature net recipe (test-tiny for a smoke run)")
    p.add_argument("--old", action="store_true", help="also score under 150- and 300-step nets (old budgets)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    t0, tmp = time.perf_counter(), Path(tempfile.mkdtemp(prefix="fid_spread_"))
    shape = (1, a.image_size, a.image_size)
    fakes = {}
    for name, opts in (("dcgan", ["--g-width", "32", "--d-width", "32"]), ("vae", [])):
        log(f"== {name}: {a.steps} steps")
        res = train(name, "fashion-mnist", steps=a.steps, batch_size=64, image_size=a.image_size, seed=0,
                    out=tmp / name, options=opts, progress=False, device="cpu")
        model = from_checkpoint(res.last_checkpoint).eval()
        with torch.no_grad():
            fakes[f"{name} ({a.steps} steps)"] = model.sample(
                a.n, noise=model.sample_noise(a.n, torch.Generator().manual_seed(1))).float().clamp(-1, 1)
    real = load_images("fashion-mnist", split="test", image_size=a.image_size, limit=a.n, seed=0).tensor()
    fakes["real train images (a floor)"] = load_images("fashion-mnist", split="train", image_size=a.image_size,
                                                       limit=a.n, seed=5).tensor()
    new = feature_spread("fashion-mnist", shape, real, fakes, seeds=(0, 1, 2), net=a.net, log=log)
    old = {}
    if a.old and a.net == "standard":
        for steps in (150, 300):
            old[steps] = feature_spread("fashion-mnist", shape, real, fakes, seeds=(0,),
                                        net=Recipe(f"steps{steps}", steps), log=log)
    cmd = "uv run python bench/fid_spread.py " + " ".join(shlex.quote(s) for s in sys.argv[1:])
    md = ["# FID's spread over feature nets (Fashion-MNIST, 32 px)", "",
          f"Command: `{cmd}` (whole run {time.perf_counter() - t0:.0f} s, CPU)", "",
          (f"Fakes: {a.n} samples of each generator (trained {a.steps} steps, batch 64, seed 0; noise seed 1), "
           f"scored against {a.n} real Fashion-MNIST test images (seed 0 subset). The last row scores {a.n} real "
           "train images, what a perfect generator would get."), ""]
    md += spread_markdown(new, f"{a.net} recipe, net seeds 0, 1, 2")
    if old:
        merged = {"ids": {f"{s} steps": v["ids"][0] for s, v in old.items()},
                  "fid": {k: {f"{s} steps": v["fid"][k][0] for s, v in old.items()} for k in fakes},
                  "ci": {k: {f"{s} steps": v["ci"][k][0] for s, v in old.items()} for k in fakes}}
        merged["fid"] = {k: {**merged["fid"][k], "600 steps": new["fid"][k][0]} for k in fakes}
        merged["ci"] = {k: {**merged["ci"][k], "600 steps": new["ci"][k][0]} for k in fakes}
        merged["ids"]["600 steps"] = new["ids"][0]
        merged["spread"] = {k: (min(v.values()), max(v.values()), float(torch.tensor(list(v.values())).std()))
                            for k, v in merged["fid"].items()}
        md += spread_markdown(merged, "before: the net followed the budget (150 / 300 / 600 steps, seed 0)")
    text = "\n".join(md)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fid_feature_spread.md").write_text(text)
    (RESULTS / "fid_feature_spread.json").write_text(json.dumps({"command": cmd, "standard": new, "old": old},
                                                                indent=2, default=str))


if __name__ == "__main__":
    main()
