"""The command's files: the input checked whole and read in chunks, the edited chunks kept
in sidecars (so an interrupted run resumes), the output written in one atomic step.

JSON Lines input travels as dicts. Parquet input travels as Arrow tables: only the edited
column is replaced, every other column keeps its Arrow type and values (timestamps,
decimals, binary, nested types, NaN), and a parquet output has the input's schema.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from .records import (
    CorpusFormatError,
    atomic_write,
    detect_format,
    infer_schema,
    iter_records,
    require_text,
    write_records,
)


@dataclass
class Survey:
    """What the check of the whole input found."""

    records: int = 0
    repeated_ids: int = 0  # records whose id (as text) an earlier record already had
    first_repeated: object = None
    _seen: set = field(default_factory=set, repr=False)

    def see_id(self, rid) -> None:
        if rid is None:
            return
        key = str(rid)
        if key in self._seen:
            self.repeated_ids += 1
            if self.first_repeated is None:
                self.first_repeated = rid
        else:
            self._seen.add(key)


@dataclass
class Fields:
    text: str
    id: str | None
    prompt: str | None


class JsonlSource:
    """A ``.jsonl`` / ``.jsonl.gz`` input: chunks are lists of dicts."""

    unit = "line"

    def __init__(self, path: Path, fields: Fields):
        self.path, self.fields = path, fields

    def survey(self) -> Survey:
        survey = Survey()
        for line_no, rec in iter_records(self.path):
            require_text(rec, self.fields.text, self.path, line_no)
            if self.fields.prompt:
                require_text(rec, self.fields.prompt, self.path, line_no)
            if self.fields.id:
                survey.see_id(rec.get(self.fields.id))
            survey.records += 1
        return survey

    def chunks(self, skip: int, size: int) -> Iterator[list[dict]]:
        chunk = []
        for _, rec in iter_records(self.path, skip=skip):
            chunk.append(rec)
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def edit_chunks(self, editor, chunks: Iterable[list[dict]], **kw):
        """``(edited records, results)`` of each chunk, edited through one pipeline."""
        for _, edited, results in editor.edit_record_chunks(((c, c) for c in chunks), text_field=self.fields.text,
                                                            id_field=self.fields.id, prompt_field=self.fields.prompt,
                                                            **kw):
            yield edited, results


class ParquetSource:
    """A ``.parquet`` input: chunks are Arrow tables; only the edited column changes."""

    unit = "row"

    def __init__(self, path: Path, fields: Fields):
        import pyarrow.parquet as pq

        self.path, self.fields = path, fields
        try:
            self.file = pq.ParquetFile(path)
        except Exception as err:  # pyarrow raises several types for a corrupt file
            raise CorpusFormatError(f"{path}: cannot be read as parquet ({err})") from None
        self.schema = self.file.schema_arrow

    def _columns(self) -> list[str]:
        wanted = [self.fields.text, self.fields.prompt]
        if self.fields.id in self.schema.names:
            wanted.append(self.fields.id)
        return [c for c in wanted if c]

    def survey(self) -> Survey:
        import pyarrow as pa

        for name in (self.fields.text, self.fields.prompt):
            if not name:
                continue
            if name not in self.schema.names:
                raise CorpusFormatError(f"{self.path}: no column {name!r} (columns: {', '.join(self.schema.names)})")
            kind = self.schema.field(name).type
            if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
                raise CorpusFormatError(f"{self.path}: column {name!r} is {kind}, not a string")
        survey = Survey()
        for batch in self.file.iter_batches(batch_size=4096, columns=self._columns()):
            for name in (self.fields.text, self.fields.prompt):
                if name and batch.column(name).null_count:
                    row = survey.records + batch.column(name).is_null().to_pylist().index(True) + 1
                    raise CorpusFormatError(f"{self.path}, row {row}: field {name!r} is null, not a string")
            if self.fields.id in batch.schema.names:
                for rid in batch.column(self.fields.id).to_pylist():
                    survey.see_id(rid)
            survey.records += batch.num_rows
        return survey

    def chunks(self, skip: int, size: int):
        import pyarrow as pa

        seen, buffer, buffered = 0, [], 0
        for batch in self.file.iter_batches(batch_size=size):
            if seen + batch.num_rows <= skip:
                seen += batch.num_rows
                continue
            if seen < skip:
                batch = batch.slice(skip - seen)
            seen += batch.num_rows
            buffer.append(batch)
            buffered += batch.num_rows
            while buffered >= size:
                table = pa.Table.from_batches(buffer, schema=self.schema)
                yield table.slice(0, size)
                rest = table.slice(size)
                buffer, buffered = rest.to_batches(), rest.num_rows
        if buffered:
            yield pa.Table.from_batches(buffer, schema=self.schema)

    def edit_chunks(self, editor, tables, *, stats_field=None, **kw):
        """``(edited table, results)`` of each table, edited through one pipeline; only the
        edited column (and the statistics column) changes."""
        import pyarrow as pa

        names = self._columns()
        light = ((table, [dict(zip(names, row)) for row in zip(*(table.column(c).to_pylist() for c in names))])
                 for table in tables)
        for table, _, results in editor.edit_record_chunks(light, text_field=self.fields.text, id_field=self.fields.id,
                                                           prompt_field=self.fields.prompt, **kw):
            index = table.schema.get_field_index(self.fields.text)
            column = pa.array([r.text for r in results], type=table.schema.field(index).type)
            table = table.set_column(index, table.schema.field(index), column)
            if stats_field:
                table = _set_column(table, stats_field, pa.array([r.stats() for r in results], type=stats_type()))
            yield table, results

    def output_schema(self, stats_field: str | None):
        if not stats_field:
            return self.schema
        return _set_column(self.schema.empty_table(), stats_field, stats_type()).schema


def stats_type():
    """The Arrow type of the per-record statistics column (``--stats-field``)."""
    import pyarrow as pa

    from .results import COUNTS

    return pa.struct([(name, pa.int64()) for name in COUNTS])


def _set_column(table, name, column):
    import pyarrow as pa

    if isinstance(column, pa.DataType):
        column = pa.nulls(table.num_rows, type=column)
    index = table.schema.get_field_index(name)
    if index >= 0:
        return table.set_column(index, name, column)
    return table.append_column(name, column)


def open_source(path: Path, fields: Fields):
    return ParquetSource(path, fields) if detect_format(path) == "parquet" else JsonlSource(path, fields)


class JsonlPartial:
    """Edited records appended to ``OUTPUT.partial.jsonl``; a checkpoint is its size."""

    def __init__(self, output: Path):
        self.path = output.with_name(output.name + ".partial.jsonl")

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(b"")

    def resume(self, checkpoint) -> None:
        with open(self.path, "r+b") as handle:  # drop anything written after the last checkpoint
            handle.truncate(checkpoint)

    def write(self, records: list[dict]):
        import os

        from .records import dumps

        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write("".join(dumps(r) + "\n" for r in records))
            handle.flush()
            os.fsync(handle.fileno())
        return self.path.stat().st_size

    def finish(self, output: Path, source) -> None:
        import pyarrow as pa

        records = lambda: (record for _, record in iter_records(self.path))  # noqa: E731
        try:  # a parquet output's schema is inferred from all records: two passes, streaming
            schema = infer_schema(records()) if detect_format(output) == "parquet" else None
            write_records(output, records(), schema=schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as err:
            raise CorpusFormatError(f"{output}: these records cannot be written as parquet ({err}); "
                                    f"write a .jsonl output instead") from None

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


class ParquetPartial:
    """Edited chunks as parquet files in ``OUTPUT.partial/``; a checkpoint is their number."""

    def __init__(self, output: Path, stats_field: str | None):
        self.path = output.with_name(output.name + ".partial")
        self.stats_field = stats_field
        self.count = 0

    def _chunk(self, i: int) -> Path:
        return self.path / f"chunk-{i:08d}.parquet"

    def start(self) -> None:
        self.remove()
        self.path.mkdir(parents=True)

    def resume(self, checkpoint) -> None:
        self.count = int(checkpoint)
        for extra in self.path.glob("chunk-*.parquet"):
            if int(extra.stem.split("-")[1]) >= self.count:
                extra.unlink()

    def write(self, table):
        import pyarrow.parquet as pq

        with atomic_write(self._chunk(self.count), "path") as tmp:
            pq.write_table(table, tmp)
        self.count += 1
        return self.count

    def _tables(self, schema):
        import pyarrow.parquet as pq

        for i in range(self.count):
            yield pq.read_table(self._chunk(i), schema=schema)

    def finish(self, output: Path, source) -> None:
        import pyarrow.parquet as pq

        schema = source.output_schema(self.stats_field)
        if detect_format(output) == "parquet":
            with atomic_write(output, "path") as tmp, pq.ParquetWriter(tmp, schema) as writer:
                for table in self._tables(schema):
                    writer.write_table(table)
        else:
            write_records(output, (row for table in self._tables(schema) for row in table.to_pylist()))

    def remove(self) -> None:
        if self.path.is_dir():
            shutil.rmtree(self.path)


def partial_for(source, output: Path, stats_field: str | None):
    return ParquetPartial(output, stats_field) if isinstance(source, ParquetSource) else JsonlPartial(output)


class OutputBusyError(RuntimeError):
    """Another process is writing the same output."""


def check_writable(path: Path) -> None:
    """A PermissionError naming the folder when ``path`` cannot be created: its folder, or
    the nearest existing folder above it (which would hold the new ones), must be writable."""
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: is a file, so {path} cannot be written")
    ids = {"effective_ids": True} if os.access in os.supports_effective_ids else {}
    if not os.access(folder, os.W_OK | os.X_OK, **ids):
        raise PermissionError(f"{folder}: permission denied: {path.name} cannot be written there")


@contextlib.contextmanager
def writer_lock(target: Path):
    """One writer per output: an exclusive OS lock (``flock``) on ``TARGET.lock``, held for
    the whole run. The OS drops it when the process dies, so a killed run never blocks the
    next one; a second run on the same output stops at once (OutputBusyError, naming the
    process that holds it). Folders made for the lock are removed again if left empty."""
    import fcntl

    path = target.with_name(target.name + ".lock")
    made = [p for p in reversed(path.parents) if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 256, 0).decode("utf-8", "replace").strip() or "another process"
                os.close(fd)
                raise OutputBusyError(f"{target} is being written by {holder}; wait for it to finish or stop "
                                      f"it (a stopped run resumes when the same command runs again)") from None
            try:  # the holder we waited on may have removed the file: lock the one on disk
                if os.path.samestat(os.fstat(fd), os.stat(path)):
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
            yield
        finally:
            path.unlink(missing_ok=True)
            os.close(fd)
    finally:
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty: a failed run leaves no folder behind
