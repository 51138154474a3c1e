"""Tests of the ToEdit engine (tokedit_utils.toedit).

Fixtures are built here, small and fast: a byte-level BPE trained on a slice of the
embedded corpus, a tiny GPT-2 from config (random weights), and toy "bigram" causal LMs
whose logits are known exactly.
"""

from __future__ import annotations

import gzip
import json
import os
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tokedit_utils.toedit import records
from tokedit_utils import toedit
from tokedit_utils.toedit.records import CorpusFormatError
from tokedit_utils.toedit import EditStats, ToEditor, main, samplers, windows

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytestmark = pytest.mark.usefixtures("one_thread")  # fixtures: tests/conftest.py
ALPHA = 0.001  # significance level of the chi-square tests (fixed seeds: deterministic)


class BigramLM(torch.nn.Module):
    """A causal LM whose logits at position j are ``table[x_j]`` (known exactly)."""

    def __init__(self, table: torch.Tensor, context: int):
        super().__init__()
        self.table = torch.nn.Parameter(table.float(), requires_grad=False)
        self.config = SimpleNamespace(max_position_embeddings=context)

    def forward(self, input_ids, attention_mask=None, logits_to_keep=None, use_cache=None):
        ids = input_ids[logits_to_keep] if logits_to_keep is not None else input_ids
        return SimpleNamespace(logits=self.table[ids])


def _quantile_threshold(editor, texts, q):
    probs = np.concatenate(editor.score_texts(texts))
    probs = np.sort(probs[~np.isnan(probs)])
    # the widest gap near the quantile, so no probability sits next to the threshold
    lo = max(int(q * len(probs)) - 50, 1)
    gaps = np.diff(probs[lo - 1:lo + 100])
    j = lo + int(np.argmax(gaps))
    return float(probs[j - 1] + probs[j]) / 2, probs


# ----------------------------------------------------------------------------- exactness


