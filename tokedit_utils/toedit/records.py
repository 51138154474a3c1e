"""Record files: ``.jsonl``, ``.jsonl.gz`` and ``.parquet``, read and written in one place.

Records are dicts. :func:`iter_records` is the one reader: it streams (one line, or one
parquet batch, at a time) and every error names the file and the 1-based line (for
parquet: row) number. :func:`atomic_write` is the one writer: everything is written to a
temporary file beside the target and renamed into place, so a failed run never leaves a
half-written file, and the file gets the usual permissions (``0666`` less the umask).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator


class CorpusFormatError(ValueError):
    """Bad input data; the message names the file and the 1-based line (or row)."""


def detect_format(path) -> str:
    """``"jsonl"``, ``"jsonl.gz"`` or ``"parquet"``, from the file name."""
    name = str(path).lower()
    if name.endswith(".jsonl.gz") or name.endswith(".json.gz"):
        return "jsonl.gz"
    if name.endswith(".jsonl") or name.endswith(".json"):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    raise CorpusFormatError(f"{path}: unknown file type; use one of .jsonl, .jsonl.gz, .parquet")


def check_input_file(path) -> Path:
    """``path`` as a Path if it is a readable file; else a clear error (not found, a folder)."""
    path = Path(path)
    if path.is_dir():
        raise CorpusFormatError(f"{path}: is a directory, not a file")
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {path}")
    try:
        open(path, "rb").close()
    except PermissionError:
        raise PermissionError(f"{path}: permission denied: the input cannot be read") from None
    return path


def iter_records(path, skip: int = 0) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, record)`` from ``path``, skipping the first ``skip`` records.

    Blank lines of a JSON Lines file are ignored (they are not records).
    """
    path = check_input_file(path)
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
                    reason = err.msg[:-3] if err.msg.endswith(" at") else err.msg  # "Invalid ... at"
                    raise CorpusFormatError(
                        f"{path}, line {line_no}: not valid JSON ({reason} at column {err.colno})"
                    ) from None
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


def require_text(record: dict, field: str, path, line_no: int, unit: str = "line") -> str:
    """The string in ``record[field]``, or a CorpusFormatError naming file and line (or row)."""
    if field not in record:
        raise CorpusFormatError(f"{path}, {unit} {line_no}: missing field {field!r} (fields: {sorted(record)})")
    value = record[field]
    if not isinstance(value, str):
        raise CorpusFormatError(
            f"{path}, {unit} {line_no}: field {field!r} is {type(value).__name__}, not a string")
    try:  # JSON can spell a lone UTF-16 surrogate (\ud800); it is not text, and tokenizers refuse it
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise CorpusFormatError(
            f"{path}, {unit} {line_no}: field {field!r} holds a lone surrogate "
            f"(\\u{ord(value[err.start]):04x} at character {err.start + 1}), which is not text") from None
    return value


def gzip_file(fileobj, mode: str = "wb") -> gzip.GzipFile:
    """A gzip stream over ``fileobj`` whose header holds no time and no file name (as
    ``gzip -n``), so the same content always gives the same bytes."""
    return gzip.GzipFile(filename="", fileobj=fileobj, mode=mode, mtime=0)


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it; set straight back
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path, mode: str = "w"):
    """Open a temporary file beside ``path`` (``mode`` "w", "wb" or "wt" with gzip for
    ``.gz`` names when ``mode`` is "gz"); on success it is renamed to ``path``, on any
    error removed. Yields the handle (``mode="path"`` yields the temporary path instead,
    for writers that open it themselves)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a normal output follows the umask
        if mode == "path":
            os.close(fd)
            yield tmp
        elif mode == "gz":
            with os.fdopen(fd, "wb") as raw, gzip_file(raw) as packed, \
                    io.TextIOWrapper(packed, encoding="utf-8") as handle:
                yield handle
        else:
            with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
                yield handle
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_records(path, records: Iterable[dict], schema=None) -> int:
    """Write records to ``path`` (format from its name) atomically; returns the count.

    Parquet: ``schema`` (a ``pyarrow.Schema``) fixes the column types; without it they are
    inferred from all records (a column that is null in the first rows is still typed by
    the later ones)."""
    fmt = detect_format(path)
    if fmt == "parquet":
        with atomic_write(path, "path") as tmp:
            return _write_parquet(tmp, records, schema)
    count = 0
    with atomic_write(path, "gz" if fmt == "jsonl.gz" else "w") as handle:
        for record in records:
            handle.write(dumps(record) + "\n")
            count += 1
    return count


def dumps(record: dict) -> str:
    """One JSON line. Values JSON has no type for are written as text: dates and times in
    ISO 8601, decimals as their digits, bytes as base64."""
    return json.dumps(record, ensure_ascii=False, default=json_default)


def json_default(value):
    """``json.dumps``'s ``default`` for values JSON has no type for (see :func:`dumps`)."""
    import base64
    import datetime
    import decimal

    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


def _write_parquet(path: Path, records: Iterable[dict], schema=None, rows_per_group: int = 4096) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if schema is None:  # infer from every record, then write in groups with that one schema
        records = list(records)
        schema = infer_schema(records, rows_per_group)
    count = 0
    with pq.ParquetWriter(path, schema) as writer:
        buffer: list[dict] = []
        for record in records:
            buffer.append(record)
            count += 1
            if len(buffer) >= rows_per_group:
                writer.write_table(pa.Table.from_pylist(buffer, schema=schema))
                buffer.clear()
        if buffer:
            writer.write_table(pa.Table.from_pylist(buffer, schema=schema))
    return count


def infer_schema(records: Iterable[dict], rows_per_group: int = 4096):
    """The Arrow schema of all ``records``, inferred a group of rows at a time and unified
    (a column that is null in one group takes its type from the others; ints and floats
    in one column become floats)."""
    import pyarrow as pa

    schemas, buffer = [], []
    for record in records:
        buffer.append(record)
        if len(buffer) >= rows_per_group:
            schemas.append(pa.Table.from_pylist(buffer).schema)
            buffer.clear()
    if buffer or not schemas:
        schemas.append(pa.Table.from_pylist(buffer).schema)
    return pa.unify_schemas(schemas, promote_options="permissive")


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file through a temporary file and a rename."""
    with atomic_write(path) as handle:
        handle.write(text)


def write_json(path: Path, payload) -> None:
    text = json.dumps(payload, indent=2, sort_keys=True, default=json_default)
    atomic_write_text(path, text + "\n")
