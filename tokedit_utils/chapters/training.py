"""Training on ToEdit-edited data versus its source (paper §5.1–5.3, §5.6; claims 8 and 10).

Three regimes, each run as **paired arms**: the source arm and the edited arm share the
architecture, hyperparameters, token budget, data order and seed, and differ only in the
editing. Each pair is repeated over several seeds, and each metric is compared through the
per-seed differences (edited − source) with :func:`tokedit_utils.toolkit.stats.paired_difference`.

* **Pre-training from scratch** (Table 2): students on the human training text or its edited
  version, trained with :func:`tokedit_utils.toolkit.students.train_student`.
* **Continual pre-training** (Table 3): a base pre-trained on the general domains continues on
  one held-out domain, mixed half and half with general text (:func:`cpt_mixture`); only the
  domain half is edited.
* **Supervised fine-tuning** (Table 4, Table 16): the base is fine-tuned on instruction pairs
  (:mod:`tokedit_utils.toolkit.sft`) with the loss on responses only; the edited arms see the responses
  after one and two editing generations.

**Same data order.** The Trainer draws each epoch's order from ``data_seed`` and the length of
the training set. :func:`paired_blocks` cuts both arms to the same number of blocks, so the
two arms see position *i* of their data at the same step: the same general block, or the same
stretch of the source and of its edited version.

**Verdicts.** A metric is *better*, *worse*, or shows *no difference within noise*
(:func:`verdict_word`, from :func:`stats.direction_verdict`). Claim 8 has two parts per
regime: "editing helps" is a direction test (contradicted by a significant loss), and "editing
does not hurt" (also claim 10) is judged on the whole 95% interval against ``±margin``
(:func:`stats.not_worse_verdict`): reproduced when no point of it is worse than the margin,
contradicted only when all of it is.
"""

from __future__ import annotations

import copy
import math
from typing import Sequence

import datasets
import numpy as np

from ..toolkit import models, paper, paths, stats, trainer
from ..toedit import EditStats, ToEditor, stored
from ..toolkit.stats import pct as _pct

# ---------------------------------------------------------------------- the paper's numbers


def paper_deltas() -> dict:
    """The paper's gains (ToEdit − source, accuracy points) per regime and setting."""
    delta = lambda table: {k: round(b - a, 2) for k, (a, b) in table.items()}  # noqa: E731
    return {"pt": delta(paper.TABLE2_PT), "cpt": delta(paper.TABLE3_CPT), "sft": delta(paper.TABLE4_SFT),
            "generations": {"avg": paper.TABLE16_GENERATIONS,
                            "gen2_minus_gen0": round(paper.TABLE16_GENERATIONS[2] - paper.TABLE16_GENERATIONS[0], 2)},
            "flagged_share": paper.TABLE15_FLAGGED_SHARES}


# ---------------------------------------------------------------------- editing


def resolve_threshold(setting, profile: str) -> tuple[float, str]:
    """The editing threshold and where it came from.

    ``setting`` is a number, or ``"dose_matched"`` / ``"flag_matched"``: the threshold at which
    chapter 4 found the stand-in prior (chapter 1's teacher) to edit about the paper's share of
    tokens (read from its ``results.json``).
    """
    if isinstance(setting, (int, float)) and not isinstance(setting, bool):
        return float(setting), "set by the profile"
    if setting in ("dose_matched", "flag_matched"):
        res = paths.read_results(profile, "04_editing")
        value = res.get("stand_in", res)[f"{setting}_threshold"]
        return float(value), f"chapter 4's {setting.replace('_', '-')} threshold"
    raise ValueError(f"edit_threshold must be a number, 'dose_matched' or 'flag_matched', not {setting!r}")


def edit_seeds(seeds: Sequence[int], edit_seeds: Sequence[int] | None) -> dict[int, int]:
    """``{training seed: edit seed}``: each training seed trains on text edited with its own
    draws, the same for every arm (paired); ``None`` uses the training seeds themselves."""
    edit_seeds = list(seeds if edit_seeds is None else edit_seeds)
    if len(edit_seeds) != len(seeds):
        raise ValueError(f"edit_seeds needs one seed per training seed ({len(seeds)}), got {edit_seeds}")
    return dict(zip(seeds, edit_seeds))


