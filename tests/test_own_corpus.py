"""A reader's own corpus, of each shape the README promises, through the chain.

Each corpus is written from embedded-corpus documents (real text, so the tiny models have
something to learn) and run through the chain runner at smoke sizes with a profile file
outside profiles/, as a reader would. Each runs only what it alone can show: the six-domain
JSONL corpus (with a one-work domain and a one-document domain) goes through every chapter
and the verdict page; the one-domain text file through chapter 6 and what it reads (chapters
1, 2 and 4: its continual pre-training on the unseen half of the one domain's works); the
parquet folder through chapter 1, whose split is all a later chapter reads of a corpus, of
any format.
"""

import json

import nbformat
import pandas as pd
import pytest
import yaml

from tokedit_utils import book
from tokedit_utils.toolkit import data, paths
from tokedit_utils.chapters import verdicts


@pytest.fixture(scope="module")
def documents():
    corpus = data.load_embedded_corpus()["train"]
    keep = [i for i, d in enumerate(corpus["domain"]) if d in ("drama", "fiction", "speeches")]
    # documents of similar length (the first 300 words), so a split's share of the characters
    # is also its share of the documents and every test split has several documents
    return [{"domain": corpus[i]["domain"], "text": " ".join(corpus[i]["text"].split(" ")[:300])} for i in keep[::3]]


def _reader_jsonl(folder, docs):
    """The issue's corpus: {"id", "domain", "text"} with path-like ids; 'poetry' is one work
    (split by document, with a warning) and 'letters' one document (no held-out text)."""
    rows = []
    for n, doc in enumerate(docs[:80]):
        rows.append({"id": f"lib/author{n % 7}/book{n % 11}/ch{n}/part1", "domain": doc["domain"], "text": doc["text"]})
    rows += [{"id": f"lib/poet/collected/p{n}/part1", "domain": "poetry", "text": d["text"]} for n, d in enumerate(docs[80:100])]
    rows.append({"id": "lib/someone/letter/part1", "domain": "letters", "text": docs[100]["text"]})
    path = folder / "reader.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, {"letters": ["validation", "test"]}


def _one_txt(folder, docs):
    path = folder / "essays.txt"
    path.write_text("\n\n".join(" ".join(d["text"].split()) for d in docs[:60]) + "\n")
    return path, {}


def _parquet_folder(folder, docs):
    shards = folder / "webtext"
    shards.mkdir()
    for k in range(2):
        pd.DataFrame({"text": [d["text"] for d in docs[k * 30:(k + 1) * 30]]}).to_parquet(shards / f"part-{k}.parquet")
    return shards, {}


#: How far each corpus goes: the whole chain, chapter 6 and what it reads, chapter 1.
RUNS = {"_reader_jsonl": {}, "_one_txt": {"only": ["06_training"]}, "_parquet_folder": {"until": "01_corpora"}}


@pytest.mark.parametrize("shape", [_reader_jsonl, _one_txt, _parquet_folder], ids=lambda f: f.__name__.strip("_"))
def test_a_reader_corpus_runs_the_chain(shape, documents, tmp_path):
    corpus, missing = shape(tmp_path, documents)
    smoke = book.profile_overrides("smoke")
    profile = tmp_path / f"own{shape.__name__}.yml"
    profile.write_text(yaml.safe_dump({
        **smoke,
        # up to 40 documents per domain and split: a one-domain corpus still has the
        # 4,000 human training tokens the smoke mixtures need
        "01_corpora": {**smoke["01_corpora"], "corpus": corpus.name, "max_docs_per_domain": 40,
                       "synthetic_ratios": [0.0, 1.0]},
        "02_collapse": {**smoke["02_collapse"], "student_seeds": [0], "task_items": 8},
    }))
    logs = []
    book.run_chain(str(profile), log=logs.append, **RUNS[shape.__name__])
    name = profile.stem
    ch1 = paths.read_results(name, "01_corpora")
    assert ch1["corpus_settings"]["corpus"] == str(corpus)  # made absolute, relative to the profile file
    split = data.load_chapter1_corpus(name)
    assert data.missing_splits(split) == missing
    if shape is not _parquet_folder:
        ch2 = paths.read_results(name, "02_collapse")
        assert set(ch2["ppl_by_domain"]) == set(split["test"]["domain"])
        assert all(not r["folder"].startswith("/") for r in ch2["runs"])
    if shape is _reader_jsonl:
        # chapter 1 says, on its page, which domain was split by document and which has no held-out text
        nb = nbformat.read(paths.stage_dir(name, "01_corpora") / "01_corpora.ipynb", as_version=4)
        shown = json.dumps([c.get("outputs", []) for c in nb.cells])
        assert "*poetry*" in shown and "*letters*" in shown
    else:
        assert set(ch1["domains"]) == {corpus.stem}
    if shape is _parquet_folder:
        return
    # chapter 6: the generic SFT template, and continual pre-training on a domain of this corpus
    # (a one-domain corpus: on the unseen half of its works)
    ch6 = paths.read_results(name, "06_training")
    cpt_domain = ch6["regimes"]["cpt"]["domain"]
    if shape is _one_txt:
        assert cpt_domain == f"{corpus.stem} B"
    else:
        assert cpt_domain in set(split["train"]["domain"])
    nb6 = nbformat.read(paths.stage_dir(name, "06_training") / "06_training.ipynb", as_version=4)
    assert "continuation" in json.dumps([c.get("outputs", []) for c in nb6.cells])
    if shape is _one_txt:
        assert not paths.stage_dir(name, "03_statistics").exists()  # chapter 6 does not read it
        return
    assert paths.read_results(name, "07_ablations")["domain"] == cpt_domain
    # the verdict page found the claims of chapters 3-7 (chapter 2's depend on its ratios: 0% and
    # 100% only here, so "25% is close to human" is not run)
    parts = [p for r in paths.read_results(name, "08_verdicts")["claims_by_paper_number"] for p in r["parts"]]
    later = [p for p in parts if p["stem"] > "02_collapse"]
    assert {p["stem"] for p in later} == {"03_statistics", "04_editing", "05_theory", "06_training", "07_ablations"}
    assert all(p["verdict"] != verdicts.NOT_RUN for p in later)
