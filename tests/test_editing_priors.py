"""Which prior edits what: chapter 6's regimes (the packaged prior for some, the teacher at
its stand-in threshold for the rest, each recorded), chapter 3's sample for a slow prior
B, and the verdict page's reading of both."""

from __future__ import annotations

import pytest

from tokedit_utils.chapters import statistics as ss
from tokedit_utils.chapters import training, verdicts
from tokedit_utils.toolkit import edits

pytestmark = pytest.mark.usefixtures("one_thread")


def test_without_a_prior_every_regime_edits_with_the_teacher(tok, gpt2):
    editors = training.regime_editors(gpt2, tok, 0.4, "chapter 4's dose-matched threshold", prior=None,
                                      prior_threshold=0.99, prior_regimes=["cpt"], window=64, batch_size=8)
    assert set(editors) == set(training.REGIMES)
    assert {e.threshold for e, _ in editors.values()} == {0.4}
    record = training.editors_record(editors)
    assert record["edit_prior"] == "teacher, a stand-in" and record["edit_threshold"] == 0.4
    assert not record["edit_prior_pretrained"]
    assert record["editors"]["cpt"]["config"]["k"] == 8 and record["editors"]["cpt"]["config"]["beta"] == 1.5


def test_an_unknown_regime_is_refused_by_name(tok, gpt2):
    with pytest.raises(ValueError, match=r"unknown regimes \['ptt'\]"):
        training.regime_editors(gpt2, tok, 0.4, "", prior=None, prior_threshold=0.99, prior_regimes=["ptt"],
                                window=64, batch_size=8)


def test_mixed_priors_are_recorded_per_regime_and_read_by_the_verdict_page(tok, gpt2):
    editors = training.regime_editors(gpt2, tok, 0.4, "chapter 4's dose-matched threshold", prior=None,
                                      prior_threshold=0.99, prior_regimes=[], window=64, batch_size=8)
    # a pretrained prior for continual pre-training (here the same tiny model, windowed)
    windowed = edits.paper_editor(gpt2, tok, 0.99, window=32, batch_size=8)
    assert windowed.context == 32 and windowed.stride == 28 and windowed.k == 8
    editors["cpt"] = (windowed, {"prior": "smollm2-135m-instruct", "pretrained": True, "threshold": 0.99,
                                 "threshold_source": "the paper's"})
    record = training.editors_record(editors)
    assert record["edit_prior"] == "smollm2-135m-instruct (CPT); teacher, a stand-in (PT, SFT)"
    assert record["edit_threshold"] is None and not record["edit_prior_pretrained"]
    rests = verdicts.rests_on(8, {"06_training": record}, ["domain PPL"])
    assert rests["threshold"] == "p = 0.99 (CPT) and p = 0.4 (PT, SFT)"
    assert rests["prior"] == record["edit_prior"] and rests["stand_in"]
    for regime in training.REGIMES:  # every regime at the paper's threshold with the prior
        editors[regime] = editors["cpt"]
    rests = verdicts.rests_on(8, {"06_training": training.editors_record(editors)}, ["domain PPL"])
    assert rests["prior"] == "smollm2-135m-instruct" and rests["threshold"] == "p = 0.99 (the paper's)"
    assert not rests["stand_in"]


def test_a_slow_prior_scores_a_seeded_sample_in_corpus_order():
    texts = [f"document {i}" for i in range(50)]
    sample = ss.sample_documents(texts, 12, seed=3)
    assert len(sample) == 12 == len(set(sample))
    assert sample == sorted(sample, key=texts.index)  # in the corpus' order
    assert sample == ss.sample_documents(texts, 12, seed=3) != ss.sample_documents(texts, 12, seed=4)
    assert ss.sample_documents(texts, None, seed=3) == texts == ss.sample_documents(texts, 80, seed=3)


def test_the_chapter_says_why_the_priors_disagree_only_when_they_do():
    import numpy as np

    from tokedit_utils.chapters.statistics.prose import _priors_disagree

    rng = np.random.default_rng(0)
    human = rng.lognormal(4.0, 0.5, 300)
    low, high = rng.lognormal(3.0, 0.2, 300), rng.lognormal(5.5, 0.3, 300)  # below / above the human p25
    results = {"priors": {"prior_b": {"source": "smollm2-135m-instruct"}},
               "coverage_tests": {"teacher": ss.coverage_tests(human, low, 200, 0),
                                  "prior_b": ss.coverage_tests(human, high, 200, 0)}}
    (text,) = _priors_disagree(results)
    ratio = np.median(high) / np.median(human)
    assert f"{ratio:.1f} times the median human" in text and "0% of synthetic documents" in text
    results["coverage_tests"]["prior_b"] = ss.coverage_tests(human, low, 200, 0)
    assert _priors_disagree(results) == []  # both priors agree
    results["priors"]["prior_b"]["source"] = "trained here"
    results["coverage_tests"]["prior_b"] = ss.coverage_tests(human, high, 200, 0)
    assert _priors_disagree(results) == []  # a prior trained here is not the pretrained view
