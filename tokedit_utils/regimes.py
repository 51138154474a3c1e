"""Training on ToEdit-edited data versus its source (paper §5.1–5.3, §5.6; claims 8 and 10).

Three regimes, each run as **paired arms**: the source arm and the edited arm share the
architecture, hyperparameters, token budget, data order and seed, and differ only in the
editing. Each pair is repeated over several seeds, and each metric is compared through the
per-seed differences (edited − source) with :func:`tokedit_utils.stats.paired_difference`.

* **Pre-training from scratch** (Table 2): students on the human training text or its edited
  version, trained with :func:`tokedit_utils.collapse.train_student`.
* **Continual pre-training** (Table 3): a base pre-trained on the general domains continues on
  one held-out domain, mixed half and half with general text (:func:`cpt_mixture`); only the
  domain half is edited.
* **Supervised fine-tuning** (Table 4, Table 16): the base is fine-tuned on instruction pairs
  (:mod:`tokedit_utils.sft`) with the loss on responses only; the edited arms see the responses
  after one and two editing generations.

**Same data order.** The Trainer draws each epoch's order from ``data_seed`` and the length of
the training set. :func:`paired_blocks` cuts both arms to the same number of blocks, so the
two arms see position *i* of their data at the same step: the same general block, or the same
stretch of the source and of its edited version.

**Verdicts.** A metric is *better*, *worse*, or shows *no difference within noise*
(:func:`verdict_word`, from :func:`stats.direction_verdict`). A claim that editing does not
hurt (claims 8 and 10) is reproduced when each difference is significantly better or lies
within ``±margin`` of zero (:func:`stats.equivalence_verdict`), not reproduced when one is
significantly worse, and inconclusive otherwise (:func:`not_worse_verdict`).
"""

from __future__ import annotations

import copy
import math
from typing import Sequence

import datasets
import numpy as np

from . import models, paths, stats, training
from .toedit import EditStats, ToEditor

# ---------------------------------------------------------------------- the paper's numbers
#: Table 2: OLMo-1B pre-trained from scratch, average 0-shot accuracy over 8 tasks (source, ToEdit).
PAPER_PT = {"OLMo-1B": (32.75, 33.11)}
#: Table 3: continual pre-training, average over each domain's 5 tasks (CPT row, ToEdit row).
PAPER_CPT = {"OLMo-1B biomedicine": (38.83, 40.89), "Llama-3-8B biomedicine": (56.04, 56.48),
             "OLMo-1B finance": (47.92, 50.21), "Llama-3-8B finance": (71.40, 72.24),
             "OLMo-1B math": (16.26, 16.59)}
#: Table 4: Llama-3-8B fine-tuned with LoRA, average over the tasks of each group (source, ToEdit).
PAPER_SFT = {"Natural Instructions": (69.34, 69.70), "CoT": (69.01, 69.26), "FLAN v2": (70.18, 70.65),
             "Open Assistant 1": (69.19, 69.44), "OSS-Instruct-75K": (45.76, 46.13),
             "Evol-Instruct-110K": (46.62, 46.92)}
#: Table 16: SFT on CoT data over editing generations 0, 1, 2: average over 5 tasks.
PAPER_GENERATIONS = [69.01, 69.26, 69.39]
#: Table 15: share of response tokens with p > 0.99 in generations 1, 2, 3.
PAPER_FLAGGED_SHARE = [0.125, 0.1176, 0.1108]
PAPER_THRESHOLD, PAPER_K, PAPER_BETA = 0.99, 8, 1.5


def paper_deltas() -> dict:
    """The paper's gains (ToEdit − source, accuracy points) per regime and setting."""
    delta = lambda table: {k: round(b - a, 2) for k, (a, b) in table.items()}  # noqa: E731
    return {"pt": delta(PAPER_PT), "cpt": delta(PAPER_CPT), "sft": delta(PAPER_SFT),
            "generations": {"avg": PAPER_GENERATIONS,
                            "gen2_minus_gen0": round(PAPER_GENERATIONS[2] - PAPER_GENERATIONS[0], 2)},
            "flagged_share": PAPER_FLAGGED_SHARE}


# ---------------------------------------------------------------------- editing


def resolve_threshold(setting, profile: str) -> tuple[float, str]:
    """The editing threshold and where it came from.

    ``setting`` is a number, or ``"dose_matched"`` / ``"flag_matched"``: the threshold chapter 4
    found to edit about the paper's share of tokens (read from its ``results.json``).
    """
    if isinstance(setting, (int, float)) and not isinstance(setting, bool):
        return float(setting), "set by the profile"
    if setting in ("dose_matched", "flag_matched"):
        value = paths.read_results(profile, "04_editing")[f"{setting}_threshold"]
        return float(value), f"chapter 4's {setting.replace('_', '-')} threshold"
    raise ValueError(f"edit_threshold must be a number, 'dose_matched' or 'flag_matched', not {setting!r}")


