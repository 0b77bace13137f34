"""The arena's report: ``report.html`` (self-contained, images inline) and PNG plots beside it.

Built from ``results.json`` and the sample grids in ``samples/`` alone, so ``mediatk report DIR`` can rebuild
it at any time.  Plots use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from mediatk.core.errors import ConfigError
from mediatk.core.fileio import write_text
from mediatk.core.metrics import fmt_ci
from mediatk.core.plotting import img_tag, pyplot, save_png


def _auc_axis(ax) -> None:
    """The full 0..1 AUC axis, chance marked: values below 0.5 are inverted rankings and must stay visible."""
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.text(ax.get_xlim()[0], 0.505, " chance (0.5)", color="grey", fontsize=7, va="bottom")
    ax.axhspan(0, 0.5, color="#f3e0e0", alpha=0.5, lw=0)
    ax.set_ylim(0, 1.02)


def plot_auc_rounds(res: dict[str, Any], path: Path) -> Path | None:
    """AUC per round per detector: before/evasion/recovery as a step line per (detector, generator).

    Bars are the bootstrap 95% intervals where results.json has them (runs before intervals had none).
    """
    table = res.get("table") or []
    r0row = res.get("rounds", [{}])[0] if res.get("rounds") else {}
    r0, r0stats = r0row.get("auc", {}), r0row.get("stats", {})
    if not r0:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for d, per_g in r0.items():
        for g, a0 in per_g.items():
            xs, ys = [0.0], [a0]
            cis = [r0stats.get(d, {}).get(g, {}).get("auc_ci")]
            for row in (r for r in table if r["detector"] == d and r["generator"] == g):
                t1 = float(row["transition"].split("->")[1])
                xs += [t1 - 0.5, t1]
                ys += [row["auc_evasion"], row["auc_recovery"]]
                cis += [row.get("auc_evasion_ci"), row.get("auc_recovery_ci")]
            line, = ax.plot(xs, ys, marker="o", label=f"{d} vs {g}")
            pts = [(x, y, ci) for x, y, ci in zip(xs, ys, cis) if ci]
            if pts:
                ax.errorbar([p[0] for p in pts], [p[1] for p in pts], fmt="none", ecolor=line.get_color(), capsize=2,
                            yerr=[[p[1] - p[2][0] for p in pts], [p[2][1] - p[1] for p in pts]], lw=0.8)
    ax.set_xlabel("round (x.5 = after evasion, before retraining)")
    ax.set_ylabel("AUC on held-out fakes (95% CI)")
    _auc_axis(ax)
    ax.set_title("Detection AUC across the arms race (below 0.5: inverted ranking)")
    ax.legend(fontsize=8)
    return save_png(fig, path)


def plot_roc(res: dict[str, Any], path: Path) -> Path | None:
    roc = res.get("roc") or {}
    if not roc:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(roc), figsize=(4 * len(roc), 3.8), squeeze=False)
    for ax, (d, per_round) in zip(axes[0], roc.items()):
        for t, pts in sorted(per_round.items(), key=lambda kv: int(kv[0])):
            ax.plot(pts["fpr"], pts["tpr"], label=f"D_{t} on G_{t}")
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        ax.set_title(f"ROC: {d}")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend(fontsize=8)
    return save_png(fig, path)


def plot_cross(res: dict[str, Any], path: Path) -> Path | None:
    cross = res.get("cross") or {}
    if not cross:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(cross), figsize=(3.8 * len(cross), 3.4), squeeze=False)
    for ax, (d, m) in zip(axes[0], cross.items()):
        im = ax.imshow(m["auc"], vmin=0.0, vmax=1.0, cmap="viridis")
        ax.set_xticks(range(len(m["test_on"])), m["test_on"])
        ax.set_yticks(range(len(m["train_on"])), m["train_on"])
        ax.set_xlabel("tested on fakes of")
        ax.set_ylabel("trained on fakes of")
        for i, row in enumerate(m["auc"]):
            for j, v in enumerate(row):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="w" if v < 0.8 else "k", fontsize=9)
        ax.set_title(f"cross-generator AUC: {d}")
        fig.colorbar(im, ax=ax, fraction=0.046)
    return save_png(fig, path)


def plot_robustness(res: dict[str, Any], path: Path) -> Path | None:
    rob = res.get("robustness") or {}
    if not rob:
        return None
    plt = pyplot()
    kinds = ["jpeg", "blur", "downscale"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    labels = {"jpeg": "JPEG quality (100 = none)", "blur": "Gaussian blur σ (px)", "downscale": "downscale factor"}
    for ax, kind in zip(axes, kinds):
        for d, curves in rob.items():
            pts = curves.get(kind, [])
            if kind == "downscale":
                pts = [[max(1.0, x), y] for x, y in pts]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=d)
        if kind == "jpeg":
            ax.invert_xaxis()
        ax.set_xlabel(labels[kind])
        ax.set_ylabel("AUC")
        _auc_axis(ax)
        ax.legend(fontsize=8)
    fig.suptitle("Robustness of the round-0 detectors")
    return save_png(fig, path)


def _f(v: Any, nd: int = 3) -> str:
    return "–" if v is None else f"{v:.{nd}f}"


#: the four AUCs of a round-table row: (key, who is measured on what, short name)
STAGES = (("before", "D<sub>t</sub> on G<sub>t</sub>", "D_t on G_t"),
          ("evasion", "D<sub>t</sub> on G<sub>t+1</sub> (evasion)", "evasion: D_t on G_t+1"),
          ("recovery", "D<sub>t+1</sub> on G<sub>t+1</sub> (recovery)", "recovery: D_t+1 on G_t+1"),
          ("forgetting", "D<sub>t+1</sub> on G<sub>≤t</sub> (forgetting)", "forgetting: D_t+1 on G_<=t"))

AUC_BELOW_HALF = (
    "How to read these numbers. AUC is the chance that a random fake scores higher than a random real image: "
    "0.5 is chance, 1 a perfect ranking. An AUC below 0.5 means the detector ranks these fakes as <i>more "
    "real than the real images</i>: its scores are informative but inverted (an AUC of 0.1 read upside down "
    "is 0.9), which happens when evasion overshoots and pushes the fakes past the real images. The AUC alone "
    "does not say how many fakes get through; that is in the two figures under each AUC: "
    "<b>fooled</b>, the share of fakes with P(synthetic) &lt; 0.5 (judged real at the detector's own decision "
    "point), and <b>TPR@1%FPR</b>, the share of fakes flagged at the threshold that flags 1% of the real test "
    "images. Brackets are bootstrap 95% intervals (real and fake test images resampled).")


def _pct(v: Any) -> str:
    return "–" if v is None else f"{100 * v:.0f}%"


def _auc(v: Any, ci: Any) -> str:
    return fmt_ci(v, ci) if ci else _f(v)


def _cell(st: dict[str, Any]) -> str:
    """One AUC cell of the HTML tables: the AUC [CI], then fooled and TPR@1%FPR on a second line."""
    text = f'<span class="auc">{html.escape(_auc(st.get("auc"), st.get("auc_ci")))}</span>'
    if st.get("fool") is None:
        return f"<td>{text}</td>"
    return (f"<td>{text}<br><small>fooled {_pct(st['fool'])} · TPR@1%FPR {_pct(st.get('tpr1'))}</small></td>")


def _row_stats(r: dict[str, Any], what: str) -> dict[str, Any]:
    return {"auc": r.get(f"auc_{what}"), "auc_ci": r.get(f"auc_{what}_ci"), "fool": r.get(f"fool_{what}"),
            "tpr1": r.get(f"tpr1_{what}")}


def _fid(q: dict[str, Any], key: str = "fid") -> str:
    """FID with its bootstrap interval (quality.py's ``fid_lo``/``fid_hi``) when the run recorded one."""
    v = q.get(key)
    if v is None:
        return "–"
    lo, hi = q.get(f"{key}_lo"), q.get(f"{key}_hi")
    return fmt_ci(v, [lo, hi], 2) if lo is not None and hi is not None else _f(v, 2)


def round0_table_html(res: dict[str, Any]) -> str:
    r0 = (res.get("rounds") or [{}])[0]
    stats = r0.get("stats") or {d: {g: {"auc": a} for g, a in per.items()} for d, per in (r0.get("auc") or {}).items()}
    rows = "".join(f"<tr><td>{html.escape(g)}</td><td>{html.escape(d)}</td>{_cell(st)}</tr>"
                   for d, per in stats.items() for g, st in per.items())
    return ('<table id="round0-table"><tr><th>generator</th><th>detector</th><th>AUC D<sub>0</sub> on '
            f"G<sub>0</sub></th></tr>{rows}</table>")


def round_table_html(res: dict[str, Any]) -> str:
    rows = res.get("table") or []
    head = ("<tr><th>round</th><th>generator</th><th>detector</th>"
            + "".join(f"<th>AUC {h}</th>" for _, h, _ in STAGES)
            + "<th>FID G<sub>t</sub></th><th>FID G<sub>t+1</sub></th></tr>")
    body = "".join(
        f"<tr><td>{html.escape(r['transition'])}</td><td>{html.escape(r['generator'])}</td>"
        f"<td>{html.escape(r['detector'])}</td>" + "".join(_cell(_row_stats(r, w)) for w, _, _ in STAGES)
        + f"<td>{_f(r.get('fid_before'), 2)}</td><td>{_f(r.get('fid_after'), 2)}</td></tr>"  # CIs: quality table
        for r in rows)
    return f'<table id="round-table">{head}{body}</table>'


def round_table_markdown(res: dict[str, Any]) -> str:
    """The CLI's summary and ``round_table.md``: one line per AUC, with its interval and what passes."""
    lines = ["| round | generator | detector | AUC of | AUC [95% CI] | fooled at 0.5 | TPR at 1% FPR |",
             "|---|---|---|---|---:|---:|---:|"]
    r0 = (res.get("rounds") or [{}])[0]
    for d, per in (r0.get("stats") or {}).items():
        for g, st in per.items():
            lines.append(f"| 0 | {g} | {d} | D_0 on G_0 | {_auc(st['auc'], st.get('auc_ci'))} | {_pct(st.get('fool'))} "
                         f"| {_pct(st.get('tpr1'))} |")
    for r in res.get("table") or []:
        for what, _, short in STAGES:
            st = _row_stats(r, what)
            lines.append(f"| {r['transition']} | {r['generator']} | {r['detector']} | {short} | "
                         f"{_auc(st['auc'], st['auc_ci'])} | {_pct(st['fool'])} | {_pct(st['tpr1'])} |")
    q = res.get("quality") or {}
    if q:
        lines += ["", "| generator_round | FID | KID |", "|---|---:|---:|"]
        lines += [f"| {k} | {_fid(v)} | {_f(v.get('kid'), 4)} |" for k, v in q.items()]
    return "\n".join(lines)


def check_results(res: Any, rfile: Path) -> None:
    """Refuse, in one line, a results.json whose fields the report reads have the wrong shape."""
    def need(ok: bool, where: str, want: str) -> None:
        if not ok:
            raise ConfigError(f"{rfile} is not an arena results file: {where} should be {want}")

    def num(v: Any, none_ok: bool = True) -> bool:
        return (v is None and none_ok) or (isinstance(v, (int, float)) and not isinstance(v, bool))

    def strs(v: Any) -> bool:
        return isinstance(v, list) and all(isinstance(x, str) for x in v)

    def stats_ok(st: dict[str, Any]) -> bool:  # the interval and pass rates beside an AUC (absent in old runs)
        ci = st.get("auc_ci")
        return (ci is None or (isinstance(ci, list) and len(ci) == 2 and all(num(x, False) for x in ci))) and \
            num(st.get("fool")) and num(st.get("tpr1"))

    need(isinstance(res, dict), "the top level", "an object")
    for key, typ in (("table", list), ("rounds", list), ("roc", dict), ("cross", dict), ("robustness", dict),
                     ("quality", dict), ("protocol", dict)):
        need(res.get(key) is None or isinstance(res[key], typ), f"'{key}'", "a list" if typ is list else "an object")
    need(num(res.get("seconds", 0), none_ok=False), "'seconds'", "a number")
    for i, r in enumerate(res.get("table") or []):
        need(isinstance(r, dict) and all(isinstance(r.get(k), str) for k in ("transition", "generator", "detector"))
             and "->" in r["transition"], f"table[{i}]", "an object with transition 'T->T+1', generator, detector")
        for k in ("auc_before", "auc_evasion", "auc_recovery", "auc_forgetting", "fid_before", "fid_after"):
            need(num(r.get(k)), f"table[{i}].{k}", "a number or null")
        need(r["transition"].split("->")[1].strip().isdigit(), f"table[{i}].transition", "'T->T+1'")
        for w, _, _ in STAGES:
            need(stats_ok(_row_stats(r, w)), f"table[{i}] {w}", "auc_ci [lo, hi], fool and tpr1 numbers or null")
    rounds = res.get("rounds") or [{}]
    need(isinstance(rounds[0], dict) and isinstance(rounds[0].get("auc", {}), dict), "rounds[0]", "an object")
    for d, per_g in (rounds[0].get("auc") or {}).items():
        need(isinstance(per_g, dict) and all(num(v, False) for v in per_g.values()), f"rounds[0].auc.{d}",
             "an object of numbers")
    for d, per_g in (rounds[0].get("stats") or {}).items():
        need(isinstance(per_g, dict) and all(isinstance(st, dict) and num(st.get("auc"), False) and stats_ok(st)
                                             for st in per_g.values()), f"rounds[0].stats.{d}",
             "an object of {auc, auc_ci, fool, tpr1}")
    for d, per_round in (res.get("roc") or {}).items():
        need(isinstance(per_round, dict), f"roc.{d}", "an object")
        for t, pts in per_round.items():
            need(str(t).isdigit() and isinstance(pts, dict) and isinstance(pts.get("fpr"), list)
                 and isinstance(pts.get("tpr"), list) and all(num(v, False) for v in pts["fpr"] + pts["tpr"]),
                 f"roc.{d}.{t}", "{fpr: [numbers], tpr: [numbers]} under a round number")
    for d, m in (res.get("cross") or {}).items():
        need(isinstance(m, dict) and strs(m.get("test_on")) and strs(m.get("train_on"))
             and isinstance(m.get("auc"), list) and len(m["auc"]) == len(m["train_on"])
             and all(isinstance(row, list) and len(row) == len(m["test_on"]) and all(num(v, False) for v in row)
                     for row in m["auc"]), f"cross.{d}", "{auc: train_on x test_on numbers, train_on, test_on}")
    for d, curves in (res.get("robustness") or {}).items():
        need(isinstance(curves, dict) and all(isinstance(c, list) and all(
            isinstance(pt, list) and len(pt) == 2 and num(pt[0], False) and num(pt[1], False) for pt in c)
            for c in curves.values()), f"robustness.{d}", "an object of [[x, auc], ...] curves")
    for k, v in (res.get("quality") or {}).items():
        need(isinstance(v, dict) and num(v.get("fid")) and num(v.get("kid")) and num(v.get("n_fake", 0), False)
             and num(v.get("fid_lo")) and num(v.get("fid_hi")),
             f"quality.{k}", "{fid, kid, n_fake} numbers (fid_lo, fid_hi too if present)")
    cfg = (res.get("protocol") or {}).get("config", {})
    need(isinstance(cfg, dict) and strs(cfg.get("generators", [])) and strs(cfg.get("detectors", []))
         and isinstance(cfg.get("rounds", 0), int), "protocol.config", "{generators, detectors: [names], rounds: int}")
    need(strs((res.get("protocol") or {}).get("quality_features", [])), "protocol.quality_features", "a list of text")


def write_report(out: str | Path) -> Path:
    """(Re)build ``report.html`` and the PNG plots in ``out`` from ``out/results.json``."""
    out = Path(out)
    rfile = out / "results.json"
    if not rfile.is_file():
        raise ConfigError(f"{out} holds no results.json; run mediatk arena --out {out} first")
    try:
        res = json.loads(rfile.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigError(f"{rfile} is not valid JSON") from None
    check_results(res, rfile)  # before anything is written: a wrong file leaves the old report.html as it was
    plots = out / "plots"
    made = [(title, fn(res, plots / f"{name}.png")) for title, name, fn in (
        ("AUC per round", "auc_rounds", plot_auc_rounds), ("ROC curves", "roc", plot_roc),
        ("Cross-generator matrix", "cross", plot_cross), ("Robustness", "robustness", plot_robustness))]
    proto = res.get("protocol", {})
    gens = proto.get("config", {}).get("generators", [])
    rounds = proto.get("config", {}).get("rounds", 0)
    grids = []
    for g in gens:
        cells = []
        for t in range(rounds + 1):
            p = out / "samples" / f"{g}_r{t}.png"
            if p.is_file():
                label = "round 0 (before evasion)" if t == 0 else f"round {t} (after evasion)"
                cells.append(f"<figure>{img_tag(p, f'{g} {label}', 220)}<figcaption>{html.escape(g)}: "
                             f"{label}</figcaption></figure>")
        if cells:
            grids.append(f'<div class="grids">{"".join(cells)}</div>')
    quality = res.get("quality") or {}
    qrows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(_fid(v))}</td><td>{_f(v.get('kid'), 4)}</td>"
                    f"<td>{int(v.get('n_fake', 0))}</td></tr>" for k, v in quality.items())
    proto_view = {k: v for k, v in proto.items() if k not in ("config",)}
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mediatk arena report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #bbb; padding: 4px 8px; }}
th {{ background: #eee; }} td {{ text-align: right; }} td:nth-child(-n+3) {{ text-align: left; }}
.auc {{ white-space: nowrap; }}
.grids {{ display: flex; flex-wrap: wrap; gap: 12px; }} figure {{ margin: 0; }}
figcaption {{ font-size: 0.85em; text-align: center; }} pre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; }}
</style></head><body>
<h1>mediatk arena: generators vs detectors</h1>
<p>Data: <b>{html.escape(str(proto.get('dataset', '')))}</b> ({html.escape(str(proto.get('splits', '')))}),
{proto.get('image_size')} px, seed {proto.get('seed')}; generators {html.escape(', '.join(gens))};
detectors {html.escape(', '.join(proto.get('config', {}).get('detectors', [])))}; {rounds} round(s);
fakes per generator: {proto.get('n_fake_train_per_generator')} train / {proto.get('n_fake_test_per_generator')} test.
Wall time {res.get('seconds', 0):.0f} s.</p>
<p>{AUC_BELOW_HALF}</p>
<h2>Round 0</h2>
{round0_table_html(res)}
<h2>Per-round table</h2>
<p>Evasion: the generator is fine-tuned against the frozen detectors of round t; recovery: the detectors
are retrained on the new fakes; forgetting: the retrained detectors on the earlier rounds' fakes.</p>
{round_table_html(res)}
<h2>Quality of each generator per round (the price of evasion)</h2>
<table><tr><th>generator_round</th><th>FID</th><th>KID</th><th>n_fake</th></tr>{qrows}</table>
<p>{html.escape(' · '.join(proto.get('quality_features', [])))}</p>
{''.join(f'<h2>{html.escape(t)}</h2>{img_tag(p, t)}' for t, p in made if p is not None)}
<h2>Samples per generator per round</h2>
{''.join(grids)}
<h2>Protocol</h2>
<pre>{html.escape(json.dumps(proto_view, indent=2))}</pre>
</body></html>
"""
    path = out / "report.html"
    write_text(path, doc)
    write_text(out / "round_table.md", round_table_markdown(res) + "\n")
    return path
