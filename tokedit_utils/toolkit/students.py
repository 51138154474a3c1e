"""Students: small GPT-2 models trained from scratch on a mixture, with held-out perplexity
after every epoch. Chapter 2 trains them; chapters 3, 6 and 7 train theirs the same way, from
chapter 2's recorded recipe."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import datasets
import numpy as np

from . import models, trainer


def train_student(
    tokenizer, train_blocks, eval_blocks: dict[str, datasets.Dataset], *, ratio: float, seed: int,
    n_layer: int, n_embd: int, n_head: int, block_size: int, epochs: float, learning_rate: float,
    batch_size: int, warmup_ratio: float = 0.2, save_to: str | Path | None = None,
) -> tuple[object, dict]:
    """Train one student from scratch on one mixture; evaluate held-out PPL after every epoch.

    The warm-up is long (a fifth of the steps) because with 5% one seed in five of the tiny
    default student stalled on a plateau and ended 30% worse than the others (chapter 2's
    pure-human arm: seed SD 12.7% of the mean over five seeds, 1.0% with 20%).

    Returns ``(model, run)`` with run = ``{"ratio", "seed", "loss_curve", "ppl_curve",
    "ppl_by_domain", "ppl_mean", "final_train_loss", "tokens_seen", "seconds", "parameters"}``.
    ``ppl_curve`` holds one ``{"epoch", "tokens", "ppl_mean", <domain>: ppl}`` per epoch.
    """
    model = models.build_gpt2(tokenizer, n_layer, n_embd, n_head, block_size, seed=seed)
    steps = math.ceil(len(train_blocks) / batch_size) * epochs
    result = trainer.train_causal_lm(
        model, train_blocks, learning_rate=learning_rate, batch_size=batch_size, epochs=epochs, seed=seed,
        warmup_ratio=warmup_ratio,
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


def recipe(student: dict) -> dict:
    """The keyword arguments of :func:`train_student` in chapter 2's ``student`` record (shape,
    epochs, learning rate, batch size, warm-up): later chapters train students the same way."""
    accepted = inspect.signature(train_student).parameters
    return {k: v for k, v in student.items() if k in accepted and k not in ("tokenizer", "ratio", "seed", "save_to")}
