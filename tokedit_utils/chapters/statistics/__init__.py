"""Why synthetic data fails (paper section 3.2, Figs. 3-4 and 10-14, Table 14).

Four views of the same shift between human and synthetic text:

* **Per-document perplexity** under a prior LM: :func:`document_perplexities` scores every
  token of each document on its own (after an end-of-text token), in windows of the prior's
  context, and gives exp(mean token NLL) per document.
* **Hashed n-gram features**, DSIR's own: lower-cased WordPunct unigrams and bigrams hashed
  into 10,000 buckets by ``data_selection.hashed_ngram_dsir.get_ngram_counts``
  (:func:`bucket_counts`), their concentration (:func:`concentration`) and the top bigrams.
* **Selection**: DSIR (``data_selection.HashedNgramDSIR``) with human text as the target and
  the synthetic pool as the raw data (:func:`dsir_select`), and a perplexity filter
  (:func:`highest`); students trained on the selections (chapter 2's helper).
* **Embeddings**: k-NN accuracy of human vs synthetic in a sentence-embedding space, and
  where the selected documents land (:func:`knn_separation`).

Verdicts are computed from the numbers with their uncertainty: paired seeds for the
students (:mod:`tokedit_utils.toolkit.stats`), bootstrap intervals over documents for the
distributions, binomial tests for the neighbour counts."""

from .measure import (  # noqa: F401
    NUM_BUCKETS,
    PERCENTILES,
    bigram_matrix,
    bigrams,
    binomial_verdict,
    bootstrap_difference,
    bucket_counts,
    buckets_holding,
    build_llama,
    chapter2_arm,
    concentration,
    docs_for_tokens,
    document_perplexities,
    dsir_select,
    embed,
    entropy_bits,
    equal_size_sample,
    equal_size_samples,
    half_of_works,
    highest,
    human_passages,
    interval_verdict,
    knn_separation,
    model_context,
    percentiles,
    repeat_blocks,
    sample_documents,
    selection_verdict,
    top_bigrams,
    top_share,
    train_llama_prior,
    tsne,
    words,
    written_statistics,
)
from .figures import (  # noqa: F401
    COLORS,
    bigram_table,
    concentration_table,
    percentile_table,
    plot_buckets,
    plot_ppl_distributions,
    plot_selection,
    plot_top_bigrams,
    plot_tsne,
    selection_arms,
    selection_table,
)
from .prose import (  # noqa: F401
    ARM_LABELS,
    HUMAN_ARM,
    LOW_BAR,
    PRIOR_LABELS,
    SYNTHETIC_ARM,
    claims,
    coverage_tests,
    ngram_tests,
    summary,
)
