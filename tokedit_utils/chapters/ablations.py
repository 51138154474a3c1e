"""The paper's ablations (§5.4, claim 9): which tokens to edit, how to draw, how many candidates.

Every arm continues chapter 6's base model on its continual pre-training mixture (half domain,
half general text, :func:`tokedit_utils.toolkit.mixtures.cpt_mixture`); only the domain half differs
between arms. Each arm is one :class:`~tokedit_utils.toedit.EditConfig` (:func:`edit_config`),
so what an arm changes is exactly what reaches the engine.

* **Threshold** (Table 5): resample the predictable tokens (``P >= t``, ``resample_high``)
  against deleting the unpredictable ones (``P < t``, ``drop_low``; the repo's runs behind
  Table 5 deleted tokens). The engine has neither "resample the unlikely tokens" nor "delete
  the likely ones", so those two readings are not run.
* **Sampler** (Table 7): top-k (k = 8), top-p (0.9) and rejection sampling at the 0.99 arm's
  threshold. **Candidates** (Table 8): top-k with k = 8 and k = 64.

**Thresholds.** With ``mapping="literal"`` the arms use the paper's thresholds. A prior trained
on a CPU flags almost nothing at ``P >= 0.99``, so the default maps them
(:func:`map_thresholds`): the 0.99 arm uses chapter 4's dose-matched threshold; the ``P < 0.1`` arm
deletes the share of tokens that the paper's prior puts below 0.1 (Table 6: 34.7%); and each
further factor of ten in the paper's threshold (0.999; 0.01, 0.001) flags half the share of
the step before. The halving is an assumption: the paper gives no shares at those thresholds,
and its prior flags 27.1% of the tokens at 0.9 and 12.5% at 0.99 (Tables 6 and 15).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from . import training
from ..toolkit import edits, paper, stats
from ..toolkit.stats import pct as _pct
from ..toedit import EditConfig, EditStats, ToEditor, stored

# ---------------------------------------------------------------------- the paper's numbers


def paper_tables() -> dict:
    """Tables 5, 7 and 8 with their column names (for ``results["paper"]``)."""
    table = lambda rows, cols: {k: dict(zip(cols, v)) for k, v in rows.items()}  # noqa: E731
    return {"table5": table(paper.TABLE5_THRESHOLDS, paper.TABLE5_COLUMNS),
            "table7": table(paper.TABLE7_SAMPLERS, paper.TABLE7_COLUMNS),
            "table8": table(paper.TABLE8_K, paper.TABLE7_COLUMNS)}


def paper_score(row: str) -> float | None:
    """An arm's paper score: Table 5's average, or the mean of Table 7/8's three columns."""
    if row in paper.TABLE5_THRESHOLDS:
        return paper.TABLE5_THRESHOLDS[row][-1]
    values = paper.TABLE7_SAMPLERS.get(row) or paper.TABLE8_K.get(row)
    return float(np.mean(values)) if values else None


# ---------------------------------------------------------------------- thresholds and arms


def map_thresholds(mapping: str, profile: str, domain_probs: np.ndarray | None = None) -> dict:
    """``{"high": {paper t: ours}, "low": {paper t: ours}, "shares": {paper t: share}, "rule"}``.

    ``mapping``: ``"literal"`` (the paper's thresholds), or ``"dose_matched"`` /
    ``"flag_matched"``: chapter 4's threshold for the 0.99 arm, and for the others the
    thresholds that flag the share of ``domain_probs`` (the prior's token probabilities on the
    domain text) given in the module docstring.
    """
    if mapping == "literal":
        return {"high": {t: t for t in paper.HIGH_THRESHOLDS}, "low": {t: t for t in paper.LOW_THRESHOLDS}, "shares": None,
                "rule": "the paper's thresholds"}
    probs = np.asarray(domain_probs, dtype=float)
    anchor, source = training.resolve_threshold(mapping, profile)
    shares = {0.99: float((probs >= anchor).mean())}
    shares[0.999] = shares[0.99] / 2
    for i, t in enumerate(paper.LOW_THRESHOLDS):
        shares[t] = paper.SHARE_BELOW_0_1 / 2 ** i
    high = {0.99: anchor, 0.999: float(np.quantile(probs, 1 - shares[0.999]))}
    low = {t: float(np.quantile(probs, shares[t])) for t in paper.LOW_THRESHOLDS}
    return {"high": high, "low": low, "shares": shares,
            "rule": (f"p ≥ 0.99 → {source}; p ≤ 0.1 → the threshold below which our prior puts "
                     f"{100 * paper.SHARE_BELOW_0_1:.1f}% of the domain's tokens, as the paper's prior "
                     "does below 0.1 (Table 6); each further factor of ten (p ≥ 0.999, p ≤ 0.01, "
                     "p ≤ 0.001) → half the share of the step before, as the paper's prior flags 27.1% "
                     "at p ≥ 0.9 and 12.5% at p ≥ 0.99 (Tables 6 and 15)")}


