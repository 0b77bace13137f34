"""``mediatk train-detector | detect``: the detector side of the CLI (Python API: mediatk.detectors.api).

Exit codes of ``detect`` (also in docs/detect-json.md):

* 0: every input was analysed (its status may be ``ok``, ``no_face`` or ``insufficient_evidence``);
* 1: some inputs failed (unreadable, not media, no detector for them); the others were analysed;
* 2: usage error (bad option, unknown detector, no trained detector at all, no input files), or no input
  could be analysed.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import click
from mediatk.cli.checks import OPEN_UNIT, POSITIVE, POSITIVE_FLOAT, SIZE
from mediatk.cli.core import device_option, main, seed_option


def _fmt_metrics(m: dict) -> str:
    """The held-out line; [lo, hi] are 95 % intervals (bootstrap for AUC/AP, Wilson for rates)."""
    from mediatk.core.metrics import fmt_ci

    if "auc" not in m:
        fpr = fmt_ci(m.get("false_positive_rate", 0), m.get("false_positive_rate_ci"))
        return f"n_real {m.get('n_real')}: false-positive rate at 0.5 = {fpr}"
    how = f"; 95% intervals: bootstrap over {m['ci_resampled']}, Wilson for acc" if "ci_resampled" in m else ""
    return (f"AUC {fmt_ci(m['auc'], m.get('auc_ci'), 4)}  AP {fmt_ci(m['ap'], m.get('ap_ci'), 4)}  "
            f"EER {m['eer']:.4f}  acc@{m['threshold']:.2f} {fmt_ci(m['acc'], m.get('acc_ci'), 4)}  "
            f"TPR@1%FPR {m['tpr_at_1pct_fpr']:.4f}  (n_real {m['n_real']}, n_fake {m['n_fake']}{how})")


@main.command("train-detector", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("name")
@click.option("--real", help="Real images: dataset name or path (its train split trains, its test split is held out).")
@click.option("--fake", "fakes", multiple=True,
              help="Fake images: dataset/folder, or a generator checkpoint or run dir (sampled on the fly); repeatable.")
@click.option("--data", help="Labelled data for component models (eyestate: eyes-open-closed).")
@click.option("--out", type=click.Path(), default=None,
              help="Directory (or .safetensors path) for the checkpoint (default: the model store).")
@click.option("--image-size", type=SIZE, default=None, help="Resize inputs to S×S (default: the generator's or native).")
@click.option("--channels", type=click.IntRange(1, 3), default=None, help="1 (grey) or 3 (RGB).")
@click.option("-n", "n", type=click.IntRange(4, 10_000_000), default=2500, show_default=True,
              help="Images per class (real, fake), split into fit and held-out parts.")
@click.option("--test-fraction", type=OPEN_UNIT, default=0.2, show_default=True, help="Held-out fraction of -n.")
@click.option("--face-crops/--no-face-crops", default=None,
              help="The images are face crops: detect crops faces with MTCNN first (default: yes for CelebA layout).")
@click.option("--face-crop-scale", type=POSITIVE_FLOAT, default=None, help="Face crop side / MTCNN box side at detection.")
@device_option
@seed_option
@click.pass_context
def train_detector_cmd(ctx, name, real, fakes, data, out, image_size, channels, n, test_fraction, face_crops,
                       face_crop_scale, device, seed) -> None:
    """Train detector NAME; detector options follow (see 'mediatk models NAME')."""
    from mediatk.detectors.api import train_detector

    rep = train_detector(name, real=real, fake=fakes, data=data, out=out, image_size=image_size, channels=channels,
                         n=n, device=device, seed=seed, options=list(ctx.args), test_fraction=test_fraction,
                         face_crops=face_crops, face_crop_scale=face_crop_scale, log=click.echo)
    m = rep["metrics"]
    click.echo(f"held-out: {_fmt_metrics(m)}")
    if "accuracy" in m:
        from mediatk.core.metrics import fmt_ci

        click.echo(f"held-out accuracy: {fmt_ci(m['accuracy'], m.get('accuracy_ci'), 4)}")
    click.echo(f"checkpoint: {rep['checkpoint']}")


def _line(res: dict) -> str:
    """A result in words: the verdict and what it rests on, one line per detector, the video's figures."""
    path = res["path"]
    if res["status"] == "error":
        return f"{path}: ERROR {res['error']}"
    v = res.get("verdict", {})
    head = f"{path}: {res['status'].upper().replace('_', ' ')}" if v.get("label") == "undecided" else (
        f"{path}: {v['label'].upper()} p={v['p_synthetic']:.3f} (threshold {v['threshold']:.2f}; rests on "
        f"{', '.join(v['rests_on'])})")
    parts = []
    for n, d in res.get("detectors", {}).items():
        if "summary" in d:  # a video detector's evidence
            p = f" {d['p_synthetic']:.3f}" if d["status"] == "ok" else f": {d['status']}"
            parts.append(f"{n}{p} - {d['summary']}")
        else:
            parts.append(f"{n} {d['p_synthetic']:.3f} ({d['input']})" if d["status"] == "ok" else f"{n}: {d['status']}")
    if res["kind"] == "video" and "frames" in res:
        f = res["frames"]
        parts.append(f"{f['read']} frames read, {f['analysed']} analysed ({f['keyframes']} with full face detection), "
                     f"face in {res['faces']['fraction']:.0%}, {res['realtime_factor']}x real time")
    return head + "".join(f"\n    {p}" for p in parts)


