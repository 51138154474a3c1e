import pytest

from tokedit_utils.toolkit import mixtures, models


@pytest.fixture(scope="module")
def tokenizer():
    texts = [f"human document {i} " * 20 for i in range(50)] + [f"synthetic sample {i} " * 5 for i in range(200)]
    return models.train_tokenizer(texts, vocab_size=300, min_frequency=1)


def _tokens(records, tokenizer, source):
    return sum(len(tokenizer(r["text"], add_special_tokens=False)["input_ids"]) for r in records if r["source"] == source)


@pytest.mark.parametrize("ratio", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_mixture_has_the_budget_and_the_ratio(tokenizer, ratio):
    human = [f"human document {i} " * 20 for i in range(50)]
    synthetic = [f"synthetic sample {i} " * 5 for i in range(200)]
    records = mixtures.build_mixture(human, synthetic, tokenizer, ratio, budget=1000, seed=0)
    syn, hum = _tokens(records, tokenizer, "synthetic"), _tokens(records, tokenizer, "human")
    # cutting the last document may re-tokenize its final token differently: allow one token
    assert abs(syn - round(1000 * ratio)) <= 1 and abs(hum - round(1000 * (1 - ratio))) <= 1


def test_mixtures_are_nested(tokenizer):
    synthetic = [f"synthetic sample {i} " * 5 for i in range(200)]
    human = [f"human document {i} " * 20 for i in range(50)]
    small = {r["text"] for r in mixtures.build_mixture(human, synthetic, tokenizer, 0.25, 1000, seed=4) if r["source"] == "synthetic"}
    large = {r["text"] for r in mixtures.build_mixture(human, synthetic, tokenizer, 0.5, 1000, seed=4) if r["source"] == "synthetic"}
    assert len(small - large) <= 1  # all but the cut last document


def test_budget_larger_than_the_corpus_is_an_error(tokenizer):
    with pytest.raises(ValueError, match="tokens available"):
        mixtures.build_mixture(["tiny"], ["tiny"], tokenizer, 0.5, 10_000)