def arms(thresholds: dict, top_p: float = 0.9, large_k: int = 64) -> dict[str, dict]:
    """Every edited arm: ``{name: {"group", "paper_row", "config": EditConfig fields}}``.

    The top-k arm of Tables 7 and 8 is the p ≥ 0.99 arm of Table 5 (the same run in the repo).
    """
    high, low = thresholds["high"], thresholds["low"]
    t99 = high[0.99]
    out: dict[str, dict] = {}
    for t in paper.HIGH_THRESHOLDS:
        out[f"resample p≥{t}"] = {"group": "threshold", "paper_row": f"p ≥ {t}", "config": dict(
            strategy="resample_high", threshold=high[t], sampler="top_k", k=paper.K,
            beta=paper.BETA)}
    for t in paper.LOW_THRESHOLDS:
        out[f"delete p≤{t}"] = {"group": "threshold", "paper_row": f"p ≤ {t}", "config": dict(
            strategy="drop_low", low_threshold=low[t])}
    out["top-p"] = {"group": "sampler", "paper_row": "top-p", "config": dict(
        strategy="resample_high", threshold=t99, sampler="top_p", top_p=top_p)}
    out["rejection"] = {"group": "sampler", "paper_row": "rejection", "config": dict(
        strategy="resample_high", threshold=t99, sampler="rejection")}
    out[f"k = {large_k}"] = {"group": "candidates", "paper_row": f"k = {large_k}", "config": dict(
        strategy="resample_high", threshold=t99, sampler="top_k", k=large_k, beta=paper.BETA)}
    # beyond the paper: the 0.99 arm, but a token inside a word is never resampled
    out[WORD_START_ARM] = {"group": "beyond the paper", "paper_row": None, "only": "word_starts",
                           "config": dict(out[TOP_K_ARM]["config"])}
    return out


TOP_K_ARM = "resample p≥0.99"  # the top-k (k = 8) arm of Tables 7 and 8
WORD_START_ARM = "word starts p≥0.99"
TOP_K_PAPER = {"top-k": TOP_K_ARM, "k = 8": TOP_K_ARM}


def edit_config(arm: dict) -> EditConfig:
    """The engine's options for an arm: its fields, the engine's defaults for the rest."""
    return EditConfig(**arm["config"])


def make_editor(model, tokenizer, arm: dict) -> ToEditor:
    return ToEditor(model, tokenizer, config=edit_config(arm))


def edit(editor: ToEditor, scores: stored.Scores, arm: dict, edit_seeds: dict[int, int],
         prior: str, vocabulary: set[str] | None = None) -> tuple[dict[int, list[str]], dict]:
    """The arm's edit of the scored texts from the one stored scoring pass, once per training
    seed with that seed's edit seed (``{training seed: edit seed}``, the same for every arm),
    and its shares over all draws: *flagged* = resampled or deleted positions, *changed* =
    positions whose token differs (a deleted token counts as changed). An arm with ``"only":
    "word_starts"`` resamples only tokens that begin a word; the non-word share (chapter 4)
    of each arm's first seed is measured against ``vocabulary`` (default: the scored texts')."""
    config = edit_config(arm)
    allowed = stored.word_starts(editor, scores) if arm.get("only") == "word_starts" else None
    texts, totals, changed = {}, EditStats(), []
    for train_seed, edit_seed in edit_seeds.items():
        try:
            results = stored.apply(editor, scores, config, seed=edit_seed, allowed=allowed)
        except stored.NotStored:  # e.g. a flat prior's nucleus: the forward pass, same draws
            results = ToEditor(editor.model, editor.tokenizer, config).edit_texts(scores.texts, seed=edit_seed)
        texts[train_seed] = [r.text for r in results]
        totals.update(results)
        changed.append(sum(r.changed + r.dropped for r in results))
    first = texts[next(iter(texts))]
    non_word = edits.non_word_share(scores.texts, first, vocabulary) if config.resamples else None
    d = totals.to_dict()
    scored = max(d["scored"], 1)
    return texts, {
        "prior": prior, "threshold": config.threshold if config.resamples else config.low_threshold,
        "tokens": d["scored"] // len(edit_seeds), "resampled": d["flagged"], "dropped": d["dropped"],
        "changed_tokens": changed, "edit_seeds": list(edit_seeds.values()), "non_word": non_word,
        "flagged_share": (d["flagged"] + d["dropped"]) / scored,
        "changed_share": (d["changed"] + d["dropped"]) / scored}


