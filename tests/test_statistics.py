"""Chapter 3's measurements: per-document perplexity, DSIR's features and selection, verdicts."""

import math
import random

import numpy as np
import pytest
import torch
from data_selection.hashed_ngram_dsir import get_ngram_counts

from tokedit_utils.toolkit import models, scoring, stats
from tokedit_utils.chapters import statistics as ss

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (fixtures: tests/conftest.py)

TEXTS = ["The cat sat on the mat, and the dog lay by the door.",
         "Call me Ishmael. Some years ago, never mind how long precisely, I went to sea.",
         "def f(x):\n    return x * 2  # doubles\n"] * 20


@pytest.fixture(scope="module")
def toy():
    tokenizer = models.train_tokenizer(TEXTS, vocab_size=300)
    model = models.build_gpt2(tokenizer, n_layer=1, n_embd=16, n_head=2, n_positions=8, seed=3).eval()
    return model, tokenizer


def hand_nll(model, tokenizer, text, context):
    """Token by token: each token after the end-of-text prefix, from the start of its window."""
    stream = [tokenizer.eos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"]
    total = 0.0
    for t in range(1, len(stream)):
        start = (t - 1) // context * context
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([stream[start:t]])).logits[0, -1]
        total -= torch.log_softmax(logits.double(), -1)[stream[t]].item()
    return total, len(stream) - 1


def test_document_perplexity_is_the_hand_computation_over_every_token(toy):
    model, tokenizer = toy
    docs = ["The cat sat on the mat, and the dog lay by the door. Call me Ishmael.", "x", "Some years ago"]
    n_tokens = [len(tokenizer(d, add_special_tokens=False)["input_ids"]) for d in docs]
    assert n_tokens[0] > 3 * 8  # longer than the context: several windows
    nll, count = scoring.document_nll(model, tokenizer, docs, context=8, batch_size=2)
    assert count.tolist() == n_tokens  # every token predicted once, the first one included
    for i, doc in enumerate(docs):
        expected, n = hand_nll(model, tokenizer, doc, 8)
        assert nll[i] == pytest.approx(expected, rel=1e-5)
    ppl = ss.document_perplexities(model, tokenizer, docs, context=8, batch_size=3)
    assert ppl[0] == pytest.approx(math.exp(nll[0] / n_tokens[0]), rel=1e-6)


def test_bucket_counts_are_dsirs_features_of_the_text():
    text = "Call me Ishmael. Some years ago -- never mind how long precisely -- I went to sea!"
    ours = ss.bucket_counts([ss.words(text)])[0]
    assert np.array_equal(ours, get_ngram_counts(text))  # DSIR's defaults: n=2, 10,000 buckets, WordPunct
    n = len(ss.words(text))
    assert ours.sum() == 2 * n - 1  # n unigrams and n-1 bigrams


def test_equal_size_sample_takes_exactly_n_words():
    sample = ss.equal_size_sample(TEXTS, 101, seed=1)
    assert sum(len(t) for t in sample) == 101


def test_concentration_counts_buckets_and_entropy():
    flat = np.ones(16)
    assert ss.concentration(flat) == {"entropy": pytest.approx(4.0), "buckets_50": 8, "buckets_90": 15}
    peaked = np.array([90, 5, 5] + [0] * 13)
    assert ss.concentration(peaked)["buckets_50"] == 1 and ss.concentration(peaked)["buckets_90"] == 1


def kind_text(rng, vocab):
    return " ".join(rng.choice(vocab) for _ in range(30)) + "."


def test_dsir_prefers_the_kind_the_target_is_made_of(tmp_path):
    rng = random.Random(0)
    sea = ["ship", "whale", "harpoon", "sail", "ocean", "captain", "deck", "mast", "storm", "sea"]
    code = ["def", "return", "import", "class", "lambda", "yield", "self", "print", "None", "True"]
    pool = [kind_text(rng, sea) for _ in range(40)] + [kind_text(rng, code) for _ in range(40)]
    target = [kind_text(rng, sea) for _ in range(30)]
    chosen, log_weights = ss.dsir_select(pool, target, {"small": 10, "large": 30}, seed=0, work_dir=tmp_path)
    assert len(chosen["small"]) == 10 and len(chosen["large"]) == 30
    assert all(i < 40 for i in chosen["large"])  # only sea documents
    assert log_weights[:40].min() > log_weights[40:].max()


def test_highest_keeps_the_largest_values():
    assert ss.highest([3.0, 9.0, 1.0, 7.0], 2) == [1, 3]


