"""The editing command (and the corpus loader) on a user's files: never lose or corrupt data.

One test per finding of the probe in issue 11, each failing on the code before the fix,
and a property test that round-trips random Arrow tables through the command.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import os
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tokedit_utils.toolkit import data
from tokedit_utils.toedit import ToEditor, main
from tokedit_utils.toedit.cli import build_parser

NOTHING = ["--threshold", "2"]  # above 1: nothing is flagged, every document comes back unchanged


def _run(prior, src, out, *extra):
    return main(["--model", str(prior), "--input", str(src), "--output", str(out), "--no-progress", *extra])


def _write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _columns_equal(a: pa.Table, b: pa.Table) -> None:
    """Same schema, and the same values, column by column (NaN equal to NaN)."""
    assert a.schema == b.schema
    for name in a.column_names:
        left, right = a.column(name).to_pylist(), b.column(name).to_pylist()
        assert _same(left, right), name


def _same(x, y) -> bool:
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y))
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_same(x[k], y[k]) for k in x)
    return type(x) is type(y) and x == y


def _side_table(texts_):
    n = len(texts_)
    utc = datetime.timezone.utc
    return pa.table({
        "id": pa.array(range(n), pa.int64()),
        "text": pa.array(texts_, pa.string()),
        "when": pa.array([datetime.datetime(2024, 1, 1 + i % 27, 12, 30, 1, 123456, tzinfo=utc) for i in range(n)],
                         pa.timestamp("us", tz="UTC")),
        "day": pa.array([datetime.date(2020, 2, 1 + i % 28) for i in range(n)], pa.date32()),
        "price": pa.array([decimal.Decimal(f"{i}.25") for i in range(n)], pa.decimal128(10, 2)),
        "blob": pa.array([bytes([0, i % 256, 255]) for i in range(n)], pa.binary()),
        "score": pa.array([float("nan") if i % 3 == 0 else i / 7 for i in range(n)], pa.float64()),
        "maybe": pa.array([None if i % 2 else i for i in range(n)], pa.int32()),
        "tags": pa.array([[i, i + 1] for i in range(n)], pa.list_(pa.int64())),
        "meta": pa.array([{"a": i, "b": f"x{i}"} for i in range(n)], pa.struct([("a", pa.int16()), ("b", pa.string())])),
    })


# 1 ----------------------------------------------------------------------------------------


def test_parquet_side_columns_keep_their_arrow_types(prior_dir, texts, tmp_path):
    table = _side_table(texts)
    pq.write_table(table, tmp_path / "in.parquet")
    assert _run(prior_dir, tmp_path / "in.parquet", tmp_path / "out.parquet", "--threshold", "0.01",
                "--chunk-docs", "4") == 0
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.column("text").to_pylist() != texts  # edited
    _columns_equal(out.drop_columns(["text"]), table.drop_columns(["text"]))
    assert out.schema == table.schema
    # with per-record statistics: one more column, the others untouched
    assert _run(prior_dir, tmp_path / "in.parquet", tmp_path / "s.parquet", "--threshold", "0.01",
                "--stats-field", "toedit") == 0
    with_stats = pq.read_table(tmp_path / "s.parquet")
    assert with_stats.column("text").to_pylist() == out.column("text").to_pylist()
    _columns_equal(with_stats.drop_columns(["text", "toedit"]), table.drop_columns(["text"]))
    stats = json.loads((tmp_path / "s.stats.json").read_text())
    assert sum(row["tokens"] for row in with_stats.column("toedit").to_pylist()) == stats["tokens"]


# 2 ----------------------------------------------------------------------------------------


def test_a_prior_without_a_fitting_tokenizer_is_refused(gpt2, tok, tmp_path, capsys):
    src = _write_jsonl(tmp_path / "in.jsonl", [{"text": "hello world"}])
    bare = tmp_path / "model-only"
    gpt2.save_pretrained(bare)  # no tokenizer files
    assert _run(bare, src, tmp_path / "out.jsonl") == 3
    assert "no usable tokenizer" in capsys.readouterr().err
    from transformers import GPT2Config, GPT2LMHeadModel

    small = tmp_path / "small-vocab"
    GPT2LMHeadModel(GPT2Config(vocab_size=100, n_positions=32, n_embd=16, n_layer=1, n_head=2)).save_pretrained(small)
    tok.save_pretrained(small)  # 512 tokens for a 100-token model
    assert _run(small, src, tmp_path / "out.jsonl") == 3
    assert "do not belong together" in capsys.readouterr().err
    assert not (tmp_path / "out.jsonl").exists()


# 3 ----------------------------------------------------------------------------------------


def test_output_that_is_the_input_is_refused(tmp_path, capsys, monkeypatch):
    src = _write_jsonl(tmp_path / "in.jsonl", [{"text": "hello world"}])
    before = src.read_bytes()
    (tmp_path / "link.jsonl").symlink_to(src)
    monkeypatch.chdir(tmp_path)
    for out in (src, "./in.jsonl", tmp_path / "sub" / ".." / "in.jsonl", tmp_path / "link.jsonl"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        # checked before the model loads: a missing model would be exit 3
        assert _run(tmp_path / "no-model", src, out, "--overwrite") == 2
        assert "is the input file" in capsys.readouterr().err
    assert src.read_bytes() == before


# 4 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("option, value", [
    ("--threshold", "nan"), ("--threshold", "-1"), ("--low-threshold", "5"), ("--low-threshold", "-0.1"),
    ("--top-p", "0"), ("--top-p", "1.5"), ("--k", "0"), ("--beta", "0"), ("--beta", "inf"),
    ("--batch-size", "0"), ("--chunk-docs", "0"), ("--stride", "0"), ("--max-length", "1"),
    ("--generation", "0"),
])
def test_numeric_options_are_checked_before_the_model_loads(tmp_path, capsys, option, value):
    src = _write_jsonl(tmp_path / "in.jsonl", [{"text": "hello world"}])
    # a missing model: exit 2 (not 3) proves the check comes first
    assert _run(tmp_path / "no-model", src, tmp_path / "out.jsonl", option, value) == 2
    name = option.lstrip("-").replace("-", "_")
    assert re.search(rf"error: {name} must be", capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_statistics_are_strict_json(prior_dir, texts, tmp_path):
    src = _write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in texts[:3]] + [{"text": ""}])
    assert _run(prior_dir, src, tmp_path / "out.jsonl", "--threshold", "0.01") == 0

    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    stats = json.loads((tmp_path / "out.stats.json").read_text(), parse_constant=refuse)
    assert stats["documents"] == 4 and stats["empty_documents"] == 1


# 5 ----------------------------------------------------------------------------------------


def test_parquet_output_schema_comes_from_the_input(prior_dir, tmp_path):
    """A column null in the first 4096 rows (one parquet row group of the old writer)."""
    n = 4100
    table = pa.table({"text": [f"doc {i}" for i in range(n)],
                      "note": pa.array([None] * 4096 + ["late"] * (n - 4096), pa.string())})
    pq.write_table(table, tmp_path / "in.parquet")
    assert _run(prior_dir, tmp_path / "in.parquet", tmp_path / "out.parquet", *NOTHING,
                "--chunk-docs", "1024") == 0
    _columns_equal(pq.read_table(tmp_path / "out.parquet"), table)
    # JSON Lines in, parquet out: the type is inferred from every record, not the first rows
    _write_jsonl(tmp_path / "in.jsonl", table.to_pylist())
    assert _run(prior_dir, tmp_path / "in.jsonl", tmp_path / "out2.parquet", *NOTHING) == 0
    _columns_equal(pq.read_table(tmp_path / "out2.parquet"), table)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "in.jsonl", "in.parquet", "out.parquet", "out.stats.json", "out2.parquet", "out2.stats.json"]


# 6 ----------------------------------------------------------------------------------------


def test_outputs_follow_the_umask(prior_dir, tmp_path):
    src = _write_jsonl(tmp_path / "in.jsonl", [{"text": "hello world"}])
    old = os.umask(0o022)
    try:
        out = tmp_path / "out.jsonl"
        assert _run(prior_dir, src, out, *NOTHING) == 0
        assert oct(out.stat().st_mode & 0o777) == oct(0o644)
        assert oct((tmp_path / "out.stats.json").stat().st_mode & 0o777) == oct(0o644)
        os.umask(0o027)
        assert _run(prior_dir, src, out, *NOTHING, "--overwrite") == 0
        assert oct(out.stat().st_mode & 0o777) == oct(0o640)
    finally:
        os.umask(old)


# 7 ----------------------------------------------------------------------------------------


def test_library_inputs_raise_a_clear_type_error(gpt2, tok):
    editor = ToEditor(gpt2, tok)
    with pytest.raises(TypeError, match=r"texts\[1\] is NoneType, not a string"):
        editor.edit_texts(["fine", None])
    with pytest.raises(TypeError, match="not a single str"):
        editor.edit_texts("a string")
    with pytest.raises(TypeError, match="is int, not a string"):
        editor.edit_records([{"text": 3}])
    with pytest.raises(TypeError, match="not a single dict"):
        editor.edit_records({"text": "one record"})


# 8 ----------------------------------------------------------------------------------------


def test_ctrl_c_says_how_to_resume(prior_dir, texts, tmp_path, capsys, monkeypatch):
    src = _write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in texts[:4]])

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ToEditor, "_score_docs", interrupted)
    assert _run(prior_dir, src, tmp_path / "out.jsonl") == 130
    assert "interrupted" in capsys.readouterr().err


def test_help_shows_every_default():
    text = " ".join(build_parser().format_help().split())
    for flag, default in [("--seed SEED", "0"), ("--batch-size BATCH_SIZE", "32"), ("--chunk-docs CHUNK_DOCS", "256"),
                          ("--strategy {resample_high,resample_high_drop_low,drop_low}", "resample_high"),
                          ("--sampler {top_k,top_p,rejection}", "top_k"), ("--text-field TEXT_FIELD", "text"),
                          ("--id-field ID_FIELD", "id"), ("--generation GENERATION", "1"),
                          ("--threshold THRESHOLD", "0.99")]:
        assert re.search(re.escape(flag) + r" [^-]*?\(default: " + re.escape(default) + r"\)", text), flag


def test_a_directory_as_input_is_named_as_such(tmp_path, capsys):
    (tmp_path / "corpus.jsonl").mkdir()
    assert _run(tmp_path / "no-model", tmp_path / "corpus.jsonl", tmp_path / "out.jsonl") == 2
    assert "is a directory" in capsys.readouterr().err
    with pytest.raises(data.CorpusFormatError, match="is a directory"):
        data.validate_corpus_file(tmp_path / "corpus.jsonl")


def test_json_errors_give_the_whole_reason(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "fine"}\n{"text": "a\tb"}\n')  # a raw tab inside a JSON string
    assert _run(tmp_path / "no-model", src, tmp_path / "out.jsonl") == 2
    err = capsys.readouterr().err
    assert "line 2: not valid JSON (Invalid control character at column 12)" in err


def test_parquet_errors_name_rows(tmp_path, capsys):
    pq.write_table(pa.table({"text": ["a", "b", None]}), tmp_path / "in.parquet")
    assert _run(tmp_path / "no-model", tmp_path / "in.parquet", tmp_path / "out.jsonl") == 2
    assert "row 3: field 'text' is null" in capsys.readouterr().err
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "int.parquet")
    assert _run(tmp_path / "no-model", tmp_path / "int.parquet", tmp_path / "out.jsonl") == 2
    assert "column 'text' is int64, not a string" in capsys.readouterr().err
    with pytest.raises(data.CorpusFormatError, match="column 'text' is int64, not a string"):
        data.validate_corpus_file(tmp_path / "int.parquet")


def test_an_empty_input_says_so(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text("\n\n")
    assert _run(tmp_path / "no-model", src, tmp_path / "out.jsonl") == 2
    assert "holds no records" in capsys.readouterr().err


def test_an_existing_output_needs_overwrite(prior_dir, tmp_path, capsys):
    src = _write_jsonl(tmp_path / "in.jsonl", [{"text": "hello world"}])
    out = tmp_path / "out.jsonl"
    out.write_text("precious\n")
    assert _run(prior_dir, src, out, *NOTHING) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_text() == "precious\n"
    assert _run(prior_dir, src, out, *NOTHING, "--overwrite") == 0
    assert json.loads(out.read_text()) == {"text": "hello world"}


def test_repeated_ids_are_warned_about(prior_dir, tmp_path, capsys):
    src = _write_jsonl(tmp_path / "in.jsonl", [{"id": 5, "text": "a b c"}, {"id": "5", "text": "d e f"},
                                               {"id": 6, "text": "g h"}])
    assert _run(prior_dir, src, tmp_path / "out.jsonl", *NOTHING) == 0
    err = capsys.readouterr().err
    assert "warning: 1 record(s) repeat an earlier record's 'id' (first: '5')" in err


# the property --------------------------------------------------------------------------------

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # fixtures: tests/conftest.py

_UTC = datetime.timezone.utc
_COLUMN_KINDS = {
    "int": (pa.int64(), st.integers(-2**63, 2**63 - 1)),
    "float": (pa.float64(), st.floats(allow_nan=True, allow_infinity=True)),
    "bool": (pa.bool_(), st.booleans()),
    "string": (pa.string(), st.text()),
    "binary": (pa.binary(), st.binary(max_size=12)),
    "timestamp": (pa.timestamp("us", tz="UTC"),
                  st.datetimes(min_value=datetime.datetime(1900, 1, 1), max_value=datetime.datetime(2200, 1, 1),
                               timezones=st.just(_UTC))),
    "date": (pa.date32(), st.dates(min_value=datetime.date(1, 1, 1))),
    "decimal": (pa.decimal128(12, 4), st.decimals(min_value=-10**7, max_value=10**7, places=4,
                                                  allow_nan=False, allow_infinity=False)),
    "list": (pa.list_(pa.int32()), st.lists(st.integers(-2**31, 2**31 - 1), max_size=4)),
    "struct": (pa.struct([("x", pa.float32()), ("y", pa.list_(pa.string()))]),
               st.fixed_dictionaries({"x": st.floats(width=32, allow_nan=True),
                                      "y": st.lists(st.text(max_size=5), max_size=3)})),
}


@st.composite
def arrow_tables(draw):
    n = draw(st.integers(1, 12))
    kinds = draw(st.lists(st.sampled_from(sorted(_COLUMN_KINDS)), min_size=1, max_size=5))
    columns = {"text": pa.array(draw(st.lists(st.text(max_size=40), min_size=n, max_size=n)), pa.string())}
    for i, kind in enumerate(kinds):
        arrow_type, values = _COLUMN_KINDS[kind]
        column = draw(st.lists(st.one_of(st.none(), values), min_size=n, max_size=n))
        columns[f"c{i}_{kind}"] = pa.array(column, arrow_type)
    return pa.table(columns)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(table=arrow_tables(), chunk=st.integers(1, 5))
def test_any_arrow_table_round_trips_unchanged(prior_dir, tmp_path_factory, table, chunk):
    folder = tmp_path_factory.mktemp("roundtrip")
    pq.write_table(table, folder / "in.parquet")
    assert _run(prior_dir, folder / "in.parquet", folder / "out.parquet", *NOTHING, "--chunk-docs", str(chunk)) == 0
    _columns_equal(pq.read_table(folder / "out.parquet"), pq.read_table(folder / "in.parquet"))


def test_parquet_run_resumes_to_the_same_output(prior_dir, texts, tmp_path, monkeypatch):
    pq.write_table(_side_table(texts), tmp_path / "in.parquet")
    args = ["--threshold", "0.01", "--chunk-docs", "3"]
    assert _run(prior_dir, tmp_path / "in.parquet", tmp_path / "ref.parquet", *args) == 0
    real, calls = ToEditor._score_docs, []

    def flaky(self, *a, **kw):  # chunks are written one forward pass behind (the next one overlaps)
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(self, *a, **kw)

    monkeypatch.setattr(ToEditor, "_score_docs", flaky)
    assert _run(prior_dir, tmp_path / "in.parquet", tmp_path / "out.parquet", *args) == 130
    assert len(list((tmp_path / "out.parquet.partial").glob("chunk-*.parquet"))) == 2
    monkeypatch.setattr(ToEditor, "_score_docs", real)
    assert _run(prior_dir, tmp_path / "in.parquet", tmp_path / "out.parquet", *args, "--stats-only",
                "--stats", str(tmp_path / "only.json")) == 0  # a stats-only run leaves the sidecars alone
    assert _run(prior_dir, tmp_path / "in.parquet", tmp_path / "out.parquet", *args) == 0
    _columns_equal(pq.read_table(tmp_path / "out.parquet"), pq.read_table(tmp_path / "ref.parquet"))
    assert not (tmp_path / "out.parquet.partial").exists()
    stats = [json.loads((tmp_path / name).read_text()) for name in ("ref.stats.json", "out.stats.json", "only.json")]
    assert stats[0]["flagged"] == stats[1]["flagged"] == stats[2]["flagged"] > 0
