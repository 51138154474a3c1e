"""The instruct writer of chapter 1: Cosmopedia-style prompts seeded by human documents, the
chat template, seeded sampling, and the corpus counted in the book's tokens."""

from __future__ import annotations

import copy

import datasets
import pytest

from tokedit_utils.toolkit import writer

pytestmark = pytest.mark.usefixtures("one_thread")  # fixtures: tests/conftest.py


@pytest.fixture(scope="module")
def docs(corpus):
    picked = corpus[::40][:30]
    return datasets.Dataset.from_list([{"id": r["id"], "domain": r["domain"], "text": r["text"]} for r in picked])


@pytest.fixture(scope="module")
def chat_tok(tok):
    chat = copy.deepcopy(tok)
    chat.chat_template = "{% for m in messages %}<|user|>{{ m['content'] }}{% endfor %}<|assistant|>"
    return chat


def test_prompts_take_style_from_the_domain_and_topic_from_the_opening(docs):
    prompts = writer.writer_prompts(docs, 12, opening_words=10, seed=3)
    assert prompts == writer.writer_prompts(docs, 12, opening_words=10, seed=3)  # seeded
    assert prompts != writer.writer_prompts(docs, 12, opening_words=10, seed=4)
    by_id = {str(i): (d, t) for i, d, t in zip(docs["id"], docs["domain"], docs["text"])}
    for p in prompts:
        domain, text = by_id[p["seed_id"]]
        assert p["domain"] == domain and " ".join(text.split()[:10]) in p["prompt"]
        assert writer.STYLES.get(domain, writer.GENERAL_STYLE) in p["prompt"]
    assert {p["domain"] for p in prompts} <= set(writer.STYLES)  # every embedded domain has its style


def test_answers_go_through_the_chat_template_and_are_seeded(gpt2, tok, chat_tok):
    prompts = ["Write about the sea.", "Write a longer text about the old king and his three sons."]
    a = writer.write(gpt2, chat_tok, prompts, 12, batch_size=2, seed=1)
    assert len(a) == 2 and a == writer.write(gpt2, chat_tok, prompts, 12, batch_size=2, seed=1)
    assert a != writer.write(gpt2, chat_tok, prompts, 12, batch_size=2, seed=2)
    assert not any(p in text for p, text in zip(prompts, a))  # the answer only
    with pytest.raises(ValueError, match="no chat template"):
        writer.write(gpt2, tok, prompts, 4)


def test_chapter_3_compares_the_written_corpus_with_the_sampled_one(tmp_path, corpus):
    from tokedit_utils.chapters import statistics as ss
    from tokedit_utils.toolkit import data

    assert ss.written_statistics(tmp_path, {}, ["a b"], ["c d"], 10) == {}  # no writer: nothing
    human = [r["text"] for r in corpus[::50][:20]]
    sampled = [" ".join(t.split()[:40]) for t in human]
    repetitive = [{"text": "the cat sat on the mat and the cat sat on the mat " * 8}] * 5
    data.write_jsonl_gz(tmp_path / "written.jsonl.gz", repetitive)
    out = ss.written_statistics(tmp_path, {"writer": {}}, human, sampled, 300, seed=0)
    assert list(out) == ["human", "teacher-sampled", "instruct-written"]
    assert len({v["words"] for v in out.values()}) == 1  # equal-size samples
    assert out["instruct-written"]["distinct_bigrams"] < 0.1 < out["human"]["distinct_bigrams"]
    assert out["instruct-written"]["entropy"] < out["human"]["entropy"]
