import math

import datasets
import pytest
import torch

from tokedit_utils.toolkit import data, evaluation, models, trainer

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (fixtures: tests/conftest.py)


@pytest.fixture(scope="module")
def corpus():
    return data.load_embedded_corpus()


@pytest.fixture(scope="module")
def tokenizer(corpus):
    return models.train_tokenizer(corpus["train"]["text"], vocab_size=1024)


def test_tokenizer_round_trips_every_document(corpus, tokenizer, tmp_path):
    texts = [t for split in data.SPLITS for t in corpus[split]["text"]]
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    assert [tokenizer.decode(ids) for ids in encoded] == texts
    # and after a save_pretrained / from_pretrained round trip
    tokenizer.save_pretrained(tmp_path)
    from transformers import AutoTokenizer

    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded.decode(reloaded(texts[0])["input_ids"]) == texts[0]
    assert reloaded.eos_token == models.EOS


def test_chunking_makes_full_blocks(corpus, tokenizer):
    blocks = trainer.tokenize_and_chunk(corpus["validation"].select(range(20)), tokenizer, 64)
    assert len(blocks) > 10
    assert {len(b) for b in blocks["input_ids"]} == {64}


def test_training_lowers_the_loss(corpus, tokenizer):
    blocks = trainer.tokenize_and_chunk(corpus["train"].select(range(40)), tokenizer, 32)
    blocks = blocks.select(range(320))
    held_out = corpus["validation"]["text"][:5]
    model = models.build_gpt2(tokenizer, n_layer=1, n_embd=32, n_head=2, n_positions=32, seed=0)
    held_out = evaluation.heldout_blocks(corpus["validation"].select(range(5)), tokenizer, 32)
    before = evaluation.heldout_ppl(model, held_out)
    run = trainer.train_causal_lm(model, blocks, learning_rate=5e-3, batch_size=16, epochs=2, log_every=5, seed=0)
    after = evaluation.heldout_ppl(model, held_out)
    assert run.loss_curve[-1]["loss"] < run.loss_curve[0]["loss"] - 0.5
    assert all(after[d] < before[d] * 0.5 for d in before)
    assert run.tokens_seen == 2 * 320 * 32


def test_training_is_seeded(corpus, tokenizer):
    blocks = trainer.tokenize_and_chunk(corpus["train"].select(range(10)), tokenizer, 32).select(range(64))
    losses = []
    for _ in range(2):
        model = models.build_gpt2(tokenizer, n_layer=1, n_embd=16, n_head=2, n_positions=32, seed=3)
        losses.append(trainer.train_causal_lm(model, blocks, batch_size=8, log_every=2, seed=3).loss_curve)
    assert losses[0] == losses[1]


def _hand_perplexity(model, stream, block_size):
    """Token by token within each full block of the stream, the block's first token as context."""
    nll, count = 0.0, 0
    for start in range(0, len(stream) - block_size + 1, block_size):
        for j in range(start + 1, start + block_size):
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([stream[start:j]])).logits[0, -1].double()
            nll -= torch.log_softmax(logits, -1)[stream[j]].item()
            count += 1
    return math.exp(nll / count)


def test_perplexity_matches_hand_computation(tokenizer):
    model = models.build_gpt2(tokenizer, n_layer=1, n_embd=16, n_head=2, n_positions=16, seed=1).eval()
    texts = ["The quick brown fox jumps over the lazy dog.", "To be, or not to be, that is the question."]
    stream = evaluation.token_stream(texts, tokenizer)
    assert len(stream) > 16 + 1  # several windows
    ds = datasets.Dataset.from_dict({"domain": ["d", "d"], "text": texts})
    ppl = evaluation.perplexity_by_domain(model, tokenizer, ds, block_size=8, batch_size=2)
    assert ppl["d"] == pytest.approx(_hand_perplexity(model, stream, 8), rel=1e-5)


def test_a_domain_shorter_than_one_block_is_one_shorter_block(tokenizer):
    ds = datasets.Dataset.from_dict({"domain": ["long", "short"], "text": ["word " * 40, "tiny"]})
    blocks = evaluation.heldout_blocks(ds, tokenizer, block_size=16)
    assert {len(b) for b in blocks["long"]["input_ids"]} == {16}
    stream = evaluation.token_stream(["tiny"], tokenizer)
    assert blocks["short"]["input_ids"] == [stream]  # all of it, not an error


def test_perplexity_of_uniform_model_is_vocabulary_size(tokenizer):
    model = models.build_gpt2(tokenizer, n_layer=1, n_embd=16, n_head=2, n_positions=16)
    with torch.no_grad():
        model.lm_head.weight.zero_()  # every logit 0: the uniform distribution
    ds = datasets.Dataset.from_dict({"domain": ["d"], "text": ["some held-out text, any text"]})
    ppl = evaluation.perplexity_by_domain(model, tokenizer, ds, block_size=8)
    assert ppl["d"] == pytest.approx(len(tokenizer), rel=1e-4)


def test_load_causal_lm_from_folder_and_clear_error(tokenizer, tmp_path):
    model = models.build_gpt2(tokenizer, n_layer=1, n_embd=16, n_head=2, n_positions=16)
    models.save_model(model, tokenizer, tmp_path / "m")
    loaded, tok = models.load_causal_lm(tmp_path / "m", device="cpu")
    assert models.count_parameters(loaded) == models.count_parameters(model)
    with pytest.raises(OSError, match="cannot load a causal LM"):
        models.load_causal_lm(tmp_path / "missing-folder")
