"""ToEdit: exact, seeded, vectorized token-level editing (paper §3.3, Algorithm 1).

A prior causal LM scores every token of a document in one forward pass; tokens it finds
too predictable are resampled from the prior (and, optionally, very unlikely tokens are
deleted). Library: :class:`ToEditor` with one :class:`EditConfig`, :func:`load_prior`.
Command: ``python -m tokedit_utils.toedit --model M --input IN --output OUT`` (``--help``;
the ``tokedit`` console script is the same).

Modules: ``config`` (the options), ``scoring`` (windows, forward batches, P(x_i)),
``samplers`` (plain functions), ``stored`` (score once, then apply several edit
configurations to the stored scores), ``prior`` (loading; packaged priors), ``rebuild``
(the output text), ``results`` (per document,
totals, histograms), ``editor`` (:class:`ToEditor`), ``cli`` (the command).

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
  A document longer than ``ToEditor.segment_chars`` (131,072 characters) is edited a
  segment at a time, so memory holds one segment, not the document: segments are cut
  before a space between two words (else at the limit), each is tokenized alone and
  scored after the last ``C - 1`` tokens before it, and segment j > 0 draws from the
  stream of the key ``key + "\0segment j"``.
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

from .cli import main
from .config import SAMPLERS, STRATEGIES, EditConfig
from .editor import PriorLoadError, ToEditor, document_seed, load_prior, text_key
from .results import (
    TABLE6_EDGES,
    EditResult,
    EditStats,
    IterationResult,
    token_probability_histogram,
)
from .scoring import token_probabilities, windows
from . import stored

__all__ = [
    "EditConfig", "EditResult", "EditStats", "IterationResult", "PriorLoadError", "SAMPLERS", "STRATEGIES",
    "TABLE6_EDGES",
    "ToEditor", "document_seed", "load_prior", "main", "stored", "text_key", "token_probabilities",
    "token_probability_histogram", "windows",
]
