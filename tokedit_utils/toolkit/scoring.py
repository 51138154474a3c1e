"""One scoring primitive for every NLL and perplexity the book reports.

:func:`token_nll` runs a causal LM over rows of token ids, padded into batches, and yields
each batch's per-token NLL (nats) of the tokens the rows predict: every position after the
first, except padding and, where labels are given, positions labelled ``IGNORE_INDEX``. The
reducers sum it the three ways the chapters need:

- :func:`blocks_nll`, per block of a held-out set (chapter 2's definition of held-out PPL,
  which every chapter uses: :func:`tokedit_utils.toolkit.evaluation.heldout_ppl`);
- :func:`document_nll`, per document, each scored on its own after an end-of-text token, a
  long one in windows of ``context + 1`` tokens that overlap by one, so that every token is
  predicted exactly once (chapter 3's per-document perplexities);
- :func:`span_nll`, over the labelled span of each row (the responses of chapter 6's
  instruction pairs).

The editing engine scores with its own forward pass (``tokedit_utils.toedit.scoring``): it
needs probabilities and candidates, not NLL sums, and imports nothing of the book.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

IGNORE_INDEX = -100  # the label of a position that is not scored (the cross-entropy's default)


@torch.inference_mode()
def token_nll(model, rows: Sequence[Sequence[int]], batch_size: int, labels: Sequence[Sequence[int]] | None = None,
              pad_id: int = 0) -> Iterator[tuple[range, torch.Tensor]]:
    """``(row indices, nll)`` per batch; ``nll[i, t]`` is the NLL of row ``i``'s token ``t + 1``
    given the tokens before it, 0 where nothing is predicted (padding, ignored labels)."""
    device = next(model.parameters()).device
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        width = max(len(row) for row in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        target = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.bool)
        for i, row in enumerate(batch):
            ids[i, :len(row)] = torch.as_tensor(row)
            target[i, :len(row)] = torch.as_tensor(labels[start + i] if labels is not None else row)
            mask[i, :len(row)] = True
        ids, mask, target = ids.to(device), mask.to(device), target[:, 1:].to(device)
        logits = model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1]).logits.float()
        nll = F.cross_entropy(logits.transpose(1, 2), target, ignore_index=IGNORE_INDEX, reduction="none")
        yield range(start, start + len(batch)), nll


def predicted(rows: Sequence[Sequence[int]], labels: Sequence[Sequence[int]] | None = None) -> np.ndarray:
    """How many tokens of each row :func:`token_nll` scores."""
    if labels is None:
        return np.array([max(len(row) - 1, 0) for row in rows], dtype=np.int64)
    return np.array([sum(label != IGNORE_INDEX for label in row[1:]) for row in labels], dtype=np.int64)


def blocks_nll(model, blocks: Sequence[Sequence[int]], batch_size: int = 64) -> tuple[float, int]:
    """Sum of NLLs and number of predicted tokens over fixed blocks (each block's first token
    is context only, as in training)."""
    total = sum(nll.sum().item() for _, nll in token_nll(model, blocks, batch_size))
    return total, int(predicted(blocks).sum())


def document_nll(model, tokenizer, texts: Sequence[str], context: int,
                 batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Sum of NLLs and number of predicted tokens, per document (see the module docstring);
    windows of all documents are batched together, longest first, so padding stays small."""
    eos = tokenizer.eos_token_id
    windows = []  # (document, token ids)
    for doc, ids in enumerate(tokenizer(list(texts), add_special_tokens=False)["input_ids"]):
        stream = [eos] + ids
        windows += [(doc, stream[s:s + context + 1]) for s in range(0, len(stream) - 1, context)]
    windows.sort(key=lambda w: -len(w[1]))
    rows = [window for _, window in windows]
    nll = np.zeros(len(texts))
    for batch, losses in token_nll(model, rows, batch_size, pad_id=eos):
        np.add.at(nll, [windows[i][0] for i in batch], losses.sum(1).cpu().numpy())
    count = np.zeros(len(texts), dtype=np.int64)
    np.add.at(count, [doc for doc, _ in windows], predicted(rows))
    return nll, count


def span_nll(model, rows: Sequence[Sequence[int]], labels: Sequence[Sequence[int]], batch_size: int = 32,
             pad_id: int = 0) -> tuple[float, int]:
    """Sum of NLLs and number of scored tokens over the labelled positions of each row."""
    total = sum(nll.sum().item() for _, nll in token_nll(model, rows, batch_size, labels=labels, pad_id=pad_id))
    return total, int(predicted(rows, labels).sum())