def make_editor(model, tokenizer, threshold: float, **options) -> ToEditor:
    """The paper's editing rule: resample tokens with P >= threshold, top-k (k=8), beta=1.5."""
    return ToEditor(model, tokenizer, threshold=threshold, sampler="top_k", k=PAPER_K, beta=PAPER_BETA, **options)


def dose(edit_stats: EditStats) -> dict:
    """Shares of an edited set: flagged and changed at the threshold used, and the share the
    prior puts at P >= 0.99 (the last of the 100 fine histogram bins), the paper's rule."""
    d = edit_stats.to_dict()
    fine = np.asarray(d["histogram"]["fine"]["counts"])
    return {"tokens": d["scored"], "flagged": d["flagged"], "changed": d["changed"],
            "flagged_share": d["flagged_fraction"], "changed_share": d["changed_fraction"],
            "share_at_0.99": float(fine[-1] / fine.sum()) if fine.sum() else 0.0}


def edit_texts(editor: ToEditor, texts: Sequence[str], seed: int, generation: int = 1) -> tuple[list[str], dict]:
    """Edited texts (each document seeded by its source text's hash) and their :func:`dose`."""
    results = editor.edit_texts(list(texts), seed=seed, generation=generation)
    return [r.text for r in results], dose(EditStats().update(results))


def edit_pairs(editor: ToEditor, records: Sequence[dict], seed: int, generation: int = 1) -> tuple[list[dict], dict]:
    """Instruction pairs with the response edited and everything else (the prompt) copied.

    The response is scored alone, as the official SFT script does; each pair is seeded by its
    id, so generation g+1 of a pair is drawn from its own stream.
    """
    edited, results = editor.edit_records(list(records), text_field="response", prompt_field="prompt",
                                           id_field="id", seed=seed, generation=generation)
    return edited, dose(EditStats().update(results))


# ---------------------------------------------------------------------- paired training data


def paired_blocks(*arms: datasets.Dataset) -> list[datasets.Dataset]:
    """The arms cut to the same number of blocks (the shortest), so that they hold the same
    number of tokens and the Trainer draws the same order of positions for each."""
    n = min(len(a) for a in arms)
    return [a.select(range(n)) for a in arms]


def cpt_mixture(domain_blocks: datasets.Dataset, general_blocks: datasets.Dataset) -> datasets.Dataset:
    """Half domain, half general blocks (as many of each as the shorter has), domain first.

    The Trainer's shuffle interleaves them; paired arms pass the same general blocks.
    """
    n = min(len(domain_blocks), len(general_blocks))
    return datasets.concatenate_datasets([domain_blocks.select(range(n)), general_blocks.select(range(n))])


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
    :func:`tokedit_utils.training.train_causal_lm`; LoRA weights are merged back afterwards.

    Returns ``(model, run)``, run = ``{"seed", "final_train_loss", "loss_curve", "seconds",
    "tokens_seen", "ppl": {name: PPL of each eval set after the last epoch}}``.
    """
    model = copy.deepcopy(base).train()
    if lora_rank:
        model = with_lora(model, lora_rank, seed=seed)
    steps = math.ceil(len(train_data) / batch_size) * epochs
    result = training.train_causal_lm(
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
    and whether the CI lies within ``±margin`` (``equivalent``)."""
    diff = stats.paired_difference(edited, source)
    diff["verdict"] = verdict_word(diff, higher_is_better)
    diff["margin"] = margin
    diff["equivalent"] = stats.equivalence_verdict(diff, margin) == stats.REPRODUCED
    diff["higher_is_better"] = higher_is_better
    return diff


def arm_deltas(arms: dict, higher_is_better: dict[str, bool], relative_margin: float) -> dict:
    """``{metric: compare(...)}`` for every metric of ``arms["edited"]`` against ``arms["source"]``.
    The equivalence margin is ``relative_margin`` times the source arm's mean."""
    return {m: compare(arms["edited"][m], arms["source"][m], higher_is_better[m],
                       relative_margin * abs(float(np.mean(arms["source"][m]))))
            for m in arms["source"] if m in higher_is_better}


def not_worse_verdict(diffs: Sequence[dict]) -> str:
    """Claims 8 and 10 ("equal or better"): not reproduced if any difference is significantly
    worse; reproduced if each one is significantly better or within its margin; else inconclusive."""
    if any(d["verdict"] == WORSE for d in diffs):
        return stats.NOT_REPRODUCED
    if all(d["verdict"] == BETTER or d["equivalent"] for d in diffs):
        return stats.REPRODUCED
    return stats.INCONCLUSIVE


def fmt(diff: dict, unit: str = "", digits: int = 2) -> str:
    """:func:`stats.format_difference` with the p-value."""
    p = "" if diff["p_value"] is None else f", p = {diff['p_value']:.2g}"
    return stats.format_difference(diff, unit, digits) + p
