"""Training on ToEdit-edited data versus its source (paper §5.1–5.3, §5.6; claims 8 and 10).

Three regimes, each run as **paired arms**: the source arm and the edited arm share the
architecture, hyperparameters, token budget, data order and seed, and differ only in the
editing. Each pair is repeated over several seeds, and each metric is compared through the
per-seed differences (edited − source) with :func:`tokedit_utils.toolkit.stats.paired_difference`.

* **Pre-training from scratch** (Table 2): students on the human training text or its edited
  version, trained with :func:`tokedit_utils.toolkit.students.train_student`.
* **Continual pre-training** (Table 3): a base pre-trained on the general domains continues on
  one held-out domain, mixed half and half with general text (:func:`cpt_mixture`); only the
  domain half is edited.
* **Supervised fine-tuning** (Table 4, Table 16): the base is fine-tuned on instruction pairs
  (:mod:`tokedit_utils.toolkit.sft`) with the loss on responses only; the edited arms see the responses
  after one and two editing generations.

**Same data order.** The Trainer draws each epoch's order from ``data_seed`` and the length of
the training set. :func:`paired_blocks` cuts both arms to the same number of blocks, so the
two arms see position *i* of their data at the same step: the same general block, or the same
stretch of the source and of its edited version.

**Verdicts.** A metric is *better*, *worse*, or shows *no difference within noise*
(:func:`verdict_word`, from :func:`stats.direction_verdict`). Claim 8 has two parts per
regime: "editing helps" is a direction test (contradicted by a significant loss), and "editing
does not hurt" (also claim 10) is judged on the whole 95% interval against ``±margin``
(:func:`stats.not_worse_verdict`): reproduced when no point of it is worse than the margin,
contradicted only when all of it is."""

from .regimes import (  # noqa: F401
    BETTER,
    SAME,
    WORSE,
    arm_deltas,
    compare,
    continue_training,
    cpt_domain_note,
    cpt_split,
    dose,
    edit_pairs,
    edit_seeds,
    edit_texts,
    fmt,
    make_editor,
    editors_record,
    regime_editors,
    REGIMES,
    SET_REGIME,
    paper_deltas,
    resolve_threshold,
    reusable_sources,
    save,
    verdict_word,
    with_lora,
)
from .prose import (  # noqa: F401
    ARMS,
    LABELS,
    PRIMARY,
    REGIME_NAMES,
    claims,
    delta_table,
    dose_table,
    higher_is_better,
    label,
    plot_differences,
    profile_parameters,
    regime_result,
    summary,
)
from .figures import plot_generations  # noqa: F401
