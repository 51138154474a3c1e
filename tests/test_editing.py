"""Chapter 4's measurements (tokedit_utils.chapters.editing) against the engine they measure."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tokedit_utils.toolkit import paper
from tokedit_utils.chapters import editing
from tokedit_utils.toedit import ToEditor, stored



pytestmark = pytest.mark.usefixtures("one_thread")  # fixtures: tests/conftest.py


@pytest.fixture(scope="module")
def corpus_texts(corpus):
    return [r["text"] for r in corpus]


@pytest.fixture(scope="module")
def tok(corpus_texts):
    from tokedit_utils.toolkit.models import train_tokenizer

    return train_tokenizer(corpus_texts[::25], vocab_size=512)


@pytest.fixture(scope="module")
def texts(corpus_texts):
    # short documents and documents far longer than the 64-token context
    return [t[: 120 + 150 * i] for i, t in enumerate(corpus_texts[::200][:10])]


@pytest.fixture(scope="module")
def gpt2(tok, random_gpt2):
    return random_gpt2(tok, 0.3)  # the initializer range these tests were written with


class BigramLM(torch.nn.Module):
    """A causal LM whose logits at position j are ``table[x_j]``: its distributions are known."""

    def __init__(self, table: torch.Tensor, context: int = 4096):
        super().__init__()
        self.table = torch.nn.Parameter(table.float(), requires_grad=False)
        self.config = SimpleNamespace(max_position_embeddings=context, vocab_size=table.shape[1])

    def forward(self, input_ids, attention_mask=None, logits_to_keep=None, use_cache=None):
        ids = input_ids[logits_to_keep] if logits_to_keep is not None else input_ids
        return SimpleNamespace(logits=self.table[ids])


@pytest.fixture(scope="module")
def toy(tok, texts):
    """A bigram prior that is confident about the texts' own frequent bigrams, to varying degrees."""
    vocab = len(tok)
    gen = torch.Generator().manual_seed(1)
    table = torch.randn(vocab, vocab, generator=gen)
    pairs = {}
    for ids in tok(texts)["input_ids"]:
        for a, b in zip(ids, ids[1:]):
            pairs.setdefault(a, []).append(b)
    for a, nexts in pairs.items():
        b = max(set(nexts), key=nexts.count)
        table[a, b] += 4.0 + 8.0 * torch.rand(1, generator=gen).item()  # P(b | a) from ~0.3 to ~1
    return BigramLM(table)


def test_probabilities_match_the_engine_and_each_token_is_counted_once(gpt2, tok, texts):
    scored = editing.score_tokens(ToEditor(gpt2, tok, batch_size=7), texts)
    engine = ToEditor(gpt2, tok, batch_size=5).score_texts(texts)
    lengths = [len(ids) for ids in tok(texts)["input_ids"]]
    assert max(lengths) > 3 * 64  # windowed documents are included
    for ours, theirs in zip(scored.probs, engine):
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    probs, _ = scored.flat()
    # the histogram counts every scored token once: all tokens but each document's first
    counts = editing.histogram(probs, bins=300)["counts"]
    assert sum(counts) == sum(lengths) - len(texts) == scored.scored
    assert len(counts) == 300


def test_interval_table_sums_to_100_percent():
    rng = np.random.default_rng(0)
    probs = np.concatenate([rng.beta(0.3, 0.3, 5000), [0.0, 1.0, 0.1, 0.9]])  # edges included
    table = editing.intervals(probs)
    assert sum(table["counts"]) == len(probs)
    assert sum(table["percent"]) == pytest.approx(100.0)
    assert table["counts"][-1] == (probs >= 0.9).sum() and table["counts"][0] == (probs < 0.1).sum()
    assert sum(table["paper_percent"]) == pytest.approx(100.0, abs=0.11)  # Table 6 as printed
    frame = editing.interval_table(table)
    assert frame["ours (%)"].sum() == pytest.approx(100.0) and len(frame) == 10


def test_change_probability_is_the_top_k_rule(toy, tok, texts):
    scored = editing.score_tokens(ToEditor(toy, tok), texts, k=8, beta=1.5)
    ids = tok(texts[3])["input_ids"]
    table = toy.table.double()
    special = set(tok.all_special_ids)
    for i in range(1, len(ids), 7):
        logits = table[ids[i - 1]].clone()
        logits[list(special)] = -np.inf
        top = torch.topk(logits, 8).indices.tolist()
        p = torch.softmax(logits, -1).numpy()
        weights = p[top] ** (1 / 1.5) / (p[top] ** (1 / 1.5)).sum()
        keep = weights[top.index(ids[i])] if ids[i] in top else 0.0
        assert scored.change[3][i] == pytest.approx(1 - keep, abs=1e-5)
        assert scored.probs[3][i] == pytest.approx(torch.softmax(table[ids[i - 1]], -1)[ids[i]].item(), rel=1e-5)


