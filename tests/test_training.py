"""Chapter 6's training regimes: instruction pairs, the prompt-masking collator, edited pairs
that keep their prompt, and paired arms that see the same data in the same order."""

import datasets
import pytest
import torch
import torch.nn.functional as F

from tokedit_utils.toolkit import data, mixtures, models, sft, stats
from tokedit_utils.chapters import training

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (fixtures: tests/conftest.py)

TEXTS = [
    "ABSENTEE, n.  A person with an income who has had the forethought to remove himself.",
    "HAMLET\nTo be, or not to be, that is the question.\n\nOPHELIA\nGood my lord, how does your honour?",
    "the quick brown fox jumps over the lazy dog. " * 20,
    "fiber, fibre (noun): a slender and greatly elongated substance capable of being spun into yarn",
]


@pytest.fixture(scope="module")
def tokenizer():
    return models.train_tokenizer(TEXTS * 5, vocab_size=300)


@pytest.fixture(scope="module")
def model(tokenizer):
    return models.build_gpt2(tokenizer, n_layer=1, n_embd=32, n_head=2, n_positions=64, seed=0)


def _records(n=12):
    # Prompts with odd whitespace and non-ASCII, so "byte for byte" can fail.
    return [{"id": f"doc/{i}#0", "doc_id": f"doc/{i}", "kind": "test",
             "prompt": sft.PROMPT_TEMPLATE.format(instruction=f"Define  \u201cword {i}\u201d\u00a0(n.)  "),
             "response": TEXTS[i % 4][: 40 + 3 * i]} for i in range(n)]


def test_collator_masks_prompt_tokens_out_of_the_loss(tokenizer, model):
    records = _records(4)
    encoded = sft.encode(records, tokenizer, max_length=64)
    batch = sft.Collator(tokenizer.pad_token_id)(list(encoded))
    for row, rec in enumerate(records):
        n_prompt = len(tokenizer(rec["prompt"], add_special_tokens=False)["input_ids"])
        n = int(batch["attention_mask"][row].sum())
        assert (batch["labels"][row, :n_prompt] == sft.IGNORE_INDEX).all()
        assert (batch["labels"][row, n_prompt:n] == batch["input_ids"][row, n_prompt:n]).all()
        assert (batch["labels"][row, n:] == sft.IGNORE_INDEX).all()  # padding is never a target
    # The model's loss is the mean NLL of the response tokens alone.
    with torch.no_grad():
        loss = model(**batch).loss.item()
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    targets, keep = batch["input_ids"][:, 1:], batch["labels"][:, 1:] != sft.IGNORE_INDEX
    nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), targets, reduction="none")
    assert loss == pytest.approx(nll[keep].mean().item(), rel=1e-5)
    assert loss != pytest.approx(nll[batch["attention_mask"][:, 1:].bool()].mean().item(), rel=1e-3)
    assert sft.response_nll(model, encoded, tokenizer.pad_token_id, batch_size=3) == pytest.approx(loss, rel=1e-5)


def test_edited_sft_record_keeps_its_prompt_byte_for_byte(tokenizer, model):
    records = _records()
    editor = training.make_editor(model, tokenizer, threshold=0.0)  # every response token is resampled
    by_seed, dose = training.edit_pairs(editor, records, {0: 0, 1: 5})
    edited = by_seed[0]
    assert [r["prompt"].encode() for r in edited] == [r["prompt"].encode() for r in records]
    assert [r["id"] for r in edited] == [r["id"] for r in records]
    assert sum(e["response"] != r["response"] for e, r in zip(edited, records)) >= len(records) // 2
    assert dose["flagged_share"] == 1.0 and 0 < dose["changed_share"] <= 1.0
    assert dose["edit_seeds"] == [0, 5] and by_seed[1] != edited  # each training seed its own draws
    # the stored pass edits as the engine's forward pass does, seeded per pair
    forward, _ = editor.edit_records(records, text_field="response", prompt_field="prompt", seed=5)
    assert by_seed[1] == forward
    again, _ = training.edit_pairs(editor, by_seed, {0: 0, 1: 5}, generation=2)  # each seed's own pairs
    assert again[0] == editor.edit_records(edited, text_field="response", prompt_field="prompt", seed=0,
                                           generation=2)[0]