# ---------------------------------------------------------------------- comparisons

METRICS = ("domain_ppl", "general_ppl")


def arm_results(runs: list[dict], arm_specs: dict, doses: dict, equivalence_margin: float) -> dict:
    """``{arm: {..spec, flagged/changed shares, "metrics": {m: per-seed}, "delta": {m: diff}}}``
    from runs ``{"arm", "seed", "metrics"}``; deltas are paired with the source arm by seed."""
    seeds = sorted({r["seed"] for r in runs})
    values = {a: {m: [float(next(r["metrics"][m] for r in runs if r["arm"] == a and r["seed"] == s))
                      for s in seeds] for m in METRICS} for a in ["source", *arm_specs]}
    out = {"source": {"group": "source", "paper_row": None, "config": None, "flagged_share": 0.0,
                      "changed_share": 0.0, "seeds": seeds, "metrics": values["source"], "delta": None}}
    for name, spec in arm_specs.items():
        cfg = edit_config(spec)
        out[name] = {**spec, "strategy": cfg.strategy, "sampler": cfg.sampler if cfg.resamples else None,
                     "k": cfg.k if cfg.resamples and cfg.sampler != "top_p" else None,
                     "flagged_share": doses[name]["flagged_share"], "changed_share": doses[name]["changed_share"],
                     "threshold": cfg.threshold if cfg.resamples else cfg.low_threshold,
                     **{k: doses[name].get(k) for k in ("prior", "changed_tokens", "edit_seeds", "non_word")},
                     "seeds": seeds, "metrics": values[name],
                     "delta": {m: training.compare(values[name][m], values["source"][m], False,
                                                  equivalence_margin * float(np.mean(values["source"][m])))
                               for m in METRICS}}
    return out


def _vs(arms_: dict, a: str, b: str, metric: str = "domain_ppl") -> dict:
    return stats.paired_difference(arms_[a]["metrics"][metric], arms_[b]["metrics"][metric])


#: A resample-high and a delete-low arm edit a matched dose when their numbers of changed
#: tokens differ by at most this factor.
MATCH_FACTOR = 2.0


def _changed(arm: dict) -> float:
    """The changed tokens of an arm's dose (``changed_tokens``, the mean over its edit seeds),
    or its changed share where the count is not recorded (every arm edits the same text, so
    the two order alike)."""
    changed = arm.get("changed_tokens")
    if changed is None:
        return float(arm["changed_share"])
    return float(np.mean(changed)) if isinstance(changed, (list, tuple)) else float(changed)


def matched_pair(arms_: dict) -> tuple[str, str] | None:
    """The resample-high and delete-low threshold arms whose numbers of changed tokens are
    closest (by ratio), when within :data:`MATCH_FACTOR`; None when no pair is."""
    def names(strategy):
        return [n for n, a in arms_.items() if a.get("group") == "threshold" and a.get("strategy") == strategy
                and _changed(a) > 0]

    pairs = sorted((abs(np.log(_changed(arms_[h]) / _changed(arms_[lo]))), h, lo)
                   for h in names("resample_high") for lo in names("drop_low"))
    if not pairs or pairs[0][0] > np.log(MATCH_FACTOR):
        return None
    return pairs[0][1], pairs[0][2]


