"""Chapter 7's ablations: every arm's editing options reach the engine, the threshold mapping,
and claim 9's verdicts computed from the numbers."""

import numpy as np
import pytest

from tokedit_utils.toolkit import paper
from tokedit_utils.chapters import ablations, training, verdicts
from tokedit_utils.toolkit import models, stats
from tokedit_utils.toedit import EditConfig, ToEditor, samplers, stored

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (fixtures: tests/conftest.py)

TEXTS = [
    "ABSENTEE, n.  A person with an income who has had the forethought to remove himself.",
    "HAMLET\nTo be, or not to be, that is the question.\n\nOPHELIA\nGood my lord, how does your honour?",
    "the quick brown fox jumps over the lazy dog. " * 6,
    "fiber, fibre (noun): a slender and greatly elongated substance capable of being spun into yarn",
]


@pytest.fixture(scope="module")
def prior():
    tokenizer = models.train_tokenizer(TEXTS * 5, vocab_size=300)
    model = models.build_gpt2(tokenizer, n_layer=1, n_embd=32, n_head=2, n_positions=64, seed=0)
    return model.eval(), tokenizer


@pytest.fixture(scope="module")
def probs(prior):
    p = np.concatenate(training.make_editor(*prior, 0.99).score_texts(TEXTS))
    return p[~np.isnan(p)]


def _thresholds(probs):
    """Thresholds that each flag a different, non-empty share of this random prior's tokens."""
    q = lambda x: float(np.quantile(probs, x))  # noqa: E731
    return {"high": {0.99: q(0.6), 0.999: q(0.85)}, "low": {0.1: q(0.4), 0.01: q(0.2), 0.001: q(0.05)}}


def test_every_arm_reaches_the_engine(prior, probs, monkeypatch):
    """Each arm's strategy, threshold, sampler, k, beta and top_p are what the engine flags and
    samples with; an arm that silently ran the defaults (or another arm's options) fails."""
    specs = ablations.arms(_thresholds(probs), top_p=0.7, large_k=32)
    calls = []
    original = samplers.sample

    def spy(logits, u, target, options, **kw):
        calls.append(options)
        return original(logits, u, target, options, **kw)

    monkeypatch.setattr(samplers, "sample", spy)
    configs = {}
    for name, arm in specs.items():
        calls.clear()
        editor = ablations.make_editor(*prior, arm)
        results = editor.edit_texts(TEXTS, seed=0, return_probs=True)
        p = np.concatenate([r.probs for r in results])
        p = p[~np.isnan(p)]
        flagged = sum(r.flagged for r in results)
        dropped = sum(r.dropped for r in results)
        cfg = arm["config"]
        if cfg["strategy"] == "drop_low":
            assert not calls and flagged == 0
            assert dropped == int((p < cfg["low_threshold"]).sum()) > 0
        else:
            assert dropped == 0
            assert flagged == int((p >= cfg["threshold"]).sum()) > 0
            assert calls and all(o == editor.options for o in calls)
            used = calls[0]
            for field, value in cfg.items():
                assert getattr(used, field) == value, (name, field)
        configs[name] = editor.options
    # no two arms run the same options, and the varied options are not the engine's defaults
    # (the arm beyond the paper runs the 0.99 arm's options, on word-initial tokens only)
    word = configs.pop(ablations.WORD_START_ARM)
    assert word == configs[ablations.TOP_K_ARM] and specs[ablations.WORD_START_ARM]["only"] == "word_starts"
    assert len({repr(c) for c in configs.values()}) == len(configs)
    default = EditConfig()
    assert configs["top-p"].sampler == "top_p" and configs["top-p"].top_p == 0.7 != default.top_p
    assert configs["rejection"].sampler == "rejection" and configs["rejection"].k == 64
    assert configs["k = 32"].k == 32 != default.k
    assert configs["resample p≥0.999"].threshold != default.threshold


