"""Perplexity of a causal LM on held-out text.

PPL = exp(mean token NLL), the mean taken over *all* predicted tokens of a text collection
(not a mean of per-document perplexities). Documents are joined with the end-of-text token
into one stream and cut into windows of ``block_size + 1`` tokens that overlap by one, so
every token after the first is predicted exactly once, with up to ``block_size`` tokens of
left context.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F


def token_stream(texts: Sequence[str], tokenizer) -> list[int]:
    stream: list[int] = []
    for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        stream.append(tokenizer.eos_token_id)
        stream.extend(ids)
    return stream


@torch.inference_mode()
def total_nll(model, stream: Sequence[int], block_size: int, batch_size: int = 32) -> tuple[float, int]:
    """Sum of token NLLs (nats) and the number of predicted tokens over a token stream."""
    device = next(model.parameters()).device
    starts = list(range(0, max(len(stream) - 1, 0), block_size))
    nll, count = 0.0, 0
    for i in range(0, len(starts), batch_size):
        windows = [stream[s : s + block_size + 1] for s in starts[i : i + batch_size]]
        width = max(len(w) for w in windows)
        ids = torch.full((len(windows), width), 0, dtype=torch.long)
        mask = torch.zeros((len(windows), width), dtype=torch.bool)
        for row, window in enumerate(windows):
            ids[row, : len(window)] = torch.tensor(window)
            mask[row, : len(window)] = True
        ids, mask = ids.to(device), mask.to(device)
        logits = model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1]).logits.float()
        losses = F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
        keep = mask[:, 1:]
        nll += losses[keep].sum().item()
        count += int(keep.sum().item())
    return nll, count


def perplexity(model, tokenizer, texts: Sequence[str], block_size: int, batch_size: int = 32) -> float:
    nll, count = total_nll(model, token_stream(texts, tokenizer), block_size, batch_size)
    return math.exp(nll / count) if count else math.nan


def perplexity_by_domain(model, tokenizer, ds, block_size: int, batch_size: int = 32) -> dict[str, float]:
    """PPL per domain of a dataset with ``domain`` and ``text`` columns, plus their mean."""
    out = {}
    for domain in sorted(set(ds["domain"])):
        texts = [t for d, t in zip(ds["domain"], ds["text"]) if d == domain]
        out[domain] = perplexity(model, tokenizer, texts, block_size, batch_size)
    return out
