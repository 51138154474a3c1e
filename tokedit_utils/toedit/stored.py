"""Score once, edit many times: the engine's forward pass kept for later edit configurations.

:func:`score` runs the engine's own pass (its windows, batches and kept logits) and keeps,
per scored position, what every sampler needs: ``P(x_i)`` and the prior's ``K`` most
probable candidates (after the engine's masking of special tokens) with their logits and
the row's log-normalizer. :func:`apply` then edits with any :class:`EditConfig` whose
sampler fits in the stored candidates, with the engine's seeding, flags, histograms and
text rebuild: the same output as :meth:`ToEditor.edit_texts` (a test checks it), without a
second forward pass. :meth:`Scores.save` / :meth:`Scores.load` keep them on disk (``.npz``).

Fits: ``top_k`` and ``rejection`` need ``k <= K``; ``top_p`` needs the stored candidates of
each flagged row to hold at least the nucleus mass (then its nucleus is exact); options
that change the candidate set (``allow_special``; ``exclude_original`` except for
``top_k``) need the forward pass. Anything else raises ValueError.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from . import samplers
from .config import EditConfig
from .editor import ToEditor, _check_texts, text_key
from .results import EditResult
from .scoring import Layout, token_probabilities


class NotStored(ValueError):
    """The configuration needs more of the prior's distribution than the scores keep."""


@dataclasses.dataclass
class Scores:
    """One scoring pass over ``texts``, flat over the engine's layout of the documents.

    ``positions[j]`` is the flat index of scored token j; ``probs[j]`` its P; ``cand_ids[j]``
    and ``cand_logits[j]`` the top-``K`` masked candidates (decreasing); ``log_norm[j]`` the
    log-sum-exp of the masked row (candidate probability: ``exp(logit - log_norm)``)."""

    texts: list[str]
    keys: list[str]
    ids: np.ndarray
    positions: np.ndarray
    probs: np.ndarray
    cand_ids: np.ndarray
    cand_logits: np.ndarray
    log_norm: np.ndarray
    starts: np.ndarray  # document d is ids[starts[d]:starts[d+1]]
    context: int
    stride: int

    @property
    def candidates(self) -> int:
        return int(self.cand_ids.shape[1])

    def per_document(self, values: np.ndarray | None = None) -> list[np.ndarray]:
        """``values`` (one per scored position; default ``P(x_i)``) per document, NaN where
        nothing is scored (as ``return_probs`` gives)."""
        flat = np.full(len(self.ids), np.nan, dtype=np.float32)
        flat[self.positions] = self.probs if values is None else values
        return np.split(flat, self.starts[1:-1]) if len(self.texts) else []

    def change_probability(self, k: int, beta: float) -> np.ndarray:
        """Per scored position, the probability that the top-k sampler (``k``, ``beta``)
        replaces the token if it is flagged: 1 minus the original's weight among the
        candidates (0 weight when it is not one of them)."""
        if k > self.candidates:
            raise ValueError(f"k = {k} needs more than the {self.candidates} stored candidates")
        weights = torch.softmax(torch.from_numpy(self.cand_logits[:, :k]).double() / beta, dim=-1).numpy()
        original = self.ids[self.positions]
        return np.clip(1.0 - (weights * (self.cand_ids[:, :k] == original[:, None])).sum(1), 0.0, 1.0)

    def save(self, path) -> None:
        arrays = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if isinstance(getattr(self, f.name), np.ndarray)}
        np.savez_compressed(path, texts=np.asarray(self.texts, dtype=object), keys=np.asarray(self.keys),
                            context=self.context, stride=self.stride, **arrays)

    @classmethod
    def load(cls, path) -> "Scores":
        with np.load(path, allow_pickle=True) as z:
            return cls(texts=[str(t) for t in z["texts"]], keys=[str(k) for k in z["keys"]], ids=z["ids"],
                       positions=z["positions"], probs=z["probs"], cand_ids=z["cand_ids"],
                       cand_logits=z["cand_logits"], log_norm=z["log_norm"], starts=z["starts"],
                       context=int(z["context"]), stride=int(z["stride"]))