def test_expected_changes_match_a_monte_carlo_of_the_engine(toy, tok, texts):
    scored = editing.score_tokens(ToEditor(toy, tok), texts)
    probs, change = scored.flat()
    threshold = editing.flag_matched_threshold(probs, 0.3)
    flag = probs >= threshold
    expected, sd = editing.expected_changes(change[flag])
    assert 20 < expected < flag.sum() - 20  # neither nothing nor everything changes
    editor = ToEditor(toy, tok, threshold=threshold, k=8, beta=1.5)
    seeds = 40
    measured = []
    for seed in range(seeds):
        results = editor.edit_texts(texts, seed=seed)
        assert sum(r.flagged for r in results) == flag.sum()
        measured.append(sum(r.changed for r in results))
    mean = float(np.mean(measured))
    assert abs(mean - expected) < 4 * sd / np.sqrt(seeds), (mean, expected, sd)
    assert np.std(measured, ddof=1) == pytest.approx(sd, rel=0.35)
    # and a wrong temperature would have been told apart
    wrong, _ = editing.expected_changes(editing.score_tokens(ToEditor(toy, tok), texts, beta=1.0).flat()[1][flag])
    assert abs(mean - wrong) > 4 * sd / np.sqrt(seeds)


def test_stored_scores_edit_at_any_threshold_as_the_engine(toy, tok, texts):
    editor = ToEditor(toy, tok)
    scored = editing.score_tokens(editor, texts)
    for threshold in (0.5, 0.9):
        editor.threshold = threshold
        expected = editor.edit_texts(texts, seed=2)
        got = stored.apply(editor, scored.stored, seed=2)
        assert sum(r.changed for r in got) > 0
        assert [r.text for r in got] == [r.text for r in expected]


def test_non_word_share_counts_spans_that_make_unknown_words():
    sources = ["The knight rode home.", "Hence the proof is done."]
    edited = ["The knigjt rode back.", "Hence the proof is done."]  # one invented word, one real
    res = editing.non_word_share(sources, edited, vocabulary={"The", "knight", "rode", "home", "back"})
    assert (res["changed_spans"], res["non_word_spans"]) == (2, 1) and res["share"] == 0.5
    assert res["examples"] == [["knight", "knigjt"]]
    assert editing.non_word_share(sources, sources)["share"] is None  # nothing changed


def test_dose_and_flag_matched_thresholds():
    rng = np.random.default_rng(1)
    probs = rng.beta(0.4, 0.3, 20000)
    change = np.clip(1.2 * (1 - probs), 0, 1)
    t = editing.dose_matched_threshold(probs, change, target=0.01)
    assert (change[probs >= t].sum() / len(probs)) >= 0.01
    higher = np.sort(probs[probs >= t])[1]  # drop the least probable flagged token: below the target
    assert change[probs >= higher].sum() / len(probs) < 0.01
    f = editing.flag_matched_threshold(probs, 0.125)
    assert (probs >= f).sum() == 2500
    curve = editing.dose_curve(probs, change, [0.5, 0.9, 0.99])
    assert [r["flagged_share"] for r in curve] == sorted((r["flagged_share"] for r in curve), reverse=True)
    assert curve[1]["changed_share"] == pytest.approx(change[probs >= 0.9].sum() / len(probs))
    # a prior that could never change enough flags everything
    assert editing.dose_matched_threshold(probs, np.zeros_like(probs)) == probs.min()


def test_eta_fit_recovers_a_known_decay():
    rng = np.random.default_rng(2)
    docs, eta, f1 = 400, 0.9, 0.12
    scored = np.full((4, docs), 500)
    flagged = np.stack([rng.binomial(500, f1 * eta**g, docs) for g in range(4)])
    fit = editing.fit_eta(flagged, scored, boot=300, seed=0)
    lo, hi = fit["eta_interval"]
    assert lo < eta < hi and hi - lo < 0.05
    assert fit["f1"] == pytest.approx(f1, rel=0.05)
    flat = editing.fit_eta(np.stack([rng.binomial(500, f1, docs) for _ in range(4)]), scored, boot=300)
    assert flat["eta_interval"][0] < 1 < flat["eta_interval"][1]


def test_u_shape_verdict():
    assert editing.is_u_shaped(paper.TABLE6_PERCENT)
    assert not editing.is_u_shaped([60, 10, 8, 6, 5, 4, 3, 2, 1.5, 0.5])  # L-shaped, like a weak prior
    assert not editing.is_u_shaped([30, 31, 5, 5, 5, 5, 5, 5, 5, 4])