def _reference_probs(model, ids, context, stride):
    """P(x_i | x_<i) recomputed independently: one unbatched forward per position's window."""
    n = len(ids)
    out = np.full(n, np.nan)
    with torch.no_grad():
        for i in range(1, n):
            if n <= context or i < context:
                start, end = 0, min(n, context)
            else:
                k = -(-(i + 1 - context) // stride)  # the later window whose new span holds i
                end = min(context + k * stride, n)
                start = end - context
            logits = model(torch.tensor([ids[start:end]])).logits[0, i - start - 1].double()
            out[i] = torch.softmax(logits, -1)[ids[i]].item()
    return out


def test_flagged_positions_match_independent_probabilities(gpt2, tok, texts):
    editor = ToEditor(gpt2, tok, batch_size=5)
    threshold, _ = _quantile_threshold(editor, texts, 0.9)
    editor.threshold = threshold
    results = editor.edit_texts(texts, seed=1, return_probs=True)
    checked = 0
    for text, res in zip(texts[:6], results[:6]):
        ids = tok(text)["input_ids"]
        ref = _reference_probs(gpt2, ids, 64, 32)
        np.testing.assert_allclose(res.probs[1:], ref[1:], rtol=1e-4, atol=1e-6)
        assert np.isnan(res.probs[0])
        close = np.abs(ref - threshold) < 1e-6
        assert not close[1:].any(), "a reference probability sits on the threshold; pick another"
        expected = np.flatnonzero(np.nan_to_num(ref, nan=-1) >= threshold)
        np.testing.assert_array_equal(res.flagged_positions, expected)
        checked += len(ids)
    assert checked > 64 * 3  # windowed documents were included
    assert sum(r.flagged for r in results) > 0


def test_windows_cover_every_position_once():
    for context, stride in [(8, 4), (8, 7), (8, 1), (64, 32), (5, 2)]:
        for n in range(0, 60):
            wins = windows(n, context, stride)
            scored = [t for (_, _, f) in wins for t in range(f, wins[[w[2] for w in wins].index(f)][1])]
            assert sorted(scored) == list(range(1, n))  # every position 1..n-1, exactly once
            for s, e, f in wins:
                assert 0 <= s < f <= e <= n and e - s <= context
                if s > 0:
                    assert e - s == context and f - s >= context - stride  # full left context


def test_long_document_is_scored_everywhere(gpt2, tok, corpus):
    text = max((r["text"] for r in corpus[:200]), key=len)
    editor = ToEditor(gpt2, tok, threshold=1.5)
    res = editor.edit_texts([text], return_probs=True)[0]
    assert res.tokens > 20 * 64
    assert not np.isnan(res.probs[1:]).any() and res.scored == res.tokens - 1
    assert res.text == text


# ----------------------------------------------------------------------------- samplers


@pytest.fixture(scope="session")
def toy(tok):
    """A bigram LM with the same known distribution at every position."""
    vocab = len(tok)
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(vocab, generator=gen) * 0.5 - 2
    logits[tok.eos_token_id] = -30.0
    top = torch.tensor([6.0, 4.0, 3.5, 3.0, 2.6, 2.2, 2.0, 1.7, 1.5, 1.4])
    order = torch.randperm(vocab - 1, generator=gen)[: len(top)] + 1
    logits[order] = top
    table = logits.expand(vocab, vocab).clone()
    return BigramLM(table, context=4096), torch.softmax(logits.double(), -1).numpy()


def _sampled_ids(editor, texts, seed=5, generation=1):
    """The ids drawn at every flagged position (threshold 0: every editable position),
    and the original ids there."""
    editor.threshold = 0.0
    results = editor.edit_texts(texts, ids=list(range(len(texts))), seed=seed, generation=generation,
                                return_probs=True)
    new = np.concatenate([r.drawn_ids for r in results])
    orig = np.concatenate([np.asarray(editor.tokenizer(t)["input_ids"])[r.flagged_positions]
                           for t, r in zip(texts, results)])
    return new, orig


def _chi2_pvalue(observed, expected_prob):
    from scipy.stats import chisquare

    expected = expected_prob / expected_prob.sum() * observed.sum()
    return chisquare(observed, expected).pvalue


def test_top_k_draws_follow_tempered_probabilities(toy, tok, texts):
    model, p = toy
    editor = ToEditor(model, tok, sampler="top_k", k=8, beta=1.5)
    new, _ = _sampled_ids(editor, texts * 3)
    assert len(new) > 5000
    top = np.argsort(-p)[:8]
    assert np.isin(new, top).all()
    observed = np.array([(new == t).sum() for t in top])
    assert _chi2_pvalue(observed, p[top] ** (1 / 1.5)) > ALPHA
    # and it is not simply the untempered distribution
    assert _chi2_pvalue(observed, p[top]) < ALPHA


def test_top_k_exclude_original(toy, tok, texts):
    model, p = toy
    editor = ToEditor(model, tok, sampler="top_k", k=4, exclude_original=True)
    new, orig = _sampled_ids(editor, texts * 3)
    assert (new != orig).all()


def test_top_p_draws_stay_in_nucleus(toy, tok, texts):
    model, p = toy
    editor = ToEditor(model, tok, sampler="top_p", top_p=0.9)
    new, _ = _sampled_ids(editor, texts * 3)
    order = np.argsort(-p)
    before = np.cumsum(p[order]) - p[order]
    nucleus = order[before < 0.9]
    assert 1 < len(nucleus) < len(p)
    assert np.isin(new, nucleus).all()
    head = nucleus[:8]  # the 8 most probable individually, the rest of the nucleus lumped
    observed = np.array([(new == t).sum() for t in head] + [(~np.isin(new, head)).sum()])
    expected = np.r_[p[head], p[nucleus[8:]].sum()]
    assert _chi2_pvalue(observed, expected) > ALPHA


def test_rejection_sampler_matches_the_scan_rule(toy, tok, texts):
    model, p = toy
    editor = ToEditor(model, tok, sampler="rejection", k=6, beta=0.5)
    new, _ = _sampled_ids(editor, texts * 3)
    cand = np.argsort(-p)[:6]
    accept = np.exp(p[cand] / 0.5) / np.exp(p[cand] / 0.5).sum()
    # the literal rule, simulated: scan candidates in order, accept j with prob a_j, repeat
    rng = np.random.default_rng(0)
    literal = np.zeros(6)
    for _ in range(20000):
        while True:
            hits = np.flatnonzero(rng.random(6) < accept)
            if len(hits):
                literal[hits[0]] += 1
                break
    observed = np.array([(new == t).sum() for t in cand])
    assert observed.sum() == len(new)
    assert _chi2_pvalue(observed, literal / literal.sum()) > ALPHA


def test_special_tokens_are_never_drawn(tok, texts):
    """The prior puts nearly all its mass on <|endoftext|> and on ids beyond the tokenizer's
    vocabulary (a padded embedding matrix): the drawn ids never include them."""
    vocab, extra = len(tok), 16
    logits = torch.full((vocab + extra,), -5.0)
    logits[tok.eos_token_id] = 10.0
    logits[vocab:] = 9.0
    model = BigramLM(logits.expand(vocab + extra, vocab + extra).clone(), 4096)
    new, _ = _sampled_ids(ToEditor(model, tok, k=3), texts[:4])
    assert len(new) > 500
    assert tok.eos_token_id not in new and (new < vocab).all()
    allowed, _ = _sampled_ids(ToEditor(model, tok, k=3, allow_special=True), texts[:4])
    # the control: without the mask they are what is drawn
    assert (allowed == tok.eos_token_id).mean() > 0.3 and (allowed >= vocab).mean() > 0.3
    # and a special token written in the text is never flagged
    text = "a b <|endoftext|> c d"
    res = ToEditor(model, tok, threshold=0.0, k=3).edit_texts([text], return_probs=True)[0]
    assert res.text.count("<|endoftext|>") == 1
    assert tok(text)["input_ids"].index(tok.eos_token_id) not in res.flagged_positions


def test_top_p_nucleus_uses_the_mass_before_each_token():
    """p = (.4, .3, .2, .1), top_p = .6: the mass before each token is (0, .4, .7, .9), so
    the nucleus is {0, 1}; the mass *including* each token (.4, .7, ...) would give {0}."""
    p = torch.tensor([[0.4, 0.3, 0.2, 0.1]], dtype=torch.float64)
    cand, weights = samplers.top_p(p.log(), 0.6)
    drawable = {int(c) for c, w in zip(cand[0], weights[0]) if w > 0}
    assert drawable == {0, 1}
    u = torch.linspace(0, 1, 701, dtype=torch.float64)[:-1]  # uniforms on a grid over [0, 1)
    drawn = samplers.draw(cand.expand(len(u), -1), weights.expand(len(u), -1), u)
    np.testing.assert_array_equal(drawn.numpy(), np.where(u.numpy() < 0.4 / 0.7, 0, 1))


def test_top_p_through_the_engine(tok, texts):
    """The same nucleus, end to end: only the two ids inside it are ever drawn, 4:3."""
    vocab = len(tok)
    ids = [40, 41, 42, 43]
    logits = torch.full((vocab,), -1e4)
    logits[ids] = torch.tensor([0.4, 0.3, 0.2, 0.1]).log()
    new, _ = _sampled_ids(ToEditor(BigramLM(logits.expand(vocab, vocab).clone(), 4096), tok, sampler="top_p",
                                   top_p=0.6), texts)
    assert set(new.tolist()) == {40, 41}
    assert _chi2_pvalue(np.array([(new == 40).sum(), (new == 41).sum()]), np.array([0.4, 0.3])) > ALPHA


def test_generations_draw_different_uniforms(toy, tok, texts):
    """Generation g is part of every document's seed: two generations of the same documents
    draw differently; the same generation draws the same."""
    model, _ = toy
    editor = ToEditor(model, tok, sampler="top_k", k=8)
    first, _ = _sampled_ids(editor, texts, seed=5, generation=1)
    again, _ = _sampled_ids(editor, texts, seed=5, generation=1)
    second, _ = _sampled_ids(editor, texts, seed=5, generation=2)
    np.testing.assert_array_equal(first, again)
    assert len(first) == len(second) > 1000
    assert (first != second).mean() > 0.3  # independent draws over 8 candidates differ most of the time
    assert toedit.document_seed(5, 1, "id:0") != toedit.document_seed(5, 2, "id:0")


def test_threshold_comparisons_are_exact(tok, texts):
    """A probability exactly on the threshold is resampled (``>=``); exactly on the low
    threshold it is kept (drop only ``<``)."""
    gen = torch.Generator().manual_seed(1)
    row = torch.randn(len(tok), generator=gen) * 2  # P depends on the token only: values repeat
    model = BigramLM(row.expand(len(tok), -1).clone(), context=4096)
    sample = texts[:6]
    probs = np.concatenate(ToEditor(model, tok).score_texts(sample))
    values, counts = np.unique(probs[~np.isnan(probs)], return_counts=True)
    on = float(values[np.argmax(counts * (values > 0.005) * (values < 0.5))])  # a value seen many times
    assert counts[values == on][0] >= 3
    res = ToEditor(model, tok, threshold=on).edit_texts(sample, return_probs=True)
    flagged_p = np.concatenate([r.probs[r.flagged_positions] for r in res])
    expected = np.nan_to_num(probs, nan=-1.0) >= on
    assert len(flagged_p) == expected.sum() and (flagged_p == np.float32(on)).sum() >= 3
    res = ToEditor(model, tok, strategy="drop_low", low_threshold=on).edit_texts(sample, return_probs=True)
    dropped_p = np.concatenate([r.probs[r.dropped_positions] for r in res])
    assert (dropped_p < on).all() and len(dropped_p) == (np.nan_to_num(probs, nan=1.0) < on).sum()
    kept_on = sum(int((r.probs == np.float32(on)).sum()) for r in res)
    assert kept_on >= 3 and sum(r.dropped for r in res) == len(dropped_p)


class OracleLM(torch.nn.Module):
    """A test double whose flags are known in advance: it reads the next token of the window
    (a real LM cannot) and gives it probability ~1 when it is in ``flag_ids``, and spreads
    the rest of its mass over ``replacements`` (whole-word ASCII tokens)."""

    def __init__(self, vocab: int, flag_ids, replacements, context: int):
        super().__init__()
        self.flag = torch.zeros(vocab, dtype=torch.bool)
        self.flag[list(flag_ids)] = True
        self.base = torch.zeros(vocab)
        self.base[list(replacements)] = 15.0
        self.dummy = torch.nn.Parameter(torch.zeros(1), requires_grad=False)
        self.config = SimpleNamespace(max_position_embeddings=context)

    def forward(self, input_ids, attention_mask=None, logits_to_keep=None, use_cache=None):
        nxt = torch.roll(input_ids, -1, dims=1)
        logits = self.base.expand(*input_ids.shape, -1).clone()
        peak = torch.where(self.flag[nxt], 30.0, logits.gather(2, nxt[..., None]).squeeze(-1))
        logits.scatter_(2, nxt[..., None], peak[..., None])
        return SimpleNamespace(logits=logits[logits_to_keep] if logits_to_keep is not None else logits)


MIXED = ("Café naïve façade — résumé, Ångström; 東京の夏は暑い。北京欢迎你！ emoji 👩‍👩‍👧 🚀🎉 ok, "
         "e\u0301 a\u0308 n\u0303 (combining) line one\r\nline two\r\n\tindented\tcolumns\t"
         "plain English words between the scripts. ")


def test_edits_keep_every_other_byte(tok):
    """Many tokens edited; the output is exactly the source with each edited token's text
    replaced by its new token's text, reconstructed here from character coverage alone."""
    context = 64
    docs = [MIXED * 8, MIXED[:90], "x", ""]
    encs = [tok.backend_tokenizer.encode(d) for d in docs]
    assert len(encs[0].ids) > 5 * context  # windowed
    flag_ids = {i for i in range(len(tok)) if i % 3 == 0} - set(tok.all_special_ids)
    words = [i for t, i in tok.get_vocab().items() if t.startswith("Ġ") and t[1:].isascii() and t[1:].isalpha()]
    replacements = sorted(words, key=lambda i: -len(tok.convert_ids_to_tokens(i)))[:4]
    model = OracleLM(len(tok), flag_ids, replacements, context)
    editor = ToEditor(model, tok, threshold=0.5, k=3, exclude_original=True, batch_size=3)
    results = editor.edit_texts(docs, seed=0, return_probs=True)
    for doc, enc, res in zip(docs, encs, results):
        ids = np.asarray(enc.ids, dtype=np.int64)
        known = np.flatnonzero(np.isin(ids, list(flag_ids)) & (np.arange(len(ids)) >= 1))
        np.testing.assert_array_equal(res.flagged_positions, known)
        assert res.changed == res.flagged and set(res.drawn_ids.tolist()) <= set(replacements)
        new = ids.copy()
        new[res.flagged_positions] = res.drawn_ids
        assert res.text == _rebuilt(doc, enc.offsets, res.flagged_positions, new, tok)
    assert results[0].flagged > 100 and results[0].text != docs[0]
    assert results[2].text == "x" and results[3].text == ""


def test_sentencepiece_style_replacements_keep_their_leading_space(corpus):
    """A Metaspace tokenizer (SentencePiece style: "▁" marks a space, and decoding a lone
    "▁word" drops its space) with edits known in advance: every replaced token's text
    arrives with its space, everything else is copied."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Metaspace()
    raw.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<unk>", "</s>"], show_progress=False)
    raw.train_from_iterator([r["text"] for r in corpus[::40]] + [MIXED], trainer)
    sp = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="<unk>", eos_token="</s>", pad_token="</s>")
    doc = MIXED * 4
    enc = sp.backend_tokenizer.encode(doc)
    assert sp.unk_token_id not in enc.ids and sp.decode(sp(doc)["input_ids"][5:6]).strip() == \
        sp.decode(sp(doc)["input_ids"][5:6])  # a lone piece decodes without its space
    flag_ids = {i for i in range(len(sp)) if i % 3 == 0} - set(sp.all_special_ids)
    words = [i for t, i in sp.get_vocab().items() if t.startswith("▁") and t[1:].isascii() and t[1:].isalpha()]
    replacements = sorted(words, key=lambda i: -len(sp.convert_ids_to_tokens(i)))[:4]
    editor = ToEditor(OracleLM(len(sp), flag_ids, replacements, 64), sp, threshold=0.5, k=3,
                      exclude_original=True)
    res = editor.edit_texts([doc], seed=0, return_probs=True)[0]
    assert res.flagged > 50
    new = np.asarray(enc.ids, dtype=np.int64)
    new[res.flagged_positions] = res.drawn_ids
    pieces = lambda ids: "".join(sp.convert_ids_to_tokens(ids)).replace("▁", " ")  # noqa: E731
    assert res.text == _rebuilt(doc, enc.offsets, res.flagged_positions, new, pieces)


def _rebuilt(text, offsets, touched, new_ids, tok):
    # ``tok``: a tokenizer, or a function from ids to their text
    """Characters are copied or replaced whole: a token that shares a character with an
    edited token is re-decoded with it. Every other character is copied; each maximal run
    of replaced characters becomes the decoding of the (new) tokens lying in it."""
    spans = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    real = spans[:, 1] > spans[:, 0]
    affected = np.zeros(len(spans), dtype=bool)
    affected[touched] = True
    while True:  # spread over shared characters until nothing changes
        delta = np.zeros(len(text) + 1, dtype=np.int64)
        np.add.at(delta, spans[affected & real, 0], 1)
        np.add.at(delta, spans[affected & real, 1], -1)
        replaced = np.cumsum(delta)[:len(text)] > 0
        hits = np.r_[0, np.cumsum(replaced)]
        grown = affected | (real & (hits[spans[:, 1]] > hits[spans[:, 0]]))
        if (grown == affected).all():
            break
        affected = grown
    change = np.flatnonzero(np.diff(np.r_[False, replaced, False].astype(np.int8)))
    out, cursor = [], 0
    for start, end in zip(change[0::2], change[1::2]):  # the replaced runs
        inside = np.flatnonzero(real & (spans[:, 0] >= start) & (spans[:, 1] <= end))
        decode = tok if callable(tok) and not hasattr(tok, "decode") else tok.decode
        out += [text[cursor:start], decode(new_ids[inside].tolist())]
        cursor = end
    return "".join(out) + text[cursor:]


# ----------------------------------------------------------------------------- identity, seeds, invariance


def test_edited_corpus_keeps_every_other_byte(corpus, tok):
    """Every embedded corpus document (four scripts' worth of punctuation, long works),
    edited at about a third of its tokens with flags known in advance: each output is the
    source with exactly the edited characters replaced."""
    docs = [r["text"] for r in corpus[::3]]
    assert len(docs) > 700
    flag_ids = {i for i in range(len(tok)) if i % 3 == 1} - set(tok.all_special_ids)
    words = [i for t, i in tok.get_vocab().items() if t.startswith("Ġ") and t[1:].isascii() and t[1:].isalpha()]
    replacements = sorted(words, key=lambda i: -len(tok.convert_ids_to_tokens(i)))[:4]
    editor = ToEditor(OracleLM(len(tok), flag_ids, replacements, 256), tok, threshold=0.5, k=3,
                      exclude_original=True, batch_size=64, chunk_docs=512)
    results = editor.edit_texts(docs, seed=0, return_probs=True)
    encs = tok.backend_tokenizer.encode_batch(docs)
    bad = []
    for doc, enc, res in zip(docs, encs, results):
        new = np.asarray(enc.ids, dtype=np.int64)
        new[res.flagged_positions] = res.drawn_ids
        if res.text != _rebuilt(doc, enc.offsets, res.flagged_positions, new, tok):
            bad.append(doc[:40])
    assert not bad, f"{len(bad)} documents differ, e.g. {bad[:3]}"
    assert sum(r.changed for r in results) > 0.2 * sum(r.scored for r in results) > 100_000


def test_same_seed_same_output_and_seed_matters(gpt2, tok, texts):
    editor = ToEditor(gpt2, tok, batch_size=4)
    editor.threshold, _ = _quantile_threshold(editor, texts, 0.8)
    a = [r.text for r in editor.edit_texts(texts, seed=7)]
    b = [r.text for r in editor.edit_texts(texts, seed=7)]
    c = [r.text for r in editor.edit_texts(texts, seed=8)]
    assert a == b and a != c


def test_batch_size_composition_and_order_invariance(gpt2, tok, texts):
    base = ToEditor(gpt2, tok, batch_size=32)
    threshold, _ = _quantile_threshold(base, texts, 0.85)
    ids = list(range(len(texts)))
    ref = None
    perm = list(range(len(texts)))
    random.Random(0).shuffle(perm)
    for batch_size, chunk in [(32, 256), (1, 256), (3, 2), (7, 5)]:
        editor = ToEditor(gpt2, tok, threshold=threshold, batch_size=batch_size, chunk_docs=chunk)
        out = [r.text for r in editor.edit_texts(texts, ids=ids, seed=3)]
        if ref is None:
            ref = out
            assert sum(a != b for a, b in zip(out, texts)) > 0
        assert out == ref
        shuffled = editor.edit_texts([texts[i] for i in perm], ids=[ids[i] for i in perm], seed=3)
        assert [r.text for r in shuffled] == [ref[i] for i in perm]
    # a document alone gives what it gave among the others
    alone = ToEditor(gpt2, tok, threshold=threshold).edit_texts([texts[4]], ids=[4], seed=3)[0].text
    assert alone == ref[4]


# ----------------------------------------------------------------------------- strategies, stats, API


def test_drop_low_deletes_exactly_the_low_tokens(gpt2, tok, texts):
    editor = ToEditor(gpt2, tok, strategy="drop_low")
    low, _ = _quantile_threshold(editor, texts[:3], 0.1)
    editor.low_threshold = low
    res = editor.edit_texts(texts[:3], return_probs=True)
    for text, r in zip(texts[:3], res):
        ids = np.asarray(tok(text)["input_ids"])
        keep = ~(np.nan_to_num(r.probs, nan=1.0) < low)
        assert r.dropped == (~keep).sum() > 0 and r.flagged == 0
        assert r.text == tok.decode(ids[keep].tolist())  # byte-level: decoding the kept ids


def test_stats_and_histograms(gpt2, tok, texts):
    editor = ToEditor(gpt2, tok, strategy="resample_high_drop_low", fine_bins=50)
    editor.threshold, probs = _quantile_threshold(editor, texts, 0.9)
    editor.low_threshold = float(np.quantile(probs, 0.05))
    results = editor.edit_texts(texts + [""], return_probs=True)
    stats = EditStats(fine_bins=50).update(results)
    d = stats.to_dict()
    assert d["documents"] == len(texts) + 1 and d["empty_documents"] == 1
    assert sum(d["histogram"]["table6"]["counts"]) == d["scored"] == sum(d["histogram"]["fine"]["counts"])
    allp = np.concatenate([r.probs for r in results])
    counts, _ = toedit.token_probability_histogram(allp, 10)
    np.testing.assert_array_equal(counts, d["histogram"]["table6"]["counts"])
    assert d["flagged"] > 0 and d["dropped"] > 0 and 0 <= d["changed"] <= d["flagged"]
    assert results[-1].text == "" and results[-1].tokens == 0


def test_iterate_reports_each_generation(gpt2, tok, texts):
    editor = ToEditor(gpt2, tok)
    editor.threshold, _ = _quantile_threshold(editor, texts, 0.9)
    it = editor.iterate(texts[:5], generations=3, seed=0)
    assert len(it.texts) == 4 and it.texts[0] == texts[:5] and len(it.flagged_fraction) == 3
    assert all(0 < f < 1 for f in it.flagged_fraction)
    again = editor.edit_texts(it.texts[1], ids=[toedit.text_key(t) for t in texts[:5]], seed=0, generation=2)
    assert [r.text for r in again] == it.texts[2]


def test_instruction_records_keep_the_prompt(gpt2, tok, texts):
    editor = ToEditor(gpt2, tok)
    editor.threshold, _ = _quantile_threshold(editor, texts, 0.8)
    records = [{"id": i, "prompt": texts[i][:80], "response": texts[i + 1]} for i in range(4)]
    alone, res_a = editor.edit_records(records, text_field="response", prompt_field="prompt")
    cond, res_c = editor.edit_records(records, text_field="response", prompt_field="prompt",
                                      condition_on_prompt=True)
    for rec, a, c in zip(records, alone, cond):
        assert a["prompt"] == rec["prompt"] == c["prompt"] and a["id"] == rec["id"]
    plain = editor.edit_texts([r["response"] for r in records], ids=[0, 1, 2, 3])
    assert [r["response"] for r in alone] == [r.text for r in plain]  # official: response alone
    assert [r.scored for r in res_c] != [r.scored for r in res_a]  # first response token scored in context


def test_edit_dataset_matches_edit_texts(gpt2, tok, texts):
    from datasets import Dataset

    editor = ToEditor(gpt2, tok)
    editor.threshold, _ = _quantile_threshold(editor, texts, 0.8)
    ds = Dataset.from_list([{"id": f"d{i}", "text": t} for i, t in enumerate(texts)])
    out = editor.edit_dataset(ds, seed=2, map_batch_size=5)
    ref = editor.edit_texts(texts, ids=[f"d{i}" for i in range(len(texts))], seed=2)
    assert out["text"] == [r.text for r in ref]
    assert out["toedit"][0]["tokens"] == ref[0].tokens


# ----------------------------------------------------------------------------- command line


def _write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_cli_roundtrip_formats_and_stats(prior_dir, texts, tmp_path):
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, [{"id": i, "text": t, "meta": i * 2} for i, t in enumerate(texts)] + [{"id": 99, "text": ""}])
    common = ["--model", str(prior_dir), "--threshold", "0.01", "--no-progress", "--seed", "4"]
    assert main(common + ["--input", str(src), "--output", str(tmp_path / "out.jsonl")]) == 0
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in out] == list(range(len(texts))) + [99] and out[-1]["text"] == ""
    assert out[0]["meta"] == 0
    stats = json.loads((tmp_path / "out.stats.json").read_text())
    assert stats["documents"] == len(texts) + 1 and stats["empty_documents"] == 1
    assert sum(stats["histogram"]["table6"]["counts"]) == stats["scored"] > 0
    assert not list(tmp_path.glob("*.partial*")) and not list(tmp_path.glob("*.progress.json"))
    # gz in, parquet out, same texts
    gz = tmp_path / "in.jsonl.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    assert main(common + ["--input", str(gz), "--output", str(tmp_path / "out.parquet")]) == 0
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [r["text"] for r in table] == [r["text"] for r in out]
    assert main(common + ["--input", str(tmp_path / "out.parquet"), "--output", str(tmp_path / "o2.jsonl.gz"),
                          "--threshold", "1.5"]) == 0
    with gzip.open(tmp_path / "o2.jsonl.gz", "rt") as handle:
        assert [json.loads(line)["text"] for line in handle] == [r["text"] for r in out]
    # statistics only
    assert main(common + ["--input", str(src), "--stats-only", "--stats", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["flagged"] == stats["flagged"]


def test_cli_resumes_an_interrupted_run(prior_dir, texts, tmp_path, monkeypatch, capsys):
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, [{"text": t} for t in texts])  # no ids: documents are named by their text
    args = ["--model", str(prior_dir), "--input", str(src), "--threshold", "0.01", "--no-progress",
            "--chunk-docs", "3"]
    assert main(args + ["--output", str(tmp_path / "ref.jsonl")]) == 0
    real = ToEditor._score_docs
    calls = {"n": 0}

    def flaky(self, *a, **kw):  # chunks are written one forward pass behind (the next one overlaps)
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(self, *a, **kw)

    monkeypatch.setattr(ToEditor, "_score_docs", flaky)
    out = tmp_path / "out.jsonl"
    assert main(args + ["--output", str(out)]) == 130  # Ctrl-C: a message and the conventional code
    assert "run the same command again to resume" in capsys.readouterr().err
    assert not out.exists() and (tmp_path / "out.jsonl.progress.json").exists()
    assert json.loads((tmp_path / "out.jsonl.progress.json").read_text())["records_done"] == 6
    monkeypatch.setattr(ToEditor, "_score_docs", real)
    assert main(args + ["--output", str(out)]) == 0
    assert out.read_text() == (tmp_path / "ref.jsonl").read_text()
    ref_stats = json.loads((tmp_path / "ref.stats.json").read_text())
    new_stats = json.loads((tmp_path / "out.stats.json").read_text())
    assert new_stats["flagged"] == ref_stats["flagged"] and new_stats["documents"] == len(texts)


@pytest.mark.parametrize("content, message", [
    ('{"text": "fine"}\n{"text": broken}\n', "line 2: not valid JSON"),
    ('{"text": "fine"}\n\n{"body": "x"}\n', "line 3: missing field 'text'"),
    ('{"text": null}\n', "line 1: field 'text' is NoneType"),
    ('[1, 2]\n', "line 1: expected a JSON object"),
])
def test_cli_bad_input_lines(prior_dir, tmp_path, capsys, content, message):
    src = tmp_path / "bad.jsonl"
    src.write_text(content)
    out = tmp_path / "out.jsonl"
    rc = main(["--model", str(prior_dir), "--input", str(src), "--output", str(out), "--no-progress"])
    assert rc == 2
    err = capsys.readouterr().err
    assert message in err and "bad.jsonl" in err
    assert list(tmp_path.iterdir()) == [src]  # no output, no sidecars


def test_cli_missing_input_and_bad_model(prior_dir, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert main(["--model", str(prior_dir), "--input", str(tmp_path / "nope.jsonl"), "--output", str(out)]) == 2
    assert "input file not found" in capsys.readouterr().err
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, [{"text": "hello"}])
    assert main(["--model", str(tmp_path / "no-model"), "--input", str(src), "--output", str(out)]) == 3
    assert "cannot load the prior" in capsys.readouterr().err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_api_rejects_bad_options(gpt2, tok):
    with pytest.raises(ValueError):
        ToEditor(gpt2, tok, strategy="nope")
    with pytest.raises(ValueError):
        ToEditor(gpt2, tok, sampler="nope")
    with pytest.raises(CorpusFormatError):
        records.detect_format("x.csv")


def test_half_precision_prior(gpt2, tok, texts):
    """A bf16 prior (as on a GPU): logits are upcast block by block; P stays close to
    float32, edits stay valid, and nothing flagged still means byte-identical text."""
    import copy

    half = copy.deepcopy(gpt2).to(torch.bfloat16)
    ref = ToEditor(gpt2, tok).score_texts(texts[:4])
    got = ToEditor(half, tok).score_texts(texts[:4])
    for r, g in zip(ref, got):
        assert g.dtype == np.float32 and np.isnan(g[0])
        np.testing.assert_allclose(g[1:], r[1:], rtol=0.1, atol=1e-3)  # bf16 keeps 8 bits of mantissa
    threshold, _ = _quantile_threshold(ToEditor(half, tok), texts, 0.8)
    results = ToEditor(half, tok, threshold=threshold).edit_texts(texts, seed=0)
    assert sum(r.changed for r in results) > 0
    assert all((r.text != t) == (r.changed > 0) for r, t in zip(results, texts))
    untouched = ToEditor(half, tok, threshold=1.01).edit_texts(texts, seed=0)
    assert [r.text for r in untouched] == texts


def test_constructing_an_editor_leaves_the_allocator_alone(gpt2, tok, monkeypatch):
    from tokedit_utils.toedit import cpu

    def refuse(*a, **kw):
        raise AssertionError("ToEditor changed a process-wide setting")

    monkeypatch.setattr(cpu, "tune_cpu_allocator", refuse)
    ToEditor(gpt2, tok).edit_texts(["a short text"])


def test_executor_flag_hands_over_to_the_cluster_command(monkeypatch):
    import sys
    from types import ModuleType

    seen = []
    fake = ModuleType("tokedit_utils.toedit.cluster")
    fake.main = lambda argv: seen.append(argv) or 7
    monkeypatch.setitem(sys.modules, "tokedit_utils.toedit.cluster", fake)
    import tokedit_utils.toedit

    monkeypatch.setattr(tokedit_utils.toedit, "cluster", fake, raising=False)
    argv = ["--executor", "local", "--model", "m", "--input", "i.jsonl"]
    assert main(argv) == 7 and seen == [argv]