def _keys(texts, ids) -> list[str]:
    if ids is not None and len(ids) != len(texts):
        raise ValueError("ids and texts differ in length")
    return [text_key(t) if ids is None or ids[i] is None else f"id:{ids[i]}" for i, t in enumerate(texts)]


@torch.inference_mode()
def score(editor: ToEditor, texts: Sequence[str], ids: Sequence | None = None, *, candidates: int = 64) -> Scores:
    """The engine's forward pass over ``texts`` (named by ``ids`` as in ``edit_texts``),
    keeping ``P`` and the top-``candidates`` masked candidates of every scored position."""
    texts = _check_texts(texts)
    keys = _keys(texts, ids)
    docs = editor.prepare(texts, keys)
    layout = Layout.of(docs)
    dev, vocab = editor.device, len(editor.tokenizer)
    ids_dev = layout.ids.to(dev)
    parts = {name: [] for name in ("positions", "probs", "cand_ids", "cand_logits", "log_norm")}
    for inp, att, keep, gidx in editor.batches(docs, layout):
        logits = editor.logits(inp.to(dev), att.to(dev), keep.to(dev))
        gidx = gidx.to(dev)
        masked = samplers.mask_logits(logits, special_ids=editor._special, vocab_size=vocab)
        vals, cand = masked.topk(min(candidates, masked.shape[1]), dim=-1)
        parts["positions"].append(gidx.cpu())
        parts["probs"].append(token_probabilities(logits, ids_dev[gidx]).cpu())
        parts["cand_ids"].append(cand.to(torch.int32).cpu())
        parts["cand_logits"].append(vals.cpu())
        parts["log_norm"].append(torch.logsumexp(masked.double(), dim=-1).cpu())
    empty = {"positions": (0,), "probs": (0,), "cand_ids": (0, candidates), "cand_logits": (0, candidates),
             "log_norm": (0,)}
    arrays = {k: torch.cat(v).numpy() if v else np.zeros(empty[k]) for k, v in parts.items()}
    return Scores(texts, keys, layout.ids.numpy(), starts=layout.starts, context=editor.context,
                  stride=editor.stride, **arrays)


def check_fits(config: EditConfig, candidates: int) -> None:
    """ValueError if ``config`` needs more than ``candidates`` stored candidates per row."""
    if not config.resamples:
        return
    if config.allow_special:
        raise ValueError("allow_special changes the candidates: edit with the forward pass (edit_texts)")
    if config.exclude_original and config.sampler != "top_k":
        raise ValueError(f"exclude_original with {config.sampler} renormalizes the row: edit with the forward pass")
    if config.sampler in ("top_k", "rejection") and config.k + int(config.exclude_original) > candidates:
        raise NotStored(f"{config.sampler} with k = {config.k} needs more than the {candidates} stored candidates")


def _draw_stored(cand_ids, cand_logits, log_norm, u, original, config: EditConfig, dtype) -> torch.Tensor:
    """The engine's draw (:mod:`samplers`) from the stored candidates of the flagged rows."""
    k_stored = cand_ids.shape[1]
    logits = cand_logits.clone()
    if config.exclude_original:
        logits[cand_ids == original[:, None]] = -math.inf
    if config.sampler == "top_k":
        vals, pick = logits.topk(config.k, dim=-1)
        cand, weights = cand_ids.gather(1, pick), torch.softmax(vals.to(dtype) / config.beta, dim=-1)
    else:
        prob = torch.exp(logits.to(dtype) - log_norm[:, None].to(dtype))
        if config.sampler == "rejection":
            prob, cand = prob[:, :config.k], cand_ids[:, :config.k]
            accept = torch.softmax(prob / config.beta, dim=-1)
            log_reject = torch.log1p(-accept.clamp(max=1 - 1e-12))
            weights = accept * torch.exp(torch.cumsum(log_reject, -1) - log_reject) * (prob > 0)
        else:  # top_p: exact when the stored candidates hold the nucleus
            short = prob.sum(-1) < config.top_p
            if bool(short.any()):
                raise NotStored(f"top_p = {config.top_p}: {int(short.sum())} flagged rows have less mass in "
                                 f"their {k_stored} stored candidates; store more or edit with the forward pass")
            before = prob.cumsum(-1) - prob
            cand, weights = cand_ids, prob * (before < config.top_p)
    return samplers.draw(cand.long(), weights, u)


