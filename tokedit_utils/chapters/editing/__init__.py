"""Chapter 4: token-level editing measured on our corpus.

The rule itself lives in :mod:`tokedit_utils.toedit` (the engine); this module only
measures it: the token-probability histogram and the paper's ten intervals (Table 6,
Fig. 5), the dose curve (how much a threshold flags and changes), the dose- and
flag-matched thresholds, the decay of the flagged share over editing generations
(Table 15) and the paragraphs the chapter prints.

Expected changes. The engine's default sampler draws a flagged token's replacement from
the prior's top-k candidates with weights ``p_j**(1/beta)`` (k = 8, beta = 1.5; special
tokens and ids beyond the tokenizer never drawn). So a flagged position changes with
probability ``q_i = 1 - w(x_i)``, where ``w(x_i)`` is the original token's weight (1 when
the original is not among the candidates). :func:`score_tokens` computes ``P_i`` and
``q_i`` for every scored position from the engine's own forward pass (its stored
scores, which then edit at any threshold without a second pass); the expected number
of changes at a threshold is then ``sum(q_i, P_i >= t)``, its sampling variance ``sum(q_i (1 - q_i))`` (independent draws per position)."""

from .measure import (  # noqa: F401
    DOSE_THRESHOLDS,
    ScoredTokens,
    choose_threshold,
    dose_by_threshold,
    dose_curve,
    dose_matched_threshold,
    expected_changes,
    fit_eta,
    flag_matched_threshold,
    generations_table,
    histogram,
    interval_table,
    intervals,
    intervals_by_domain,
    is_u_shaped,
    paper_table15_shares,
    quantiles,
    rule_at_work,
    run_generations,
    score_tokens,
    share_at_least,
    throughput,
    u_shape,
    windowed_editor,
)
from .figures import (  # noqa: F401
    plot_dose,
    plot_generations,
    plot_token_probabilities,
)
from ...toolkit.edits import (  # noqa: F401
    diff_html,
    non_word_share,
    words,
)
from .passages import (  # noqa: F401
    dose_table,
    examples,
    examples_html,
    paper_numbers,
    prior_summary,
    prior_table,
    stand_in,
    write_outputs,
)
from .prose import (  # noqa: F401
    claims,
    closing_summary,
    generations_summary,
    headline,
    method_summary,
    prior_is_pretrained,
    rule_summary,
    setup_summary,
    threshold_summary,
    throughput_summary,
    u_shape_summary,
)
