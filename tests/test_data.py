import gzip
import json

import pytest

from tokedit_utils import data


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
