"""``report.html`` of ``mediatk evaluate-detector``: tables and plots built from ``results.json`` alone.

The page is self-contained (plots inline as PNG, also written to ``plots/``): ROC curves per test set at frame
and video level, the summary and per-method tables with their bootstrap intervals, the cross-dataset matrix
and the robustness curves.  matplotlib runs on its Agg backend (no display needed).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from mediatk.core.errors import ConfigError
from mediatk.core.fileio import write_text
from mediatk.core.metrics import fmt_ci
from mediatk.core.plotting import img_tag, pyplot, save_png

KIND_AXIS = {"jpeg": "JPEG quality", "blur": "Gaussian blur σ (px)", "downscale": "downscale factor",
             "h264": "H.264 CRF"}
FIGURES = (("auc", "AUC"), ("ap", "AP"), ("eer", "EER"), ("tpr_at_1pct_fpr", "TPR@1%FPR"), ("acc", "acc"),
           ("log_loss", "log loss"))
GUIDE = (
    "AUC: the chance that a random fake scores above a random real crop (0.5 is chance). AP: average precision "
    "with fakes as positives. EER: the error rate where false positives and misses are equal. TPR@1%FPR: the "
    "share of fakes flagged at the threshold that flags 1% of the real crops. acc and log loss are taken at "
    "the detector's own decision point (P(synthetic) ≥ threshold, 0.5 on a calibrated probability): they say "
    "how the deployed detector does, where AUC only says how well it ranks. Brackets are 95% percentile-"
    "bootstrap intervals that resample whole groups (videos or identities), so a video's frames never count "
    "as independent evidence. Video level scores a video by the mean of its crops' scores.")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "set"


def plot_roc(res: dict[str, Any], dataset: str, path: Path) -> Path:
    """Frame- and video-level ROC of every detector on one test set."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    rows = [r for r in res["results"] if r["dataset"] == dataset]
    for ax, level in zip(axes, ("frame", "video")):
        for r in rows:
            pts = r["roc"][level]
            ax.plot(pts["fpr"], pts["tpr"], label=f"{r['detector']} (AUC {r[level]['auc']:.3f})")
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        ax.set_title(f"{dataset}, {level} level\n{rows[0][level]['n_real']} real / {rows[0][level]['n_fake']} fake", fontsize=10)
        ax.set_xlabel("false positive rate (real flagged)")
        ax.set_ylabel("true positive rate (fakes flagged)")
        ax.legend(fontsize=8, loc="lower right")
    return save_png(fig, path)


def plot_robustness(res: dict[str, Any], path: Path) -> Path | None:
    """Frame AUC (95% CI bars) against each perturbation's level; the clean AUC as a dotted line."""
    runs = [r for r in res["results"] if r.get("robustness")]
    if not runs:
        return None
    plt = pyplot()
    kinds = [k for k in KIND_AXIS if any(k in r["robustness"] for r in runs)]
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.4 * len(kinds), 3.6), squeeze=False, sharey=True,
                             layout="constrained")
    for ax, kind in zip(axes[0], kinds):
        for r in runs:
            pts = r["robustness"].get(kind, [])
            xs, ys = [p["level"] for p in pts], [p["auc"] for p in pts]
            err = [[p["auc"] - p["auc_ci"][0] for p in pts], [p["auc_ci"][1] - p["auc"] for p in pts]]
            line = ax.errorbar(xs, ys, yerr=err, marker="o", capsize=2, elinewidth=0.7, alpha=0.85,
                               label=f"{r['detector']} on {r['dataset']}")
            ax.axhline(r["robustness"]["clean"]["auc"], color=line[0].get_color(), ls=":", lw=1)
        if kind == "jpeg":
            ax.invert_xaxis()
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(KIND_AXIS[kind])
    axes[0][0].set_ylabel("frame AUC (95% CI)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 3), fontsize=8)
    fig.suptitle("Robustness: AUC of the perturbed crops (dotted: clean AUC; dashed: chance)")
    return save_png(fig, path)


def plot_cross(res: dict[str, Any], path: Path) -> Path | None:
    """Heat map of frame AUC, detectors × test sets (only when there is more than one cell)."""
    cm = res["cross"]
    if len(cm["rows"]) * len(cm["columns"]) < 2:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(cm["columns"]), 1.4 + 0.7 * len(cm["rows"])))
    im = ax.imshow(cm["frame_auc"], vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(cm["columns"])), cm["columns"])
    ax.set_yticks(range(len(cm["rows"])), [f"{d}\n(trained on {t})" for d, t in zip(cm["rows"], cm["trained_on"])])
    for i, row in enumerate(cm["frame_auc"]):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.3f}", ha="center", va="center", color="w" if v < 0.75 else "k", fontsize=9)
    ax.set_xlabel("tested on")
    ax.set_title("cross-dataset frame AUC")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return save_png(fig, path)