def make_editor(model, tokenizer, threshold: float, **options) -> ToEditor:
    """The paper's editing rule: resample tokens with P >= threshold, top-k (k=8), beta=1.5."""
    return ToEditor(model, tokenizer, threshold=threshold, sampler="top_k", k=paper.K, beta=paper.BETA, **options)


def dose(edit_stats: EditStats) -> dict:
    """Shares of an edited set: flagged and changed at the threshold used, and the share the
    prior puts at P >= 0.99 (the last of the 100 fine histogram bins), the paper's rule."""
    d = edit_stats.to_dict()
    fine = np.asarray(d["histogram"]["fine"]["counts"])
    return {"tokens": d["scored"], "flagged": d["flagged"], "changed": d["changed"],
            "flagged_share": d["flagged_fraction"], "changed_share": d["changed_fraction"],
            "share_at_0.99": float(fine[-1] / fine.sum()) if fine.sum() else 0.0}


def _edits(editor: ToEditor, scores: stored.Scores, edit_seed_of: dict[int, int], generation: int):
    """``({training seed: results}, dose)``: one edit per training seed with its edit seed,
    from one stored scoring pass; the dose over all of them, with the changed tokens per seed."""
    results = {s: stored.apply(editor, scores, seed=e, generation=generation) for s, e in edit_seed_of.items()}
    totals = EditStats()
    for r in results.values():
        totals.update(r)
    d, n = dose(totals), max(len(results), 1)
    # counts per edit (the mean over the edit seeds); the shares are over all of them
    d.update(tokens=d["tokens"] // n, flagged=d["flagged"] // n, changed=d["changed"] // n,
             edit_seeds=list(edit_seed_of.values()),
             changed_per_seed=[sum(x.changed for x in r) for r in results.values()])
    return results, d


def edit_texts(editor: ToEditor, texts: Sequence[str], edit_seed_of: dict[int, int],
               generation: int = 1) -> tuple[dict[int, list[str]], dict]:
    """``texts`` edited once per training seed with its own edit seed (``{training seed: edit
    seed}``, see :func:`edit_seeds`), all from one scoring pass (each document seeded by its
    text's hash), and their :func:`dose`."""
    scores = stored.score(editor, list(texts), candidates=editor.k)
    results, d = _edits(editor, scores, edit_seed_of, generation)
    return {s: [x.text for x in r] for s, r in results.items()}, d


def edit_pairs(editor: ToEditor, records, edit_seed_of: dict[int, int],
               generation: int = 1) -> tuple[dict[int, list[dict]], dict]:
    """Instruction pairs with the response edited and everything else (the prompt) copied, per
    training seed with its edit seed. ``records``: one list for every seed (scored once), or
    ``{training seed: list}`` (an earlier generation: each seed's own pairs, scored apiece).

    The response is scored alone, as the official SFT script does; each pair is seeded by its
    id, so generation g+1 of a pair is drawn from its own stream.
    """
    def scored(recs):
        return stored.score(editor, [r["response"] for r in recs], [r["id"] for r in recs], candidates=editor.k)

    if isinstance(records, dict):
        per_seed, scores_of = records, lambda s: scored(records[s])
    else:
        per_seed, shared = {s: list(records) for s in edit_seed_of}, scored(list(records))
        scores_of = lambda s: shared  # noqa: E731
    results, doses = {}, []
    for s, e in edit_seed_of.items():
        r, d = _edits(editor, scores_of(s), {s: e}, generation)
        results[s] = [{**rec, "response": x.text} for rec, x in zip(per_seed[s], r[s])]
        doses.append(d)
    d = {k: float(np.mean([x[k] for x in doses])) for k in ("flagged_share", "changed_share", "share_at_0.99")}
    d.update(tokens=doses[0]["tokens"], flagged=sum(x["flagged"] for x in doses) // len(doses),
             changed=sum(x["changed"] for x in doses) // len(doses), edit_seeds=list(edit_seed_of.values()),
             changed_per_seed=[x["changed"] for x in doses])
    return results, d


# ---------------------------------------------------------------------- paired training data


