import gzip
import json

import pytest

from tokedit_utils.toolkit import data


@pytest.fixture(scope="module")
def corpus():
    return data.load_embedded_corpus()


def test_splits_are_disjoint_by_document_and_by_work(corpus):
    ids = {s: set(corpus[s]["id"]) for s in data.SPLITS}
    works = {s: set(corpus[s]["work"]) for s in data.SPLITS}
    for a in data.SPLITS:
        for b in data.SPLITS:
            if a < b:
                assert not ids[a] & ids[b]
                assert not works[a] & works[b], f"a work straddles {a} and {b}"
    assert sum(len(v) for v in ids.values()) == data.corpus_manifest()["total"]["docs"]


def test_every_domain_has_every_split(corpus):
    for split in data.SPLITS:
        assert set(corpus[split]["domain"]) == set(data.domains())


def test_split_is_deterministic(corpus):
    again = data.load_embedded_corpus()
    for split in data.SPLITS:
        assert again[split]["id"] == corpus[split]["id"]


def test_train_share_is_about_eighty_percent(corpus):
    chars = {s: sum(map(len, corpus[s]["text"])) for s in data.SPLITS}
    assert 0.7 < chars["train"] / sum(chars.values()) < 0.9


@pytest.mark.parametrize(
    "doc_id, work",
    [
        ("shakespeare/hamlet/act1-si/part2", "shakespeare/hamlet"),
        ("austen/emma/ch003", "austen/emma"),
        ("sotu/2023-Biden-1/part3", "sotu/2023-Biden-1"),
        ("jargon-file/887", "jargon-file/887"),
        ("python-docs/12-glossary/part1", "python-docs/12-glossary"),
    ],
)
def test_work_of(doc_id, work):
    assert data.work_of(doc_id) == work


def test_assign_splits_rejects_bad_fractions():
    with pytest.raises(ValueError):
        data.assign_splits({"a": 1}, (0.5, 0.2, 0.2))


def test_limit_per_domain(corpus):
    small = data.limit_per_domain(corpus, 3)
    for split in data.SPLITS:
        assert len(small[split]) == 3 * len(data.domains())


# ------------------------------------------------------------------ user corpora


