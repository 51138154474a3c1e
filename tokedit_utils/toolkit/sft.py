"""Instruction/response pairs from the embedded corpus, for supervised fine-tuning (paper §5.3).

The paper fine-tunes Llama-3-8B on instruction collections (Natural Instructions, CoT, FLAN v2,
Open Assistant, code instructions). Ours are built offline from the human corpus with four
documented templates, one per kind of text that has a natural question and answer:

========================  ============================================  ===============================
kind (corpus source)      instruction                                   response
========================  ============================================  ===============================
``wordnet``               ``Define "fiber, fibre" (noun).``             the WordNet gloss
``devils-dictionary``     ``Define "ABSENTEE" (n.) as the Devil's       the entry's first paragraph
                          Dictionary does.``
``python-docs``           ``Write the Python documentation section      the section's opening text
                          "Private Variables".``
``shakespeare``           ``Write the next speech of this scene.``      the next speech, speaker first
                          and one speech (speaker and lines)
``continuation``          ``Continue this passage.`` and a passage of   the passage's next
(any corpus)              ``max_words`` words                           ``max_words`` words
========================  ============================================  ===============================

The first four fit the embedded corpus's sources. A reader's corpus has none of them, so
:func:`kinds_for` falls back to ``continuation``, which fits any text: each document is cut
into consecutive passages of ``max_words`` words, and each passage asks for the next one.

Each instruction is wrapped in :data:`PROMPT_TEMPLATE`; the response follows it directly and
ends with the end-of-text token. Responses (and the Shakespeare speech in the prompt) are cut
at ``max_words`` words, keeping the text between the words as it is. Pairs are built from one
split of the corpus at a time, so they inherit its split **by work**: no play, dictionary or
documentation section gives pairs to two splits. Every pair is named by its document and its
place there (``<doc id>#<n>``), so the editing engine seeds it the same way in every run.

Only the response is trained on: :func:`encode` sets the labels of the prompt tokens to -100
(the ignored index of the cross-entropy), and :class:`Collator` pads a batch without ever
turning padding into a target. Only the response is edited as well (as in the official SFT
script): the editing engine is given the response field and copies the prompt.
"""

from __future__ import annotations

import math
import random
import re
from pathlib import Path
from typing import Sequence

import datasets
import torch

from . import data, scoring, tasks
from ..toedit.records import write_records

CHOICE_TASK = "tokedit_sft_choice"  # lm-eval task; template in tokedit_utils/toolkit/lm_eval_tasks/
PROMPT_TEMPLATE = "### Instruction:\n{instruction}\n\n### Response:\n"
KINDS = ("wordnet", "devils-dictionary", "python-docs", "shakespeare")
GENERIC_KIND = "continuation"
IGNORE_INDEX = scoring.IGNORE_INDEX  # the prompt's label: not trained on, not scored

_WORD = re.compile(r"\S+")
_DEVIL_ENTRY = re.compile(r"^(?P<word>[A-Z][A-Z' -]*[A-Z]), (?P<pos>[a-z.]+(?: [a-z.]+)*)\s+(?P<text>\S.*)$", re.S)
_SPEAKER = re.compile(r"^[A-Z][A-Z' .-]*[A-Z]$")


def first_words(text: str, max_words: int) -> str:
    """The first ``max_words`` words of ``text``, with the original spacing between them."""
    spans = [m.span() for m in _WORD.finditer(text)]
    if not spans:
        return ""
    return text[spans[0][0] : spans[min(max_words, len(spans)) - 1][1]]


def _record(doc: dict, n: int, kind: str, instruction: str, response: str) -> dict:
    work = doc.get("work") or data.work_of(doc["id"])
    return {"id": f"{doc['id']}#{n}", "doc_id": doc["id"], "work": work, "domain": doc["domain"],
            "kind": kind, "prompt": PROMPT_TEMPLATE.format(instruction=instruction), "response": response}


def _wordnet_pairs(doc: dict, max_words: int) -> list[dict]:
    entries = tasks.wordnet_entries([doc])
    return [_record(doc, n, "wordnet", f'Define "{e["lemmas"]}" ({e["pos"]}).', first_words(e["gloss"], max_words))
            for n, e in enumerate(entries)]


