"""The book's verdict page: the paper's ten claims (digest §8), ours beside them.

Every chapter records its claims in ``results.json`` under ``claims`` (see
:func:`tokedit_utils.toolkit.stats.claim`). :data:`PAPER_CLAIMS` says which chapter claims test which
of the paper's ten; the page is built from whatever chapters ran, and a claim whose chapter is
not in the chain (or has not been run in this profile) shows as "not run".
"""

from __future__ import annotations

import json
from pathlib import Path

from ..toolkit import stats

NOT_RUN, PARTLY = "not run", "partly reproduced"

#: The paper's ten claims (digest §8) and the chapter claims (stem, key) that test each one.
PAPER_CLAIMS = [
    (1, "Non-iterative collapse: training loss falls and held-out PPL rises with the synthetic share",
     [("02_collapse", k) for k in ("train_loss_falls", "ppl_rises", "pure_synthetic_worst",
                                   "quarter_close_to_human", "ordering_every_epoch",
                                   "more_epochs_lower_ppl", "pure_synthetic_lowest_task_acc")]),
    (2, "Coverage narrowing: synthetic text sits in the low-PPL part of human text",
     [("03_statistics", "coverage_narrow")]),
    (3, "N-gram over-concentration of synthetic text", [("03_statistics", "ngram_concentrated")]),
    (4, "Selection (DSIR) cannot fix the distribution shift",
     [("03_statistics", "selection_fails"), ("03_statistics", "embeddings_separate")]),
    (5, "Token probabilities under a prior are U-shaped", [("04_editing", "u_shaped")]),
    (6, "ToEdit mechanics: about 12.5% of tokens flagged at p = 0.99, few of them change, and the "
        "flagged share decays over generations",
     [("04_editing", "flagged_share_at_0.99"), ("04_editing", "few_flagged_change"),
      ("04_editing", "flagged_share_decays")]),
    (7, "Theory: replace grows linearly; accumulate and token editing stay bounded",
     [("05_theory", k) for k in ("replace_linear", "accumulate_bounded", "edit_closed_form",
                                 "edit_bounded_literal", "factor_two")]),
    (8, "Training on edited data helps, modestly, in pre-training, continual pre-training and SFT",
     [("06_training", k) for k in ("pt_edited_not_worse", "cpt_edited_not_worse",
                                   "sft_edited_not_worse")]),
    (9, "Ablations: editing high-probability tokens beats low; samplers and k matter little",
     [("07_ablations", k) for k in ("high_beats_low", "samplers_comparable", "k_matters_little")]),
    (10, "Iterated editing does not degrade SFT", [("06_training", "generations_stable")]),
]


def overall(verdicts: list[str]) -> str:
    """One verdict for a paper claim from the verdicts of the chapter claims that test it:
    reproduced when all are, partly reproduced when some are, not reproduced when none is and
    some contradict it, inconclusive when all are, not run when no chapter tested it."""
    ran = [v for v in verdicts if v != NOT_RUN]
    if not ran:
        return NOT_RUN
    if all(v == stats.REPRODUCED for v in ran):
        return stats.REPRODUCED
    if stats.REPRODUCED in ran:
        return PARTLY
    return stats.NOT_REPRODUCED if stats.NOT_REPRODUCED in ran else stats.INCONCLUSIVE


def collect(stage_dirs: dict[str, Path | None]) -> list[dict]:
    """One row per chapter claim, grouped by paper claim: ``stage_dirs`` maps each stem to its
    finished stage folder, or None when the chapter is not in the chain or was not run."""
    results = {}
    for stem, folder in stage_dirs.items():
        path = Path(folder) / "results.json" if folder is not None else None
        results[stem] = json.loads(path.read_text()) if path is not None and path.exists() else None
    rows = []
    for number, text, sources in PAPER_CLAIMS:
        parts = []
        for stem, key in sources:
            claim = ((results.get(stem) or {}).get("claims") or {}).get(key)
            parts.append({"stem": stem, "key": key,
                          "statement": claim["statement"] if claim else key.replace("_", " "),
                          "paper": claim["paper"] if claim else "",
                          "ours": claim["ours"] if claim else "",
                          "verdict": claim["verdict"] if claim else NOT_RUN})
        rows.append({"number": number, "claim": text, "parts": parts,
                     "verdict": overall([p["verdict"] for p in parts])})
    return rows


def markdown_table(rows: list[dict]) -> str:
    """The verdict table as MyST Markdown, each chapter claim linking to its chapter."""
    out = ["| # | the paper's claim | tested by | paper | ours | verdict |", "|---|---|---|---|---|---|"]
    for row in rows:
        for i, part in enumerate(row["parts"]):
            head = (f"{row['number']}", f"**{row['claim']}** ({row['verdict']})") if i == 0 else ("", "")
            where = (f"[{part['statement']}]({part['stem']}.ipynb)" if part["verdict"] != NOT_RUN
                     else f"{part['statement']} (chapter `{part['stem']}`)")
            cells = [*head, where, part["paper"], part["ours"], part["verdict"]]
            out.append("| " + " | ".join(c.replace("|", "/").replace("\n", " ") for c in cells) + " |")
    return "\n".join(out)


def counts(rows: list[dict]) -> dict[str, int]:
    """How many of the ten paper claims have each overall verdict."""
    tally: dict[str, int] = {}
    for row in rows:
        tally[row["verdict"]] = tally.get(row["verdict"], 0) + 1
    return tally


VERDICT_COLORS = {stats.REPRODUCED: "#2ca02c", PARTLY: "#98df8a", stats.INCONCLUSIVE: "#bbbbbb",
                  stats.NOT_REPRODUCED: "#d62728", NOT_RUN: "#ffffff"}


def plot(rows: list[dict]):
    """The ten claims at a glance: one bar per chapter claim, coloured by its verdict."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(7, 3.8))
    for row in rows:
        for i, part in enumerate(row["parts"]):
            ax.barh(row["number"], 1, left=i, color=VERDICT_COLORS[part["verdict"]], edgecolor="black", lw=0.6)
    ax.set_yticks([r["number"] for r in rows])
    ax.set_yticklabels([f"claim {r['number']}" for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("the chapter claims that test each paper claim")
    ax.set_xticks([])
    ax.grid(False)
    ax.legend(handles=[Patch(facecolor=c, edgecolor="black", label=v) for v, c in VERDICT_COLORS.items()],
              fontsize=8, loc="lower right", framealpha=0.95)
    ax.set_title("The paper's ten claims, as this build reproduces them")
    return fig
