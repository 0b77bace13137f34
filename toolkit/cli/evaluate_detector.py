"""``mediatk evaluate-detector``: trained detectors on face-crop sets (Python API: mediatk.evaluation.detection).

Writes ``results.json`` (the command, data counts, detector ids, seed, every figure with its interval) and
``report.html`` (ROC curves, per-method table, cross-dataset matrix, robustness curves) into ``--out``.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import click
from mediatk.cli.core import device_option, main, seed_option


def _command(detectors, checkpoints, data, split, limit, robustness, n_boot, seed, frames) -> str:
    """The command line that reproduces a result (options in a fixed order, defaults spelt out)."""
    args = ["mediatk", "evaluate-detector", *detectors]
    args += [a for ck in checkpoints for a in ("--checkpoint", ck)] + [a for d in data for a in ("--data", d)]
    args += ["--split", split] + (["--limit", str(limit)] if limit else []) + (["--robustness"] if robustness else [])
    args += ["--frames", str(frames)]
    return shlex.join(args + ["--n-boot", str(n_boot), "--seed", str(seed)])


@main.command("evaluate-detector")
@click.argument("detectors", nargs=-1)
@click.option("--checkpoint", "checkpoints", multiple=True, type=click.Path(),
              help="A detector checkpoint (.safetensors or its folder); repeatable, beside or instead of NAMEs.")
@click.option("--data", "data", multiple=True, required=True,
              help="A face-crop set (name or path; labels.csv with label and group); repeatable.")
@click.option("--split", type=click.Choice(["train", "val", "test", "all"]), default="test", show_default=True,
              help="Which split of each set is scored.")
@click.option("--limit", type=click.IntRange(4, None), default=None,
              help="At most N crops per set, picked by --seed (as train-detector -n picks its held-out crops).")
@click.option("--frames", type=click.IntRange(1, 10_000), default=32, show_default=True,
              help="Face crops per video for a video set (ffpp, celeb-df, real/ fake/ videos): cut once with "
                   "extract-faces' defaults and cached in MEDIATK_HOME.")
@click.option("--robustness", is_flag=True, help="Also AUC under JPEG, blur, downscale and H.264 re-encoding.")
@click.option("--n-boot", type=click.IntRange(50, 100_000), default=1000, show_default=True,
              help="Bootstrap resamples per interval.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: runs/evaluate-detector/<time>); must not hold a results.json yet.")
@device_option
@seed_option
def evaluate_detector_cmd(detectors, checkpoints, data, split, limit, frames, robustness, n_boot, out, device,
                          seed) -> None:
    """Evaluate trained detectors (NAME: the newest trained; NAME=CHECKPOINT: that one) on face-crop sets.

    Frame- and video-level AUC, AP, EER, TPR@1%FPR, accuracy and log loss at the detector's threshold with
    group-bootstrap 95% intervals; one row per manipulation method; the cross-dataset matrix; with
    --robustness the AUC under JPEG, blur, downscale and H.264.  A video set (ffpp, celeb-df, real/ fake/
    videos) is cut into --frames face crops per video first (once; cached), and a video's score is the mean
    over its crops.
    """
    import torch
    from mediatk import __version__
    from mediatk.core.errors import ConfigError
    from mediatk.core.fileio import write_json
    from mediatk.core.metrics import fmt_ci
    from mediatk.core.runtime import resolve_device
    from mediatk.evaluation.detection import EvalOptions, evaluate, parse_detectors
    from mediatk.evaluation.detection_report import write_report

    outdir = Path(out) if out else Path("runs") / "evaluate-detector" / time.strftime("%Y%m%d-%H%M%S")
    if (outdir / "results.json").exists():
        raise ConfigError(f"--out {outdir} already holds an evaluation (results.json); choose another folder")
    dev = str(resolve_device(device))
    opts = EvalOptions(split=split, limit=limit, seed=seed, n_boot=n_boot, robustness=robustness, frames=frames,
                       device=dev)
    opts.check()
    dets = parse_detectors(detectors, checkpoints, dev)
    res = evaluate(dets, data, opts, log=lambda s: click.echo(s, err=True))
    res["command"] = _command(detectors, checkpoints, data, split, limit, robustness, n_boot, seed, frames)
    res["versions"] = {"mediatk": __version__, "torch": torch.__version__}
    write_json(outdir / "results.json", res)
    report = write_report(outdir)
    for r in res["results"]:
        for level in ("frame", "video"):
            m = r[level]
            click.echo(f"{r['detector']} on {r['dataset']} ({level}): AUC {fmt_ci(m['auc'], m['auc_ci'])}  "
                       f"AP {fmt_ci(m['ap'], m['ap_ci'])}  EER {fmt_ci(m['eer'], m['eer_ci'])}  "
                       f"TPR@1%FPR {fmt_ci(m['tpr_at_1pct_fpr'], m['tpr_at_1pct_fpr_ci'])}  "
                       f"acc@{r['threshold']:g} {fmt_ci(m['acc'], m['acc_ci'])}  "
                       f"log loss {fmt_ci(m['log_loss'], m['log_loss_ci'])}  "
                       f"(n {m['n_real']} real / {m['n_fake']} fake, {m['n_groups']} groups)")
        for m in r["methods"]:
            click.echo(f"  {m['method']}: frame AUC {fmt_ci(m['frame']['auc'], m['frame']['auc_ci'])}, "
                       f"video AUC {fmt_ci(m['video']['auc'], m['video']['auc_ci'])}")
    for w in res["warnings"]:
        click.echo(f"warning: {w}")
    click.echo(f"wrote {outdir / 'results.json'} and {report}")
