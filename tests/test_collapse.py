"""Chapter 2's claims on fixtures: each rule driven to its verdicts."""

import numpy as np
import pytest

from tokedit_utils.chapters import collapse
from tokedit_utils.toolkit import stats

RATIOS = [0.0, 0.25, 1.0]
NOISE = np.array([0.01, -0.015, 0.005])


def _runs(ppl: dict, task_acc: dict, raw_acc: dict | None = None, epochs=((1.2, 1.1), 1.0)):
    """Three seeds per ratio; PPL per epoch is ``ppl * epoch factor``; the gate's metric
    (acc_mi) and raw acc differ so that a claim read on the wrong one changes verdict."""
    runs = []
    for r in RATIOS:
        for s in range(3):
            base = ppl[r] * (1 + NOISE[s])
            curve = [{"ppl_mean": base * f} for f in (*epochs[0], epochs[1])]
            acc = task_acc[r] + NOISE[s]
            runs.append({"ratio": r, "seed": s, "ppl_mean": base, "final_train_loss": 3 - r + NOISE[s],
                         "ppl_curve": curve,
                         "tasks": {"t": {"acc_mi": acc, "acc": (raw_acc or task_acc)[r] + NOISE[s] / 3}}})
    return runs


def test_collapse_claims_reproduced_on_a_clean_collapse():
    runs = _runs({0.0: 20.0, 0.25: 21.0, 1.0: 40.0}, {0.0: 0.5, 0.25: 0.5, 1.0: 0.3})
    c = collapse.collapse_claims(runs, RATIOS, ["t"], close_margin=0.10)
    for key in ("ppl_rises", "pure_synthetic_worst", "ordering_every_epoch", "pure_synthetic_lowest_task_acc"):
        assert c[key]["verdict"] == stats.REPRODUCED, key
    assert c["train_loss_falls"]["verdict"] == stats.REPRODUCED
    assert c["pure_synthetic_lowest_task_acc"]["metric"] == "acc_mutual_info"
    assert c["more_epochs_lower_ppl"]["role"] == "check"
    # ordering: 2 adjacent steps x 3 epochs, Holm-adjusted together
    tests = c["ordering_every_epoch"]["tests"]
    assert len(tests) == 6 and all(t["p_holm"] >= t["p_value"] for t in tests)


def test_task_claim_reads_the_gate_metric_and_can_be_contradicted():
    # on acc_mi pure synthetic students score higher; on raw acc they score lower
    runs = _runs({0.0: 20.0, 0.25: 21.0, 1.0: 40.0}, {0.0: 0.30, 0.25: 0.3, 1.0: 0.40},
                 raw_acc={0.0: 0.5, 0.25: 0.5, 1.0: 0.3})
    c = collapse.collapse_claims(runs, RATIOS, ["t"], close_margin=0.10)
    assert c["pure_synthetic_lowest_task_acc"]["verdict"] == stats.NOT_REPRODUCED


def test_an_inverted_step_at_one_epoch_contradicts_the_ordering():
    runs = _runs({0.0: 20.0, 0.25: 21.0, 1.0: 40.0}, {0.0: 0.5, 0.25: 0.5, 1.0: 0.3})
    for run in runs:  # at epoch 1 the 25% arm beats the 0% arm in every seed
        if run["ratio"] == 0.25:
            run["ppl_curve"][0]["ppl_mean"] *= 0.8
    c = collapse.collapse_claims(runs, RATIOS, ["t"], close_margin=0.10)
    assert c["ordering_every_epoch"]["verdict"] == stats.MIXED


@pytest.mark.parametrize("quarter, verdict", [(20.2, stats.REPRODUCED), (30.0, stats.NOT_REPRODUCED)])
def test_quarter_close_to_human(quarter, verdict):
    runs = _runs({0.0: 20.0, 0.25: quarter, 1.0: 40.0}, {0.0: 0.5, 0.25: 0.5, 1.0: 0.3})
    assert collapse.collapse_claims(runs, RATIOS, [], 0.10)["quarter_close_to_human"]["verdict"] == verdict
