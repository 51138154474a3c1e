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
        stats.claim("x", "probably", "1", "2", metric="m", contradicted_by="y")


def _diff(mean, ci, p=0.01, alpha=0.05):
    return {"mean": mean, "ci": list(ci), "p_value": p, "alpha": alpha, "n": 3}


def test_ci_is_the_two_sided_t_interval_at_alpha_over_two():
    from scipy.stats import t

    values = [0.3, 0.5, 0.1, 0.4]
    d = stats.paired_difference(values)
    se = np.std(values, ddof=1) / 2
    low, high = t.interval(0.95, 3, loc=np.mean(values), scale=se)
    assert d["ci"] == pytest.approx([low, high], rel=1e-12)
    assert d["ci"][1] - d["mean"] == pytest.approx(3.182446305 * se, rel=1e-9)


def test_mde_is_the_exact_noncentral_t_80_percent_power_effect():
    from scipy.stats import nct, t

    assert stats.mde(1.0, 2) == pytest.approx(5.6535, abs=1e-3)  # 3 seeds: about 5.7 SE
    assert stats.mde(2.0, 2) == pytest.approx(2 * 5.6535, abs=2e-3)
    for df in (2, 4, 9):
        delta, crit = stats.mde(1.0, df), t.ppf(0.975, df)
        assert nct.sf(crit, df, delta) + nct.cdf(-crit, df, delta) == pytest.approx(0.8, abs=1e-6)
        assert delta > t.ppf(0.975, df) + t.ppf(0.8, df) - 1e-9  # the central approximation is short
    d = stats.paired_difference([1.0, 2.0, 4.0])
    assert d["mde"] == pytest.approx(stats.mde(d["se"], 2))


def test_direction_verdict_at_the_alpha_boundary():
    assert stats.direction_verdict(_diff(1.0, (0.1, 2), p=0.049), +1) == stats.REPRODUCED
    assert stats.direction_verdict(_diff(1.0, (-0.1, 2), p=0.05), +1) == stats.INCONCLUSIVE
    assert stats.direction_verdict(_diff(1.0, (-0.1, 2), p=0.07), +1) == stats.INCONCLUSIVE  # < 2 alpha
    assert stats.direction_verdict(_diff(-1.0, (-2, -0.1), p=0.01), +1) == stats.NOT_REPRODUCED
    assert stats.direction_verdict(_diff(1.0, (0.1, 2), p=0.01, alpha=0.01), +1) == stats.INCONCLUSIVE


def test_holm_matches_the_step_down_rule_and_drives_the_verdict():
    assert stats.holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None])
    assert stats.holm([0.5, 0.2]) == pytest.approx([0.5, 0.4])
    tests = stats.adjust([_diff(1.0, (0.1, 2), p=0.03), _diff(1.0, (0.1, 2), p=0.02)])
    assert [d["p_holm"] for d in tests] == pytest.approx([0.04, 0.04])
    assert all(stats.direction_verdict(d, +1) == stats.REPRODUCED for d in tests)
    tests = stats.adjust([_diff(1.0, (0.1, 2), p=0.03), _diff(1.0, (0.1, 2), p=0.04)])
    assert all(stats.direction_verdict(d, +1) == stats.INCONCLUSIVE for d in tests)


def test_equivalence_is_judged_on_the_whole_interval():
    assert stats.equivalence_verdict(_diff(0.0, (-1.0, 1.0)), 1.0) == stats.REPRODUCED  # touching
    assert stats.equivalence_verdict(_diff(0.5, (-0.2, 1.01)), 1.0) == stats.INCONCLUSIVE
    # the mean is beyond the margin, significant, but the interval still reaches inside it
    assert stats.equivalence_verdict(_diff(1.5, (0.9, 2.1), p=0.001), 1.0) == stats.INCONCLUSIVE
    assert stats.equivalence_verdict(_diff(1.5, (1.1, 1.9), p=0.001), 1.0) == stats.NOT_REPRODUCED
    assert stats.equivalence_verdict(_diff(-1.5, (-1.9, -1.1), p=0.001), 1.0) == stats.NOT_REPRODUCED


def test_not_worse_checks_equivalence_before_direction():
    # the default build's fine-tuning numbers: a significant loss, wholly inside a 3.01 margin
    sft = _diff(0.45, (0.06, 0.84), p=0.04)
    assert stats.direction_verdict(sft, -1) == stats.NOT_REPRODUCED  # "helps": contradicted
    assert stats.not_worse_verdict(sft, 3.01, better_sign=-1) == stats.REPRODUCED
    assert stats.not_worse_verdict(_diff(0.53, (0.44, 0.63)), 3.01, -1) == stats.REPRODUCED
    assert stats.not_worse_verdict(_diff(-5.0, (-8, -2)), 3.01, -1) == stats.REPRODUCED  # better
    assert stats.not_worse_verdict(_diff(2.9, (2.0, 3.01)), 3.01, -1) == stats.REPRODUCED  # touching
    assert stats.not_worse_verdict(_diff(3.0, (1.0, 5.0)), 3.01, -1) == stats.INCONCLUSIVE
    assert stats.not_worse_verdict(_diff(4.0, (3.02, 5.0)), 3.01, -1) == stats.NOT_REPRODUCED
    assert stats.not_worse_verdict(_diff(-4.0, (-5.0, -3.02)), 3.01, +1) == stats.NOT_REPRODUCED
    assert stats.not_worse_verdict({"ci": None}, 1.0, +1) == stats.INCONCLUSIVE


def test_interval_verdict():
    assert stats.interval_verdict({"ci": [0.1, 0.3]}, +1) == stats.REPRODUCED
    assert stats.interval_verdict({"ci": [0.1, 0.3]}, -1) == stats.NOT_REPRODUCED
    assert stats.interval_verdict({"ci": [-0.1, 0.3]}, +1) == stats.INCONCLUSIVE


@pytest.mark.parametrize("parts, expected", [
    (["reproduced", "reproduced"], "reproduced"),
    (["reproduced", "inconclusive"], "partly reproduced"),
    (["reproduced", "not reproduced"], "mixed"),
    (["partly reproduced", "not reproduced"], "mixed"),
    (["inconclusive", "not reproduced"], "not reproduced"),
    (["not reproduced", "not reproduced"], "not reproduced"),
    (["inconclusive", "inconclusive"], "inconclusive"),
    (["reproduced", "not run"], "reproduced"),
    (["not testable here", "reproduced"], "reproduced"),
    (["not testable here", "inconclusive"], "inconclusive"),
    (["not testable here", "not run"], "not testable here"),
    (["not run"], "not run"),
    ([], "not run"),
])
def test_combine_speaks_the_seven_words(parts, expected):
    assert stats.combine(parts) == expected
    assert expected in stats.VERDICTS and len(stats.VERDICTS) == 7


def test_combine_refuses_a_word_outside_the_vocabulary():
    with pytest.raises(ValueError, match="verdict must be one of"):
        stats.combine(["reproduced", "no difference"])


def test_pct():
    assert stats.pct(0.1234) == "12.3%" and stats.pct(0.0) == "0.0%" and stats.pct(None) == "n/a"
    assert stats.pct(0.00012) == "0.012%" and stats.pct(0.0004, 2) == "0.04%"
