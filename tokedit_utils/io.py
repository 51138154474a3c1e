"""Streaming read and write of record files: ``.jsonl``, ``.jsonl.gz`` and ``.parquet``.

Records are dicts. Readers stream (one line, or one parquet batch, at a time) and every
error names the file and the 1-based line (for parquet: row) number. Writers go through
a temporary file and a rename, so a failed run never leaves a half-written output.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

FORMATS = ("jsonl", "jsonl.gz", "parquet")


class CorpusFormatError(ValueError):
    """Bad input data; the message names the file and the 1-based line (or row)."""


def detect_format(path) -> str:
    name = str(path).lower()
    if name.endswith(".jsonl.gz") or name.endswith(".json.gz"):
        return "jsonl.gz"
    if name.endswith(".jsonl") or name.endswith(".json"):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    raise CorpusFormatError(f"{path}: unknown file type; use one of .jsonl, .jsonl.gz, .parquet")


def iter_records(path, skip: int = 0) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, record)`` from ``path``, skipping the first ``skip`` records.

    Blank lines of a JSON Lines file are ignored (they are not records).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {path}")
    fmt = detect_format(path)
    if fmt == "parquet":
        yield from _iter_parquet(path, skip)
        return
    opener = gzip.open if fmt == "jsonl.gz" else open
    seen = 0
    try:
        # Binary lines, decoded one by one, so a bad byte is reported with its line.
        with opener(path, "rb") as handle:
            for line_no, raw in enumerate(handle, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise CorpusFormatError(
                        f"{path}, line {line_no}: bytes that are not UTF-8 ({err.reason} at byte {err.start})"
                    ) from None
                if not line.strip():
                    continue
                seen += 1
                if seen <= skip:
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise CorpusFormatError(f"{path}, line {line_no}: not valid JSON ({err.msg})") from None
                if not isinstance(record, dict):
                    raise CorpusFormatError(
                        f"{path}, line {line_no}: expected a JSON object, got {type(record).__name__}"
                    )
                yield line_no, record
    except (gzip.BadGzipFile, EOFError) as err:
        raise CorpusFormatError(f"{path}: cannot be read as {fmt} ({err})") from None


def _iter_parquet(path: Path, skip: int) -> Iterator[tuple[int, dict]]:
    import pyarrow.parquet as pq

    try:
        pfile = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for a corrupt file
        raise CorpusFormatError(f"{path}: cannot be read as parquet ({err})") from None
    row = 0
    for batch in pfile.iter_batches(batch_size=1024):
        if row + batch.num_rows <= skip:
            row += batch.num_rows
            continue
        for record in batch.to_pylist():
            row += 1
            if row > skip:
                yield row, record


def require_text(record: dict, field: str, path, line_no: int) -> str:
    """The string in ``record[field]``, or a CorpusFormatError naming file and line."""
    if field not in record:
        raise CorpusFormatError(f"{path}, line {line_no}: missing field {field!r} (fields: {sorted(record)})")
    value = record[field]
    if not isinstance(value, str):
        raise CorpusFormatError(f"{path}, line {line_no}: field {field!r} is {type(value).__name__}, not a string")
    return value


def _tmp_path(path: Path) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    return Path(tmp)


def write_records(path, records: Iterable[dict]) -> int:
    """Write records to ``path`` (format from its name) atomically; returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = detect_format(path)
    tmp = _tmp_path(path)
    count = 0
    try:
        if fmt == "parquet":
            count = _write_parquet(tmp, records)
        else:
            opener = gzip.open if fmt == "jsonl.gz" else open
            with opener(tmp, "wt", encoding="utf-8") as handle:
                for record in records:
                    handle.write(dumps(record) + "\n")
                    count += 1
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def dumps(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, default=str)


def _write_parquet(path: Path, records: Iterable[dict], rows_per_group: int = 4096) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    schema = None
    count = 0
    buffer: list[dict] = []

    def flush():
        nonlocal writer, schema
        if not buffer:
            return
        table = pa.Table.from_pylist(buffer, schema=schema)
        if writer is None:
            schema = table.schema
            writer = pq.ParquetWriter(path, schema)
        writer.write_table(table)
        buffer.clear()

    try:
        for record in records:
            buffer.append(record)
            count += 1
            if len(buffer) >= rows_per_group:
                flush()
        flush()
        if writer is None:  # no records: an empty file with an empty schema
            pq.write_table(pa.table({}), path)
    finally:
        if writer is not None:
            writer.close()
    return count


def read_jsonl_lines(path) -> Iterator[dict]:
    """Records of a plain JSON Lines file we wrote ourselves (no validation)."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
