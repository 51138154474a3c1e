"""Score once, edit many times: :mod:`tokedit_utils.toedit.stored` against the forward pass."""

import numpy as np
import pytest

from tokedit_utils.toedit import EditConfig, ToEditor, stored

pytestmark = pytest.mark.usefixtures("one_thread")  # fixtures: tests/conftest.py


@pytest.fixture(scope="module")
def editor(gpt2, tok):
    # context 64, stride 32: the long texts are scored in several windows
    return ToEditor(gpt2, tok, batch_size=5)


@pytest.fixture(scope="module")
def scores(editor, texts):
    return stored.score(editor, texts, ids=list(range(len(texts))), candidates=16)


def _same(a, b):
    assert [r.text for r in a] == [r.text for r in b]
    for x, y in zip(a, b):
        assert (x.flagged, x.changed, x.dropped, x.scored) == (y.flagged, y.changed, y.dropped, y.scored)
        assert np.array_equal(x.interval_counts, y.interval_counts)
        assert np.array_equal(x.fine_counts, y.fine_counts)


# a random prior: P(x_i) is about 1e-3 (1% of tokens at >= 0.013)
CONFIGS = [dict(threshold=0.005), dict(threshold=0.002, k=3, beta=0.7), dict(threshold=0.005, exclude_original=True),
           dict(threshold=0.003, sampler="rejection", k=16), dict(threshold=0.004, sampler="top_p", top_p=0.02),
           dict(strategy="drop_low", low_threshold=0.0003),
           dict(strategy="resample_high_drop_low", threshold=0.005, low_threshold=0.0003)]


@pytest.mark.parametrize("options", CONFIGS, ids=[str(c) for c in CONFIGS])
def test_stored_scores_edit_as_the_forward_pass(editor, scores, texts, options):
    config = EditConfig(**options)
    forward = ToEditor(editor.model, editor.tokenizer, config, batch_size=3)
    for seed, generation in ((0, 1), (4, 2)):
        expected = forward.edit_texts(texts, ids=list(range(len(texts))), seed=seed, generation=generation)
        got = stored.apply(editor, scores, config, seed=seed, generation=generation)
        assert sum(r.changed + r.dropped for r in expected) > 0  # the comparison is not vacuous
        _same(got, expected)


def test_scores_are_the_engines_probabilities_and_survive_a_round_trip(editor, scores, texts, tmp_path):
    probs = editor.score_texts(texts)
    got = scores.per_document()
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(probs, got))
    assert np.all(np.diff(scores.cand_logits, axis=1) <= 0)  # candidates in decreasing order
    scores.save(tmp_path / "s.npz")
    back = stored.Scores.load(tmp_path / "s.npz")
    assert back.texts == scores.texts and back.keys == scores.keys
    _same(stored.apply(editor, back, EditConfig(threshold=0.005), seed=1),
          stored.apply(editor, scores, EditConfig(threshold=0.005), seed=1))


def test_configs_beyond_the_stored_candidates_are_refused(editor, scores):
    with pytest.raises(ValueError, match="k = 64 needs more than the 16 stored"):
        stored.apply(editor, scores, EditConfig(threshold=0.05, k=64))
    with pytest.raises(ValueError, match="allow_special"):
        stored.apply(editor, scores, EditConfig(threshold=0.05, allow_special=True))
    with pytest.raises(ValueError, match="less mass"):  # a random prior: 16 tokens hold little mass
        stored.apply(editor, scores, EditConfig(threshold=0.0, sampler="top_p", top_p=0.5))
    other = ToEditor(editor.model, editor.tokenizer, max_length=32)
    with pytest.raises(ValueError, match="windows"):
        stored.apply(other, scores)


def test_word_starts_and_allowed_positions(editor, scores, texts):
    starts = stored.word_starts(editor, scores)
    assert starts.shape == scores.probs.shape and 0 < starts.mean() < 1
    enc = editor.tokenizer(texts[0], return_offsets_mapping=True)
    pieces = [texts[0][a:b] for a, b in enc["offset_mapping"][1:]]  # scored positions of document 0
    n = len(pieces)
    for piece, flag, (a, _) in zip(pieces, starts[:n], enc["offset_mapping"][1:]):
        core = piece.lstrip()
        before = texts[0][a + len(piece) - len(core) - 1] if a + len(piece) - len(core) > 0 else " "
        assert flag == (bool(core) and core[0].isalnum() and not before.isalnum()), piece
    config = EditConfig(threshold=0.002)
    everywhere = stored.apply(editor, scores, config, seed=0, return_probs=True)
    limited = stored.apply(editor, scores, config, seed=0, return_probs=True, allowed=starts)
    flagged_all = sum(r.flagged for r in everywhere)
    assert 0 < sum(r.flagged for r in limited) < flagged_all
    assert int(((scores.probs >= 0.002) & starts).sum()) == sum(r.flagged for r in limited)
    # the probabilities and histograms are the same: only the flags differ
    assert all(np.array_equal(a.fine_counts, b.fine_counts) for a, b in zip(everywhere, limited))
