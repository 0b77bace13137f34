"""Benchmark: the ``face-forgery`` detector, in-domain on DFDC crops and across datasets on FaceForensics++.

One command trains the detector (or takes ``--checkpoint``) and measures:

* **in-domain**: DFDC crops (``dfdc-faces``), the group split's test part (groups = the real video a crop was
  made from, so no video is on both sides); AUC with a bootstrap interval over groups;
* **cross-dataset, crops**: ``ffpp-crops``, the source's video-disjoint test split, overall and per method
  (each method's fakes against all test reals); intervals over the coarse video-id groups;
* **cross-dataset, videos**: the 60 ``ffpp-c40`` videos: ``mediatk extract-faces`` cuts ``--c40-frames`` face
  crops per video, a video's score is the mean of its crops' P(fake), AUC over videos with an interval from
  resampling videos.

Crops are decoded once into a uint8 cache (``$MEDIATK_HOME/cache/forgery``), resized to the detector's input
side by the dataset reader.  Checkpoint selection and temperature calibration use the train sets' ``val``
splits only.  Results: ``bench/results/forgery.json`` and ``forgery.md`` (machine, load, counts, command).

    uv run python bench/forgery_bench.py --out runs/forgery            # DFDC train, ~1 h on 2 CPU cores
    uv run python bench/forgery_bench.py --train dfdc-faces,ffpp-crops # part (b): + FF++ train
    uv run python bench/forgery_bench.py --checkpoint PATH             # evaluate a trained detector only
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def cache(name: str, split: str, size: int) -> dict[str, np.ndarray]:
    """``x`` (uint8 N×3×S×S), ``y``, ``groups``, ``methods`` of a face-crop set's split, decoded once."""
    from mediatk.core.runs import mediatk_home
    from mediatk.datasets import load_images

    f = mediatk_home() / "cache" / "forgery" / f"{Path(name).name}-{split}-{size}.npz"
    if f.is_file():
        with np.load(f, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    ds = load_images(name, split=split, image_size=size, channels=3)
    x = np.concatenate([((ds.tensor(np.arange(i, min(i + 512, len(ds)))) + 1) * 127.5).round().byte().numpy()
                        for i in range(0, len(ds), 512)])
    out = {"x": x, "y": ds.labels.numpy(), "groups": ds.groups.astype(str), "methods": ds.methods.astype(str)}
    f.parent.mkdir(parents=True, exist_ok=True)
    tmp = f.with_suffix(".tmp.npz")
    np.savez(tmp, **out)
    os.replace(tmp, f)
    return out


def metrics(y, s, groups, seed: int) -> dict:
    """Detection metrics with bootstrap intervals over ``groups``; with fewer than 20 groups (ffpp-crops' test
    split has 3 coarse video-id blocks) over images instead, which understates the spread: ``ci_over`` says."""
    from mediatk.core.metrics import detection_metrics

    few = groups is not None and len(set(np.asarray(groups).tolist())) < 20
    m = detection_metrics(np.asarray(y), np.asarray(s), intervals=True, groups=None if few else groups, seed=seed)
    m["ci_over"] = "images" if groups is None or few else f"{len(set(np.asarray(groups).tolist()))} groups"
    return m


def train(args) -> tuple[object, Path]:
    from mediatk.detectors import create

    det = create("face-forgery", device=args.device, options=args.options)
    det.face_crops = True
    size = det.image_size
    parts = [cache(n, "train", size) for n in args.train]
    tr = {k: np.concatenate([p[k] for p in parts]) for k in ("x", "y", "groups")}
    x, y = torch.from_numpy(tr["x"]), torch.from_numpy(tr["y"])
    val = val_crops(args.train, size)
    print(f"train {len(x)} ({int((y == 0).sum())} real), val {len(val[0]) + len(val[1])} ({len(val[0])} real), "
          f"{size} px, {det.cfg.steps} steps", flush=True)
    t0 = time.perf_counter()
    g = tr["groups"]
    det.fit_arrays(x[y == 0], x[y == 1], val=val, log=lambda m: print(m, flush=True),
                   groups=(g[tr["y"] == 0], g[tr["y"] == 1]))
    det.info.update({"train_sets": args.train, "seed": det.cfg.seed, "wall_seconds": round(time.perf_counter() - t0),
                     "command": shlex.join(["python", "bench/forgery_bench.py", *sys.argv[1:]])})
    return det, det.save(Path(args.out) / "face-forgery.safetensors")


def val_crops(names: list[str], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The train sets' ``val`` crops (uint8), real and fake: what selects and calibrates a detector."""
    parts = [cache(n, "val", size) for n in names]
    x, y = (torch.from_numpy(np.concatenate([p[k] for p in parts])) for k in ("x", "y"))
    return x[y == 0], x[y == 1]


def recalibrate(det, args) -> None:
    """``--mirror`` on a trained checkpoint: the temperature refitted on the same val crops ``train`` used."""
    from mediatk.core.options import config_from_dict

    det.cfg = config_from_dict(type(det.cfg), {**dataclasses.asdict(det.cfg), "mirror": args.mirror})
    t = det.calibrate(*val_crops(det.info.get("train_sets", args.train), det.image_size))
    print(f"mirror {args.mirror}: temperature {t:.4f} ({det.info['calibration']})", flush=True)


def scores(det, x: np.ndarray) -> np.ndarray:
    return det.predict_proba(torch.from_numpy(x).float().div_(127.5).sub_(1.0))


def c40_videos(det, args) -> dict:
    """Video-level metrics on ffpp-c40: extract crops (once), mean P(fake) per video, AUC over videos."""
    from mediatk.core.runs import mediatk_home
    from PIL import Image

    out = mediatk_home() / "cache" / "forgery" / f"ffpp-c40-f{args.c40_frames}"
    if not (out / "videos.csv").is_file() or args.reextract:
        cmd = [sys.executable, "-m", "mediatk", "extract-faces", args.c40, "--out", str(out),
               "--frames", str(args.c40_frames), "--quiet"]
        print("$", shlex.join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    with open(out / "labels.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    with open(out / "videos.csv", newline="", encoding="utf-8") as fh:
        vids = list(csv.DictReader(fh))
    x = torch.stack([torch.from_numpy(np.asarray(Image.open(out / r["file"]).convert("RGB"), np.float32))
                     .permute(2, 0, 1) / 127.5 - 1 for r in rows])
    s = det.predict_proba(x)
    by: dict[str, list[float]] = {}
    for r, p in zip(rows, s, strict=True):
        by.setdefault(r["video"], []).append(float(p))
    label = {v["video"]: int(v["label"] == "fake") for v in vids}
    method = {v["video"]: v["method"] for v in vids}
    names = sorted(by)
    yv, sv = np.array([label[v] for v in names]), np.array([np.mean(by[v]) for v in names])
    res = {"video": {**metrics(yv, sv, None, args.seed), "ci_over": f"{len(names)} videos"},
           "crop": metrics([label[r["video"]] for r in rows], s, [r["video"] for r in rows], args.seed),
           "videos_total": len(vids), "videos_scored": len(names), "crops": len(rows),
           "frames_per_video": args.c40_frames}
    real = yv == 0
    for m in sorted({method[v] for v in names if label[v] == 1}):
        sel = real | np.array([method[v] == m for v in names])
        res[f"video_{m}"] = {**metrics(yv[sel], sv[sel], None, args.seed), "ci_over": f"{int(sel.sum())} videos"}
    return res


def evaluate(det, args, size: int) -> dict:
    res: dict = {}
    d = cache("dfdc-faces", "test", size)
    res["dfdc_test"] = metrics(d["y"], scores(det, d["x"]), d["groups"], args.seed)
    f = cache("ffpp-crops", "test", size)
    sf = scores(det, f["x"])
    res["ffpp_test"] = metrics(f["y"], sf, f["groups"], args.seed)
    for m in sorted(set(f["methods"][f["y"] == 1])):
        sel = (f["y"] == 0) | (f["methods"] == m)
        res[f"ffpp_test_{m}"] = metrics(f["y"][sel], sf[sel], f["groups"][sel], args.seed)
    if args.c40:
        res["ffpp_c40"] = c40_videos(det, args)
    return res


def fmt(m: dict) -> str:
    from mediatk.core.metrics import fmt_ci

    return (f"{fmt_ci(m['auc'], m['auc_ci'])} | {fmt_ci(m['ap'], m['ap_ci'])} | {m['eer']:.3f} | {m['acc']:.3f} | "
            f"{m['n_real']} / {m['n_fake']} | {m['ci_over']}")


def write_md(path: Path, rep: dict) -> None:
    info, res = rep["detector"], rep["results"]
    cal = info.get("calibration", {})
    lines = ["# face-forgery detector: in-domain (DFDC) and cross-dataset (FaceForensics++)", "",
             f"Command: `{rep['command']}`  ", f"Trained by: `{info.get('command', rep['command'])}`  ", (f"Date {rep['date']}; machine: {rep['machine']}; "
             f"load average before / after: {rep['load_before']} / {rep['load_after']}.  "),
             (f"Detector: `{rep['checkpoint']}`; backbone {info.get('backbone')}, {rep['size']} px, "
             f"init {info.get('init')}, trained on {info.get('train_sets')} "
             f"(counts {info.get('counts')}), seed {info.get('seed')}, training wall time "
             f"{info.get('wall_seconds', info.get('train_seconds'))} s, best val step {info.get('best_step')}.  "),
             (f"Calibration on val: temperature {cal.get('temperature')}, val log loss "
             f"{cal.get('val_log_loss_before')} → {cal.get('val_log_loss_after')}; mirror averaging "
             f"{'on' if rep.get('mirror') else 'off'}"
             + (f" (recalibrated from `{rep['recalibrated']['from']}`, trained before the option existed)."
                if rep.get("recalibrated") else ".")), "",
             ("AUC and AP with 95 % bootstrap intervals, 1000 resamples of what the last column names: DFDC real "
             "videos; c40 videos (video rows: one example per video; crop rows: crops grouped by video); images "
             "for ffpp-crops, whose test split has only 3 video-id blocks, so its intervals are too narrow. "
             "Accuracy at P = 0.5 after calibration."), "",
             "| test | AUC [95 % CI] | AP [95 % CI] | EER | acc | n real / fake | CI resamples |",
             "|---|---|---|---|---|---|---|"]
    for k, m in res.items():
        if k == "ffpp_c40":
            for kk, mm in m.items():
                if isinstance(mm, dict):
                    lines.append(f"| ffpp-c40 {kk.replace('_', ' ')} | {fmt(mm)} |")
        else:
            lines.append(f"| {k.replace('_', ' ')} | {fmt(m)} |")
    if "ffpp_c40" in res:
        c = res["ffpp_c40"]
        lines += ["", (f"ffpp-c40: {c['videos_scored']} of {c['videos_total']} videos gave a face; {c['crops']} crops "
                  f"({c['frames_per_video']} frames per video); a video's score is the mean of its crops' P(fake).")]
    hist = info.get("history", [])
    if hist:
        lines += ["", "Validation during training (step: train loss, val AUC, val log loss): " + "; ".join(
            f"{h['step']}: {h['train_loss']}, {h['val_auc']}, {h['val_log_loss']}" for h in hist) + "."]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


ZOO_TERMS = {
    "dfdc-faces": "DFDC (Deepfake Detection Challenge, Meta AI): its dataset terms allow research use only "
                  "(no commercial use, no redistribution of the videos); the people filmed consented to research use.",
    "ffpp-crops": "FaceForensics++ (TU Munich): its terms of use allow non-commercial research only; the source "
                  "videos come from YouTube.",
}


def write_zoo(det, rep: dict, entry: Path) -> Path:
    """The trained detector as a zoo entry: ``entry/weights.safetensors`` + ``weights.json`` whose ``zoo``
    field holds the card's facts (``mediatk models`` prints them)."""
    from mediatk.core.checkpoint import read_meta
    from mediatk.core.fileio import write_json

    ck = det.save(entry / "weights.safetensors")
    res, info = rep["results"], det.info
    figs = {k: {"auc": round(m["auc"], 4), "auc_ci": [round(v, 4) for v in m["auc_ci"]]}
            for k, m in res.items() if k != "ffpp_c40"}
    if "ffpp_c40" in res:
        figs["ffpp_c40_video"] = {"auc": round(res["ffpp_c40"]["video"]["auc"], 4),
                                  "auc_ci": [round(v, 4) for v in res["ffpp_c40"]["video"]["auc_ci"]]}
    meta = read_meta(ck)
    meta["zoo"] = {"summary": f"face-swap detector, {info.get('backbone')} on {'+'.join(info.get('train_sets', []))} "
                              f"face crops, {det.image_size} px", "default": True,
                   "data": ", ".join(info.get("train_sets", [])), "terms": " ".join(
                       ZOO_TERMS.get(Path(t).name, "") for t in info.get("train_sets", [])),
                   "recipe": "recipes/detectors/face-forgery-dfdc.toml", "command": rep["train_command"],
                   "wall_s": info.get("wall_seconds"), "device": rep["machine"], "figures": figs}
    write_json(ck.with_suffix(".json"), meta)
    return ck


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", help="a detector recipe (recipes/detectors/*.toml): train sets and options")
    ap.add_argument("--train", default="dfdc-faces", help="comma-separated face-crop sets to train on")
    ap.add_argument("--checkpoint", help="evaluate this trained face-forgery checkpoint instead of training")
    ap.add_argument("--out", default="runs/forgery", help="where the trained checkpoint goes")
    ap.add_argument("--mirror", help="the detector's mirror option (on/off). With --checkpoint it switches mirror "
                                     "averaging and refits the temperature on the train sets' val splits, which is "
                                     "what training with that value gives (the weights do not depend on it); the "
                                     "recalibrated detector is saved to --out")
    ap.add_argument("--c40", default=str(ROOT.parent / "shared" / "data" / "ffpp-c40"),
                    help="FF++ c40 videos ('' to skip)")
    ap.add_argument("--c40-frames", type=int, default=8)
    ap.add_argument("--reextract", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a loaded 2-core machine)")
    ap.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    ap.add_argument("--zoo", help="also write the detector as this zoo entry folder (toolkit/zoo/NAME)")
    ap.add_argument("--results", default=str(ROOT / "bench" / "results" / "forgery"))
    args, extra = ap.parse_known_args()
    args.train, args.options = args.train.split(","), extra
    if args.config:  # the recipe's options first: the command line wins
        try:
            import tomllib
        except ImportError:  # Python 3.10
            import tomli as tomllib
        recipe = tomllib.loads(Path(args.config).read_text(encoding="utf-8"))
        args.train = recipe.get("train", args.train)
        args.options = [w for k, v in recipe.get("options", {}).items() for w in (f"--{k}", str(v))] + extra
    if args.mirror is not None and not args.checkpoint:  # an option for the training run, like any other
        args.options += ["--mirror", args.mirror]
    torch.set_num_threads(args.threads)
    from mediatk.detectors import load

    rep = {"command": shlex.join(["python", "bench/forgery_bench.py", *sys.argv[1:]]),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
                      f"{torch.__version__}, {args.threads} threads, device {args.device}",
           "load_before": [round(v, 1) for v in os.getloadavg()]}
    if args.checkpoint:
        det, ck = load(args.checkpoint, device=args.device), Path(args.checkpoint)
        if args.mirror:
            recalibrate(det, args)
            ck = det.save(Path(args.out) / "face-forgery.safetensors")
            rep["recalibrated"] = {"from": args.checkpoint, "mirror": args.mirror}
    else:
        det, ck = train(args)
    rep.update({"checkpoint": str(ck), "size": det.image_size, "detector": det.info, "mirror": det.cfg.mirror,
                "train_command": det.info.get("command", rep["command"])})
    rep["results"] = evaluate(det, args, det.image_size)
    rep["load_after"] = [round(v, 1) for v in os.getloadavg()]
    if args.zoo:
        rep["zoo_entry"] = str(write_zoo(det, rep, Path(args.zoo)))
    out = Path(args.results)
    out.with_suffix(".json").write_text(json.dumps(rep, indent=1) + "\n", encoding="utf-8")
    write_md(out.with_suffix(".md"), rep)
    print(out.with_suffix(".md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