def test_paired_arms_see_identical_data_order(tokenizer, model):
    records = _records(12)
    editor = training.make_editor(model, tokenizer, threshold=0.0)
    edited = training.edit_pairs(editor, records, {0: 0})[0][0]
    arms = {"source": sft.encode(records, tokenizer, 64), "edited": sft.encode(edited, tokenizer, 64)}

    def prompts_seen(ds, seed):
        seen, collate = [], sft.Collator(tokenizer.pad_token_id)

        def recording(features):
            batch = collate(features)
            seen.append([tuple(ids[: int((labels != sft.IGNORE_INDEX).nonzero()[0])].tolist())  # the prompt
                         for ids, labels in zip(batch["input_ids"], batch["labels"])])
            return batch

        training.continue_training(model, ds, seed=seed, learning_rate=1e-3, batch_size=4, epochs=2,
                                  data_collator=recording)
        return seen

    source, edited_order = prompts_seen(arms["source"], 3), prompts_seen(arms["edited"], 3)
    assert len(source) == 6 and source == edited_order
    assert prompts_seen(arms["source"], 4) != source  # another seed, another order: the check can fail


def test_paired_blocks_and_cpt_mixture_keep_budgets_equal():
    a = datasets.Dataset.from_dict({"input_ids": [[i] * 4 for i in range(10)]})
    b = datasets.Dataset.from_dict({"input_ids": [[100 + i] * 4 for i in range(8)]})
    general = datasets.Dataset.from_dict({"input_ids": [[200 + i] * 4 for i in range(20)]})
    a2, b2 = mixtures.paired_blocks(a, b)
    assert len(a2) == len(b2) == 8 and a2[7]["input_ids"] == [7] * 4
    mix_a, mix_b = mixtures.cpt_mixture(a2, general), mixtures.cpt_mixture(b2, general)
    assert len(mix_a) == len(mix_b) == 16
    assert mix_a["input_ids"][8:] == mix_b["input_ids"][8:] == general["input_ids"][:8]


def test_lora_switch_trains_adapters_and_returns_a_plain_model(tokenizer, model):
    ds = sft.encode(_records(8), tokenizer, 64)
    tuned, run = training.continue_training(model, ds, seed=0, learning_rate=1e-2, batch_size=4, epochs=1,
                                           data_collator=sft.Collator(tokenizer.pad_token_id), lora_rank=4)
    assert type(tuned) is type(model)
    changed = [n for n, p in tuned.named_parameters() if not torch.equal(p, dict(model.named_parameters())[n])]
    assert changed and all(("attn" in n or "mlp" in n) for n in changed)  # embeddings stay frozen


def test_sft_pairs_follow_the_split_by_work():
    corpus = data.load_embedded_corpus(max_docs_per_domain=None)
    assert sft.kinds_for(corpus["train"]) == sft.KINDS
    train = sft.build_pairs(corpus["train"], per_kind=200)
    test = sft.build_pairs(corpus["test"], per_kind=200)
    assert {r["kind"] for r in train} == set(sft.KINDS)
    assert not {r["work"] for r in train} & {r["work"] for r in test}
    devil = next(r for r in train if r["kind"] == "devils-dictionary")
    assert devil["prompt"].startswith(sft.PROMPT_TEMPLATE.split("{")[0]) and '" (' in devil["prompt"]
    items = sft.build_choice_items(test, n_items=20, choice_words=8)
    assert all(len(set(i["choices"])) == 4 and 0 <= i["label"] < 4 for i in items)
    by_id = {r["id"]: r for r in test}
    assert all(sft.first_words(by_id[i["pair_id"]]["response"], 8) == i["choices"][i["label"]] for i in items)


