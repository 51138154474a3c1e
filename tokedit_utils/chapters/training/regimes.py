"""Chapter 6's three regimes: editing each training seed's text, the paired training data,
continual pre-training and fine-tuning from a base, and the paired comparisons."""

from __future__ import annotations

from typing import Sequence
import copy
import math

import datasets
import numpy as np

from ...toolkit import edits, models, paper, paths, stats, trainer
from ...toedit import EditStats, ToEditor, stored


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


make_editor = edits.paper_editor

REGIMES = ("pt", "cpt", "sft")
#: which regime each edited set of ``edit_stats`` belongs to
SET_REGIME = {"pt": "pt", "cpt_domain": "cpt", "sft_gen1": "sft", "sft_gen2": "sft"}


def regime_editors(teacher, tokenizer, threshold: float, threshold_source: str, *, prior: str | None,
                   prior_threshold: float, prior_regimes: Sequence[str], window: int,
                   batch_size: int) -> dict[str, tuple[ToEditor, dict]]:
    """``{regime: (editor, record)}``: the pretrained ``prior`` at ``prior_threshold`` for
    ``prior_regimes``, chapter 1's teacher (the stand-in) at ``threshold`` for the others.
    The record says which prior, which threshold and where the threshold came from."""
    unknown = sorted(set(prior_regimes) - set(REGIMES))
    if unknown:
        raise ValueError(f"prior_regimes: unknown regimes {unknown}; choose from {list(REGIMES)}")
    stand_in = (make_editor(teacher, tokenizer, threshold),
                {"prior": "teacher", "pretrained": False, "threshold": threshold, "threshold_source": threshold_source})
    editors = dict.fromkeys(REGIMES, stand_in)
    if prior and prior_regimes:
        from ...toedit import load_prior

        model, prior_tokenizer = load_prior(prior)  # the best device; float32 on a CPU
        editor = make_editor(model, prior_tokenizer, prior_threshold, window=window, batch_size=batch_size)
        record = {"prior": prior, "pretrained": True, "threshold": prior_threshold,
                  "threshold_source": "the paper's" if prior_threshold == paper.THRESHOLD else "set by the profile"}
        editors.update({r: (editor, record) for r in prior_regimes})
    return editors


def editors_record(editors: dict[str, tuple[ToEditor, dict]]) -> dict:
    """``results.json``'s account of the editing: per regime its prior, threshold and
    engine options, and the chapter-wide ``edit_prior`` / ``edit_prior_pretrained`` /
    ``edit_threshold`` the verdict page reads (the threshold None when regimes differ)."""
    per_regime = {r: {**rec, "config": e.config()} for r, (e, rec) in editors.items()}
    priors = {}  # the pretrained prior first; the teacher named a stand-in
    for r, rec in sorted(per_regime.items(), key=lambda item: not item[1]["pretrained"]):
        priors.setdefault(rec["prior"] + ("" if rec["pretrained"] else ", a stand-in"), []).append(r.upper())
    thresholds = {rec["threshold"] for rec in per_regime.values()}
    return {"editors": per_regime,
            "edit_prior": next(iter(priors)) if len(priors) == 1 else
            "; ".join(f"{p} ({', '.join(rs)})" for p, rs in priors.items()),
            "edit_prior_pretrained": all(rec["pretrained"] for rec in per_regime.values()),
            "edit_threshold": thresholds.pop() if len(thresholds) == 1 else None}


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


