"""ToEdit: exact, seeded, vectorized token-level editing (paper §3.3, Algorithm 1).

A prior causal LM scores every token of a document in one forward pass; tokens it finds
too predictable are resampled from the prior (and, optionally, very unlikely tokens are
deleted). Library: :class:`ToEditor`, :func:`load_prior`. Command:
``python -m tokedit_utils.toedit --model M --input IN --output OUT`` (``--help``).

Exact rules
-----------
* **Scoring.** ``P_i = P(x_i | x_<i) = softmax(logits_{i-1})[x_i]``, computed in float32
  from the model's logits, always under the *original* prefix (edits are parallel, as in
  the official single-forward-pass script). Position 0 has no prediction.
* **Editable positions:** ``i >= 1``, not a special token (any id in
  ``tokenizer.all_special_ids``, whether added by the tokenizer or written in the text),
  and, for instruction data, inside the response field.
* **Flags** (the comparisons are fixed): *resample* when ``P_i >= threshold`` (the paper's
  ``>=``; the official code's ``>`` differs only when ``P_i`` equals the threshold
  exactly); *drop* when ``P_i < low_threshold``. Strategies: ``resample_high`` (paper),
  ``resample_high_drop_low`` (official ``low_drop_up_revise``), ``drop_low`` (official
  ``filtering``). Defaults: threshold 0.99, low_threshold 0.001.
* **Samplers** (special tokens and ids beyond the tokenizer's vocabulary are never drawn
  unless ``allow_special=True``; their logits are set to -inf first):

  - ``top_k``: the k most probable tokens (default k=8), drawn with probability
    ``p_j**(1/beta) / sum_l p_l**(1/beta)`` (default beta=1.5). The original token stays
    a candidate; with ``exclude_original=True`` its logit is removed before the top-k, so
    there are still k candidates, none of them the original.
  - ``top_p``: the nucleus of the prior's distribution: tokens sorted by probability,
    kept while the mass *before* them is ``< top_p`` (default 0.9; the most probable
    token is always kept), drawn proportionally to ``p`` (no temperature).
  - ``rejection``: the repo's prototype rule. Candidates: the top-k tokens (default k=64)
    in decreasing probability; acceptance probabilities ``a_j = softmax(p_j / beta)``
    over the candidates (default beta=0.5, applied to probabilities, not logits). Scan
    the candidates in order, accepting candidate j with probability a_j; if none is
    accepted, scan again, until one is. We draw the outcome of that process exactly, in
    closed form: ``P(j) = a_j prod_{l<j}(1-a_l) / (1 - prod_l (1-a_l))`` (one uniform per
    position, no loop).

  Every sampler is an inverse-CDF draw with one uniform per position.
* **Windowing.** Context C = the model's ``max_position_embeddings`` (or ``max_length``).
  A sequence of n <= C tokens is one window. Longer ones: the first window ``[0, C)``
  scores positions 1..C-1; each later window is a full C tokens long and scores the next
  ``stride`` (default C//2) not-yet-scored positions at its right end, so every token is
  scored exactly once with at least ``C - stride`` tokens of left context; the last
  window ends at the document's end (more context for a short last span). Nothing is
  truncated. Logits are computed only at scored positions (``logits_to_keep`` mask).
* **Seeding.** Each document gets its own ``torch.Generator`` seeded with
  ``sha256("toedit", seed, generation, key)`` where key is its id (or the sha256 of its
  text when no id is given). It draws one uniform per token position, on the CPU, so a
  document's edits depend on nothing else: not on batch size, batch composition, order,
  or device. Same seed, same output.
* **Floating point.** Edits are exact functions of the probabilities. The probabilities
  themselves can differ in the last bits between batch shapes (padding, kernels): about
  1e-6 relative in float32 and 1e-2 in bf16/fp16. A flag (or a drawn candidate) can only
  flip for a probability within that distance of the threshold (of a CDF boundary); on
  CPU float32 the tests find the outputs identical across batch sizes and orders.
* **Output text and the identity guarantee.** The output is rebuilt from the *original
  string*: tokens are grouped at character boundaries (from the fast tokenizer's offset
  mapping; byte-level tokens that share one character form one group), unchanged groups
  are copied verbatim from the source text, and only groups holding a changed or dropped
  token are replaced by the decoding of their new ids (decoded after a few original
  tokens of context, which is then cut off, so a leading space is not lost by
  SentencePiece-style decoders). So untouched text is byte-for-byte the input (no
  normalization, whitespace clean-up or tokenizer round-trip quirks), and a document with
  nothing flagged is returned unchanged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from transformers import PreTrainedTokenizerFast

from .io import CorpusFormatError, detect_format, dumps, iter_records, read_jsonl_lines, require_text, write_records
from .models import load_causal_lm
from .paths import write_json
from .session import tune_cpu_allocator

STRATEGIES = ("resample_high", "resample_high_drop_low", "drop_low")
SAMPLERS = ("top_k", "top_p", "rejection")
SAMPLER_DEFAULTS = {"top_k": (8, 1.5), "rejection": (64, 0.5), "top_p": (None, None)}
TABLE6_EDGES = [round(0.1 * i, 1) for i in range(11)]  # bins [0,.1), ..., [.9,1.0]


class PriorLoadError(RuntimeError):
    """The prior model or its tokenizer could not be loaded."""


# --------------------------------------------------------------------------- results


@dataclass
class EditResult:
    """One edited document (or response field)."""

    text: str
    key: str
    tokens: int  # tokens of the field (tokenizer-added special tokens not counted)
    scored: int  # editable positions that got a probability
    flagged: int  # positions with P >= threshold (resampling strategies)
    changed: int  # flagged positions whose drawn token differs from the original
    dropped: int  # positions deleted (P < low_threshold, dropping strategies)
    interval_counts: np.ndarray  # the 10 intervals of Table 6, floor(10 P)
    fine_counts: np.ndarray  # ``fine_bins`` equal bins on [0, 1]
    probs: np.ndarray | None = None  # P_i per field token (NaN where not scored), if asked
    flagged_positions: np.ndarray | None = None  # field-token indices flagged for resampling, if asked

    @property
    def flagged_fraction(self) -> float:
        return self.flagged / self.scored if self.scored else 0.0

    def stats(self) -> dict:
        return {"tokens": self.tokens, "scored": self.scored, "flagged": self.flagged,
                "changed": self.changed, "dropped": self.dropped}


@dataclass
class EditStats:
    """Totals over documents, with the token-probability histograms."""

    fine_bins: int = 100
    documents: int = 0
    empty_documents: int = 0
    tokens: int = 0
    scored: int = 0
    flagged: int = 0
    changed: int = 0
    dropped: int = 0
    interval_counts: np.ndarray = None
    fine_counts: np.ndarray = None

    def __post_init__(self):
        if self.interval_counts is None:
            self.interval_counts = np.zeros(10, dtype=np.int64)
        if self.fine_counts is None:
            self.fine_counts = np.zeros(self.fine_bins, dtype=np.int64)

    def add(self, result: EditResult) -> None:
        self.documents += 1
        self.empty_documents += int(result.tokens == 0)
        for name in ("tokens", "scored", "flagged", "changed", "dropped"):
            setattr(self, name, getattr(self, name) + getattr(result, name))
        self.interval_counts += result.interval_counts
        self.fine_counts += result.fine_counts

    def update(self, results: Iterable[EditResult]) -> "EditStats":
        for result in results:
            self.add(result)
        return self

    @property
    def flagged_fraction(self) -> float:
        return self.flagged / self.scored if self.scored else 0.0

    def to_dict(self) -> dict:
        frac = lambda n: n / self.scored if self.scored else 0.0  # noqa: E731
        total = max(int(self.interval_counts.sum()), 1)
        return {
            "documents": self.documents, "empty_documents": self.empty_documents,
            "tokens": self.tokens, "scored": self.scored, "flagged": self.flagged,
            "changed": self.changed, "dropped": self.dropped,
            "flagged_fraction": frac(self.flagged), "changed_fraction": frac(self.changed),
            "dropped_fraction": frac(self.dropped),
            "histogram": {
                "table6": {"edges": TABLE6_EDGES, "counts": self.interval_counts.tolist(),
                           "percent": (100.0 * self.interval_counts / total).tolist()},
                "fine": {"edges": np.linspace(0, 1, self.fine_bins + 1).tolist(),
                         "counts": self.fine_counts.tolist()},
            },
        }

    @classmethod
    def from_dict(cls, payload: dict) -> "EditStats":
        fine = np.asarray(payload["histogram"]["fine"]["counts"], dtype=np.int64)
        stats = cls(fine_bins=len(fine), fine_counts=fine,
                    interval_counts=np.asarray(payload["histogram"]["table6"]["counts"], dtype=np.int64))
        for name in ("documents", "empty_documents", "tokens", "scored", "flagged", "changed", "dropped"):
            setattr(stats, name, int(payload[name]))
        return stats


@dataclass
class IterationResult:
    """``texts[0]`` is the source (generation 1); ``texts[g]`` is generation g+1.

    ``stats[g]`` belongs to the pass that edited generation g+1, so
    ``flagged_fraction[g]`` is the flagged fraction *of generation g+1* (paper Table 15).
    """

    texts: list[list[str]]
    stats: list[EditStats]

    @property
    def flagged_fraction(self) -> list[float]:
        return [s.flagged_fraction for s in self.stats]

    @property
    def flagged(self) -> list[int]:
        return [s.flagged for s in self.stats]


def token_probability_histogram(probs, bins: int | Sequence[float] = 10) -> tuple[np.ndarray, np.ndarray]:
    """Counts of token probabilities in ``bins`` equal bins on [0, 1] (or given edges).

    ``probs`` is an array or a list of arrays (e.g. ``EditResult.probs``); NaNs (unscored
    positions) are ignored. ``bins=10`` gives the intervals of the paper's Table 6 with
    the last interval closed, [0.9, 1.0].
    """
    if isinstance(probs, (list, tuple)):
        probs = np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in probs]) if probs else np.zeros(0)
    probs = np.asarray(probs, dtype=np.float64).ravel()
    probs = probs[~np.isnan(probs)]
    edges = np.linspace(0.0, 1.0, bins + 1) if isinstance(bins, int) else np.asarray(bins, dtype=np.float64)
    counts, edges = np.histogram(probs, bins=edges)
    return counts, edges


def token_probabilities(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``softmax(logits)[row, target[row]]`` in float32, for each row of ``logits`` (n, V).

    The fused log-softmax kernel runs a block of rows at a time: the block stays in cache
    (on CPU ~1.8x faster than ``logsumexp`` over all rows) and a bf16/fp16 model's logits
    are upcast one block at a time, never all at once.
    """
    step = max(1, (1 << (20 if logits.device.type == "cpu" else 28)) // max(logits.shape[1], 1))
    logp = torch.empty(logits.shape[0], dtype=torch.float32, device=logits.device)
    for i in range(0, logits.shape[0], step):
        block = torch.log_softmax(logits[i:i + step].float(), dim=-1)
        logp[i:i + step] = block.gather(1, target[i:i + step, None]).squeeze(1)
    return logp.exp_().clamp_(0.0, 1.0)


# --------------------------------------------------------------------------- loading


def load_prior(model_name_or_path, device: str | None = None, dtype: str | torch.dtype | None = None):
    """Load a causal LM and its fast tokenizer (local folder or hub id); ``(model, tokenizer)``."""
    try:
        return load_causal_lm(model_name_or_path, device=device, dtype=dtype)
    except OSError as err:
        raise PriorLoadError(f"cannot load the prior: {err}") from err


# --------------------------------------------------------------------------- internals


@dataclass
class _Doc:
    ids: np.ndarray  # the sequence fed to the model: [context prefix] + field tokens
    editable: np.ndarray  # bool, per position of ids
    field_start: int  # where the field's tokens begin in ids
    encoding: object  # the field's tokenizers.Encoding: character offsets, read only if the text changed
    added: np.ndarray  # bool per field token: special token added by the tokenizer
    text: str
    key: str
    seed: int = 0


def _doc_seed(seed: int, generation: int, key: str) -> int:
    digest = hashlib.sha256(f"toedit\0{seed}\0{generation}\0{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def text_key(text: str, prompt: str | None = None) -> str:
    """The identity of a document without an id: a hash of its text (and prompt)."""
    payload = text if prompt is None else f"{prompt}\0{text}"
    return "sha256:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _windows(n: int, context: int, stride: int) -> list[tuple[int, int, int]]:
    """``(start, end, score_from)``: the window is ids[start:end]; it scores targets
    ``score_from .. end-1``. Together the windows score positions 1..n-1 exactly once."""
    if n <= 1:
        return []
    if n <= context:
        return [(0, n, 1)]
    out = [(0, context, 1)]
    done = context
    while done < n:
        end = min(done + stride, n)
        out.append((end - context, end, done))
        done = end
    return out


class ToEditor:
    """Token-level editing with a prior causal LM. See the module docstring for the rules.

    >>> editor = ToEditor.from_pretrained("runs/default/01_corpora/teacher")   # doctest: +SKIP
    >>> results = editor.edit_texts(["Some text ..."], seed=0)                   # doctest: +SKIP
    >>> results[0].text, results[0].flagged                                       # doctest: +SKIP
    """

    def __init__(self, model, tokenizer, *, strategy: str = "resample_high", threshold: float = 0.99,
                 low_threshold: float = 0.001, sampler: str = "top_k", k: int | None = None,
                 beta: float | None = None, top_p: float = 0.9, exclude_original: bool = False,
                 allow_special: bool = False, max_length: int | None = None, stride: int | None = None,
                 batch_size: int = 32, chunk_docs: int = 256, fine_bins: int = 100):
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("ToEdit needs a fast tokenizer (offset mappings keep untouched text byte-exact)")
        default_k, default_beta = SAMPLER_DEFAULTS[sampler]
        self.model, self.tokenizer = model, tokenizer
        self.strategy, self.sampler = strategy, sampler
        self.threshold, self.low_threshold = float(threshold), float(low_threshold)
        self.k = int(k if k is not None else (default_k or 8))
        self.beta = float(beta if beta is not None else (default_beta or 1.0))
        self.top_p = float(top_p)
        if self.k < 1 or self.beta <= 0 or not 0 < self.top_p <= 1:
            raise ValueError("need k >= 1, beta > 0 and 0 < top_p <= 1")
        self.exclude_original, self.allow_special = exclude_original, allow_special
        self.batch_size, self.chunk_docs, self.fine_bins = int(batch_size), int(chunk_docs), int(fine_bins)
        self.device = next(model.parameters()).device
        if self.device.type == "cpu":
            tune_cpu_allocator()  # process-wide; without it each batch's activations are page-faulted in anew
        cfg = model.config
        model_ctx = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None) or 1024
        self.context = int(min(max_length, model_ctx) if max_length else model_ctx)
        self.stride = int(stride or max(self.context // 2, 1))
        if not 1 <= self.stride <= self.context - 1 and self.context > 1:
            raise ValueError(f"stride must be in [1, {self.context - 1}], got {self.stride}")
        self._special = np.asarray(sorted(set(tokenizer.all_special_ids)), dtype=np.int64)
        self._is_special = np.zeros(max(len(tokenizer), int(self._special.max(initial=-1)) + 1), dtype=bool)
        self._is_special[self._special] = True  # a lookup table: cheaper than np.isin per document
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._fdtype = torch.float32 if self.device.type == "mps" else torch.float64  # MPS has no float64
        self._keep_mode = None  # how the model takes a logits_to_keep mask, found on first call
        self.forward_seconds = 0.0  # time spent in model calls (for benchmarks)

    @classmethod
    def from_pretrained(cls, model_name_or_path, device: str | None = None, dtype=None, **options) -> "ToEditor":
        model, tokenizer = load_prior(model_name_or_path, device=device, dtype=dtype)
        return cls(model, tokenizer, **options)

    @property
    def resamples(self) -> bool:
        return self.strategy in ("resample_high", "resample_high_drop_low")

    @property
    def drops(self) -> bool:
        return self.strategy in ("resample_high_drop_low", "drop_low")

    def config(self) -> dict:
        return {"strategy": self.strategy, "threshold": self.threshold, "low_threshold": self.low_threshold,
                "sampler": self.sampler, "k": self.k, "beta": self.beta, "top_p": self.top_p,
                "exclude_original": self.exclude_original, "allow_special": self.allow_special,
                "context": self.context, "stride": self.stride,
                "comparisons": "resample if P >= threshold; drop if P < low_threshold"}

    # ---------------------------------------------------------------- public API

    def edit_texts(self, texts: Sequence[str], ids: Sequence | None = None, *, seed: int = 0,
                   generation: int = 1, return_probs: bool = False, progress: bool = False) -> list[EditResult]:
        """Edit plain texts. ``ids`` name the documents (their random streams); without
        them a document is named by the hash of its text."""
        texts = list(texts)
        if ids is not None and len(ids) != len(texts):
            raise ValueError("ids and texts differ in length")
        keys = [text_key(t) if ids is None or ids[i] is None else f"id:{ids[i]}" for i, t in enumerate(texts)]
        return self._edit_fields(texts, keys, seed=seed, generation=generation,
                                 return_probs=return_probs, progress=progress)

    def edit_records(self, records: Sequence[dict], *, text_field: str = "text", id_field: str | None = "id",
                     prompt_field: str | None = None, condition_on_prompt: bool = False, seed: int = 0,
                     generation: int = 1, stats_field: str | None = None) -> tuple[list[dict], list[EditResult]]:
        """Edit ``record[text_field]`` of each record; everything else is copied.

        Instruction data: give ``prompt_field``; the prompt is kept as is. With
        ``condition_on_prompt`` the response is scored after the prompt's tokens;
        otherwise (as the official SFT script does) the response is scored alone.
        """
        texts, prompts, keys = [], [], []
        for rec in records:
            text = rec[text_field]
            prompt = rec[prompt_field] if prompt_field else None
            rid = rec.get(id_field) if id_field else None
            texts.append(text)
            prompts.append(prompt)
            keys.append(f"id:{rid}" if rid is not None else text_key(text, prompt))
        results = self._edit_fields(texts, keys, prompts=prompts if (prompt_field and condition_on_prompt) else None,
                                    seed=seed, generation=generation)
        out = []
        for rec, res in zip(records, results):
            new = dict(rec)
            new[text_field] = res.text
            if stats_field:
                new[stats_field] = res.stats()
            out.append(new)
        return out, results

    def edit_dataset(self, dataset, text_field: str = "text", *, id_field: str | None = "id",
                     prompt_field: str | None = None, condition_on_prompt: bool = False, seed: int = 0,
                     generation: int = 1, stats_field: str | None = "toedit", map_batch_size: int = 256, **map_kwargs):
        """Edit a ``datasets.Dataset`` with a batched ``map``; per-row statistics go to
        ``stats_field`` (None: none)."""
        id_field = id_field if id_field in dataset.column_names else None

        def fn(batch):
            n = len(batch[text_field])
            records = [{key: batch[key][i] for key in batch} for i in range(n)]
            edited, _ = self.edit_records(records, text_field=text_field, id_field=id_field,
                                          prompt_field=prompt_field, condition_on_prompt=condition_on_prompt,
                                          seed=seed, generation=generation, stats_field=stats_field)
            return {key: [r[key] for r in edited] for key in edited[0]} if edited else batch

        return dataset.map(fn, batched=True, batch_size=map_batch_size, **map_kwargs)

    def iterate(self, texts: Sequence[str], generations: int = 3, ids: Sequence | None = None, *,
                seed: int = 0) -> IterationResult:
        """Edit, then re-edit the output, ``generations`` times with the same prior.

        A document keeps its identity (its id, else the hash of the *source* text) across
        generations; each generation has its own random stream.
        """
        texts = list(texts)
        ids = list(ids) if ids is not None else [text_key(t) for t in texts]
        history, all_stats = [texts], []
        for gen in range(1, generations + 1):
            results = self.edit_texts(history[-1], ids=ids, seed=seed, generation=gen)
            history.append([r.text for r in results])
            all_stats.append(EditStats(fine_bins=self.fine_bins).update(results))
        return IterationResult(texts=history, stats=all_stats)

    def score_texts(self, texts: Sequence[str]) -> list[np.ndarray]:
        """P(x_i | x_<i) for every token of each text (NaN where not scored)."""
        results = self.edit_texts(texts, return_probs=True)
        return [r.probs for r in results]

    # ---------------------------------------------------------------- preparation

    def _encode(self, texts, add_special_tokens: bool):
        # the fast tokenizer's backend directly: the same encodings as tokenizer(...), without
        # converting every offset to Python/numpy (only edited documents need them)
        backend = self.tokenizer.backend_tokenizer
        if backend.truncation is not None:
            backend.no_truncation()
        if backend.padding is not None:
            backend.no_padding()
        return backend.encode_batch(list(texts), add_special_tokens=add_special_tokens)

    def _prepare(self, texts, keys, prompts, seed, generation) -> list[_Doc]:
        encs = self._encode(texts, add_special_tokens=prompts is None)
        pencs = self._encode(prompts, add_special_tokens=True) if prompts is not None else None
        docs = []
        for i, text in enumerate(texts):
            enc = encs[i]
            ids = np.array(enc.ids, dtype=np.int64)
            added = np.array(enc.special_tokens_mask, dtype=bool)
            if prompts is not None:
                prefix = np.array(pencs[i].ids, dtype=np.int64)
                full = np.concatenate([prefix, ids])
                start = len(prefix)
            else:
                full, start = ids, 0
            editable = ~self._is_special[full]
            editable[:max(start, 1)] = False
            docs.append(_Doc(full, editable, start, enc, added, text, keys[i], _doc_seed(seed, generation, keys[i])))
        return docs

    # ---------------------------------------------------------------- the engine

    def _edit_fields(self, texts, keys, prompts=None, *, seed=0, generation=1, return_probs=False, progress=False):
        results: list[EditResult] = []
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(texts), unit="doc")
        for lo in range(0, len(texts), self.chunk_docs):
            hi = lo + self.chunk_docs
            docs = self._prepare(texts[lo:hi], keys[lo:hi], prompts[lo:hi] if prompts else None, seed, generation)
            results.extend(self._edit_docs(docs, return_probs))
            if bar is not None:
                bar.update(len(docs))
        if bar is not None:
            bar.close()
        return results

    @torch.inference_mode()
    def _edit_docs(self, docs: list[_Doc], return_probs: bool) -> list[EditResult]:
        dev = self.device
        n_docs = len(docs)
        lengths = np.asarray([len(d.ids) for d in docs], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)])
        total = int(starts[-1])
        flat_ids = torch.from_numpy(np.concatenate([d.ids for d in docs]) if total else np.zeros(0, np.int64))
        editable = torch.from_numpy(np.concatenate([d.editable for d in docs]) if total else np.zeros(0, bool))
        # one random stream per document, drawn on the CPU: independent of batching and device
        uniforms = torch.cat([torch.rand(len(d.ids), generator=torch.Generator().manual_seed(d.seed),
                                         dtype=torch.float64) for d in docs]) if total else torch.zeros(0, dtype=torch.float64)
        doc_of = torch.from_numpy(np.repeat(np.arange(n_docs), lengths))

        ids_dev = flat_ids.to(dev)
        uni_dev = uniforms.to(dev, self._fdtype)
        doc_dev = doc_of.to(dev)
        new_ids = ids_dev.clone()
        flagged = torch.zeros(total, dtype=torch.bool, device=dev)
        dropped = torch.zeros(total, dtype=torch.bool, device=dev)
        probs = torch.full((total,), float("nan"), dtype=torch.float32, device=dev) if return_probs else None
        hist10 = torch.zeros(n_docs * 10, dtype=torch.int64, device=dev)
        hist_fine = torch.zeros(n_docs * self.fine_bins, dtype=torch.int64, device=dev)

        for inp, att, keep, gidx in self._batches(docs, flat_ids, editable, starts):
            logits = self._logits(inp.to(dev), att.to(dev), keep.to(dev))
            self._post(logits, gidx.to(dev), ids_dev, uni_dev, doc_dev, new_ids, flagged, dropped, probs,
                       hist10, hist_fine)

        return self._collect(docs, starts, new_ids.cpu().numpy(), flagged.cpu().numpy(), dropped.cpu().numpy(),
                             probs.cpu().numpy() if probs is not None else None,
                             hist10.view(n_docs, 10).cpu().numpy(), hist_fine.view(n_docs, self.fine_bins).cpu().numpy())

    def _batches(self, docs, flat_ids, editable, starts):
        """Forward batches ``(input_ids, attention_mask, keep, gidx)`` over all windows:
        ``keep`` marks the logit positions to compute, ``gidx`` the flat index of the token
        each kept logit predicts (row-major, the order of ``logits[keep]``)."""
        windows = np.asarray([(int(starts[i]) + s, e - s, f - s) for i, d in enumerate(docs)
                              for (s, e, f) in _windows(len(d.ids), self.context, self.stride)
                              if d.editable[f:e].any()], dtype=np.int64).reshape(-1, 3)
        windows = windows[np.argsort(-windows[:, 1], kind="stable")]  # similar lengths together: less padding
        ids_np, editable_np = flat_ids.numpy(), editable.numpy()
        last = max(len(ids_np) - 1, 0)
        for b in range(0, len(windows), self.batch_size):
            first, length, score_from = windows[b:b + self.batch_size].T  # window start (flat), length, first scored offset
            cols = np.arange(length.max())
            index = first[:, None] + cols  # flat index of each window position
            inside = cols < length[:, None]
            inp = np.where(inside, ids_np[np.minimum(index, last)], self._pad_id)
            # the logit at column c predicts the token at c+1: keep it when that token is in the
            # window's scored span and editable
            target = index + 1
            keep = ((cols + 1 >= score_from[:, None]) & (cols + 1 < length[:, None])
                    & editable_np[np.minimum(target, last)])
            yield (torch.from_numpy(inp), torch.from_numpy(inside.astype(np.int64)), torch.from_numpy(keep),
                   torch.from_numpy(target[keep]))

    def _logits(self, inp, att, keep) -> torch.Tensor:
        """Logits (the model's dtype) at the kept positions, flattened row-major: shape (keep.sum(), V)."""
        t0 = time.perf_counter()
        try:
            return self._logits_inner(inp, att, keep)
        finally:
            if self.device.type == "cuda":  # the time of the kernels, not of their launch
                torch.cuda.synchronize(self.device)
            self.forward_seconds += time.perf_counter() - t0

    def _logits_inner(self, inp, att, keep) -> torch.Tensor:
        n = int(keep.sum())
        if self._keep_mode in (None, "mask"):
            try:
                out = self.model(input_ids=inp, attention_mask=att, logits_to_keep=keep, use_cache=False).logits
                if out.dim() == 3 and out.shape[0] == 1 and out.shape[1] == n:
                    out = out[0]
                if out.dim() == 2 and out.shape[0] == n:
                    self._keep_mode = "mask"
                    return out
            except (TypeError, ValueError, IndexError, RuntimeError):
                if self._keep_mode == "mask":
                    raise
            self._keep_mode = "full"  # the model ignores or rejects the mask: compute all logits
        out = self.model(input_ids=inp, attention_mask=att, use_cache=False).logits
        return out[keep]

    def _post(self, logits, gidx, ids_dev, uni_dev, doc_dev, new_ids, flagged, dropped, probs, hist10, hist_fine):
        """Everything after the forward pass, vectorized over all scored positions."""
        target = ids_dev[gidx]
        p = token_probabilities(logits, target)
        if probs is not None:
            probs[gidx] = p
        doc = doc_dev[gidx]
        hist10 += torch.bincount(doc * 10 + (p * 10).long().clamp_(max=9), minlength=hist10.numel())
        fb = self.fine_bins
        hist_fine += torch.bincount(doc * fb + (p * fb).long().clamp_(max=fb - 1), minlength=hist_fine.numel())
        if self.drops:
            low = p < self.low_threshold
            dropped[gidx[low]] = True
        if self.resamples:
            high = p >= self.threshold
            if bool(high.any()):
                rows = gidx[high]
                flagged[rows] = True
                new_ids[rows] = self._sample(logits[high], uni_dev[rows], target[high])

    def _sample(self, logits: torch.Tensor, u: torch.Tensor, orig: torch.Tensor) -> torch.Tensor:
        """One draw per row by inverse CDF with the row's uniform ``u``."""
        logits = logits.to(torch.float32, copy=True)
        vocab = len(self.tokenizer)
        if not self.allow_special:
            if len(self._special):
                logits[:, torch.as_tensor(self._special, device=logits.device)] = -math.inf
            if logits.shape[1] > vocab:
                logits[:, vocab:] = -math.inf
        if self.exclude_original:
            logits.scatter_(1, orig[:, None], -math.inf)
        if self.sampler == "top_k":
            vals, cand = logits.topk(min(self.k, logits.shape[1]), dim=-1)
            weights = torch.softmax(vals.to(self._fdtype) / self.beta, dim=-1)  # p^(1/beta), renormalized
        elif self.sampler == "top_p":
            prob = torch.softmax(logits.to(self._fdtype), dim=-1)
            prob, cand = prob.sort(dim=-1, descending=True)
            before = prob.cumsum(-1) - prob
            weights = prob * (before < self.top_p)
        else:  # rejection: exact outcome of the cyclic accept/reject scan
            prob = torch.softmax(logits.to(self._fdtype), dim=-1)
            prob, cand = prob.topk(min(self.k, logits.shape[1]), dim=-1)
            accept = torch.softmax(prob / self.beta, dim=-1)
            log_reject = torch.log1p(-accept.clamp(max=1 - 1e-12))
            survive = torch.exp(torch.cumsum(log_reject, -1) - log_reject)  # prod_{l<j}(1-a_l)
            weights = accept * survive * (prob > 0)
        weights = torch.nan_to_num(weights, nan=0.0)
        cdf = weights.cumsum(-1)
        pick = (cdf < u[:, None] * cdf[:, -1:]).sum(-1)
        # fp guard: never step past the last candidate with positive weight
        last = (weights > 0).long().cumsum(-1).argmax(-1)
        pick = torch.minimum(pick, last)
        return cand.gather(1, pick[:, None]).squeeze(1)

    # ---------------------------------------------------------------- output text

    def _collect(self, docs, starts, new_ids, flagged, dropped, probs, hist10, hist_fine) -> list[EditResult]:
        results, plans, requests = [], [], []
        for i, d in enumerate(docs):
            a, b = int(starts[i]) + d.field_start, int(starts[i + 1])
            orig = d.ids[d.field_start:]
            new, fl, dr = new_ids[a:b], flagged[a:b], dropped[a:b]
            changed = fl & (new != orig)
            ed = d.editable[d.field_start:]
            touched = changed | dr
            plans.append(self._plan_rebuild(d, orig, new, touched, dr, requests) if touched.any() else None)
            results.append(EditResult(
                text=d.text, key=d.key, tokens=int((~d.added).sum()), scored=int(ed.sum()),
                flagged=int(fl.sum()), changed=int(changed.sum()), dropped=int(dr.sum()),
                interval_counts=hist10[i].astype(np.int64), fine_counts=hist_fine[i].astype(np.int64),
                probs=probs[a:b].copy() if probs is not None else None,
                flagged_positions=np.flatnonzero(fl) if probs is not None else None))
        decoded = self._decode_pieces(requests)
        for result, plan in zip(results, plans):
            if plan is not None:
                kept, first = plan  # kept[j] precedes decoded piece first + j; kept[-1] ends the text
                replaced = decoded[first:first + len(kept) - 1]
                result.text = "".join(part for pair in zip(kept, replaced) for part in pair) + kept[-1]
        return results

    def _plan_rebuild(self, d: _Doc, orig, new, touched, dropped, requests):
        """The original text with only the touched character groups replaced, as
        ``(kept texts, index of the first replacement in requests)``; each replaced group
        appends its ``(context ids, new ids)`` to ``requests`` for one batched decode.

        A group is a maximal run of tokens with no character boundary between them
        (byte-level pieces of one character); it spans from the end of the token before
        it (so the whitespace a token carries goes with it) to its last character.
        """
        offs = np.asarray(d.encoding.offsets, dtype=np.int64).reshape(-1, 2)
        added, text, m = d.added, d.text, len(orig)
        boundary = np.ones(m, dtype=bool)  # a character boundary before token j
        boundary[1:] = added[1:] | added[:-1] | (offs[1:, 0] >= offs[:-1, 1])
        first_tok = np.flatnonzero(boundary)  # first token of each group
        group_end = np.maximum.reduceat(np.where(added, 0, offs[:, 1]), first_tok)  # last character of each group
        last_real = np.maximum.accumulate(np.where(added, -1, np.arange(m)))  # last non-added token up to j
        hit = np.unique(np.cumsum(boundary)[touched] - 1)
        lo = first_tok[hit]
        hi = np.r_[first_tok[1:], m][hit]  # exclusive
        prev = np.where(lo > 0, last_real[np.maximum(lo - 1, 0)], -1)
        prev_end = np.where(prev >= 0, offs[np.maximum(prev, 0), 1], 0)
        # a group's span starts after the token before it, and never before the previous span ends
        ends = np.maximum.accumulate(np.maximum(group_end[hit], prev_end))
        starts = np.maximum(prev_end, np.r_[0, ends[:-1]])
        full = d.ids.tolist()  # [prompt prefix] + field tokens
        p0 = d.field_start
        new_l, keep_l = new.tolist(), (~dropped).tolist()
        kept, cursor = [], 0
        first = len(requests)
        for g_lo, g_hi, start, end in zip(lo.tolist(), hi.tolist(), starts.tolist(), ends.tolist()):
            kept.append(text[cursor:start])
            ids = [t for t, k in zip(new_l[g_lo:g_hi], keep_l[g_lo:g_hi]) if k]
            requests.append((full[max(p0 + g_lo - 4, 0):p0 + g_lo], ids))
            cursor = end
        kept.append(text[cursor:])
        return kept, first

    def _decode_pieces(self, requests) -> list[str]:
        """The text of each ``(context, ids)``: ``ids`` decoded after ``context``, which is
        then cut off, so a leading space is not lost by SentencePiece-style decoders."""
        if not requests:
            return []
        if type(self.tokenizer)._decode is PreTrainedTokenizerFast._decode:
            # the backend's batch decode is what tokenizer.decode calls, minus per-call Python
            backend = self.tokenizer.backend_tokenizer
            decode = lambda seqs: backend.decode_batch(seqs, skip_special_tokens=True)  # noqa: E731
        else:
            kw = {"skip_special_tokens": True, "clean_up_tokenization_spaces": False}
            decode = lambda seqs: [self.tokenizer.decode(ids, **kw) for ids in seqs]  # noqa: E731
        heads = decode([context for context, _ in requests])
        both = decode([context + ids for context, ids in requests])
        out = [full[len(head):] if ids and context and full.startswith(head) else None
               for (context, ids), head, full in zip(requests, heads, both)]
        alone = [i for i, piece in enumerate(out) if piece is None and requests[i][1]]
        for i, piece in zip(alone, decode([requests[i][1] for i in alone])):
            out[i] = piece
        return [piece or "" for piece in out]