def comparisons(arms_: dict, equivalence_margin: float, large_k: int = 64) -> dict:
    """The paired differences behind claim 9 (domain PPL, lower is better).

    ``high_vs_low``: the resample-high arm minus the delete-low arm that changes a matched
    number of tokens (:func:`matched_pair`; None when no pair is matched), so that the
    comparison is of where the edits fall, not of how many there are; ``top_p`` and
    ``rejection`` minus top-k; ``k64`` minus k = 8. Equivalence margins are
    ``equivalence_margin`` times the top-k arm's mean PPL.
    """
    margin = equivalence_margin * float(np.mean(arms_[TOP_K_ARM]["metrics"]["domain_ppl"]))
    pair = matched_pair(arms_)
    out = {"high_vs_low": None if pair is None else {**_vs(arms_, *pair), "pair": list(pair)},
           "top_p": _vs(arms_, "top-p", TOP_K_ARM), "rejection": _vs(arms_, "rejection", TOP_K_ARM),
           "k64": _vs(arms_, f"k = {large_k}", TOP_K_ARM)}
    for d in out.values():
        if d is not None:
            d["margin"] = margin
    return out


def _numbers(d: dict | None) -> dict | None:
    return None if d is None else {f: d[f] for f in ("mean", "se", "p_value", "mde", "ci", "margin", "n")}


def claims(arms_: dict, comp: dict) -> dict:
    """Claim 9 of the paper as three :func:`stats.claim` records."""
    t5 = paper.TABLE5_THRESHOLDS
    hl = comp["high_vs_low"]
    samplers = [comp["top_p"], comp["rejection"]]
    fmt = lambda d: training.fmt(d)  # noqa: E731
    if hl is None:
        high_low = (stats.NOT_TESTABLE, "no resample-high and delete-low arms change a number of tokens within "
                                        f"a factor of {MATCH_FACTOR:g} of each other")
    else:
        h, lo = hl["pair"]
        high_low = (stats.direction_verdict(hl, -1),
                    f"domain PPL, {h} − {lo} (changed tokens {stats.pct(arms_[h]['changed_share'], 2)} vs "
                    f"{stats.pct(arms_[lo]['changed_share'], 2)}): {fmt(hl)}")
    return {
        "high_beats_low": stats.claim(
            "Editing high-probability tokens beats editing low-probability ones, at a matched number of "
            "changed tokens (claim 9, Table 5)", *high_low,
            f"average {t5['p ≥ 0.99'][-1]:.2f} / {t5['p ≥ 0.999'][-1]:.2f} vs {t5['p ≤ 0.1'][-1]:.2f} (Table 5)",
            metric="domain PPL", contradicted_by="the resample-high arm significantly worse than the matched "
                                                 "delete-low arm", difference=_numbers(hl),
            pair=None if hl is None else hl["pair"]),
        "samplers_comparable": stats.claim(
            "Top-k, top-p and rejection sampling are comparable (claim 9, Table 7)",
            stats.combine([stats.equivalence_verdict(d, d["margin"]) for d in samplers]),
            f"domain PPL vs top-k: top-p {fmt(comp['top_p'])}; rejection {fmt(comp['rejection'])}",
            "mean of 3 tasks: " + ", ".join(f"{k} {paper_score(k):.2f}" for k in paper.TABLE7_SAMPLERS) + " (Table 7)",
            metric="domain PPL", contradicted_by="a sampler whose whole 95% interval lies beyond the margin",
            differences={"top_p": _numbers(comp["top_p"]), "rejection": _numbers(comp["rejection"])}),
        "k_matters_little": stats.claim(
            "Top-k with k = 8 and k = 64 differ little (claim 9, Table 8)",
            stats.equivalence_verdict(comp["k64"], comp["k64"]["margin"]),
            f"domain PPL, k = 64 − k = 8: {fmt(comp['k64'])}",
            "mean of 3 tasks: " + ", ".join(f"{k} {paper_score(k):.2f}" for k in paper.TABLE8_K) + " (Table 8)",
            metric="domain PPL", contradicted_by="the whole 95% interval beyond the margin",
            difference=_numbers(comp["k64"])),
    }


# ---------------------------------------------------------------------- tables and prose


