"""Held-out perplexity, the one definition every chapter uses.

The held-out split of each domain is joined with the end-of-text token into one token stream,
and the first ``max_tokens_per_domain`` tokens of it are cut into blocks of ``block_size``
tokens (:func:`heldout_blocks`). PPL = exp(mean token NLL) over every token the blocks predict
(each block's first token is context only), pooled over the blocks of a domain
(:func:`heldout_ppl`). It is the definition the students' per-epoch evaluation uses in
training, so a student's curve and its final numbers agree, and the teacher and any other
model are measured on the very same blocks. The NLLs come from
:func:`tokedit_utils.toolkit.scoring.blocks_nll`.
"""

from __future__ import annotations

import math
from typing import Sequence

import datasets

from . import scoring


def token_stream(texts: Sequence[str], tokenizer) -> list[int]:
    """Documents joined into one stream, each after an end-of-text token."""
    stream: list[int] = []
    for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        stream.append(tokenizer.eos_token_id)
        stream.extend(ids)
    return stream


def heldout_blocks(ds: datasets.Dataset, tokenizer, block_size: int,
                   max_tokens_per_domain: int | None = None) -> dict[str, datasets.Dataset]:
    """``{domain: Dataset of input_ids blocks}`` from a held-out split, the first
    ``max_tokens_per_domain`` tokens of each domain's stream (all with None). A domain with
    fewer tokens than one block is one shorter block."""
    out = {}
    domains, all_texts = ds["domain"], ds["text"]
    for domain in sorted(set(domains)):
        texts = [t for d, t in zip(domains, all_texts) if d == domain]
        stream = token_stream(texts, tokenizer)
        if max_tokens_per_domain:
            stream = stream[:max_tokens_per_domain]
        n = len(stream) // block_size
        blocks = [stream[i * block_size:(i + 1) * block_size] for i in range(n)] or [stream]
        out[domain] = datasets.Dataset.from_dict({"input_ids": blocks})
    return out


def heldout_ppl(model, blocks: dict[str, datasets.Dataset], batch_size: int = 64) -> dict[str, float]:
    """PPL per domain of any causal LM on :func:`heldout_blocks`."""
    out = {}
    for domain, ds in blocks.items():
        nll, count = scoring.blocks_nll(model, ds["input_ids"], batch_size)
        out[domain] = math.exp(nll / count) if count else math.nan
    return out


def perplexity_by_domain(model, tokenizer, ds: datasets.Dataset, block_size: int,
                         batch_size: int = 32) -> dict[str, float]:
    """PPL per domain of every held-out token of ``ds`` (no cap), as :func:`heldout_ppl`."""
    return heldout_ppl(model, heldout_blocks(ds, tokenizer, block_size), batch_size)
