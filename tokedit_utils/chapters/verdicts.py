"""The book's verdict page: the paper's ten claims, ours beside them.

Every chapter records its claims in ``results.json`` under ``claims`` (see
:func:`tokedit_utils.toolkit.stats.claim`). :data:`PAPER_CLAIMS` says which chapter claims test which
of the paper's ten; the page is built from whatever chapters ran, and a claim whose chapter is
not in the chain (or has not been run in this profile) shows as "not run". A chapter claim
recorded with ``role="check"`` (a rule its instrument cannot fail) is listed but does not enter
the claim's verdict. Each claim also says what it rests on (:func:`rests_on`): the editing
prior and threshold, the size of the models, the metric; a claim tested with a stand-in prior
or threshold is marked so.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from ..toolkit import paper, paths, stats

NOT_RUN, PARTLY = stats.NOT_RUN, stats.PARTLY

#: The paper's ten claims: number, short title, the claim, and the chapter claims (stem, key)
#: that test it.
PAPER_CLAIMS = [
    (1, "More synthetic, worse model", "Non-iterative collapse: training loss falls and held-out PPL "
        "rises with the synthetic share",
     [("02_collapse", k) for k in ("train_loss_falls", "ppl_rises", "pure_synthetic_worst",
                                   "quarter_close_to_human", "ordering_every_epoch",
                                   "more_epochs_lower_ppl", "pure_synthetic_lowest_task_acc")]),
    (2, "Synthetic PPL low, narrow", "Coverage narrowing: synthetic text sits in the low-PPL part of "
        "human text, over a narrower range",
     [("03_statistics", "coverage_low"), ("03_statistics", "coverage_narrow")]),
    (3, "N-grams over-concentrated", "N-gram over-concentration of synthetic text",
     [("03_statistics", "ngram_concentrated")]),
    (4, "DSIR selection does not help", "Selection (DSIR) cannot fix the distribution shift",
     [("03_statistics", "selection_fails"), ("03_statistics", "embeddings_separate")]),
    (5, "U-shaped token probabilities", "Token probabilities under a prior are U-shaped",
     [("04_editing", "u_shaped")]),
    (6, "12.5% of tokens at P ≥ 0.99", "ToEdit mechanics: about 12.5% of tokens flagged at p = 0.99, "
        "few of them change, and the flagged share decays over generations",
     [("04_editing", "flagged_share_at_0.99"), ("04_editing", "few_flagged_change"),
      ("04_editing", "flagged_share_decays")]),
    (7, "Editing bounds the error", "Theory: replace grows linearly; accumulate and token editing "
        "stay bounded",
     [("05_theory", k) for k in ("replace_linear", "accumulate_bounded", "edit_closed_form",
                                 "edit_bounded_literal", "factor_two")]),
    (8, "Edited data trains as well", "Training on edited data helps, modestly, in pre-training, "
        "continual pre-training and SFT",
     [("06_training", f"{k}_edited_{part}") for k in ("pt", "cpt", "sft") for part in ("helps", "not_worse")]),
    (9, "High-p edits beat low-p", "Ablations: editing high-probability tokens beats low; samplers and "
        "k matter little",
     [("07_ablations", k) for k in ("high_beats_low", "samplers_comparable", "k_matters_little")]),
    (10, "Iterated edits keep SFT", "Iterated editing does not degrade SFT",
     [("06_training", "generations_stable")]),
]

#: Which of the ten claims rest on the editing prior and its threshold.
EDITING_CLAIMS = {5, 6, 8, 9, 10}


def _prior(stem: str, res: dict) -> str:
    """The editing prior's name, from ``edit_prior`` or the older ``prior`` / arm records."""
    if res.get("edit_prior"):
        return str(res["edit_prior"])
    arm_priors = {a.get("prior") for a in (res.get("arms") or {}).values() if isinstance(a, dict) and a.get("prior")}
    if arm_priors:
        return ", ".join(sorted(arm_priors))
    return Path(str(res.get("prior") or "teacher")).name


