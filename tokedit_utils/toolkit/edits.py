"""Editing with a pretrained prior (windows it can hold in memory), and what an edit did to
a text, word by word: the highlighted diff of a passage, the changed spans, and the share of
them that produce a word the corpus never uses."""

from __future__ import annotations

from typing import Sequence
import difflib
import html
import re

from ..toedit import ToEditor
from . import paper


def windowed_editor(model, tokenizer, window: int, **options) -> ToEditor:
    """An editor whose forward pass sees at most ``window`` tokens at a time, each later window
    of a long document bringing seven eighths new tokens. A prior with a long context holds a
    batch of full-context logits otherwise: SmolLM2's 8,192 positions x 49,152 tokens x 4 bytes
    is 1.6 GB per window, and a batch of them ran a 24 GB machine out of memory."""
    context = ToEditor(model, tokenizer, max_length=window, **options).context
    return ToEditor(model, tokenizer, max_length=window, stride=max(1, context - context // 8), **options)


def paper_editor(model, tokenizer, threshold: float, window: int | None = None, **options) -> ToEditor:
    """The paper's editing rule, resampling tokens with P >= ``threshold`` from the top-k
    (k = 8) with beta = 1.5; in windows of ``window`` tokens when given."""
    rule = dict(threshold=threshold, sampler="top_k", k=paper.K, beta=paper.BETA, **options)
    return windowed_editor(model, tokenizer, window, **rule) if window else ToEditor(model, tokenizer, **rule)


_PIECE = re.compile(r"\s+|\w+|[^\w\s]")
_STYLE = ("<style>.toedit-diff td{vertical-align:top;text-align:left}"
          ".toedit-diff del{background:#fdd;color:#a00;text-decoration:line-through}"
          ".toedit-diff ins{background:#dfd;color:#060;text-decoration:none;font-weight:bold}</style>")


def diff_html(source: str, edited: str, words: int = 70) -> tuple[str, int]:
    """An excerpt of ``source`` around its first edits, with deleted text in ``<del>`` and
    inserted text in ``<ins>``; returns ``(html, number of changed spans shown)``."""
    a, b = _PIECE.findall(source), _PIECE.findall(edited)
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    first = next((i for i, op in enumerate(ops) if op[0] != "equal"), None)
    if first is None:
        return html.escape(" ".join(source.split()[:words])), 0
    out, shown, budget = [], 0, words
    start = max(0, ops[first][1] - 20)  # about ten words (and the spaces between) before the first edit
    out.append(("…" if start > 0 else "") + html.escape("".join(a[start:ops[first][1]])))
    for tag, i1, i2, j1, j2 in ops[first:]:
        if budget <= 0:
            out.append("…")
            break
        if tag == "equal":
            piece = a[i1:i2]
            kept = []
            for tok in piece:
                if budget <= 0:
                    break
                kept.append(tok)
                budget -= 0 if tok.isspace() else 1
            out.append(html.escape("".join(kept)))
            continue
        shown += 1
        if i2 > i1:
            out.append(f"<del>{html.escape(''.join(a[i1:i2]))}</del>")
        if j2 > j1:
            out.append(f"<ins>{html.escape(''.join(b[j1:j2]))}</ins>")
        budget -= max(i2 - i1, j2 - j1) // 2 + 1
    return "".join(out).replace("\n", "<br>"), shown


_WORD = re.compile(r"\w+")


def _changed_spans(src: str, new: str, window: int = 64, sync: int = 4):
    """``(old, new)`` text of each changed word span. Edits are sparse and local, so the diff
    walks both texts and, at each difference, diffs a window of ``window`` pieces (difflib),
    keeping the changes before the first run of ``sync`` equal pieces (a whole-document diff
    is quadratic in its length)."""
    a, b = _PIECE.findall(src), _PIECE.findall(new)
    i = j = 0
    while i < len(a) or j < len(b):
        if i < len(a) and j < len(b) and a[i] == b[j]:
            i, j = i + 1, j + 1
            continue
        wa, wb = a[i:i + window], b[j:j + window]
        ops = difflib.SequenceMatcher(None, wa, wb, autojunk=False).get_opcodes()
        last = len(ops) if i + window >= len(a) and j + window >= len(b) else None
        for n, (op, i1, i2, j1, j2) in enumerate(ops):
            if op == "equal" and i2 - i1 >= sync and n > 0:
                last = n
                break
        for op, i1, i2, j1, j2 in ops[:last or len(ops)]:
            if op in ("replace", "insert"):
                yield "".join(wa[i1:i2]), "".join(wb[j1:j2])
        end = ops[(last or len(ops)) - 1]
        i, j = i + end[2], j + end[4]


def non_word_share(sources: Sequence[str], edited: Sequence[str], vocabulary: set[str] | None = None,
                   shown: int = 8) -> dict:
    """How often an edit makes a word that does not exist: of the changed word spans (a
    word-level diff of each source against its edit), the share whose new text holds a
    word absent from ``vocabulary`` (default: every word of ``sources``), with examples."""
    if vocabulary is None:
        vocabulary = {w for text in sources for w in _WORD.findall(text)}
    spans, bad, examples_ = 0, 0, []
    for src, new in zip(sources, edited):
        for old_text, new_text in _changed_spans(src, new):
            spans += 1
            if any(w not in vocabulary for w in _WORD.findall(new_text)):
                bad += 1
                if len(examples_) < shown:
                    examples_.append([old_text.strip(), new_text.strip()])
    return {"changed_spans": spans, "non_word_spans": bad, "share": bad / spans if spans else None,
            "examples": examples_}


def words(texts: Sequence[str]) -> set[str]:
    """The vocabulary of a corpus: every word (``\\w+``) of ``texts``."""
    return {w for text in texts for w in _WORD.findall(text)}