def test_edit_shares_count_deleted_tokens(prior, probs):
    arm = ablations.arms(_thresholds(probs))["delete p≤0.1"]
    editor = ToEditor(*prior)
    edited, dose = ablations.edit(editor, stored.score(editor, TEXTS), arm, {0: 0}, "toy")
    below = float((probs < arm["config"]["low_threshold"]).mean())
    assert dose["flagged_share"] == pytest.approx(below) and dose["changed_share"] == pytest.approx(below)
    assert dose["resampled"] == 0 and dose["dropped"] > 0 and dose["prior"] == "toy"
    assert sum(map(len, edited[0])) < sum(map(len, TEXTS))


def test_each_training_seed_edits_with_its_own_seed_from_one_pass(prior, probs):
    """The arm's text for training seed s is the engine's edit with s's edit seed, and the
    seeds' draws differ; the stored pass gives what a forward pass per seed would."""
    arm = ablations.arms(_thresholds(probs))["resample p≥0.99"]
    editor = ToEditor(*prior)
    seeds = training.edit_seeds([0, 1, 2], [7, 8, 9])
    edited, dose = ablations.edit(editor, stored.score(editor, TEXTS), arm, seeds, "toy")
    forward = ablations.make_editor(*prior, arm)
    for train_seed, edit_seed in seeds.items():
        assert edited[train_seed] == [r.text for r in forward.edit_texts(TEXTS, seed=edit_seed)]
    assert len({tuple(t) for t in edited.values()}) == 3
    assert dose["edit_seeds"] == [7, 8, 9] and len(dose["changed_tokens"]) == 3
    assert dose["threshold"] == arm["config"]["threshold"]
    assert training.edit_seeds([0, 1], None) == {0: 0, 1: 1}
    with pytest.raises(ValueError, match="one seed per training seed"):
        training.edit_seeds([0, 1, 2], [0])


def test_threshold_mapping(probs, monkeypatch):
    literal = ablations.map_thresholds("literal", "smoke")
    assert literal["high"] == {0.99: 0.99, 0.999: 0.999} and literal["low"][0.001] == 0.001
    anchor = float(np.quantile(probs, 0.7))
    monkeypatch.setattr(training, "resolve_threshold", lambda setting, profile: (anchor, "chapter 4's"))
    mapped = ablations.map_thresholds("dose_matched", "smoke", probs)
    assert mapped["high"][0.99] == anchor
    # the mapped p ≤ 0.1 arm deletes the paper's share of tokens below 0.1; each factor of ten
    # in the paper's threshold halves the share flagged
    share_high = float((probs >= anchor).mean())
    assert (probs >= mapped["high"][0.999]).mean() == pytest.approx(share_high / 2, abs=0.02)
    for i, t in enumerate(paper.LOW_THRESHOLDS):
        expected = paper.SHARE_BELOW_0_1 / 2 ** i
        assert (probs < mapped["low"][t]).mean() == pytest.approx(expected, abs=0.02)
    assert mapped["high"][0.999] > anchor and mapped["low"][0.1] > mapped["low"][0.01] > mapped["low"][0.001]


#: Changed shares as a real run orders them: deleting below 0.1 changes the most tokens.
CHANGED = {"resample p≥0.99": 0.03, "resample p≥0.999": 0.012, "delete p≤0.1": 0.3, "delete p≤0.01": 0.1,
           "delete p≤0.001": 0.04}


def _fake_arms(domain_ppl: dict, seeds=(0, 1, 2, 3), changed=None):
    specs = ablations.arms({"high": {0.99: 0.4, 0.999: 0.94}, "low": {t: t / 100 for t in paper.LOW_THRESHOLDS}})
    changed = {**CHANGED, **(changed or {})}
    doses = {n: {"flagged_share": 0.1, "changed_share": changed.get(n, 0.03)} for n in specs}
    domain_ppl = {ablations.WORD_START_ARM: domain_ppl[ablations.TOP_K_ARM], **domain_ppl}
    runs = [{"arm": a, "seed": s, "metrics": {"domain_ppl": v[i], "general_ppl": 20.0 + v[i] / 100}}
            for a, v in domain_ppl.items() for i, s in enumerate(seeds)]
    return ablations.arm_results(runs, specs, doses, 0.01)