def _devil_pairs(doc: dict, max_words: int) -> list[dict]:
    out = []
    for paragraph in doc["text"].split("\n\n"):
        m = _DEVIL_ENTRY.match(paragraph.strip())
        if m:
            instruction = f'Define "{m["word"]}" ({m["pos"]}) as the Devil\'s Dictionary does.'
            out.append(_record(doc, len(out), "devils-dictionary", instruction, first_words(m["text"], max_words)))
    return out


def _python_doc_pairs(doc: dict, max_words: int) -> list[dict]:
    title, _, body = doc["text"].strip().partition("\n")
    body = body.strip()
    if not title.strip() or not body:
        return []
    instruction = f'Write the Python documentation section "{title.strip()}".'
    return [_record(doc, 0, "python-docs", instruction, first_words(body, max_words))]


def _speeches(text: str) -> list[str]:
    """Blocks of a scene that are one speech: a speaker line in capitals, then the lines."""
    out = []
    for block in text.split("\n\n"):
        lines = block.strip().split("\n")
        if len(lines) >= 2 and _SPEAKER.match(lines[0]) and not lines[1].startswith("["):
            out.append(block.strip())
    return out


def _dialogue_pairs(doc: dict, max_words: int) -> list[dict]:
    speeches = _speeches(doc["text"])
    return [_record(doc, n, "shakespeare", f"Write the next speech of this scene.\n\n{first_words(a, max_words)}",
                    first_words(b, max_words))
            for n, (a, b) in enumerate(zip(speeches, speeches[1:]))]


def _continuation_pairs(doc: dict, max_words: int) -> list[dict]:
    spans = [m.span() for m in _WORD.finditer(doc["text"])]
    passages = [doc["text"][spans[i][0] : spans[min(i + max_words, len(spans)) - 1][1]]
                for i in range(0, len(spans), max_words)]
    return [_record(doc, n, GENERIC_KIND, f"Continue this passage.\n\n{a}", b)
            for n, (a, b) in enumerate(zip(passages, passages[1:]))]


BUILDERS = {"wordnet": _wordnet_pairs, "devils-dictionary": _devil_pairs, "python-docs": _python_doc_pairs,
            "shakespeare": _dialogue_pairs, GENERIC_KIND: _continuation_pairs}


def kinds_for(docs) -> tuple[str, ...]:
    """The template kinds a corpus supports: the embedded corpus's four where its documents
    have those sources, else the generic ``continuation`` kind."""
    sources = set(docs["source"]) if "source" in docs.column_names else set()
    return tuple(k for k in KINDS if k in sources) or (GENERIC_KIND,)


def build_pairs(docs, per_kind: int, max_words: int = 48, seed: int = 0, kinds: Sequence[str] = KINDS) -> list[dict]:
    """Up to ``per_kind`` pairs of each kind from the documents of one split, sorted by id.

    Documents are read in id order and the pairs of a kind drawn with a ``random.Random``
    seeded by a string, so the set is the same on every machine. A pair whose response is
    empty is skipped. With :data:`GENERIC_KIND` among ``kinds`` every document gives pairs of
    that kind (see :func:`kinds_for`). Each record is ``{"id", "doc_id", "work", "domain",
    "kind", "prompt", "response"}``.
    """
    by_kind: dict[str, list[dict]] = {k: [] for k in kinds}
    for doc in tasks._records(docs):
        kind = GENERIC_KIND if GENERIC_KIND in by_kind else doc.get("source")
        if kind in by_kind:
            by_kind[kind] += [p for p in BUILDERS[kind](doc, max_words) if p["response"].strip()]
    chosen = []
    for kind in kinds:
        pool = by_kind[kind]
        chosen += random.Random(f"sft/{seed}/{kind}").sample(pool, min(per_kind, len(pool)))
    return sorted(chosen, key=lambda r: r["id"])


# --------------------------------------------------------------------------- training data