def arms_table(arms_: dict):
    """One row per arm: its editing, flagged and changed shares, the paper's score beside our
    domain PPL and the paired difference to the source."""
    import pandas as pd

    rows = []
    for name, a in arms_.items():
        d = a["delta"]
        rows.append({
            "arm": name, "group": a["group"], "prior": a.get("prior") or "",
            "threshold": None if a["config"] is None else round(a["threshold"], 6),
            "non-word spans (%)": None if not a.get("non_word") or a["non_word"]["share"] is None
            else round(100 * a["non_word"]["share"], 1),
            "flagged (%)": round(100 * a["flagged_share"], 2), "changed (%)": round(100 * a["changed_share"], 2),
            "paper": a["paper_row"] or "", "paper score": paper_score(a["paper_row"]) if a["paper_row"] else None,
            "domain PPL": round(float(np.mean(a["metrics"]["domain_ppl"])), 3),
            "Δ domain PPL ± SE": "" if d is None else _pm(d["domain_ppl"]),
            "Δ general PPL ± SE": "" if d is None else _pm(d["general_ppl"])})
    return pd.DataFrame(rows).set_index("arm")


def _pm(d: dict) -> str:
    return f"{d['mean']:+.3f}" + ("" if d["se"] is None else f" ± {d['se']:.3f}")


def ordering(arms_: dict) -> dict:
    """Table 5's arms ranked best first: the paper's by average accuracy, ours by domain PPL."""
    rows = {a["paper_row"]: name for name, a in arms_.items() if a["group"] == "threshold"}
    theirs = sorted(rows, key=lambda r: -paper.TABLE5_THRESHOLDS[r][-1])
    ours = sorted(rows, key=lambda r: np.mean(arms_[rows[r]]["metrics"]["domain_ppl"]))
    return {"paper": theirs, "ours": ours}


def summary(results: dict, gpu: dict | None = None) -> str:
    """The chapter's closing paragraphs, written from its ``results.json``."""
    a, c, comp = results["arms"], results["claims"], results["comparisons"]
    n = len(a["source"]["seeds"])
    order = results["ordering"]
    hi = [a[f"resample p≥{t}"] for t in paper.HIGH_THRESHOLDS]
    lo = a["delete p≤0.1"]
    parts = [
        f"**Setting.** Every arm continues chapter 6's base model ({results['student']['parameters']:,} "
        f"parameters) on {results['blocks_per_arm']:,} blocks of {results['block_size']} tokens, half "
        f"{results['domain']} text (source or edited) and half general text, for {results['cpt_epochs']} "
        f"epoch(s), with {n} paired seeds; the metric is the held-out {results['domain']} perplexity "
        f"(lower is better), where the paper reports task accuracy (higher is better). Thresholds: "
        f"{results['thresholds']['rule']}.",
        f"**Threshold.** Resampling at the mapped p ≥ 0.99 and 0.999 flagged {_pct(hi[0]['flagged_share'])} and "
        f"{_pct(hi[1]['flagged_share'])} of the domain tokens; deleting at the mapped p ≤ 0.1 removed "
        f"{_pct(lo['flagged_share'])}. High against low, at a matched number of changed tokens: "
        f"{c['high_beats_low']['ours']}: **{c['high_beats_low']['verdict']}** "
        f"(paper: {c['high_beats_low']['paper']}). Best first, the paper ranks "
        + ", ".join(order["paper"]) + "; we rank " + ", ".join(order["ours"]) + ". The engine resamples only "
        "high-probability tokens and deletes only low-probability ones, so the two other readings (resample the "
        "unlikely tokens; delete the likely ones, as the repo's Table 5 runs did) are not run.",
        f"**Sampler and candidates.** Against top-k (k = 8): top-p {training.fmt(comp['top_p'])}, rejection "
        f"{training.fmt(comp['rejection'])}, k = 64 {training.fmt(comp['k64'])} domain PPL. Samplers comparable: "
        f"**{c['samplers_comparable']['verdict']}**; k matters little: **{c['k_matters_little']['verdict']}** "
        f"(equal means the 95% interval within ±{comp['k64']['margin']:.3f} PPL, "
        f"{100 * results['equivalence_margin']:.0f}% of the top-k arm's). The paper's means over its three "
        "tasks: " + ", ".join(f"{k} {paper_score(k):.2f}" for k in (*paper.TABLE7_SAMPLERS, "k = 64")) + " (Tables 7 "
        "and 8; its top-k, k = 8 run is its p ≥ 0.99 run of Table 5, as ours is).",
    ]
    if gpu:
        parts.append("The `gpu` profile runs this chapter with " + ", ".join(f"`{k} = {v}`" for k, v in gpu.items())
                     + ".")
    parts.append(f"The chapter ran in {results['seconds'] / 60:.1f} minutes, {results['train_seconds'] / 60:.1f} "
                 "of them training.")
    return "\n\n".join(parts)