def test_claim_9_verdicts_follow_the_numbers():
    noise = np.array([0.01, -0.02, 0.015, -0.005])
    ppl = {"source": 10 + noise, "resample p≥0.99": 9.5 + noise, "resample p≥0.999": 9.6 + noise * 1.1,
           "delete p≤0.1": 9.0 + noise * 0.9, "delete p≤0.01": 10.5 + noise, "delete p≤0.001": 11.0 + noise,
           "top-p": 9.5 + noise * 1.05, "rejection": 9.51 + noise, "k = 64": 10.5 + noise * 0.8}
    arms = _fake_arms(ppl)
    comp = ablations.comparisons(arms, 0.01)
    claims = ablations.claims(arms, comp)
    assert claims["high_beats_low"]["verdict"] == stats.REPRODUCED
    assert claims["samplers_comparable"]["verdict"] == stats.REPRODUCED
    assert claims["k_matters_little"]["verdict"] == stats.NOT_REPRODUCED  # 1.0 PPL > the 0.095 margin
    # the matched pair is p ≥ 0.99 (3% changed) against p ≤ 0.001 (4%), not the p ≤ 0.1 arm that
    # changes ten times as many tokens and, here, wins
    assert comp["high_vs_low"]["pair"] == ["resample p≥0.99", "delete p≤0.001"]
    assert comp["high_vs_low"]["mean"] == pytest.approx(9.5 - 11.0, abs=1e-3)
    # the other way round: low beats high is "not reproduced"; noise alone is "inconclusive"
    ppl["delete p≤0.001"] = 9.0 + noise * 0.9
    ppl["top-p"] = 9.5 + np.array([0.3, -0.3, 0.2, -0.25])
    claims = ablations.claims(arms := _fake_arms(ppl), ablations.comparisons(arms, 0.01))
    assert claims["high_beats_low"]["verdict"] == stats.NOT_REPRODUCED
    assert claims["samplers_comparable"]["verdict"] == stats.PARTLY  # rejection equal, top-p noisy
    # no pair within a factor of 2 of changed tokens: the comparison is not testable here
    arms = _fake_arms(ppl, changed={"delete p≤0.001": 0.2, "delete p≤0.01": 0.25})
    claims = ablations.claims(arms, ablations.comparisons(arms, 0.01))
    assert claims["high_beats_low"]["verdict"] == stats.NOT_TESTABLE
    # the recorded count of changed tokens wins over the share where present
    arms = _fake_arms(ppl)
    for name, count in {"resample p≥0.99": 300, "delete p≤0.1": 310, "delete p≤0.001": 40}.items():
        arms[name]["changed_tokens"] = count
    assert ablations.matched_pair(arms) == ("resample p≥0.99", "delete p≤0.1")
    # the verdict page reads exactly these keys for claim 9
    keys = {key for number, *_, refs in verdicts.PAPER_CLAIMS if number == 9 for _, key in refs}
    assert keys == set(claims)


def test_arms_table_and_ordering():
    ppl = {a: np.full(4, v) + np.array([0, 0.01, 0.02, 0.0]) for a, v in {
        "source": 10, "resample p≥0.99": 9, "resample p≥0.999": 9.2, "delete p≤0.1": 11, "delete p≤0.01": 10.1,
        "delete p≤0.001": 8, "top-p": 9, "rejection": 9, "k = 64": 9}.items()}
    arms = _fake_arms(ppl)
    table = ablations.arms_table(arms)
    assert table.loc["resample p≥0.99", "paper score"] == 38.69
    assert table.loc["top-p", "paper score"] == pytest.approx(np.mean(paper.TABLE7_SAMPLERS["top-p"]))
    assert table.loc["delete p≤0.1", "Δ domain PPL ± SE"].startswith("+1.000")
    order = ablations.ordering(arms)
    assert order["ours"][0] == "p ≤ 0.001" and order["ours"][-1] == "p ≤ 0.1"
    assert order["paper"] == ["p ≤ 0.001", "p ≥ 0.99", "p ≥ 0.999", "p ≤ 0.01", "p ≤ 0.1"]