def _threshold(stem: str, res: dict) -> tuple[float | None, str]:
    """The editing threshold and how it was chosen, from ``edit_threshold`` or older keys."""
    editors = res.get("editors")
    if editors:  # chapter 6: a prior and a threshold per regime
        by_threshold = {}
        for regime, rec in editors.items():
            by_threshold.setdefault(float(rec["threshold"]), []).append(regime.upper())
        if len(by_threshold) == 1:
            return next(iter(by_threshold)), next(iter(editors.values()))["threshold_source"]
        return None, " and ".join(f"p = {t:.3g} ({', '.join(rs)})" for t, rs in sorted(by_threshold.items(), reverse=True))
    if res.get("edit_threshold") is not None:
        return float(res["edit_threshold"]), ""
    t = res.get("threshold")
    if isinstance(t, dict):  # chapter 4: {"rule", "value"}
        return float(t["value"]), str(t.get("rule", "")).replace("_", "-")
    if isinstance(t, (int, float)):  # chapter 6: the value and its source
        return float(t), str(res.get("threshold_source", ""))
    rule = (res.get("thresholds") or {}).get("mapping")  # chapter 7: arms at mapped thresholds
    if not rule:
        return None, ""
    return None, "the paper's thresholds" if rule == "literal" else f"{rule.replace('_', '-')} thresholds"


def rests_on(number: int, stem_results: dict[str, dict | None], metrics: list[str]) -> dict:
    """What one of the paper's claims rests on: ``prior``, ``threshold`` (editing claims only),
    ``scale`` (the models' size), ``metric``, and ``stand_in`` (a prior that is not a
    pretrained model, or a threshold other than the paper's p = 0.99)."""
    ran = {s: r for s, r in stem_results.items() if r}
    by_use = sorted(dict.fromkeys(metrics), key=lambda m: -metrics.count(m))  # the most used first
    out = {"prior": None, "threshold": None, "scale": None, "metric": "; ".join(by_use) or None, "stand_in": False}
    for stem, res in ran.items():
        n = (res.get("student") or {}).get("parameters")
        if n:
            out["scale"] = f"{n / 1e6:.1f}M-parameter students" if n >= 1e6 else f"{n / 1e3:.0f}k-parameter students"
        elif stem == "05_theory":
            out["scale"] = "linear regression"
        if number not in EDITING_CLAIMS:
            continue
        prior = _prior(stem, res)
        pretrained = res.get("edit_prior_pretrained", not prior.endswith("teacher"))
        out["prior"] = prior + ("" if pretrained or "stand-in" in prior else " (stand-in)")
        out["stand_in"] = out["stand_in"] or not pretrained
        value, how = _threshold(stem, res)
        if number == 5:
            continue  # the U shape needs no threshold
        if value is None:
            arm_t = sorted({float(a["threshold"]) for a in (res.get("arms") or {}).values()
                            if isinstance(a, dict) and a.get("threshold") is not None})
            out["threshold"] = how or None
            literal = (res.get("thresholds") or {}).get("mapping") == "literal" or (
                arm_t and paper.THRESHOLD in arm_t)
        else:
            out["threshold"] = f"p = {value:.3g}" + (f" ({how})" if how else "")
            literal = abs(value - paper.THRESHOLD) < 1e-9
        out["stand_in"] = out["stand_in"] or not literal
    return out


def stage_dirs(profile: str) -> dict[str, Path | None]:
    """Every stem the paper's claims rest on, mapped to its stage folder of ``profile``, or
    None when no chapter notebook of that name is in the chain."""
    chapters = {nb.stem for nb in paths.chapter_notebooks()}
    stems = {stem for *_, sources in PAPER_CLAIMS for stem, _ in sources}
    return {s: paths.stage_dir(profile, s) if s in chapters else None for s in sorted(stems)}


def collect(stage_dirs: dict[str, Path | None]) -> list[dict]:
    """One row per paper claim with its chapter claims (``parts``), its verdict (from the
    parts that are not checks, :func:`stats.combine`) and what it rests on: ``stage_dirs``
    maps each stem to its finished stage folder, or None when the chapter is not in the chain
    or was not run."""
    results = {}
    for stem, folder in stage_dirs.items():
        path = Path(folder) / "results.json" if folder is not None else None
        results[stem] = json.loads(path.read_text()) if path is not None and path.exists() else None
    rows = []
    for number, title, text, sources in PAPER_CLAIMS:
        parts = []
        for stem, key in sources:
            claim = ((results.get(stem) or {}).get("claims") or {}).get(key)
            parts.append({"stem": stem, "key": key,
                          "statement": claim["statement"] if claim else key.replace("_", " "),
                          "paper": claim["paper"] if claim else "", "ours": claim["ours"] if claim else "",
                          "metric": claim.get("metric") if claim else None,
                          "check": bool(claim and claim.get("role") == "check"),
                          "verdict": claim["verdict"] if claim else NOT_RUN})
        counted = [p["verdict"] for p in parts if not p["check"]]
        rows.append({"number": number, "title": title, "claim": text, "parts": parts,
                     "verdict": stats.combine(counted),
                     "rests_on": rests_on(number, {s: results.get(s) for s, _ in sources},
                                          [p["metric"] for p in parts if p["metric"] and not p["check"]])})
    return rows


