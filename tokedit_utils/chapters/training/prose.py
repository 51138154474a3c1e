"""Chapter 6's tables, figures, claims and summary, rendered from its results."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...toolkit import stats
from ...toolkit.stats import pct as _pct
from .regimes import BETTER, SET_REGIME, WORSE, arm_deltas, fmt


ARMS = ("source", "edited")
#: The metric each regime's verdict rests on: perplexity-type, the most precise at our size.
PRIMARY = {"pt": "ppl_mean", "cpt": "domain_ppl", "sft": "response_ppl"}
REGIME_NAMES = {"pt": "pre-training from scratch", "cpt": "continual pre-training", "sft": "supervised fine-tuning"}
#: Task accuracies are lm-eval's acc_mutual_info, the metric chapter 2's usability gate certifies.
LABELS = {"ppl_mean": "held-out PPL, mean of domains", "acc_continuation": "continuation task, acc_mi (%)",
          "acc_wordnet_gloss": "WordNet gloss task, acc_mi (%)", "domain_ppl": "domain PPL",
          "general_ppl": "general PPL (forgetting)", "domain_acc": "domain continuation task, acc_mi (%)",
          "response_ppl": "held-out response PPL", "choice_acc": "response choice task, acc_mi (%)"}


def higher_is_better(metric: str) -> bool:
    return "acc" in metric


def label(metric: str) -> str:
    return LABELS.get(metric) or metric.replace("ppl_", "held-out PPL, ")


def regime_result(runs: list[dict], metrics: Sequence[str], relative_margin: float, arms=ARMS) -> dict:
    """``{arm: {metric: per-seed values}, "seeds": [...], "delta": {metric: compare(...)}}`` from
    runs ``{"arm", "seed", "metrics": {...}}``; the seeds of each arm in the same order."""
    seeds = sorted({r["seed"] for r in runs})
    out: dict = {"seeds": seeds}
    for arm in arms:
        by_seed = {r["seed"]: r["metrics"] for r in runs if r["arm"] == arm}
        out[arm] = {m: [float(by_seed[s][m]) for s in seeds] for m in metrics}
    out["delta"] = arm_deltas({"source": out[arms[0]], "edited": out[arms[1]]},
                              {m: higher_is_better(m) for m in metrics}, relative_margin)
    return out


def delta_table(result: dict, arms=ARMS, base: dict | None = None):
    """One row per metric: the two arms' means over seeds, the paired difference (± SE), its
    p-value and verdict; ``base`` adds a column of the model before training."""
    import pandas as pd

    rows = []
    for m, d in result["delta"].items():
        se = f" ± {d['se']:.3f}" if d["se"] is not None else ""
        row = {"metric": label(m), f"{arms[0]} (mean)": np.mean(result[arms[0]][m]),
               f"{arms[1]} (mean)": np.mean(result[arms[1]][m]), f"{arms[1]} − {arms[0]}": f"{d['mean']:+.3f}{se}",
               "p": d["p_value"], "MDE": d["mde"], "verdict": d["verdict"]}
        if base is not None:
            row["base"] = base.get(m)
        rows.append(row)
    return pd.DataFrame(rows).set_index("metric").round(3)


def dose_table(edit_stats: dict, editors: dict | None = None):
    """Tokens, flagged, changed and P >= 0.99 shares (%) of each edited set, and its prior and
    threshold when ``editors`` (:func:`regime_editors`) is given."""
    import pandas as pd

    table = pd.DataFrame(edit_stats).T
    who = {}
    if editors:
        records = {name: editors[SET_REGIME[name]][1] for name in table.index}
        who = {"prior": [records[n]["prior"] for n in table.index],
               "p": [f"{records[n]['threshold']:.4g}" for n in table.index]}
    out = pd.DataFrame({**who, "tokens": table["tokens"].astype(int),
                        "flagged (%)": 100 * table["flagged_share"].astype(float),
                        "changed (%)": 100 * table["changed_share"].astype(float),
                        "P >= 0.99 (%)": 100 * table["share_at_0.99"].astype(float)})
    out.index.name = "edited set"
    return out.round(2)


def plot_differences(comparisons: dict, margin: float):
    """Forest plot: each metric's paired difference as % of the source mean, 95% CI, coloured
    by verdict; the equivalence band in grey."""
    import matplotlib.pyplot as plt

    rows = [(name, m, d) for name, result in comparisons.items() for m, d in result["delta"].items()
            if m in LABELS]
    fig, ax = plt.subplots(figsize=(8.5, 0.42 * len(rows) + 1.2))
    for i, (_, m, d) in enumerate(rows):
        scale = 100 / abs(d["source_mean"]) if d["source_mean"] else 0.0
        mean = d["mean"] * scale
        lo, hi = (d["ci"][0] * scale, d["ci"][1] * scale) if d["ci"] else (mean, mean)
        color = {BETTER: "tab:green", WORSE: "tab:red"}.get(d["verdict"], "tab:grey")
        ax.errorbar(mean, i, xerr=[[mean - lo], [hi - mean]], fmt="o", color=color, capsize=3)
    ax.axvspan(-100 * margin, 100 * margin, color="grey", alpha=0.2, lw=0)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(rows)), [f"{name}: {LABELS[m]}" for name, m, _ in rows])
    ax.invert_yaxis()
    ax.set_xlabel("edited − source, % of the source mean (95% CI over seeds)")
    ax.set_title("Paired differences: green better, red worse, grey no difference within noise")
    return fig


def claims(results: dict) -> dict:
    """Claim records (:func:`stats.claim`) under the keys the verdict page reads: claim 8 of the
    paper twice per regime, ``<regime>_edited_helps`` (direction) and
    ``<regime>_edited_not_worse`` (the interval against the margin), and claim 10
    (``generations_stable``)."""
    theirs, out = results["paper"], {}
    keep = ("mean", "se", "p_value", "mde", "ci", "margin", "verdict", "n")
    paper_text = {
        "pt": f"{theirs['pt']['OLMo-1B']:+.2f} points, OLMo-1B (Table 2)",
        "cpt": f"{min(theirs['cpt'].values()):+.2f} to {max(theirs['cpt'].values()):+.2f} points (Table 3)",
        "sft": f"{min(theirs['sft'].values()):+.2f} to {max(theirs['sft'].values()):+.2f} points (Table 4)"}
    for k, name in REGIME_NAMES.items():
        m = PRIMARY[k]
        d = results["regimes"][k]["delta"][m]
        sign = +1 if higher_is_better(m) else -1
        numbers = {f: d[f] for f in keep}
        out[f"{k}_edited_helps"] = stats.claim(
            f"Edited data trains better than its source: {name} (claim 8)",
            stats.direction_verdict(d, sign), f"{label(m)} {fmt(d)}: {d['verdict']}", paper_text[k],
            metric=label(m), contradicted_by="the edited arm significantly worse (p < 0.05)", difference=numbers)
        out[f"{k}_edited_not_worse"] = stats.claim(
            f"Edited data trains at least as well as its source: {name} (claim 8)",
            stats.not_worse_verdict(d, d["margin"], sign),
            f"{label(m)} 95% CI {d['ci'][0]:+.2f} to {d['ci'][1]:+.2f}, margin ±{d['margin']:.2f}"
            if d["ci"] else f"{label(m)} {fmt(d)}", paper_text[k], metric=label(m),
            contradicted_by="the whole 95% interval worse than the margin", difference=numbers)
    gen = results["generations"]["delta"]["gen2_vs_gen0"]
    out["generations_stable"] = stats.claim(
        "Fine-tuning on a second editing generation does not degrade the result (claim 10)",
        stats.not_worse_verdict(gen, gen["margin"], -1),
        f"{LABELS['response_ppl']}, gen 2 − gen 0: {fmt(gen)}; margin ±{gen['margin']:.2f}",
        "average " + " → ".join(f"{v:.2f}" for v in theirs["generations"]["avg"]) + " over generations 0-2 (Table 16)",
        metric=LABELS["response_ppl"], contradicted_by="the whole 95% interval of the PPL change above the margin",
        difference={f: gen[f] for f in keep})
    return out


def profile_parameters(profile: str, stem: str = "06_training") -> dict:
    """This chapter's overrides in ``profiles/<profile>.yml`` (for the prose)."""
    from ...toolkit import profiles

    return profiles.profile_overrides(profile).get(stem, {})