def encode(records: Sequence[dict], tokenizer, max_length: int) -> datasets.Dataset:
    """``input_ids`` = prompt + response + EOS, ``labels`` = the same with the prompt set to -100.

    Prompt and response are tokenized separately, so the boundary is exact. A sequence longer
    than ``max_length`` loses the end of its response; a pair whose prompt leaves no room for
    a response token is left out (a decision on the prompt alone, so paired arms keep the same
    pairs).
    """
    eos = tokenizer.eos_token_id
    prompts = tokenizer([r["prompt"] for r in records], add_special_tokens=False)["input_ids"]
    responses = tokenizer([r["response"] for r in records], add_special_tokens=False)["input_ids"]
    rows = {"input_ids": [], "labels": []}
    for p, r in zip(prompts, responses):
        if len(p) >= max_length:
            continue
        ids = (p + r + [eos])[:max_length]
        rows["input_ids"].append(ids)
        rows["labels"].append([IGNORE_INDEX] * len(p) + ids[len(p):])
    return datasets.Dataset.from_dict(rows)


class Collator:
    """Pads ``input_ids`` with ``pad_id`` and ``labels`` with -100, and adds the attention mask.

    The labels come from :func:`encode` with the prompt already at -100, so the loss of a
    batch is the mean NLL of its response tokens only.
    """

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(features), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for row, f in enumerate(features):
            n = len(f["input_ids"])
            ids[row, :n] = torch.tensor(f["input_ids"])
            labels[row, :n] = torch.tensor(f["labels"])
            mask[row, :n] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def response_nll(model, encoded: datasets.Dataset, pad_id: int, batch_size: int = 32) -> float:
    """Mean NLL (nats per token) of the response tokens (and their EOS) over a held-out set."""
    model.eval()
    total, count = scoring.span_nll(model, encoded["input_ids"], encoded["labels"], batch_size, pad_id)
    return total / count if count else math.nan


# --------------------------------------------------------------------------- multiple choice


def build_choice_items(records: Sequence[dict], n_items: int, n_choices: int = 4, choice_words: int = 12,
                       seed: int = 0) -> list[dict]:
    """Multiple-choice items: a held-out prompt and its response among the responses of other
    documents' pairs of the same kind, every choice cut to its first ``choice_words`` words.

    Only responses with at least ``choice_words`` words take part, so no choice wins by being
    short. Items are dealt evenly over the kinds. Each item is ``{"id", "kind", "pair_id",
    "context", "choices", "label"}`` (the format of :mod:`tokedit_utils.toolkit.tasks`).
    """
    by_kind: dict[str, list[dict]] = {}
    for r in records:
        if len(_WORD.findall(r["response"])) >= choice_words:
            by_kind.setdefault(r["kind"], []).append(r)
    by_kind = {k: v for k, v in by_kind.items() if len({r["doc_id"] for r in v}) >= n_choices}
    if not by_kind:
        return []
    items = []
    for kind, quota in tasks._quotas(n_items, list(by_kind)).items():
        pool = sorted(by_kind[kind], key=lambda r: r["id"])
        rng = random.Random(f"sft-choice/{seed}/{kind}")
        for r in rng.sample(pool, min(quota, len(pool))):
            answer = first_words(r["response"], choice_words)
            others: list[str] = []
            for o in rng.sample(pool, len(pool)):
                text = first_words(o["response"], choice_words)
                if o["doc_id"] != r["doc_id"] and text != answer and text not in others:
                    others.append(text)
                    if len(others) == n_choices - 1:
                        break
            if len(others) < n_choices - 1:
                continue
            label = rng.randrange(n_choices)
            others.insert(label, answer)
            items.append({"id": f"{kind}-{len(items):04d}", "kind": kind, "pair_id": r["id"], "context": r["prompt"],
                          "choices": others, "label": label})
    return items


def write_choice_task(task_dir: str | Path, items: Sequence[dict]) -> Path:
    """The items as JSONL beside their lm-eval YAML (for :func:`tokedit_utils.toolkit.tasks.evaluate`)."""
    path = Path(task_dir) / f"{CHOICE_TASK}.jsonl"
    write_records(path, items)
    return tasks.write_task_yamls(task_dir, {CHOICE_TASK: path})