def test_a_reader_corpus_gets_continuation_pairs_that_tile_its_documents():
    words = [f"w{i}" for i in range(25)]
    docs = datasets.Dataset.from_dict({"id": ["a", "b"], "domain": ["mine", "mine"], "work": ["a", "b"],
                                       "text": [" ".join(words), "too short"]})
    assert sft.kinds_for(docs) == (sft.GENERIC_KIND,)
    pairs = sft.build_pairs(docs, per_kind=10, max_words=10, kinds=sft.kinds_for(docs))
    # 25 words: passages 0-9, 10-19, 20-24, so two pairs, both from document "a"
    assert [(p["id"], p["work"]) for p in pairs] == [("a#0", "a"), ("a#1", "a")]
    assert pairs[0]["prompt"].endswith(" ".join(words[:10]) + "\n\n### Response:\n")
    assert pairs[0]["response"] == " ".join(words[10:20]) and pairs[1]["response"] == " ".join(words[20:])


def test_cpt_split_halves_a_one_domain_corpus_by_work():
    def split(works):
        return datasets.Dataset.from_dict({"domain": ["essays"] * len(works), "work": works,
                                           "text": ["x" * len(w) for w in works]})

    one = datasets.DatasetDict({"train": split(["w1", "w2", "w2", "w3", "w4"]), "test": split(["t1", "t2"])})
    halves, domain = training.cpt_split(one, "scripture")
    assert domain == "essays B"
    sides = dict(zip(halves["train"]["work"], halves["train"]["domain"]))
    assert sides == {"w1": "essays A", "w2": "essays B", "w3": "essays A", "w4": "essays B"}
    assert set(halves["test"]["domain"]) == {"essays A", "essays B"}  # both halves held out too
    two = datasets.DatasetDict({"train": datasets.concatenate_datasets([
        split(["w1"]), split(["long work"]).map(lambda r: {"domain": "letters"})])})
    assert training.cpt_split(two, "letters") == (two, "letters")
    assert training.cpt_split(two, "scripture")[1] == "letters"  # absent: the largest domain


def test_chapter_2_students_stand_in_for_the_source_arm_only_when_the_data_is_theirs():
    blocks = lambda n: datasets.Dataset.from_dict({"input_ids": [[0] * 4] * n})  # noqa: E731
    ch2 = {"student": {"batch_size": 16, "epochs": 3, "block_size": 4},
           # 50 blocks at batch 16: 4 steps per epoch, 12 steps of 64 tokens
           "runs": [{"ratio": 0.0, "seed": 0, "tokens_seen": 768, "folder": "students/a"},
                    {"ratio": 0.0, "seed": 1, "tokens_seen": 768, "folder": "students/b"},
                    {"ratio": 0.0, "seed": 2, "tokens_seen": 704, "folder": "students/c"},
                    {"ratio": 1.0, "seed": 0, "tokens_seen": 768, "folder": "students/d"}]}
    arms = {"source": blocks(50), "edited": blocks(53)}
    assert training.reusable_sources(ch2, [0, 2, 5], arms) == {0: "students/a"}  # seed 2 saw other data
    assert training.reusable_sources(ch2, [0, 1], {"source": blocks(50), "edited": blocks(49)}) == {}
    assert training.reusable_sources(ch2, [0, 1], {"source": blocks(40), "edited": blocks(50)}) == {}


def test_compare_gives_the_word_and_the_not_worse_verdict():
    better = training.compare([2.0, 2.1, 2.2], [3.0, 3.05, 3.1], higher_is_better=False, margin=0.01)
    worse = training.compare([3.0, 3.05, 3.1], [2.0, 2.1, 2.2], higher_is_better=False, margin=0.01)
    noisy = training.compare([1.0, 3.0, 2.0], [2.0, 2.0, 2.1], higher_is_better=False, margin=0.01)
    same = training.compare([2.0, 2.1, 2.2], [2.001, 2.1, 2.2005], higher_is_better=False, margin=0.05)
    assert [better["verdict"], worse["verdict"], noisy["verdict"]] == [training.BETTER, training.WORSE, training.SAME]
    assert [better["not_worse"], same["not_worse"]] == [stats.REPRODUCED, stats.REPRODUCED]
    assert worse["not_worse"] == stats.NOT_REPRODUCED and noisy["not_worse"] == stats.INCONCLUSIVE


