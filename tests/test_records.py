"""Tests of tokedit_utils.toedit.records: streaming record files with errors that name file and line."""

from __future__ import annotations

import gzip
import json

import pytest

from tokedit_utils.toedit.records import (
    CorpusFormatError,
    detect_format,
    iter_records,
    require_text,
    write_records,
)

RECORDS = [{"id": i, "text": f"document {i} é", "n": i} for i in range(5)]


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.gz", "r.parquet"])
def test_roundtrip_and_skip(tmp_path, name):
    path = tmp_path / name
    assert write_records(path, iter(RECORDS)) == 5
    assert [r for _, r in iter_records(path)] == RECORDS
    assert [r["id"] for _, r in iter_records(path, skip=3)] == [3, 4]
    assert [n for n, _ in iter_records(path)] == [1, 2, 3, 4, 5]
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary files left


def test_line_numbers_count_blank_lines(tmp_path):
    path = tmp_path / "r.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write('{"text": "a"}\n\n{"text": "b"}\n{oops\n')
    with pytest.raises(CorpusFormatError, match=r"r\.jsonl\.gz, line 4: not valid JSON"):
        list(iter_records(path))


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="input file not found"):
        list(iter_records(tmp_path / "missing.jsonl"))
    with pytest.raises(CorpusFormatError, match="unknown file type"):
        detect_format("x.txt")
    (tmp_path / "a.jsonl").write_text(json.dumps([1]) + "\n")
    with pytest.raises(CorpusFormatError, match="line 1: expected a JSON object"):
        list(iter_records(tmp_path / "a.jsonl"))
    with pytest.raises(CorpusFormatError, match="line 7: missing field 'text'"):
        require_text({"body": "x"}, "text", "f.jsonl", 7)
    with pytest.raises(CorpusFormatError, match="is int, not a string"):
        require_text({"text": 3}, "text", "f.jsonl", 1)
    (tmp_path / "bad.jsonl.gz").write_bytes(b"not gzip at all")
    with pytest.raises(CorpusFormatError, match="cannot be read"):
        list(iter_records(tmp_path / "bad.jsonl.gz"))


def test_failed_write_leaves_nothing(tmp_path):
    def broken():
        yield {"text": "a"}
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_records(tmp_path / "out.jsonl", broken())
    assert list(tmp_path.iterdir()) == []


def test_parquet_schema_is_inferred_from_every_record(tmp_path):
    import pyarrow.parquet as pq

    from tokedit_utils.toedit.records import infer_schema

    rows = [{"a": None, "b": 1}] * 3 + [{"a": "late", "b": 2.5}]
    assert str(infer_schema(rows, rows_per_group=2)) == "a: string\nb: double"
    assert write_records(tmp_path / "r.parquet", rows) == 4
    assert pq.read_table(tmp_path / "r.parquet").to_pylist() == [{"a": None, "b": 1.0}] * 3 + [rows[-1]]