def word_starts(editor: ToEditor, scores: Scores) -> np.ndarray:
    """Per scored position: does the token begin a word? Its first non-space character is a
    letter or digit and the character before that is not (from the tokenizer's offsets)."""
    flags = []
    for doc in editor.prepare(scores.texts, scores.keys):
        text, starts = doc.text, np.zeros(len(doc.ids), dtype=bool)
        for j, (a, b) in enumerate(doc.encoding.offsets):
            c = a + len(text[a:b]) - len(text[a:b].lstrip())
            starts[doc.field_start + j] = c < b and text[c].isalnum() and (c == 0 or not text[c - 1].isalnum())
        flags.append(starts)
    return np.concatenate(flags)[scores.positions] if flags else np.zeros(0, dtype=bool)


@torch.inference_mode()
def apply(editor: ToEditor, scores: Scores, config: EditConfig | None = None, *, seed: int = 0,
          generation: int = 1, return_probs: bool = False, allowed: np.ndarray | None = None) -> list[EditResult]:
    """Edit the scored texts with ``config`` (default: the editor's options), as
    ``editor.edit_texts(texts, ids, seed=seed, generation=generation)`` would, from ``scores``.
    ``allowed`` (a bool per scored position, e.g. :func:`word_starts`) limits the resampled
    tokens to those positions: a rule beyond the paper's."""
    config = config or editor.options
    check_fits(config, scores.candidates)
    docs = editor.prepare(scores.texts, scores.keys, seed=seed, generation=generation)
    layout = Layout.of(docs)
    if not np.array_equal(layout.ids.numpy(), scores.ids):
        raise ValueError("these scores were made with another tokenizer (the token ids differ)")
    if (scores.context, scores.stride) != (editor.context, editor.stride):
        raise ValueError(f"these scores used windows of {scores.context} (stride {scores.stride}), "
                         f"this editor {editor.context} ({editor.stride})")
    dev, fdtype, total = editor.device, editor._fdtype, int(layout.starts[-1])
    uniforms = [torch.rand(len(d.ids), generator=torch.Generator().manual_seed(d.seed), dtype=torch.float64)
                for d in docs]
    u = torch.cat(uniforms) if total else torch.zeros(0, dtype=torch.float64)
    previous, editor.options = editor.options, config
    try:
        state = editor._new_state(layout, u.to(dev, fdtype), return_probs)
        gidx = torch.from_numpy(scores.positions).to(dev)
        p = torch.from_numpy(scores.probs).to(dev)
        high = editor._record(p, gidx, state)
        if allowed is not None and high is not None:  # blocked positions: scored, never flagged
            blocked = high & ~torch.from_numpy(np.asarray(allowed, dtype=bool)).to(dev)
            state["flagged"][gidx[blocked]] = False
            high = high & ~blocked
        if high is not None and bool(high.any()):
            rows = gidx[high]
            target = state["ids"][rows]
            state["new_ids"][rows] = _draw_stored(
                torch.from_numpy(scores.cand_ids).to(dev)[high], torch.from_numpy(scores.cand_logits).to(dev)[high],
                torch.from_numpy(scores.log_norm).to(dev)[high], state["u"][rows], target, config, fdtype)
        cpu = {k: v.cpu().numpy() for k, v in state.items() if v is not None}
        return editor._collect(docs, layout.starts, cpu, return_probs)
    finally:
        editor.options = previous