def _regime(ci, mean, margin, p):
    return {"mean": mean, "se": (ci[1] - ci[0]) / 8.6, "p_value": p, "mde": 1.0, "ci": list(ci),
            "margin": margin, "verdict": training.WORSE if p < 0.05 else training.SAME, "n": 3, "alpha": 0.05,
            "source_mean": 100.0}


def test_claims_on_the_default_builds_numbers():
    # Shaped like the default build: fine-tuning's response PPL rose significantly but its whole
    # interval (0.06 to 0.84) lies inside the ±3.01 margin; so did generation 2's (0.44 to 0.63).
    sft = _regime((0.06, 0.84), 0.45, 3.01, 0.04)
    results = {"paper": training.paper_deltas(),
               "regimes": {"pt": {"delta": {"ppl_mean": _regime((-2.0, 1.0), -0.5, 3.0, 0.4)}},
                           "cpt": {"delta": {"domain_ppl": _regime((-3.5, -0.2), -1.8, 3.0, 0.03)}},
                           "sft": {"delta": {"response_ppl": sft}}},
               "generations": {"delta": {"gen2_vs_gen0": _regime((0.44, 0.63), 0.53, 3.01, 0.01)}}}
    c = training.claims(results)
    assert c["sft_edited_not_worse"]["verdict"] == stats.REPRODUCED
    assert c["sft_edited_helps"]["verdict"] == stats.NOT_REPRODUCED
    assert c["generations_stable"]["verdict"] == stats.REPRODUCED
    assert c["cpt_edited_helps"]["verdict"] == stats.REPRODUCED
    assert c["pt_edited_helps"]["verdict"] == stats.INCONCLUSIVE
    assert c["pt_edited_not_worse"]["verdict"] == stats.REPRODUCED
    results["regimes"]["sft"]["delta"]["response_ppl"] = _regime((3.2, 5.0), 4.1, 3.01, 0.01)
    assert training.claims(results)["sft_edited_not_worse"]["verdict"] == stats.NOT_REPRODUCED
    results["regimes"]["sft"]["delta"]["response_ppl"] = _regime((1.0, 5.0), 3.0, 3.01, 0.04)
    assert training.claims(results)["sft_edited_not_worse"]["verdict"] == stats.INCONCLUSIVE
    assert all(c_["metric"] and c_["contradicted_by"] for c_ in c.values())


def test_threshold_comes_from_the_profile_or_chapter_4(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKEDIT_RUNS", str(tmp_path))
    assert training.resolve_threshold(0.99, "any") == (0.99, "set by the profile")
    with pytest.raises(FileNotFoundError, match="04_editing"):
        training.resolve_threshold("dose_matched", "toy")
    stage = tmp_path / "toy" / "04_editing"
    stage.mkdir(parents=True)
    (stage / "results.json").write_text('{"dose_matched_threshold": 0.41, "flag_matched_threshold": 0.2}')
    assert training.resolve_threshold("dose_matched", "toy")[0] == 0.41
    assert training.resolve_threshold("flag_matched", "toy")[0] == 0.2
    # chapter 4 with a pretrained prior: the stand-in's thresholds are the teacher's
    (stage / "results.json").write_text('{"dose_matched_threshold": 0.99, "stand_in": '
                                        '{"dose_matched_threshold": 0.6, "flag_matched_threshold": 0.3}}')
    assert training.resolve_threshold("dose_matched", "toy")[0] == 0.6
    with pytest.raises(ValueError):
        training.resolve_threshold("0.5", "toy")