def _line(result: dict, metric: str) -> str:
    """"Domain PPL: 12.34 with the source, 12.30 edited, a difference of ...: **better**"."""
    d, digits = result["delta"][metric], 1 if higher_is_better(metric) else 2
    name = label(metric)
    return (f"{name[0].upper() + name[1:]}: {np.mean(result['source'][metric]):.{digits}f} with the source, "
            f"{np.mean(result['edited'][metric]):.{digits}f} edited, a difference of {fmt(d, digits=digits)}: "
            f"**{d['verdict']}**")


def _dose(results: dict) -> str:
    """Which prior edited each regime at which threshold, and how much it edited."""
    es, theirs, ed = results["edit_stats"], results["paper"], results["editors"]

    def who(regime):
        rec = ed[regime]
        name = "chapter 1's teacher (a stand-in)" if rec["prior"] == "teacher" else f"`{rec['prior']}`"
        return f"{name} at p = {rec['threshold']:.4g} ({rec['threshold_source']})"

    def edited(name, what):
        return f"{_pct(es[name]['flagged_share'])} of {what} flagged, {_pct(es[name]['changed_share'])} changed"

    text = (f"**Dose.** Pre-training text: {who('pt')}, {edited('pt', 'its tokens')}. Continual pre-training's "
            f"domain text: {who('cpt')}, {edited('cpt_domain', 'its tokens')}. Fine-tuning responses: {who('sft')}, "
            f"{edited('sft_gen1', 'the tokens')} in generation 1 and {edited('sft_gen2', 'the tokens')} in generation 2 "
            f"(paper, Table 15: {_pct(theirs['flagged_share'][0])} and {_pct(theirs['flagged_share'][1])} flagged).")
    teacher = [r for r in ("pt", "sft") if ed[r]["prior"] == "teacher"]
    if teacher:
        text += (f" With the paper's rule, p ≥ 0.99, the teacher would flag only "
                 f"{_pct(es['pt' if 'pt' in teacher else 'sft_gen1']['share_at_0.99'])} of the "
                 f"{'pre-training text' if 'pt' in teacher else 'responses'}: it is never that sure, so it "
                 "edits at a threshold matched to the paper's dose.")
    return text