# --------------------------------------------------------------------------- command line

HELP_EPILOG = """\
Files: .jsonl, .jsonl.gz and .parquet, chosen by name. Every other field of a record is
copied. The output is written atomically: records go to OUTPUT.partial (JSON Lines) and
OUTPUT.progress.json records how many input records are done, with the running
statistics. If a run is interrupted, run the same command again: it resumes after the
last finished chunk (a chunk is --chunk-docs records) and gives the same output as an
uninterrupted run. On success the final file is written, renamed into place and the
sidecars are removed. A sidecar from different arguments is an error (--restart discards it).

Statistics (tokens, flagged, changed, dropped, Table-6 and fine histograms) go to
--stats, default OUTPUT with its extension replaced by .stats.json. --stats-only writes
only the statistics.

Exit codes: 0 success, 2 bad input or arguments, 3 prior cannot be loaded.
"""


def stats_path_for(output) -> Path:
    out = Path(output)
    name = out.name
    for ext in (".jsonl.gz", ".json.gz", ".jsonl", ".json", ".parquet"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    return out.with_name(name + ".stats.json")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tokedit_utils.toedit", description="ToEdit: token-level editing "
                                "of a text corpus with a prior causal LM (one forward pass, seeded, exact).",
                                epilog=HELP_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="prior: a local save_pretrained folder or a hub id")
    p.add_argument("--input", required=True, help="input records (.jsonl, .jsonl.gz, .parquet)")
    p.add_argument("--output", help="output records (same formats); required unless --stats-only")
    p.add_argument("--stats", help="statistics JSON (default: beside the output)")
    p.add_argument("--stats-only", action="store_true", help="only compute and write the statistics")
    p.add_argument("--text-field", default="text", help="field to edit (the response, for instruction data)")
    p.add_argument("--id-field", default="id", help="field naming a document's random stream (hash of the text if absent)")
    p.add_argument("--prompt-field", help="instruction data: the prompt field, copied unchanged")
    p.add_argument("--condition-on-prompt", action="store_true",
                   help="score the response after the prompt (default: the response alone, as the official script)")
    p.add_argument("--strategy", choices=STRATEGIES, default="resample_high")
    p.add_argument("--threshold", type=float, default=0.99, help="resample tokens with P >= this (default 0.99)")
    p.add_argument("--low-threshold", type=float, default=0.001, help="drop tokens with P < this (default 0.001)")
    p.add_argument("--sampler", choices=SAMPLERS, default="top_k")
    p.add_argument("--k", type=int, help="candidates: top_k default 8, rejection default 64")
    p.add_argument("--beta", type=float, help="temperature: top_k default 1.5, rejection default 0.5")
    p.add_argument("--top-p", type=float, default=0.9, help="nucleus mass for --sampler top_p (default 0.9)")
    p.add_argument("--exclude-original", action="store_true", help="never draw the original token")
    p.add_argument("--allow-special", action="store_true", help="allow special tokens as replacements")
    p.add_argument("--max-length", type=int, help="window length (default: the model's context)")
    p.add_argument("--stride", type=int, help="new positions scored per later window (default: context // 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--generation", type=int, default=1, help="generation number (part of the random stream)")
    p.add_argument("--batch-size", type=int, default=32, help="windows per forward pass")
    p.add_argument("--chunk-docs", type=int, default=256, help="records per chunk (memory bound, resume granularity)")
    p.add_argument("--device", help="cuda, mps or cpu (default: the first available)")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), help="default: bf16 on CUDA, fp32 on CPU")
    p.add_argument("--stats-field", help="also store per-record statistics under this field")
    p.add_argument("--restart", action="store_true", help="discard an interrupted run's sidecars")
    p.add_argument("--no-progress", action="store_true")
    return p