def _claims_input(at99=0.12, changed_of_flagged=0.06, tokens=10_000, eta=(0.9, 0.95), **prior):
    return {"intervals": {"percent": list(paper.TABLE6_PERCENT)}, "u_shaped": True,
            "share_at_least": {"0.99": at99}, "scored_tokens": tokens,
            "dose": {"0.99": {"changed_of_flagged": changed_of_flagged}},
            "generations": {"eta": sum(eta) / 2, "eta_interval": list(eta)}, **prior}


@pytest.mark.parametrize("prior, at99, verdict", [
    ({"edit_prior": "smollm2-135m-instruct", "edit_prior_pretrained": True}, 0.12, "reproduced"),
    ({"edit_prior": "smollm2-135m-instruct", "edit_prior_pretrained": True}, 0.02, "not reproduced"),
    ({"prior": "01_corpora/teacher"}, 0.12, "not testable here"),        # today's results: the teacher
    ({"edit_prior": "teacher", "edit_prior_pretrained": False}, 0.12, "not testable here"),
])
def test_flagged_share_claim_needs_a_pretrained_prior(prior, at99, verdict):
    assert editing.claims(_claims_input(at99=at99, **prior))["flagged_share_at_0.99"]["verdict"] == verdict


def test_engine_checks_are_marked_and_not_testable_without_flagged_tokens():
    c = editing.claims(_claims_input(at99=0.005, tokens=10_000))  # 50 tokens at P >= 0.99
    assert c["few_flagged_change"]["verdict"] == "not testable here"
    assert c["few_flagged_change"]["role"] == c["flagged_share_decays"]["role"] == "check"
    assert editing.claims(_claims_input(changed_of_flagged=0.01))["few_flagged_change"]["verdict"] == "not reproduced"
    assert editing.claims(_claims_input(eta=(1.01, 1.1)))["flagged_share_decays"]["verdict"] == "not reproduced"


def test_diff_html_shows_every_change():
    source = "The quick brown fox jumps over the lazy dog, and the cat sleeps."
    edited = "The quick red fox jumps over the lazy dog; and the cat sleeps."
    out, shown = editing.diff_html(source, edited, words=40)
    assert shown == 2
    assert "<del>brown</del><ins>red</ins>" in out and "<del>,</del><ins>;</ins>" in out
    assert editing.diff_html(source, source)[1] == 0
    page = editing.examples_html([{"domain": "fiction", "changed": 2, "html": out}])
    assert page.count("<tr>") == 2 and "<del>" in page



def test_smoke_chapter_results():
    """The chapter in the smoke profile: its results.json keys and what a smoke run can show."""
    from tokedit_utils import book
    from tokedit_utils.toolkit import paths
    from tokedit_utils.toedit import records

    book.run_chain("smoke", until="04_editing", log=lambda line: None)
    res = paths.read_results("smoke", "04_editing")
    for key in ("histogram", "intervals", "quantiles", "u_shaped", "flagged_share", "changed_share_of_flagged",
                "expected_changed_share_of_flagged", "generations", "dose", "dose_matched_threshold",
                "flag_matched_threshold", "throughput", "outputs", "claims"):
        assert key in res, key
    assert sum(res["histogram"]["counts"]) == res["scored_tokens"] == sum(res["intervals"]["counts"])
    # the default rule edits at the dose-matched threshold, which changes about 1% of the tokens
    assert res["threshold"]["rule"] == "dose_matched"
    assert res["threshold"]["value"] == res["dose_matched_threshold"]
    assert res["changed_share"] == pytest.approx(paper.CHANGED_SHARE, rel=0.3)
    assert abs(res["expected_changes"]["z"]) < 4
    gens = res["generations"]
    assert len(gens["flagged_share"]) >= 2 and gens["flagged_share"][-1] < gens["flagged_share"][0]
    assert set(res["dose"]) >= {"0.5", "0.9", "0.99"}
    stage = paths.stage_dir("smoke", "04_editing")
    manifest = json.loads((stage / res["outputs"]["manifest"]).read_text())
    once = [r for _, r in records.iter_records(stage / res["outputs"]["edited_once"])]
    twice = [r for _, r in records.iter_records(stage / res["outputs"]["edited_twice"])]
    assert manifest["datasets"][0]["documents"] == len(once) == len(twice) == res["documents"]
    assert sum(a["text"] != b["text"] for a, b in zip(once, twice)) > 0
    assert [r["id"] for r in once] == [r["id"] for r in twice]