def test_selection_verdict_separates_a_useless_selection_from_a_perfect_one():
    human = {0: 100.0, 1: 102.0, 2: 99.0}
    synthetic = {0: 150.0, 1: 149.0, 2: 152.0}
    arms = {"like synthetic": {0: 148.0, 1: 150.0, 2: 151.0}, "like human": {0: 100.5, 1: 101.0, 2: 99.2}}
    out = ss.selection_verdict(arms, human, synthetic)
    assert out["like synthetic"]["verdict"] == stats.REPRODUCED
    assert out["like synthetic"]["gap_closed"] == pytest.approx((451 - 449) / (451 - 301))
    assert out["like human"]["verdict"] == stats.NOT_REPRODUCED


def test_interval_and_binomial_verdicts():
    rng = np.random.default_rng(0)
    low, high = rng.normal(0, 1, 300), rng.normal(1, 1, 300)
    diff = ss.bootstrap_difference(high, low, np.median, n_boot=200)
    assert ss.interval_verdict(diff, +1) == stats.REPRODUCED
    assert ss.interval_verdict(diff, -1) == stats.NOT_REPRODUCED
    same = ss.bootstrap_difference(low, rng.normal(0, 1, 300), np.median, n_boot=200)
    assert ss.interval_verdict(same, +1) == stats.INCONCLUSIVE
    assert ss.binomial_verdict(80, 100)["verdict"] == stats.REPRODUCED
    assert ss.binomial_verdict(55, 100)["verdict"] == stats.INCONCLUSIVE
    assert ss.binomial_verdict(20, 100)["verdict"] == stats.NOT_REPRODUCED


def test_pooled_bootstrap_reads_the_summed_counts():
    peaked = np.tile([10, 0, 0, 0], (50, 1)) + np.tile([0, 1, 1, 1], (50, 1))
    flat = np.tile([3, 3, 3, 3], (50, 1))
    diff = ss.bootstrap_difference(flat, peaked, ss.entropy_bits, n_boot=50, pooled=True)
    assert diff["diff"] == pytest.approx(2.0 - ss.entropy_bits([10, 1, 1, 1]))
    assert ss.interval_verdict(diff, +1) == stats.REPRODUCED


def test_repeat_blocks_cycles_the_subset_to_the_budget():
    import datasets

    blocks = datasets.Dataset.from_dict({"input_ids": [[1, 1], [2, 2], [3, 3]]})
    out = ss.repeat_blocks(blocks, 7)
    assert [b[0] for b in out["input_ids"]] == [1, 2, 3, 1, 2, 3, 1]


def test_student_recipe_keeps_only_what_the_helper_takes():
    from tokedit_utils.toolkit import students

    record = {"n_layer": 2, "n_embd": 64, "n_head": 2, "block_size": 128, "epochs": 2, "learning_rate": 3e-3,
              "batch_size": 32, "warmup_ratio": 0.2, "parameters": 370_000, "tokens_seen": 401_408}
    assert students.recipe(record) == {"n_layer": 2, "n_embd": 64, "n_head": 2, "block_size": 128, "epochs": 2,
                                       "learning_rate": 3e-3, "batch_size": 32, "warmup_ratio": 0.2}


def test_coverage_is_two_claims_low_and_narrow_on_raw_ppl():
    rng = np.random.default_rng(0)
    human = np.exp(rng.normal(3.5, 0.6, 1000))        # spread over the human range
    low_narrow = np.exp(rng.normal(2.4, 0.15, 1000))  # below the human 25th percentile, narrow
    t = ss.coverage_tests(human, low_narrow, n_boot=300)
    assert t["below_human_q25"] > 0.9 and t["low_verdict"] == stats.REPRODUCED
    assert t["width"]["synthetic"] < t["width"]["human"] and t["narrow_verdict"] == stats.REPRODUCED
    # like the default build's prior B: low and, in raw PPL, narrower (80.6 against 143) even
    # where the log-PPL width is not narrower
    human_b = rng.uniform(20, 163, 1000)
    synthetic_b = np.concatenate([rng.uniform(5, 20, 950), rng.uniform(20, 86, 50)])
    t = ss.coverage_tests(human_b, synthetic_b, n_boot=300)
    assert t["narrow_verdict"] == stats.REPRODUCED and t["low_verdict"] == stats.REPRODUCED
    log_width = lambda x: np.percentile(np.log(x), 99) - np.percentile(np.log(x), 1)  # noqa: E731
    assert log_width(synthetic_b) > log_width(human_b)
    # like human text: a quarter below the 25th percentile (contradicts "low"), as wide
    t = ss.coverage_tests(human, np.exp(rng.normal(3.5, 0.6, 1000)), n_boot=300)
    assert t["low_verdict"] == stats.NOT_REPRODUCED and t["narrow_verdict"] == stats.INCONCLUSIVE
