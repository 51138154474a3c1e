"""The zero-shot task builders of chapter 2 and their round trip through lm-eval."""

import json
import math
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from tokedit_utils.toolkit import tasks  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (fixtures: tests/conftest.py)


def _docs(domains=("alpha", "beta"), n_docs=6, n_words=120):
    """Documents whose words are unique ("alpha3w17"), so every passage can be traced back."""
    return [
        {"id": f"{d}/doc{k}", "domain": d, "source": d, "text": " ".join(f"{d}{k}w{i}" for i in range(n_words))}
        for d in domains for k in range(n_docs)
    ]


WORDNET = {
    "id": "wordnet/noun.test/0001",
    "domain": "reference",
    "source": "wordnet",
    "text": "\n".join([
        "fiber, fibre (noun): a slender threadlike structure",
        "germ (noun): a small simple structure; \"a germ of an idea\"",
        "landmark (noun): a structure used as a point of origin",
        "venter (noun): a bulging body part",
        "venter (noun): the womb",
        "run, go (verb): move fast by using one's feet",
        "acanthion (noun): the craniometric point at the anterior extremity",
        "concha (noun): a structure that resembles a shell",
        "nasal concha (noun): one of several turbinate bones",
        "organ of Corti (noun): the hearing organ of the inner ear",
        "cut off at the docu",
    ]),
}


def test_continuation_items_are_deterministic_and_seeded():
    docs = _docs()
    a = tasks.build_continuation_items(docs, 20, context_words=10, continuation_words=5, seed=3)
    b = tasks.build_continuation_items(list(reversed(docs)), 20, context_words=10, continuation_words=5, seed=3)
    c = tasks.build_continuation_items(docs, 20, context_words=10, continuation_words=5, seed=4)
    assert a == b  # input order does not matter
    assert a != c
    assert len(a) == 20 and sum(it["domain"] == "alpha" for it in a) == 10


def test_continuation_label_and_distractors():
    docs = _docs()
    by_id = {d["id"]: d for d in docs}
    items = tasks.build_continuation_items(docs, 30, n_choices=4, context_words=10, continuation_words=5, seed=0)
    contexts = [it["context"] for it in items]
    assert len(set(contexts)) == len(contexts)  # no duplicate items
    for it in items:
        assert len(it["choices"]) == 4 and len(set(it["choices"])) == 4
        truth = it["choices"][it["label"]]
        text = by_id[it["doc_id"]]["text"]
        assert it["context"] + " " + truth in text  # the answer is the passage's true next words
        assert len(truth.split()) == 5 and len(it["context"].split()) == 10
        distractors = [c for i, c in enumerate(it["choices"]) if i != it["label"]]
        assert len(set(it["distractor_doc_ids"])) == 3 and it["doc_id"] not in it["distractor_doc_ids"]
        for other_id, choice in zip(it["distractor_doc_ids"], distractors):
            assert by_id[other_id]["domain"] == it["domain"]  # same domain, other document
            assert choice in by_id[other_id]["text"]


def test_continuation_needs_enough_documents_and_respects_fits():
    assert tasks.build_continuation_items(_docs(n_docs=3), 10, n_choices=4, context_words=10, continuation_words=5) == []
    items = tasks.build_continuation_items(_docs(), 10, context_words=10, continuation_words=5, fits=lambda t: "w1" not in t)
    assert items and all("w1" not in c for it in items for c in it["choices"])


def test_wordnet_entries_parse_and_drop_the_cut_line():
    entries = tasks.wordnet_entries([WORDNET] + _docs(n_docs=1))
    assert [e["lemmas"] for e in entries][:2] == ["fiber, fibre", "germ"]
    assert entries[1]["gloss"] == "a small simple structure"  # usage example dropped
    assert all("docu" not in e["gloss"] for e in entries)
    assert {e["pos"] for e in entries} == {"noun", "verb"}


def test_gloss_items():
    entries = {}
    for e in tasks.wordnet_entries([WORDNET]):
        entries.setdefault(e["lemmas"], e)  # the builder keeps the first sense
    a = tasks.build_gloss_items([WORDNET], 50, n_choices=4, seed=1)
    assert a == tasks.build_gloss_items([WORDNET], 50, n_choices=4, seed=1)
    assert len(a) == len({it["context"] for it in a})  # one item per lemma list (venter once)
    for it in a:
        lemmas = it["context"].rsplit(" (", 1)[0]
        entry = entries[lemmas]
        assert it["choices"][it["label"]] == entry["gloss"]
        assert len(set(it["choices"])) == 4
        others = [e for e in entries.values() if e["gloss"] in it["choices"] and e["lemmas"] != lemmas]
        assert all(e["pos"] == entry["pos"] for e in others)
    assert all(it["pos"] == "noun" for it in a)  # the lone verb has no distractors


def test_embedded_test_split_has_both_tasks():
    from tokedit_utils.toolkit import data

    test = data.load_embedded_corpus()["test"]
    cont = tasks.build_continuation_items(test, 60, seed=0)
    gloss = tasks.build_gloss_items(test, 60, seed=0)
    assert len(cont) == 60 and len(gloss) == 60
    train_ids = set(data.load_embedded_corpus()["train"]["id"])
    assert not {it["doc_id"] for it in cont + gloss} & train_ids


def test_files_run_through_lm_eval(tmp_path):
    """A tiny random GPT-2 scores 5 items of each task through lm-eval, offline."""
    from tokedit_utils.toolkit import models

    docs = _docs() + [WORDNET]
    tokenizer = models.train_tokenizer([d["text"] for d in docs], vocab_size=300)
    model = models.build_gpt2(tokenizer, n_layer=1, n_embd=16, n_head=2, n_positions=64)
    models.save_model(model, tokenizer, tmp_path / "model")
    counts = tasks.build_task_files(tmp_path / "tasks", docs, 5, context_words=10, continuation_words=4,
                                    tokenizer=tokenizer, max_choice_tokens=32)
    assert counts == {tasks.CONTINUATION: 5, tasks.GLOSS: 5}
    for task in tasks.TASKS:
        lines = (tmp_path / "tasks" / f"{task}.jsonl").read_text().splitlines()
        assert len(lines) == 5 and all("label" in json.loads(line) for line in lines)
        assert f"test: {task}.jsonl\n" in (tmp_path / "tasks" / f"{task}.yaml").read_text()  # relative
    scores = tasks.evaluate(tmp_path / "model", tmp_path / "tasks", batch_size=8)
    for task in tasks.TASKS:
        assert 0.0 <= scores[task]["acc"] <= 1.0
        assert scores[task]["n"] == 5
        assert math.isfinite(scores[task]["acc_stderr"]) and scores[task]["acc_stderr"] >= 0