def cpt_split(corpus: datasets.DatasetDict, domain: str) -> tuple[datasets.DatasetDict, str]:
    """The corpus as continual pre-training sees it, and the domain held out of the base.

    A corpus of two or more domains is returned as it is; ``domain`` is kept if the corpus has
    it, else its largest training domain is taken. A corpus of **one** domain has no general
    text to pre-train the base on, so its works are dealt alternately (in sorted order, per
    split) into two halves, ``<domain> A`` (the general text) and ``<domain> B`` (the held-out
    domain); a work stays whole and on one side in every split.
    """
    train = corpus["train"]
    names = sorted(set(train["domain"]))
    if len(names) > 1:
        if domain in names:
            return corpus, domain
        chars: dict[str, int] = {}
        for d, t in zip(train["domain"], train["text"]):
            chars[d] = chars.get(d, 0) + len(t)
        return corpus, max(chars, key=chars.get)

    def halves(split: datasets.Dataset) -> datasets.Dataset:
        side = {w: "AB"[i % 2] for i, w in enumerate(sorted(set(split["work"])))}
        return split.map(lambda r: {"domain": f"{r['domain']} {side[r['work']]}"})

    return datasets.DatasetDict({k: halves(v) for k, v in corpus.items()}), f"{names[0]} B"


def cpt_domain_note(asked: str, used: str) -> str:
    """One sentence for the page when continual pre-training cannot use the domain asked for."""
    if used.endswith(" B"):
        half = used[:-2]
        return (f"This corpus has one domain, `{half}`, so continual pre-training splits its works "
                f"in two halves: the base is pre-trained on `{half} A` and continued on "
                f"`{used}`, works it has never seen.")
    return f"This corpus has no `{asked}` domain, so continual pre-training uses its largest domain, `{used}`."


def reusable_sources(ch2: dict, seeds: Sequence[int], blocks: dict[str, datasets.Dataset]) -> dict[int, str]:
    """``{seed: folder}`` of chapter 2's pure-human students that can stand in for the source arm.

    They can when the edited arm is at least as long as the source (so pairing cuts only the
    edited arm and the source blocks stay chapter 2's) and chapter 2 trained on as many blocks
    (its ``tokens_seen`` matches). Folders are relative to chapter 2's stage.
    """
    if len(blocks["edited"]) < len(blocks["source"]):
        return {}
    st = ch2["student"]
    tokens = math.ceil(len(blocks["source"]) / st["batch_size"]) * st["epochs"] * st["batch_size"] * st["block_size"]
    return {r["seed"]: r["folder"] for r in ch2["runs"]
            if r["ratio"] == 0.0 and r["seed"] in seeds and r["tokens_seen"] == tokens and "folder" in r}


# ---------------------------------------------------------------------- training from a base


