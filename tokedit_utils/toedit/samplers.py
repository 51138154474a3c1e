"""Samplers as plain functions over rows of logits.

Each sampler turns a row of logits into ``(candidates, weights)``: candidate ids and
their unnormalized draw weights, in a fixed order. :func:`draw` then picks one candidate
per row by inverse CDF with the row's uniform. :func:`sample` chains the masking, one
sampler and the draw.
"""

from __future__ import annotations

import math

import torch


def mask_logits(logits: torch.Tensor, *, special_ids, vocab_size: int, original: torch.Tensor | None = None,
                allow_special: bool = False, exclude_original: bool = False) -> torch.Tensor:
    """A float32 copy of ``logits`` with what may never be drawn set to -inf: special
    tokens and ids beyond the tokenizer's vocabulary (unless ``allow_special``), and the
    original token of each row (with ``exclude_original``)."""
    logits = logits.to(torch.float32, copy=True)
    if not allow_special:
        if len(special_ids):
            logits[:, torch.as_tensor(special_ids, device=logits.device)] = -math.inf
        if logits.shape[1] > vocab_size:
            logits[:, vocab_size:] = -math.inf
    if exclude_original and original is not None:
        logits.scatter_(1, original[:, None], -math.inf)
    return logits


def top_k(logits: torch.Tensor, k: int, beta: float, dtype=torch.float64):
    """The k most probable tokens, weighted ``p_j**(1/beta)`` (the softmax of logits/beta)."""
    vals, cand = logits.topk(min(k, logits.shape[1]), dim=-1)
    return cand, torch.softmax(vals.to(dtype) / beta, dim=-1)


def top_p(logits: torch.Tensor, mass: float, dtype=torch.float64):
    """The nucleus: tokens by decreasing probability, kept while the mass *before* each is
    ``< mass`` (so the most probable token is always kept), weighted by ``p``."""
    prob = torch.softmax(logits.to(dtype), dim=-1)
    prob, cand = prob.sort(dim=-1, descending=True)
    before = prob.cumsum(-1) - prob
    return cand, prob * (before < mass)


def rejection(logits: torch.Tensor, k: int, beta: float, dtype=torch.float64):
    """The exact outcome of the repo's cyclic accept/reject scan over the top-k tokens:
    ``a_j = softmax(p_j / beta)``, ``P(j) ∝ a_j prod_{l<j}(1 - a_l)``."""
    prob = torch.softmax(logits.to(dtype), dim=-1)
    prob, cand = prob.topk(min(k, logits.shape[1]), dim=-1)
    accept = torch.softmax(prob / beta, dim=-1)
    log_reject = torch.log1p(-accept.clamp(max=1 - 1e-12))
    survive = torch.exp(torch.cumsum(log_reject, -1) - log_reject)  # prod_{l<j}(1-a_l)
    return cand, accept * survive * (prob > 0)


def draw(cand: torch.Tensor, weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """One candidate per row: the first whose cumulative weight exceeds ``u`` times the
    row's total (inverse CDF; ``u`` in [0, 1))."""
    weights = torch.nan_to_num(weights, nan=0.0)
    cdf = weights.cumsum(-1)
    pick = (cdf < u[:, None].to(cdf.dtype) * cdf[:, -1:]).sum(-1)
    # fp guard: never step past the last candidate with positive weight
    last = (weights > 0).long().cumsum(-1).argmax(-1)
    pick = torch.minimum(pick, last)
    return cand.gather(1, pick[:, None]).squeeze(1)


def candidates(logits: torch.Tensor, sampler: str, *, k: int, beta: float, top_p_mass: float,
               dtype=torch.float64):
    """``(candidates, weights)`` of the named sampler."""
    if sampler == "top_k":
        return top_k(logits, k, beta, dtype)
    if sampler == "top_p":
        return top_p(logits, top_p_mass, dtype)
    if sampler == "rejection":
        return rejection(logits, k, beta, dtype)
    raise ValueError(f"unknown sampler {sampler!r}")


def sample(logits: torch.Tensor, u: torch.Tensor, original: torch.Tensor, config, *, special_ids,
           vocab_size: int, dtype=torch.float64) -> torch.Tensor:
    """One draw per row of ``logits`` with the row's uniform ``u``, by ``config`` (an
    :class:`EditConfig`)."""
    masked = mask_logits(logits, special_ids=special_ids, vocab_size=vocab_size, original=original,
                         allow_special=config.allow_special, exclude_original=config.exclude_original)
    cand, weights = candidates(masked, config.sampler, k=config.k, beta=config.beta,
                               top_p_mass=config.top_p, dtype=dtype)
    return draw(cand, weights, u)
