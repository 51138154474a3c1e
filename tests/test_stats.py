import numpy as np
import pytest

from tokedit_utils.toolkit import stats


def test_paired_difference_matches_scipy_paired_ttest():
    from scipy.stats import ttest_rel

    a, b = [3.1, 2.9, 3.4, 3.0], [2.8, 2.9, 3.0, 2.7]
    d = stats.paired_difference(a, b)
    ref = ttest_rel(a, b)
    assert d["mean"] == pytest.approx(np.mean(np.subtract(a, b)))
    assert d["p_value"] == pytest.approx(ref.pvalue)
    assert d["t"] == pytest.approx(ref.statistic)
    assert d["ci"][0] < d["mean"] < d["ci"][1]


def test_pairing_removes_the_seed_effect():
    # A large per-seed offset shared by both arms: unpaired it hides the effect, paired it does not.
    offset = np.array([0.0, 5.0, -4.0, 9.0])
    d = stats.paired_difference(offset + 1.0 + np.array([0.01, -0.01, 0.02, 0.0]), offset)
    assert d["p_value"] < 1e-4 and stats.direction_verdict(d, +1) == stats.REPRODUCED
    assert stats.direction_verdict(d, -1) == stats.NOT_REPRODUCED


def test_mde_shrinks_with_more_seeds_and_noise_is_inconclusive():
    rng = np.random.default_rng(0)
    few = stats.paired_difference(rng.normal(0, 1, 3))
    many = stats.paired_difference(rng.normal(0, 1, 30))
    assert many["mde"] < few["mde"]
    assert stats.direction_verdict(stats.paired_difference([0.1, -0.2, 0.15]), +1) == stats.INCONCLUSIVE


def test_one_seed_has_no_spread():
    d = stats.paired_difference([2.0], [1.0])
    assert d["se"] is None and d["mde"] is None
    assert stats.direction_verdict(d, +1) == stats.INCONCLUSIVE
    assert "spread unknown" in stats.format_difference(d)


def test_equivalence_verdict():
    tight = stats.paired_difference([0.01, -0.02, 0.0, 0.01])
    assert stats.equivalence_verdict(tight, margin=0.1) == stats.REPRODUCED
    far = stats.paired_difference([1.0, 1.1, 0.9, 1.05])
    assert stats.equivalence_verdict(far, margin=0.1) == stats.NOT_REPRODUCED
    wide = stats.paired_difference([0.5, -0.6, 0.3])
    assert stats.equivalence_verdict(wide, margin=0.1) == stats.INCONCLUSIVE


def test_mismatched_arms_and_bad_verdicts_are_refused():
    with pytest.raises(ValueError, match="same seeds"):
        stats.paired_difference([1, 2], [1])
    with pytest.raises(ValueError):
        stats.claim("x", "probably", "1", "2")