def with_lora(model, rank: int, alpha: float | None = None, seed: int = 0):
    """A `peft` LoRA wrapper on GPT-2's attention and MLP projections (seeded initialization)."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    config = LoraConfig(r=rank, lora_alpha=alpha or 2 * rank, lora_dropout=0.0, task_type="CAUSAL_LM",
                        target_modules=["c_attn", "c_proj", "c_fc"], fan_in_fan_out=True)
    return get_peft_model(model, config)


def continue_training(base, train_data: datasets.Dataset, *, seed: int, learning_rate: float, batch_size: int,
                      epochs: float, eval_blocks: dict | None = None, data_collator=None, lora_rank: int | None = None,
                      desc: str = "training") -> tuple[object, dict]:
    """Train a copy of ``base`` (full fine-tuning, or LoRA with ``lora_rank``) with
    :func:`tokedit_utils.toolkit.trainer.train_causal_lm`; LoRA weights are merged back afterwards.

    Returns ``(model, run)``, run = ``{"seed", "final_train_loss", "loss_curve", "seconds",
    "tokens_seen", "ppl": {name: PPL of each eval set after the last epoch}}``.
    """
    model = copy.deepcopy(base).train()
    if lora_rank:
        model = with_lora(model, lora_rank, seed=seed)
    steps = math.ceil(len(train_data) / batch_size) * epochs
    result = trainer.train_causal_lm(
        model, train_data, learning_rate=learning_rate, batch_size=batch_size, epochs=epochs, seed=seed,
        log_every=max(1, int(steps // 20)), eval_blocks=eval_blocks, eval_every_epoch=bool(eval_blocks),
        data_collator=data_collator, desc=desc)
    if lora_rank:
        model = model.merge_and_unload()
    model.eval()
    last: dict = {}
    for point in result.eval_curve:  # the Trainer logs each eval set in its own row
        if point["step"] == result.eval_curve[-1]["step"]:
            last.update(point)
    return model, {"seed": seed, "final_train_loss": result.final_train_loss, "loss_curve": result.loss_curve,
                   "seconds": result.seconds, "tokens_seen": result.tokens_seen,
                   "ppl": {name: math.exp(last[f"{name}_loss"]) for name in (eval_blocks or {})}}


def save(model, tokenizer, folder) -> str:
    models.save_model(model, tokenizer, folder)
    return str(folder)


# ---------------------------------------------------------------------- comparisons and verdicts

BETTER, SAME, WORSE = "better", "no difference within noise", "worse"


def verdict_word(diff: dict, higher_is_better: bool) -> str:
    """"better" / "worse" when the paired difference is significant, else "no difference within noise"."""
    verdict = stats.direction_verdict(diff, +1 if higher_is_better else -1)
    return {stats.REPRODUCED: BETTER, stats.NOT_REPRODUCED: WORSE}.get(verdict, SAME)


def compare(edited: Sequence[float], source: Sequence[float], higher_is_better: bool, margin: float) -> dict:
    """Paired difference (edited − source) with its SE, p-value, CI and MDE, the verdict word,
    and the verdict on "not worse than ``margin``" (``not_worse``)."""
    diff = stats.paired_difference(edited, source)
    diff["verdict"] = verdict_word(diff, higher_is_better)
    diff["margin"] = margin
    diff["not_worse"] = stats.not_worse_verdict(diff, margin, +1 if higher_is_better else -1)
    diff["higher_is_better"] = higher_is_better
    diff["source_mean"] = float(np.mean(source))
    return diff


def arm_deltas(arms: dict, higher_is_better: dict[str, bool], relative_margin: float) -> dict:
    """``{metric: compare(...)}`` for every metric of ``arms["edited"]`` against ``arms["source"]``.
    The equivalence margin is ``relative_margin`` times the source arm's mean."""
    return {m: compare(arms["edited"][m], arms["source"][m], higher_is_better[m],
                       relative_margin * abs(float(np.mean(arms["source"][m]))))
            for m in arms["source"] if m in higher_is_better}


def fmt(diff: dict, unit: str = "", digits: int = 2) -> str:
    """:func:`stats.format_difference` with the p-value."""
    p = "" if diff["p_value"] is None else f", p = {diff['p_value']:.2g}"
    return stats.format_difference(diff, unit, digits) + p


# ---------------------------------------------------------------------- tables, claims, prose

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


def dose_table(edit_stats: dict):
    """Tokens, flagged, changed and P >= 0.99 shares (%) of each edited set."""
    import pandas as pd

    table = pd.DataFrame(edit_stats).T
    out = pd.DataFrame({"tokens": table["tokens"].astype(int),
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
    from ..toolkit import profiles

    return profiles.profile_overrides(profile).get(stem, {})


def _line(result: dict, metric: str) -> str:
    """"Domain PPL: 12.34 with the source, 12.30 edited, a difference of ...: **better**"."""
    d, digits = result["delta"][metric], 1 if higher_is_better(metric) else 2
    name = label(metric)
    return (f"{name[0].upper() + name[1:]}: {np.mean(result['source'][metric]):.{digits}f} with the source, "
            f"{np.mean(result['edited'][metric]):.{digits}f} edited, a difference of {fmt(d, digits=digits)}: "
            f"**{d['verdict']}**")


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
        f"**Dose.** Editing at p = {results['threshold']:.4g} ({results['threshold_source']}) flagged "
        f"{_pct(es['pt']['flagged_share'])} of the pre-training text's tokens and changed "
        f"{_pct(es['pt']['changed_share'])}; on the fine-tuning responses it flagged "
        f"{_pct(es['sft_gen1']['flagged_share'])} in generation 1 and {_pct(es['sft_gen2']['flagged_share'])} in "
        f"generation 2 (paper, Table 15: {_pct(theirs['flagged_share'][0])} and {_pct(theirs['flagged_share'][1])}). "
        f"With the paper's rule, p ≥ 0.99, our prior would flag only {_pct(es['pt']['share_at_0.99'])} of the "
        f"pre-training text.",
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