def _echo_skipped(skipped: dict) -> None:
    """Untrained detectors on one line (a fresh install has several); any other reason on its own line."""
    untrained = sorted(n for n, s in skipped.items() if s["reason"] == "no trained checkpoint")
    if untrained:
        click.echo(f"not trained, so not used: {', '.join(untrained)} "
                   "(train one with: mediatk train-detector NAME ...; see mediatk models NAME)")
    for n, s in skipped.items():
        if n not in untrained:
            click.echo(f"skipped {n}: {s['reason']}; train it with: {s['train']}")


@main.command("detect")
@click.argument("paths", nargs=-1, required=True)
@click.option("--detector", "detectors", multiple=True,
              help="NAME[,NAME..] or NAME=CHECKPOINT (default: every trained detector; for videos every video "
                   "detector and the image detectors trained on face crops, scored on the tracked face).")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines on stdout: one result per input, then a summary.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Write results.jsonl, and per video a timeline plot and an annotated mp4, here.")
@click.option("--threshold", type=OPEN_UNIT, default=0.5, show_default=True, help="Verdict threshold on P(synthetic).")
@click.option("--dense-fps", type=POSITIVE_FLOAT, default=None,
              help="Most video frames/s analysed (default: the fastest rate a video detector asks for: blink 15).")
@click.option("--sparse-fps", type=POSITIVE_FLOAT, default=2.0, show_default=True,
              help="Video frames/s whose tracked face the image detectors score.")
@click.option("--detect-fps", type=POSITIVE_FLOAT, default=1.0, show_default=True,
              help="Video frames/s with a full MTCNN face detection (ONet follows the face in between).")
@click.option("--face-rule", type=click.Choice(["confident", "mean"]), default="confident", show_default=True,
              help="Video score from per-face scores: the confident-frames rule, or the mean.")
@click.option("--min-faces", type=POSITIVE, default=4, show_default=True,
              help="Fewer scored faces in a video: the image detector abstains.")
@click.option("--work-side", type=POSITIVE, default=1920, show_default=True,
              help="Video frames larger than this are downscaled to it first.")
@click.option("--detect-side", type=POSITIVE, default=360, show_default=True, help="MTCNN runs on frames this large.")
@click.option("--no-timeline", is_flag=True, help="Leave the per-frame timeline out of the results.")
@device_option
def detect_cmd(paths, detectors, as_json, out, threshold, dense_fps, sparse_fps, detect_fps, face_rule, min_faces,
               work_side, detect_side, no_timeline, device) -> None:
    """Is each image or video synthetic?  P(synthetic) per detector and a combined verdict.

    Exit codes: 0 every input analysed (ok, no face or insufficient evidence); 1 some inputs failed, the
    rest were analysed; 2 usage error or no input could be analysed.  The --json schema is in
    docs/detect-json.md.
    """
    from mediatk.core.errors import ConfigError
    from mediatk.core.fileio import append_jsonl
    from mediatk.core.runtime import resolve_device
    from mediatk.detectors.face_scores import FaceScoresConfig
    from mediatk.detectors.inference import Detection, expand_inputs, select_detectors
    from mediatk.detectors.video import VideoOptions

    files = expand_inputs(paths)
    if not files:
        raise ConfigError("no input files (folders are searched for image and video files)")
    dev = str(resolve_device(device))
    dets, skipped = select_detectors(detectors, dev)
    if not dets:
        raise ConfigError("no usable detector (none trained); " + "; ".join(f"{n}: {s['train']}" for n, s in skipped.items()))
    vo = VideoOptions(max_fps=dense_fps, detect_fps=detect_fps, work_side=work_side, detect_side=detect_side)
    faces = FaceScoresConfig(fps=sparse_fps, rule=face_rule, min_faces=min_faces)
    run = Detection(dets, skipped, dev, threshold, out, vo, timeline=not no_timeline, explicit=bool(detectors),
                    face_config=faces)
    if not as_json and skipped:
        _echo_skipped(skipped)
    statuses: Counter = Counter()
    labels: Counter = Counter()
    for f in files:
        res = run.run(f)
        statuses[res["status"]] += 1
        if res.get("verdict") and res["status"] not in ("error", "no_detector"):
            labels[res["verdict"]["label"]] += 1
        if res["status"] in ("error", "no_detector"):
            click.echo(f"mediatk: error: {f}: {res['error']}", err=True)
        click.echo(json.dumps(res, default=float) if as_json else _line(res))
        if out:
            append_jsonl(Path(out) / "results.jsonl", res)
    failed = statuses["error"] + statuses["no_detector"]
    code = 0 if failed == 0 else (1 if failed < len(files) else 2)
    summary = {"schema": "mediatk.detect-summary/1", "inputs": len(files), "analysed": len(files) - failed,
               "failed": failed, "statuses": dict(statuses), "verdicts": dict(labels), "detectors": sorted(dets),
               "skipped": skipped, "exit_code": code}
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"{len(files)} input(s): {len(files) - failed} analysed ("
                   + ", ".join(f"{v} {k}" for k, v in sorted(labels.items())) + f"), {failed} failed")
    if code:
        sys.exit(code)  # (click.exceptions.Exit is swallowed by the group's standalone_mode=False)