VERDICT_COLORS = {stats.REPRODUCED: "#2ca02c", PARTLY: "#98df8a", stats.MIXED: "#ff9f40",
                  stats.INCONCLUSIVE: "#bbbbbb", stats.NOT_REPRODUCED: "#d62728",
                  stats.NOT_TESTABLE: "#9ecae1", NOT_RUN: "#ffffff"}
_DARK = {stats.REPRODUCED, stats.NOT_REPRODUCED}


def badge(verdict: str) -> str:
    """A verdict as a small coloured label (inline HTML)."""
    color = "white" if verdict in _DARK else "black"
    return (f'<span style="background:{VERDICT_COLORS[verdict]};color:{color};border:1px solid #888;'
            f'border-radius:4px;padding:0 5px;white-space:nowrap">{html.escape(verdict)}</span>')


def rests_on_text(r: dict) -> str:
    """``teacher (stand-in) · p = 0.62 · 2.1M-parameter students · domain PPL``, short: the
    threshold without how it was chosen, the first metric only."""
    bits = [r["prior"], (r["threshold"] or "").split(" (")[0], r["scale"], (r["metric"] or "").split("; ")[0]]
    return " · ".join(b for b in bits if b) or "—"


def summary_html(rows: list[dict]) -> str:
    """The ten claims on one screen: number, short title linked to its chapter, the verdict as a
    badge, and what it rests on (a † marks a stand-in prior or threshold)."""
    cell = 'style="padding:1px 5px;vertical-align:top;white-space:nowrap"'
    wrap = 'style="padding:1px 5px;vertical-align:top"'
    out = ['<table style="font-size:0.8em;border-collapse:collapse;width:100%;line-height:1.35">',
           f'<tr style="border-bottom:1px solid #888"><th {cell}>#</th><th {cell}>the paper\'s claim</th>'
           f'<th {cell}>verdict</th><th {wrap}>rests on</th></tr>']
    for row in rows:
        stem = row["parts"][0]["stem"]
        r = row["rests_on"]
        title = html.escape(row["title"]) + (" †" if r["stand_in"] else "")
        out.append(f'<tr style="border-bottom:1px solid #ddd"><td {cell}>{row["number"]}</td>'
                   f'<td {cell}><a href="{stem}.html">{title}</a></td><td {cell}>{badge(row["verdict"])}</td>'
                   f'<td {wrap}>{html.escape(rests_on_text(r))}</td></tr>')
    out.append("</table>")
    return "\n".join(out)


def markdown_table(rows: list[dict]) -> str:
    """The detail table as MyST Markdown: one row per chapter claim, linking to its chapter,
    with the paper's number, ours, the metric and the verdict (checks marked as such)."""
    out = ["| # | tested by | paper | ours | verdict |", "|---|---|---|---|---|"]
    for row in rows:
        for i, part in enumerate(row["parts"]):
            where = (f"[{part['statement']}]({part['stem']}.ipynb)" if part["verdict"] != NOT_RUN
                     else f"{part['statement']} (chapter `{part['stem']}`)")
            ours = part["ours"] + (f" [{part['metric']}]" if part["metric"] else "")
            verdict = part["verdict"] + (" (check)" if part["check"] else "")
            cells = [f"{row['number']}" if i == 0 else "", where, part["paper"], ours, verdict]
            out.append("| " + " | ".join(c.replace("|", "/").replace("\n", " ") for c in cells) + " |")
    return "\n".join(out)


def counts(rows: list[dict]) -> dict[str, int]:
    """How many of the ten paper claims have each overall verdict."""
    tally: dict[str, int] = {}
    for row in rows:
        tally[row["verdict"]] = tally.get(row["verdict"], 0) + 1
    return tally


def plot(rows: list[dict]):
    """The ten claims at a glance: one bar per chapter claim, coloured by its verdict; checks
    hatched."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(7, 3.8))
    for row in rows:
        for i, part in enumerate(row["parts"]):
            ax.barh(row["number"], 1, left=i, color=VERDICT_COLORS[part["verdict"]], edgecolor="black", lw=0.6,
                    hatch="//" if part["check"] else None)
    ax.set_yticks([r["number"] for r in rows])
    ax.set_yticklabels([f"claim {r['number']}" for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("the chapter claims that test each paper claim (hatched: checks)")
    ax.set_xticks([])
    ax.grid(False)
    ax.legend(handles=[Patch(facecolor=c, edgecolor="black", label=v) for v, c in VERDICT_COLORS.items()],
              fontsize=7, loc="lower right", framealpha=0.95)
    ax.set_title("The paper's ten claims, as this build reproduces them")
    return fig