def _fingerprint(args, input_path: Path) -> dict:
    st = input_path.stat()
    keep = {k: v for k, v in vars(args).items() if k not in ("restart", "no_progress", "device", "chunk_docs")}
    return {"args": keep, "input_size": st.st_size, "input_mtime": st.st_mtime}


def run(args) -> dict:
    """The command's work (also callable from Python with a parsed namespace)."""
    input_path = Path(args.input)
    if not input_path.is_file():
        raise FileNotFoundError(f"input file not found: {input_path}")
    if not args.stats_only and not args.output:
        raise ValueError("--output is required unless --stats-only")
    if args.stats_only and not (args.stats or args.output):
        raise ValueError("--stats-only needs --stats (or --output to place the statistics beside)")
    detect_format(input_path)
    output = Path(args.output) if args.output else None
    if output is not None and not args.stats_only:
        detect_format(output)
    stats_path = Path(args.stats) if args.stats else stats_path_for(output)

    # validate the whole input before loading anything or writing anything
    n_records = 0
    for line_no, rec in iter_records(input_path):
        require_text(rec, args.text_field, input_path, line_no)
        if args.prompt_field:
            require_text(rec, args.prompt_field, input_path, line_no)
        n_records += 1

    editor = ToEditor.from_pretrained(
        args.model, device=args.device, dtype=args.dtype, strategy=args.strategy, threshold=args.threshold,
        low_threshold=args.low_threshold, sampler=args.sampler, k=args.k, beta=args.beta, top_p=args.top_p,
        exclude_original=args.exclude_original, allow_special=args.allow_special, max_length=args.max_length,
        stride=args.stride, batch_size=args.batch_size, chunk_docs=args.chunk_docs)

    side = output if (output is not None and not args.stats_only) else stats_path
    partial = side.with_name(side.name + ".partial")
    progress_path = side.with_name(side.name + ".progress.json")
    fingerprint = _fingerprint(args, input_path)
    stats, done, elapsed_before = EditStats(fine_bins=editor.fine_bins), 0, 0.0
    if progress_path.exists() and not args.restart:
        saved = json.loads(progress_path.read_text())
        if saved.get("fingerprint") != json.loads(json.dumps(fingerprint)):
            raise ValueError(f"{progress_path} belongs to a run with other arguments or input; "
                             f"pass --restart to discard it")
        done, elapsed_before = saved["records_done"], saved.get("elapsed_s", 0.0)
        stats = EditStats.from_dict(saved["stats"])
        if not args.stats_only:
            with open(partial, "r+b") as handle:  # drop anything written after the last checkpoint
                handle.truncate(saved["partial_bytes"])
    else:
        progress_path.unlink(missing_ok=True)
        if not args.stats_only:
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(b"")

    bar = None
    if not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=n_records, initial=done, unit="doc", dynamic_ncols=True)
    t0 = time.perf_counter()
    session_tokens = 0
    sink = None if args.stats_only else open(partial, "a", encoding="utf-8")
    try:
        chunk: list[dict] = []

        def flush():
            nonlocal done, session_tokens
            if not chunk:
                return
            records, results = editor.edit_records(
                chunk, text_field=args.text_field, id_field=args.id_field, prompt_field=args.prompt_field,
                condition_on_prompt=args.condition_on_prompt, seed=args.seed, generation=args.generation,
                stats_field=args.stats_field)
            stats.update(results)
            done += len(chunk)
            session_tokens += sum(r.tokens for r in results)
            payload = {"fingerprint": fingerprint, "records_done": done, "stats": stats.to_dict(),
                       "elapsed_s": elapsed_before + time.perf_counter() - t0, "partial_bytes": 0}
            if sink is not None:
                sink.write("".join(dumps(r) + "\n" for r in records))
                sink.flush()
                os.fsync(sink.fileno())
                payload["partial_bytes"] = partial.stat().st_size
            write_json(progress_path, payload)
            if bar is not None:
                bar.update(len(chunk))
                bar.set_postfix(tok_s=f"{session_tokens / max(time.perf_counter() - t0, 1e-9):,.0f}")
            chunk.clear()

        for _, rec in iter_records(input_path, skip=done):
            chunk.append(rec)
            if len(chunk) >= editor.chunk_docs:
                flush()
        flush()
    finally:
        if sink is not None:
            sink.close()
        if bar is not None:
            bar.close()

    elapsed = elapsed_before + time.perf_counter() - t0
    summary = stats.to_dict()
    summary.update({"config": editor.config(), "model": str(args.model), "input": str(input_path),
                    "output": None if args.stats_only else str(output), "seed": args.seed,
                    "generation": args.generation, "elapsed_s": elapsed,
                    "tokens_per_second": stats.tokens / elapsed if elapsed > 0 else None})
    if not args.stats_only:
        write_records(output, read_jsonl_lines(partial))
    write_json(stats_path, summary)
    partial.unlink(missing_ok=True)
    progress_path.unlink(missing_ok=True)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    try:
        summary = run(args)
    except PriorLoadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except (FileNotFoundError, CorpusFormatError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps({k: summary[k] for k in ("documents", "empty_documents", "tokens", "flagged", "changed",
                                              "dropped", "flagged_fraction", "tokens_per_second")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
