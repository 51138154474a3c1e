"""The datatrove readers and writers of the command's record files: each input record travels
whole with its document, and is written back with only its edited field replaced, in the
bytes the single-process command writes."""

from __future__ import annotations

import json

import fsspec.compression
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.readers import ParquetReader
from datatrove.pipeline.readers.base import BaseDiskReader
from datatrove.pipeline.writers import ParquetWriter
from datatrove.pipeline.writers.disk_base import DiskWriter

from .records import CorpusFormatError, dumps, gzip_file, require_text

RECORD = "toedit_record"  # Document.metadata key holding the input record, carried to the writer


class _RecordReading:
    """Reader mixin: each input record becomes a Document carrying the whole record.

    Unlike datatrove's default adapter it keeps documents with empty text (the
    single-process command keeps them too) and stops at a record without a string in the
    text field (datatrove would skip it)."""

    def get_document_from_dict(self, data: dict, source_file: str, id_in_file: int):
        text = require_text(data, self.text_key, source_file, id_in_file + 1, unit=self.unit)
        rid = data.get(self.id_key)
        return Document(text=text, id=str(rid) if rid is not None else f"{source_file}/{id_in_file}",
                        metadata={RECORD: data})


class RecordJsonlReader(_RecordReading, BaseDiskReader):
    """JSON Lines shards (``.jsonl``, ``.jsonl.gz``), read as the single-file command reads
    them (stdlib json: datatrove's JsonlReader needs orjson): blank lines are skipped, and a
    line that is not a JSON object stops the task with its file and line number."""

    name = "JSON Lines records"
    unit = "line"

    def read_file(self, filepath: str) -> DocumentsPipeline:
        with self.data_folder.open(filepath, "rb", compression="infer") as handle:
            for line_no, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError) as err:
                    raise CorpusFormatError(f"{filepath}, line {line_no}: not valid JSON ({err})") from None
                if not isinstance(record, dict):
                    raise CorpusFormatError(f"{filepath}, line {line_no}: expected a JSON object")
                with self.track_time():
                    document = self.get_document_from_dict(record, filepath, line_no - 1)
                yield document


class RecordParquetReader(_RecordReading, ParquetReader):
    """Parquet shards, every column kept."""

    unit = "row"


class _RecordWriting:
    """Writer mixin: writes the document's record with its (edited) text field."""

    text_field = "text"

    def _default_adapter(self, document: Document) -> dict:
        record = dict(document.metadata.get(RECORD) or {"id": document.id})
        record[self.text_field] = document.text
        return record


GZIP_NO_TIME = "gzip-no-time"
fsspec.compression.register_compression(GZIP_NO_TIME, lambda f, mode="wb", **_: gzip_file(f, mode), [], force=True)


class RecordJsonlWriter(_RecordWriting, DiskWriter):
    """One JSON Lines shard per task, each line serialized as the single-process command
    serializes it (so the bytes are the same)."""

    default_output_filename = "${rank}.jsonl"
    name = "JSON Lines records"

    def __init__(self, output_folder, output_filename: str | None = None, compression: str | None = None,
                 text_field: str = "text"):
        super().__init__(output_folder, output_filename, compression=compression, mode="wb")
        self.text_field = text_field
        if compression == "gzip":  # fsspec's gzip stamps the time into the header; ours does not
            self.output_mg = self.output_folder.get_output_file_manager(mode="wb", compression=GZIP_NO_TIME)

    def _write(self, document: dict, file_handler, _filename: str):
        file_handler.write((dumps(document) + "\n").encode("utf-8"))


class RecordParquetWriter(_RecordWriting, ParquetWriter):
    """One parquet shard per task (not split by size, so its name is the task's)."""

    def __init__(self, output_folder, output_filename: str | None = None, text_field: str = "text"):
        super().__init__(output_folder, output_filename, max_file_size=-1)
        self.text_field = text_field
