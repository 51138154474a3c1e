"""Human/synthetic mixtures at a fixed token budget (paper section 3.1).

A mixture with synthetic ratio r holds r * budget synthetic tokens and (1 - r) * budget human
tokens. Documents are taken in one seeded order per source, so mixtures are nested: the
synthetic part of the 25% mixture is the start of the 50% mixture's. The last document of
each part is cut at the token that fills its share.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Sequence

import datasets

from ..toedit import records


def take_tokens(texts: Sequence[str], tokenizer, budget: int, seed: int) -> tuple[list[str], int]:
    """Documents in a seeded order until ``budget`` tokens; the last one cut to fit."""
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    taken, total = [], 0
    for i in order:
        if total >= budget:
            break
        ids = tokenizer(texts[i], add_special_tokens=False)["input_ids"]
        if not ids:
            continue
        room = budget - total
        if len(ids) > room:
            ids = ids[:room]
            taken.append(tokenizer.decode(ids))
        else:
            taken.append(texts[i])
        total += len(ids)
    if total < budget:
        raise ValueError(f"only {total:,} tokens available, the budget asks for {budget:,}")
    return taken, total


def build_mixture(human: Sequence[str], synthetic: Sequence[str], tokenizer, ratio: float, budget: int, seed: int = 0) -> list[dict]:
    """Records ``{"text", "source"}`` of one mixture, shuffled together with ``seed``."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"synthetic ratio must be in [0, 1], got {ratio}")
    n_synthetic = round(ratio * budget)
    records = []
    if n_synthetic:
        texts, _ = take_tokens(synthetic, tokenizer, n_synthetic, seed)
        records += [{"text": t, "source": "synthetic"} for t in texts]
    if budget - n_synthetic:
        texts, _ = take_tokens(human, tokenizer, budget - n_synthetic, seed + 1)
        records += [{"text": t, "source": "human"} for t in texts]
    random.Random(seed + 2).shuffle(records)
    return records


def load_mixture(path: str | Path) -> datasets.Dataset:
    """A chapter-1 mixture file (records ``{"text", "source"}``) as a Dataset."""
    return datasets.Dataset.from_list([record for _, record in records.iter_records(path)])


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
