"""The output text: the original string with only the touched character groups replaced."""

from __future__ import annotations

import numpy as np
from transformers import PreTrainedTokenizerFast

from .scoring import Document


def plan_rebuild(doc: Document, new: np.ndarray, touched: np.ndarray, dropped: np.ndarray,
                 requests: list) -> tuple[list[str], int]:
    """The original text with only the touched character groups replaced, as
    ``(kept texts, index of the first replacement in requests)``; each replaced group
    appends its ``(context ids, new ids)`` to ``requests`` for one batched decode.

    ``new``, ``touched`` and ``dropped`` are per field token. A group is a maximal run of
    tokens with no character boundary between them (byte-level pieces of one character);
    it spans from the end of the token before it (so the whitespace a token carries goes
    with it) to its last character.
    """
    offs = np.asarray(doc.encoding.offsets, dtype=np.int64).reshape(-1, 2)
    added, text, m = doc.added, doc.text, len(new)
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
    full = doc.ids.tolist()  # [prompt prefix] + field tokens
    p0 = doc.field_start
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


def decode_pieces(tokenizer, requests) -> list[str]:
    """The text of each ``(context, ids)``: ``ids`` decoded after ``context``, which is
    then cut off, so a leading space is not lost by SentencePiece-style decoders."""
    if not requests:
        return []
    if type(tokenizer)._decode is PreTrainedTokenizerFast._decode:
        # the backend's batch decode is what tokenizer.decode calls, minus per-call Python
        backend = tokenizer.backend_tokenizer
        decode = lambda seqs: backend.decode_batch(seqs, skip_special_tokens=True)  # noqa: E731
    else:
        kw = {"skip_special_tokens": True, "clean_up_tokenization_spaces": False}
        decode = lambda seqs: [tokenizer.decode(ids, **kw) for ids in seqs]  # noqa: E731
    heads = decode([context for context, _ in requests])
    both = decode([context + ids for context, ids in requests])
    out = [full[len(head):] if ids and context and full.startswith(head) else None
           for (context, ids), head, full in zip(requests, heads, both)]
    alone = [i for i, piece in enumerate(out) if piece is None and requests[i][1]]
    for i, piece in zip(alone, decode([requests[i][1] for i in alone])):
        out[i] = piece
    return [piece or "" for piece in out]


def assemble(plans, decoded: list[str]) -> list[str | None]:
    """Each plan's text (None for a document with no plan: its text is unchanged)."""
    texts = []
    for plan in plans:
        if plan is None:
            texts.append(None)
            continue
        kept, first = plan  # kept[j] precedes decoded piece first + j; kept[-1] ends the text
        replaced = decoded[first:first + len(kept) - 1]
        texts.append("".join(part for pair in zip(kept, replaced) for part in pair) + kept[-1])
    return texts
