"""Non-iterative model collapse (paper section 3.1): students pre-trained from scratch on
human/synthetic mixtures, their training loss, their perplexity on held-out human text, and
the spread over seeds.

Held-out perplexity here is measured on non-overlapping ``block_size`` blocks cut from each
domain's test text (documents joined by the end-of-text token), at most
``max_tokens_per_domain`` tokens per domain. It is exp(mean token NLL) over all predicted
tokens, the same pooled definition as :mod:`tokedit_utils.evaluation`, except that the first
token of each block is not predicted. The Trainer computes it after every epoch, so the
per-epoch curve and the final table come from one measurement.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import datasets
import numpy as np
import pandas as pd

from . import evaluation, models, records, training

#: Paper Table 1 (v1): GPT-2 124M, PPL averaged over the 22 Pile subdomains, at 0/25/50/75/100% synthetic.
PAPER_RATIOS = [0.0, 0.25, 0.5, 0.75, 1.0]
PAPER_PPL_MEAN = [21.37, 22.31, 23.90, 27.03, 49.30]
#: Paper Table 9: GPT-2 124M, average 0-shot accuracy (%) over 7 tasks of Maini et al.
PAPER_GPT2_ACC = [41.69, 40.71, 41.62, 41.24, 40.26]
#: Paper Table 11: OLMo-237M, average 0-shot accuracy (%) over 6 tasks.
PAPER_OLMO_ACC = [33.68, 33.59, 33.25, 32.83, 32.68]


def load_mixture(path: str | Path) -> datasets.Dataset:
    """A chapter-1 mixture file (records ``{"text", "source"}``) as a Dataset."""
    return datasets.Dataset.from_list([record for _, record in records.iter_records(path)])


def heldout_blocks(ds: datasets.Dataset, tokenizer, block_size: int, max_tokens_per_domain: int | None = None) -> dict[str, datasets.Dataset]:
    """``{domain: Dataset of input_ids blocks}`` from the held-out split, the first
    ``max_tokens_per_domain`` tokens of each domain's stream (all with None)."""
    out = {}
    domains, all_texts = ds["domain"], ds["text"]
    for domain in sorted(set(domains)):
        texts = [t for d, t in zip(domains, all_texts) if d == domain]
        stream = evaluation.token_stream(texts, tokenizer)
        if max_tokens_per_domain:
            stream = stream[:max_tokens_per_domain]
        n = len(stream) // block_size
        if n == 0:
            raise ValueError(f"domain {domain!r} has fewer than {block_size} held-out tokens")
        out[domain] = datasets.Dataset.from_dict({"input_ids": [stream[i * block_size : (i + 1) * block_size] for i in range(n)]})
    return out


def train_student(
    tokenizer, train_blocks, eval_blocks: dict[str, datasets.Dataset], *, ratio: float, seed: int,
    n_layer: int, n_embd: int, n_head: int, block_size: int, epochs: float, learning_rate: float,
    batch_size: int, save_to: str | Path | None = None,
) -> tuple[object, dict]:
    """Train one student from scratch on one mixture; evaluate held-out PPL after every epoch.

    Returns ``(model, run)`` with run = ``{"ratio", "seed", "loss_curve", "ppl_curve",
    "ppl_by_domain", "ppl_mean", "final_train_loss", "tokens_seen", "seconds", "parameters"}``.
    ``ppl_curve`` holds one ``{"epoch", "tokens", "ppl_mean", <domain>: ppl}`` per epoch.
    """
    model = models.build_gpt2(tokenizer, n_layer, n_embd, n_head, block_size, seed=seed)
    steps = math.ceil(len(train_blocks) / batch_size) * epochs
    result = training.train_causal_lm(
        model, train_blocks, learning_rate=learning_rate, batch_size=batch_size, epochs=epochs, seed=seed,
        log_every=max(1, int(steps // 40)), eval_blocks=eval_blocks, eval_every_epoch=True,
        desc=f"{ratio:.0%} synthetic, seed {seed}",
    )
    domains = sorted(eval_blocks)
    # The Trainer logs each named eval set in its own row: merge the rows of one step.
    by_step: dict[int, dict] = {}
    for point in result.eval_curve:
        by_step.setdefault(point["step"], {}).update(point)
    ppl_curve = []
    for step in sorted(by_step):
        point = by_step[step]
        ppl = {d: math.exp(point[f"{d}_loss"]) for d in domains}
        ppl_curve.append({"epoch": round(point["epoch"]), "tokens": point["tokens"], "ppl_mean": float(np.mean(list(ppl.values()))), **ppl})
    final = ppl_curve[-1]
    run = {
        "ratio": ratio, "seed": seed, "loss_curve": result.loss_curve, "ppl_curve": ppl_curve,
        "ppl_by_domain": {d: final[d] for d in domains}, "ppl_mean": final["ppl_mean"],
        "final_train_loss": result.final_train_loss, "tokens_seen": result.tokens_seen,
        "seconds": result.seconds, "parameters": models.count_parameters(model),
    }
    if save_to is not None:
        models.save_model(model, tokenizer, save_to)
        run["folder"] = str(save_to)
    return model, run


def spread(values: Sequence[float]) -> dict:
    """Mean, min, max and sample SD (None for one value) of a metric over seeds."""
    values = [float(v) for v in values]
    return {"values": values, "mean": float(np.mean(values)), "min": min(values), "max": max(values),
            "sd": float(np.std(values, ddof=1)) if len(values) > 1 else None}


def arm_table(runs: list[dict], ratios: Sequence[float], metric) -> pd.DataFrame:
    """One row per ratio: mean, min, max, SD and number of seeds of ``metric(run)``."""
    rows = []
    for r in ratios:
        s = spread([metric(run) for run in runs if run["ratio"] == r])
        rows.append({"synthetic ratio": r, "mean": s["mean"], "min": s["min"], "max": s["max"], "sd": s["sd"], "seeds": len(s["values"])})
    return pd.DataFrame(rows).set_index("synthetic ratio")


def is_monotone(values: Sequence[float], increasing: bool = True) -> bool:
    pairs = list(zip(values, values[1:]))
    return all(b > a for a, b in pairs) if increasing else all(b < a for a, b in pairs)