def _ci(m: dict[str, Any], key: str) -> str:
    return html.escape(fmt_ci(m[key], m.get(f"{key}_ci")))


def summary_html(res: dict[str, Any]) -> str:
    head = "".join(f"<th>{h} [95% CI]</th>" for _, h in FIGURES)
    rows = []
    for r in res["results"]:
        for level in ("frame", "video"):
            m = r[level]
            rows.append(f"<tr><td>{html.escape(r['detector'])}</td><td>{html.escape(r['dataset'])}</td><td>{level}</td>"
                        + "".join(f"<td>{_ci(m, k)}</td>" for k, _ in FIGURES)
                        + f"<td>{m['n_real']} / {m['n_fake']}</td><td>{m['n_groups']}</td></tr>")
    return (f'<table id="summary"><tr><th>detector</th><th>test set</th><th>level</th>{head}'
            f"<th>n real / fake</th><th>groups</th></tr>{''.join(rows)}</table>")


def methods_html(res: dict[str, Any]) -> str:
    rows = []
    for r in res["results"]:
        for m in r["methods"]:
            f, v = m["frame"], m["video"]
            rows.append(f"<tr><td>{html.escape(r['detector'])}</td><td>{html.escape(r['dataset'])}</td>"
                        f"<td>{html.escape(m['method'])}</td><td>{_ci(f, 'auc')}</td><td>{_ci(f, 'ap')}</td>"
                        f"<td>{_ci(f, 'eer')}</td><td>{_ci(f, 'acc')}</td><td>{_ci(f, 'log_loss')}</td>"
                        f"<td>{_ci(v, 'auc')}</td><td>{f['n_fake']}</td><td>{v['n_fake']}</td></tr>")
    return ('<table id="methods"><tr><th>detector</th><th>test set</th><th>method (its fakes vs all reals)</th>'
            "<th>frame AUC</th><th>frame AP</th><th>frame EER</th><th>frame acc</th><th>frame log loss</th>"
            f"<th>video AUC</th><th>fake crops</th><th>fake videos</th></tr>{''.join(rows)}</table>")


def cross_html(res: dict[str, Any]) -> str:
    cm = res["cross"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cm["columns"])
    rows = []
    for i, (d, t) in enumerate(zip(cm["rows"], cm["trained_on"])):
        cells = "".join(
            f"<td>{html.escape(fmt_ci(cm['frame_auc'][i][j], cm['frame_auc_ci'][i][j]))}<br><small>video "
            f"{html.escape(fmt_ci(cm['video_auc'][i][j], cm['video_auc_ci'][i][j]))}"
            f"{' · in-domain' if cm['in_domain'][i][j] else ''}</small></td>" for j in range(len(cm["columns"])))
        rows.append(f"<tr><td>{html.escape(d)}</td><td>{html.escape(str(t))}</td>{cells}</tr>")
    return (f'<table id="cross"><tr><th>detector</th><th>trained on</th>{head}</tr>{"".join(rows)}</table>')


def robustness_html(res: dict[str, Any]) -> str:
    rows = []
    for r in (r for r in res["results"] if r.get("robustness")):
        for kind, pts in r["robustness"].items():
            for p in [pts] if kind == "clean" else pts:
                lvl = "–" if p["level"] is None else f"{p['level']:g}"
                rows.append(f"<tr><td>{html.escape(r['detector'])}</td><td>{html.escape(r['dataset'])}</td>"
                            f"<td>{kind}</td><td>{lvl}</td><td>{_ci(p, 'auc')}</td><td>{p['acc']:.3f}</td>"
                            f"<td>{html.escape(fmt_ci(p['video_auc'], p['video_auc_ci']))}</td></tr>")
    if not rows:
        return "<p>Not measured (run with --robustness).</p>"
    return ('<table id="robustness"><tr><th>detector</th><th>test set</th><th>perturbation</th><th>level</th>'
            f"<th>frame AUC</th><th>frame acc</th><th>video AUC</th></tr>{''.join(rows)}</table>")