def summary(results: dict, gpu: dict | None = None) -> str:
    """The chapter's closing paragraphs, written from its ``results.json``."""
    r, theirs, es = results["regimes"], results["paper"], results["edit_stats"]
    n = len(r["pt"]["seeds"])
    st = results["student"]
    gen = results["generations"]["delta"]
    c = results["claims"]
    mdes = [r[k]["delta"][PRIMARY[k]]["mde"] for k in PRIMARY]
    rel_mde = [100 * m / abs(r[k]["delta"][PRIMARY[k]]["source_mean"]) for m, k in zip(mdes, PRIMARY) if m is not None]
    parts = [
        _dose(results),
        f"**Pre-training from scratch** ({n} paired seeds, students of {st['parameters']:,} parameters, "
        f"{st['pt_tokens']:,} training tokens each"
        + (f"; the source arm is chapter 2's pure-human students, reused for seeds "
           f"{', '.join(map(str, st['pt_reused_seeds']))}" if st.get("pt_reused_seeds") else "")
        + f"): {_line(r['pt'], 'ppl_mean')}. "
        + " ".join(f"{_line(r['pt'], m)}." for m in r["pt"]["delta"] if m.startswith("acc_"))
        + f" The paper's gain: {theirs['pt']['OLMo-1B']:+.2f} accuracy points (Table 2).",
        f"**Continual pre-training** on {r['cpt']['domain']}: {_line(r['cpt'], 'domain_ppl')} "
        f"(the base model had {r['cpt']['base']['domain_ppl']:.2f} before). {_line(r['cpt'], 'general_ppl')}. "
        + (f"{_line(r['cpt'], 'domain_acc')}. " if "domain_acc" in r["cpt"]["delta"] else "")
        + f"The paper's gains: {min(theirs['cpt'].values()):+.2f} to "
        f"{max(theirs['cpt'].values()):+.2f} points (Table 3).",
        f"**Supervised fine-tuning** ({results['sft_pairs']['train']:,} training pairs"
        f"{', LoRA rank ' + str(st['lora_rank']) if st['lora_rank'] else ', full fine-tuning'}): "
        f"{_line(r['sft'], 'response_ppl')}. {_line(r['sft'], 'choice_acc')}. The paper's gains: "
        f"{min(theirs['sft'].values()):+.2f} to {max(theirs['sft'].values()):+.2f} points (Table 4).",
        f"**Editing generations.** Response PPL after fine-tuning on generation 2 minus generation 0: "
        f"{fmt(gen['gen2_vs_gen0'])}, **{gen['gen2_vs_gen0']['verdict']}**; generation 2 minus generation 1: "
        f"{fmt(gen['gen2_vs_gen1'])}, **{gen['gen2_vs_gen1']['verdict']}**. The paper: "
        + " → ".join(f"{v:.2f}" for v in theirs["generations"]["avg"]) + " (Table 16).",
        f"**Claim 8**, edited data trains at least as well as its source: "
        + ", ".join(f"**{c[k + '_edited_not_worse']['verdict']}** in {REGIME_NAMES[k]}" for k in PRIMARY)
        + "; and better than it: "
        + ", ".join(f"**{c[k + '_edited_helps']['verdict']}** in {REGIME_NAMES[k]}" for k in PRIMARY)
        + f". **Claim 10**, a second editing generation does not degrade fine-tuning: "
        f"**{c['generations_stable']['verdict']}**. "
        f"\"At least as well\" is reproduced when no point of the 95% interval is worse than "
        f"±{100 * results['budget']['equivalence_margin']:.0f}% of the source value, and not reproduced only "
        f"when all of it is; \"better\" needs a significant gain and is contradicted by a significant loss. With {n} seeds the smallest differences the comparisons could detect are "
        + ", ".join(f"{v:.1f}%" for v in rel_mde) + " of the source perplexity (PT, CPT, SFT); a smaller true effect "
        "reads \"no difference within noise\". The paper's gains are accuracy points on large models, so only "
        "their direction carries over.",
    ]
    if gpu:
        parts.append("The `gpu` profile runs this chapter with " + ", ".join(f"`{k} = {v}`" for k, v in gpu.items()) + ".")
    parts.append(f"The chapter ran in {results['seconds'] / 60:.1f} minutes, {results['train_seconds'] / 60:.1f} of "
                 f"them training.")
    return "\n\n".join(parts)
