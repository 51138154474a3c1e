"""Scoring: documents laid out flat, windows over long ones, segments of very long ones,
forward batches, P(x_i)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Document:
    """One document (or response field), tokenized and ready to score."""

    ids: np.ndarray  # the sequence fed to the model: [prompt prefix] + field tokens
    editable: np.ndarray  # bool, per position of ids
    field_start: int  # where the field's tokens begin in ids
    encoding: object  # the field's tokenizers.Encoding: character offsets, read only if the text changed
    added: np.ndarray  # bool per field token: special token added by the tokenizer
    text: str
    key: str
    seed: int = 0


@dataclass
class Layout:
    """The documents of a chunk concatenated: ``ids[starts[d]:starts[d+1]]`` is document d."""

    ids: torch.Tensor  # int64, CPU
    editable: torch.Tensor  # bool, CPU
    starts: np.ndarray  # int64, len(documents) + 1

    @classmethod
    def of(cls, docs: list[Document]) -> "Layout":
        lengths = np.asarray([len(d.ids) for d in docs], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        if starts[-1] == 0:
            return cls(torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.bool), starts)
        return cls(torch.from_numpy(np.concatenate([d.ids for d in docs])),
                   torch.from_numpy(np.concatenate([d.editable for d in docs])), starts)


def windows(n: int, context: int, stride: int) -> list[tuple[int, int, int]]:
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


def segments(text: str, size: int) -> list[tuple[int, int]]:
    """``(start, end)`` spans of at most ``size`` characters covering ``text``, each cut
    before a space that follows and precedes other characters (so no word is split and a
    byte-level BPE tokenizes both sides as it would the whole), else at ``size``."""
    spans, lo = [], 0
    while len(text) - lo > size:
        cut = text.rfind(" ", lo + size // 2, lo + size)
        while cut > lo + size // 2 and (text[cut - 1].isspace() or text[cut + 1].isspace()):
            cut = text.rfind(" ", lo + size // 2, cut)
        cut = cut if cut > lo + size // 2 else lo + size
        spans.append((lo, cut))
        lo = cut
    spans.append((lo, len(text)))
    return spans


def forward_batches(docs: list[Document], layout: Layout, *, context: int, stride: int, batch_size: int,
                    pad_id: int):
    """Forward batches ``(input_ids, attention_mask, keep, gidx)`` over all windows:
    ``keep`` marks the logit positions to compute, ``gidx`` the flat index (in ``layout``)
    of the token each kept logit predicts (row-major, the order of ``logits[keep]``).
    Windows with nothing editable are skipped; similar lengths are batched together."""
    starts = layout.starts
    windows_ = np.asarray([(int(starts[i]) + s, e - s, f - s) for i, d in enumerate(docs)
                           for (s, e, f) in windows(len(d.ids), context, stride)
                           if d.editable[f:e].any()], dtype=np.int64).reshape(-1, 3)
    windows_ = windows_[np.argsort(-windows_[:, 1], kind="stable")]  # less padding
    ids_np, editable_np = layout.ids.numpy(), layout.editable.numpy()
    last = max(len(ids_np) - 1, 0)
    for b in range(0, len(windows_), batch_size):
        first, length, score_from = windows_[b:b + batch_size].T  # start (flat), length, first scored offset
        cols = np.arange(length.max())
        index = first[:, None] + cols  # flat index of each window position
        inside = cols < length[:, None]
        inp = np.where(inside, ids_np[np.minimum(index, last)], pad_id)
        # the logit at column c predicts the token at c+1: keep it when that token is in the
        # window's scored span and editable
        target = index + 1
        keep = ((cols + 1 >= score_from[:, None]) & (cols + 1 < length[:, None])
                & editable_np[np.minimum(target, last)])
        yield (torch.from_numpy(inp), torch.from_numpy(inside.astype(np.int64)), torch.from_numpy(keep),
               torch.from_numpy(target[keep]))


class KeptLogits:
    """Calls a model for the logits at the kept positions only, flattened row-major:
    shape ``(keep.sum(), V)``, in the model's dtype. Models that take a boolean
    ``logits_to_keep`` mask compute nothing else; others compute all logits (found on
    the first call). ``seconds`` adds up the time spent in the model."""

    def __init__(self, model):
        self.model = model
        self.device = next(model.parameters()).device
        self.mode = None  # "mask" or "full", found on the first call
        self.seconds = 0.0

    def __call__(self, inp, att, keep) -> torch.Tensor:
        t0 = time.perf_counter()
        try:
            return self._call(inp, att, keep)
        finally:
            if self.device.type == "cuda":  # the time of the kernels, not of their launch
                torch.cuda.synchronize(self.device)
            self.seconds += time.perf_counter() - t0

    def _call(self, inp, att, keep) -> torch.Tensor:
        n = int(keep.sum())
        if self.mode in (None, "mask"):
            try:
                out = self.model(input_ids=inp, attention_mask=att, logits_to_keep=keep, use_cache=False).logits
                if out.dim() == 3 and out.shape[0] == 1 and out.shape[1] == n:
                    out = out[0]
                if out.dim() == 2 and out.shape[0] == n:
                    self.mode = "mask"
                    return out
            except (TypeError, ValueError, IndexError, RuntimeError):
                if self.mode == "mask":
                    raise
            self.mode = "full"  # the model ignores or rejects the mask
        out = self.model(input_ids=inp, attention_mask=att, use_cache=False).logits
        return out[keep]


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