def check(res: Any, rfile: Path) -> None:
    """One line for a results.json that is not an evaluate-detector result (before anything is written)."""
    from mediatk.evaluation.detection import SCHEMA

    if not isinstance(res, dict) or res.get("schema") != SCHEMA:
        raise ConfigError(f"{rfile} is not an evaluate-detector results file (schema {SCHEMA})")
    for key in ("detectors", "datasets", "results", "cross"):
        if key not in res:
            raise ConfigError(f"{rfile} lacks '{key}'")


def _cut(ex: dict | None) -> str:
    """How a video set was cut into crops, for its line in the data list (empty for a crop set)."""
    if not ex:
        return ""
    return (f"; cut from {ex['videos']} videos, {ex['frames_per_video']} frames each, {ex['videos_with_faces']} "
            f"with a face (crops in <code>{html.escape(ex['crops'])}</code>)")


def write_report(out: str | Path) -> Path:
    """(Re)build ``out/report.html`` and ``out/plots/*.png`` from ``out/results.json``."""
    out = Path(out)
    rfile = out / "results.json"
    try:
        res = json.loads(rfile.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{out} holds no results.json") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigError(f"{rfile} is not valid JSON") from None
    check(res, rfile)
    plots = out / "plots"
    figs = [(f"ROC curves: {d['name']}", plot_roc(res, d["name"], plots / f"roc_{_slug(d['name'])}.png"))
            for d in res["datasets"]]
    cross_png = plot_cross(res, plots / "cross.png")
    rob_png = plot_robustness(res, plots / "robustness.png")
    dets = "".join(f"<li><b>{html.escape(d['id'])}</b>: trained on {html.escape(str(d['trained_on']))}, "
                   f"{d['channels']}×{d['image_size']}² input, threshold {d['threshold']:g}, checkpoint "
                   f"<code>{html.escape(d['checkpoint'])}</code></li>" for d in res["detectors"])
    sets = "".join(f"<li><b>{html.escape(d['name'])}</b> ({html.escape(d['split'])} split, "
                   f"<code>{html.escape(d['path'])}</code>): {d['counts']['crops']['real']} real / "
                   f"{d['counts']['crops']['fake']} fake crops, {d['counts']['videos']['real']} / "
                   f"{d['counts']['videos']['fake']} videos, {d['counts']['groups']} groups; a video is "
                   f"{html.escape(d['video_unit'])}{_cut(d.get('extraction'))}</li>" for d in res["datasets"])
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mediatk detector evaluation</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1250px; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
td, th {{ border: 1px solid #bbb; padding: 3px 6px; white-space: nowrap; }} th {{ background: #eee; }}
code {{ font-size: 0.85em; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>mediatk detector evaluation</h1>
<p><code>{html.escape(res.get('command', ''))}</code><br>seed {res['seed']}, {res['n_boot']} bootstrap resamples,
limit {res['limit'] if res['limit'] is not None else 'none'}, wall time {res.get('seconds', 0):.0f} s.</p>
<h2>Detectors</h2><ul>{dets}</ul>
<h2>Test sets</h2><ul>{sets}</ul>
{''.join(f'<p><b>Warning:</b> {html.escape(w)}</p>' for w in res.get('warnings', []))}
<p>{html.escape(GUIDE)}</p>
<h2>Summary</h2>
{summary_html(res)}
{''.join(f'<h2>{html.escape(t)}</h2>{img_tag(p, t)}' for t, p in figs)}
<h2>Per manipulation method</h2>
{methods_html(res)}
<h2>Cross-dataset matrix (frame AUC; video AUC below)</h2>
{cross_html(res)}
{img_tag(cross_png, 'Cross-dataset matrix') if cross_png else ''}
<h2>Robustness</h2>
{img_tag(rob_png, 'Robustness curves') if rob_png else ''}
{robustness_html(res)}
</body></html>
"""
    path = out / "report.html"
    write_text(path, doc)
    return path