def _write_jsonl(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_user_jsonl_gz_parquet_and_txt(tmp_path):
    records = [{"id": f"book{i % 5}/ch{i}", "text": f"document number {i}"} for i in range(40)]
    jsonl = _write_jsonl(tmp_path / "c.jsonl", [json.dumps(r) for r in records])
    with gzip.open(tmp_path / "c.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in records)
    import pandas as pd

    pd.DataFrame(records).to_parquet(tmp_path / "c.parquet")
    for name in ("c.jsonl", "c.jsonl.gz", "c.parquet"):
        dd = data.load_corpus(tmp_path / name)
        assert sum(len(dd[s]) for s in data.SPLITS) == 40
        # five works (book0..book4), each in one split only
        for split in data.SPLITS:
            for other in data.SPLITS:
                if split < other:
                    assert not set(dd[split]["work"]) & set(dd[other]["work"])
    (tmp_path / "t.txt").write_text("first paragraph\n\nsecond paragraph\n\nthird one\n")
    dd = data.load_corpus(tmp_path / "t.txt")
    assert sum(len(dd[s]) for s in data.SPLITS) == 3
    assert jsonl.exists()


def test_custom_text_field(tmp_path):
    path = _write_jsonl(tmp_path / "c.jsonl", [json.dumps({"body": f"text {i}"}) for i in range(9)])
    dd = data.load_corpus(path, text_field="body")
    assert "text" in dd["train"].column_names


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "the file is empty"),
        (b'{"text": "ok"}\n{"text": "ok", \n', "line 2: not valid JSON"),
        (b'{"text": "ok"}\n{"body": "no text"}\n', "line 2: missing field 'text'"),
        (b'{"text": "ok"}\n{"text": "ok"}\n{"text": "caf\xe9"}\n', "line 3: bytes that are not UTF-8"),
        (b'{"text": 3}\n', "line 1: field 'text' is int, not a string"),
        (b'[1, 2]\n', "line 1: expected a JSON object"),
        (b"\n\n", "holds no documents"),
    ],
)
def test_bad_user_corpus_names_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(data.CorpusFormatError) as err:
        data.load_corpus(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_missing_user_corpus(tmp_path):
    with pytest.raises(data.CorpusFormatError, match="no such file"):
        data.load_corpus(tmp_path / "nowhere.jsonl")


def test_bad_gzip_line_is_reported(tmp_path):
    path = tmp_path / "bad.jsonl.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b'{"text": "fine"}\nnot json\n')
    with pytest.raises(data.CorpusFormatError, match=r"line 2: not valid JSON"):
        data.validate_corpus_file(path)


def test_parquet_without_text_column(tmp_path):
    import pandas as pd

    pd.DataFrame({"body": ["a"]}).to_parquet(tmp_path / "p.parquet")
    with pytest.raises(data.CorpusFormatError, match="no column 'text'"):
        data.load_corpus(tmp_path / "p.parquet")


# ------------------------------------------------------------------ the work rule and corpus shapes


def _book_corpus(n_works=6, chapters=4, domain="novels"):
    """Path-like ids of a reader's corpus: collection/author/book/chapter/partN."""
    return [{"id": f"lib/author{w % 2}/book{w}/ch{c}/part1", "book": f"book{w}", "domain": domain,
             "text": f"chapter {c} of book {w} " * (5 + w)} for w in range(n_works) for c in range(chapters)]


def _splits_of(dd, column):
    out = {}
    for split in data.SPLITS:
        for value in dd[split][column]:
            out.setdefault(value, set()).add(split)
    return out


def test_work_field_keeps_works_whole_and_split_is_deterministic(tmp_path):
    path = _write_jsonl(tmp_path / "books.jsonl", [json.dumps(r) for r in _book_corpus()])
    dd = data.load_corpus(path, work_field="book")
    # six works of four documents each: every work lies in exactly one split, every split has one
    assert all(len(splits) == 1 for splits in _splits_of(dd, "work").values())
    assert all(len(dd[s]) % 4 == 0 and len(dd[s]) > 0 for s in data.SPLITS)
    assert set(dd["train"]["work"]) | set(dd["test"]["work"]) | set(dd["validation"]["work"]) == {f"book{w}" for w in range(6)}
    again = data.load_corpus(path, work_field="book")
    assert all(list(again[s]["id"]) == list(dd[s]["id"]) for s in data.SPLITS)


def test_a_field_named_work_can_be_the_work_field(tmp_path):
    rows = [{"work": r["book"], "text": r["text"]} for r in _book_corpus()]
    dd = data.load_corpus(_write_jsonl(tmp_path / "w.jsonl", [json.dumps(r) for r in rows]), work_field="work")
    assert len(_splits_of(dd, "work")) == 6


def test_missing_work_field_is_an_error(tmp_path):
    path = _write_jsonl(tmp_path / "books.jsonl", [json.dumps(r) for r in _book_corpus()])
    with pytest.raises(data.CorpusFormatError, match="no work field 'volume'"):
        data.load_corpus(path, work_field="volume")


def test_too_few_works_splits_the_domain_by_document_with_a_warning(tmp_path):
    # by the id convention the works are lib/author0 and lib/author1: two works, three splits
    path = _write_jsonl(tmp_path / "books.jsonl", [json.dumps(r) for r in _book_corpus()])
    with pytest.warns(UserWarning, match="domain 'novels' has 2 work"):
        dd = data.load_corpus(path)
    assert all(len(dd[s]) > 0 for s in data.SPLITS)
    assert any(len(splits) > 1 for splits in _splits_of(dd, "work").values())
    notes = data.split_notes(dd)
    assert len(notes) == 1 and "*novels*" in notes[0] and "one by one" in notes[0]


def test_enough_works_by_the_id_convention_are_never_split(tmp_path):
    records = [{"id": f"lib/shelf{w}/ch{c}/part{p}", "text": f"text of {w} {c} {p}"}
               for w in range(7) for c in range(3) for p in range(2)]
    path = _write_jsonl(tmp_path / "c.jsonl", [json.dumps(r) for r in records])
    dd = data.load_corpus(path)
    works = _splits_of(dd, "work")
    assert len(works) == 7 and all(len(s) == 1 for s in works.values())
    assert data.split_notes(dd) == []


def test_no_domain_field_gives_one_domain_named_after_the_file(tmp_path):
    path = _write_jsonl(tmp_path / "my_notes.jsonl", [json.dumps({"text": f"note {i}"}) for i in range(12)])
    dd = data.load_corpus(path)
    assert {d for s in data.SPLITS for d in dd[s]["domain"]} == {"my_notes"}
    # no ids: each document is its own work
    assert len(_splits_of(dd, "work")) == 12


def test_a_single_document_domain_has_no_held_out_text(tmp_path):
    records = [{"id": f"big/{i}", "domain": "big", "text": f"big text {i}"} for i in range(9)]
    records.append({"id": "lonely/1", "domain": "lonely", "text": "the only document"})
    path = _write_jsonl(tmp_path / "c.jsonl", [json.dumps(r) for r in records])
    with pytest.warns(UserWarning, match="domain 'lonely' has 1 document"):
        dd = data.load_corpus(path)
    assert data.missing_splits(dd) == {"lonely": ["validation", "test"]}
    assert any("*lonely*" in n and "no validation and no test" in n for n in data.split_notes(dd))


def test_a_folder_of_files_is_one_domain_named_after_the_folder(tmp_path):
    folder = tmp_path / "letters"
    folder.mkdir()
    for k in range(2):
        _write_jsonl(folder / f"part{k}.jsonl", [json.dumps({"text": f"letter {k}-{i}"}) for i in range(6)])
    dd = data.load_corpus(folder)
    assert {d for s in data.SPLITS for d in dd[s]["domain"]} == {"letters"}
    ids = [i for s in data.SPLITS for i in dd[s]["id"]]
    assert len(ids) == len(set(ids)) == 12


def test_txt_file_paragraphs_are_documents(tmp_path):
    (tmp_path / "novel.txt").write_text("".join(f"Paragraph {i} of the novel.\n\n" for i in range(10)))
    dd = data.load_corpus(tmp_path / "novel.txt", max_docs_per_domain=2)
    assert [len(dd[s]) for s in data.SPLITS] == [2, 1, 1]
    assert set(dd["train"]["domain"]) == {"novel"}


def test_load_chapter1_corpus_rebuilds_the_same_splits(tmp_path, monkeypatch):
    from tokedit_utils.toolkit import paths

    monkeypatch.setenv("TOKEDIT_RUNS", str(tmp_path / "runs"))
    path = _write_jsonl(tmp_path / "books.jsonl", [json.dumps(r) for r in _book_corpus()])
    settings = {"corpus": str(path), "text_field": "text", "work_field": "book", "max_docs_per_domain": 3}
    paths.write_results(paths.stage_dir("p", "01_corpora"), {"corpus_settings": settings})
    again = data.load_chapter1_corpus("p")
    direct = data.load_corpus(str(path), work_field="book", max_docs_per_domain=3)
    for s in data.SPLITS:
        assert list(again[s]["id"]) == list(direct[s]["id"])
        assert 0 < len(direct[s]) <= 3
