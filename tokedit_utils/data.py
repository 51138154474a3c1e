"""Corpora: the embedded human corpus and a user's own text, loaded with `datasets`.

Splits are made *by work*: a play, a novel, a book of the Bible, a speech, a section of the
Python docs or a WordNet lexicographer file never straddles two splits, so held-out text is
really unseen. The assignment is deterministic: within each domain, works are ordered by a
hash of their name and dealt greedily to whichever split is furthest below its share of the
domain's characters (80/10/10 by default), so each split of each domain gets at least one work.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable, Sequence

import datasets

from .records import CorpusFormatError, iter_records, require_text, write_records
from .paths import CORPUS_DIR

SPLITS = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
SUPPORTED_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".parquet", ".txt")


# --------------------------------------------------------------------------- embedded corpus


def corpus_manifest() -> dict:
    return json.loads((CORPUS_DIR / "MANIFEST.json").read_text())


def domains() -> list[str]:
    return sorted(corpus_manifest()["domains"])


def work_of(doc_id: str) -> str:
    """The work a document belongs to, from its id.

    ``shakespeare/hamlet/act1-si/part2`` -> ``shakespeare/hamlet``;
    ``sotu/2023-Biden-1/part3`` -> ``sotu/2023-Biden-1``; ``jargon-file/887`` -> itself.
    """
    parts = doc_id.split("/")
    if len(parts) > 1 and parts[-1].startswith("part") and parts[-1][4:].isdigit():
        parts = parts[:-1]
    return "/".join(parts[:2])


def assign_splits(work_sizes: dict[str, int], fractions: Sequence[float] = DEFAULT_FRACTIONS) -> dict[str, str]:
    """Deal works to splits deterministically so each split gets close to its share of size."""
    if len(fractions) != len(SPLITS) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three shares summing to 1, got {fractions}")
    order = sorted(work_sizes, key=lambda w: hashlib.sha256(w.encode()).hexdigest())
    total = sum(work_sizes.values()) or 1
    targets = {s: f * total for s, f in zip(SPLITS, fractions)}
    filled = dict.fromkeys(SPLITS, 0)
    assignment: dict[str, str] = {}
    # Seed each smaller split with the first work (in hash order) that fits its share, so a
    # domain with few works still has held-out text; then deal the rest to the neediest split.
    for split in SPLITS[1:]:
        if targets[split] > 0 and len(order) - len(assignment) > 1:
            free = [w for w in order if w not in assignment]
            work = next((w for w in free if work_sizes[w] <= targets[split]), min(free, key=work_sizes.get))
            assignment[work] = split
            filled[split] += work_sizes[work]
    for work in order:
        if work not in assignment:
            split = max(SPLITS, key=lambda s: targets[s] - filled[s])
            assignment[work] = split
            filled[split] += work_sizes[work]
    return assignment


def _read_embedded(domain_names: Iterable[str] | None = None) -> list[dict]:
    rows = []
    for name in domain_names or domains():
        path = CORPUS_DIR / f"{name}.jsonl.gz"
        rows.extend(record for _, record in iter_records(path))
    return rows


def load_embedded_corpus(
    domain_names: Sequence[str] | None = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    max_docs_per_domain: int | None = None,
) -> datasets.DatasetDict:
    """The embedded corpus as a DatasetDict with train/validation/test, split by work per domain.

    Columns: id, domain, source, work, text. ``max_docs_per_domain`` keeps the first documents
    of each split and domain (in corpus order) for small profiles.
    """
    rows = _read_embedded(domain_names)
    by_domain: dict[str, list[dict]] = {}
    for row in rows:
        row["work"] = work_of(row["id"])
        by_domain.setdefault(row["domain"], []).append(row)
    out = {s: [] for s in SPLITS}
    for domain in sorted(by_domain):
        sizes: dict[str, int] = {}
        for row in by_domain[domain]:
            sizes[row["work"]] = sizes.get(row["work"], 0) + len(row["text"])
        assignment = assign_splits(sizes, fractions)
        per_split = {s: [] for s in SPLITS}
        for row in by_domain[domain]:
            per_split[assignment[row["work"]]].append(row)
        for split in SPLITS:
            out[split].extend(per_split[split])
    columns = ["id", "domain", "source", "work", "text"]
    corpus = datasets.DatasetDict(
        {s: datasets.Dataset.from_dict({c: [r[c] for r in out[s]] for c in columns}) for s in SPLITS}
    )
    return limit_per_domain(corpus, max_docs_per_domain)


def limit_per_domain(corpus: datasets.DatasetDict, max_docs: int | None) -> datasets.DatasetDict:
    """Keep the first ``max_docs`` documents of each domain in each split (for small profiles)."""
    if max_docs is None:
        return corpus
    out = {}
    for split, ds in corpus.items():
        seen: dict[str, int] = {}
        keep = []
        for i, domain in enumerate(ds["domain"]):
            seen[domain] = seen.get(domain, 0) + 1
            if seen[domain] <= max_docs:
                keep.append(i)
        out[split] = ds.select(keep)
    return datasets.DatasetDict(out)


# --------------------------------------------------------------------------- user corpora


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in SUPPORTED_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    raise CorpusFormatError(f"{path}: unsupported file type; expected one of {', '.join(SUPPORTED_SUFFIXES)}")


def validate_corpus_file(path: str | os.PathLike, text_field: str = "text") -> int:
    """Check a user corpus file and return its number of documents.

    Raises CorpusFormatError naming the file and the 1-based line for: a missing or empty file,
    bytes that are not UTF-8, a line that is not a JSON object, a record without the text field
    or whose text is not a string.
    """
    path = Path(path)
    if path.is_dir():
        raise CorpusFormatError(f"{path}: is a directory, not a file")
    if not path.exists():
        raise CorpusFormatError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise CorpusFormatError(f"{path}: the file is empty")
    suffix = _suffix(path)
    if suffix == ".parquet":
        import pyarrow.parquet as pq  # only the schema and row count: no need to read the rows

        try:
            schema = pq.read_schema(path)
            rows = pq.read_metadata(path).num_rows
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise CorpusFormatError(f"{path}: not a readable parquet file ({exc})") from exc
        if text_field not in schema.names:
            raise CorpusFormatError(f"{path}: no column {text_field!r} (columns: {', '.join(schema.names)})")
        if str(schema.field(text_field).type) not in ("string", "large_string"):
            raise CorpusFormatError(f"{path}: column {text_field!r} is {schema.field(text_field).type}, not a string")
        if rows == 0:
            raise CorpusFormatError(f"{path}: the file has no rows")
        return rows
    count = 0
    if suffix == ".txt":
        with open(path, "rb") as handle:
            for lineno, raw in enumerate(handle, start=1):
                count += bool(raw.strip())
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise CorpusFormatError(f"{path}, line {lineno}: bytes that are not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    else:
        for lineno, record in iter_records(path):
            require_text(record, text_field, path, lineno)
            count += 1
    if count == 0:
        raise CorpusFormatError(f"{path}: the file holds no documents")
    return count


def load_corpus(
    source: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    text_field: str = "text",
    id_field: str | None = "id",
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    **hub_kwargs,
) -> datasets.DatasetDict:
    """Open a corpus as train/validation/test.

    ``None`` gives the embedded corpus. Local files (``.jsonl``, ``.jsonl.gz``, ``.json``,
    ``.parquet``, ``.txt``; one file, a list, or a folder of them) are validated first and
    loaded with ``datasets``; documents are split by work, taken from the id field's prefix
    when there is one (each document is its own work otherwise). Anything else is taken as a
    Hugging Face Hub dataset id (needs a network connection and HF_DATASETS_OFFLINE unset).
    """
    if source is None:
        return load_embedded_corpus(fractions=fractions)
    files = _local_files(source)
    if files is None:
        return _split_by_work(datasets.load_dataset(str(source), split="train", **hub_kwargs), text_field, id_field, fractions)
    for path in files:
        validate_corpus_file(path, text_field)
    kinds = {_suffix(p) for p in files}
    if len(kinds) > 1 and not kinds <= {".jsonl", ".jsonl.gz", ".json"}:
        raise CorpusFormatError(f"mixed file types in one corpus: {sorted(kinds)}")
    kind = kinds.pop()
    data_files = [str(p) for p in files]
    if kind == ".parquet":
        ds = datasets.load_dataset("parquet", data_files=data_files, split="train")
    elif kind == ".txt":
        ds = datasets.load_dataset("text", data_files=data_files, split="train", sample_by="paragraph")
    else:
        ds = datasets.load_dataset("json", data_files=data_files, split="train")
    return _split_by_work(ds, text_field, id_field, fractions)


def _local_files(source) -> list[Path] | None:
    if isinstance(source, (list, tuple)):
        return [Path(s) for s in source]
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(SUPPORTED_SUFFIXES))
        if not files:
            raise CorpusFormatError(f"{path}: folder holds no {', '.join(SUPPORTED_SUFFIXES)} files")
        return files
    # A name that is not on disk and has no corpus suffix is taken as a hub dataset id.
    if path.exists() or path.name.lower().endswith(SUPPORTED_SUFFIXES):
        return [path]
    return None


def _split_by_work(ds: datasets.Dataset, text_field: str, id_field: str | None, fractions) -> datasets.DatasetDict:
    if text_field not in ds.column_names:
        raise CorpusFormatError(f"dataset has no column {text_field!r} (columns: {', '.join(ds.column_names)})")
    if text_field != "text":
        ds = ds.rename_column(text_field, "text")
    has_id = bool(id_field) and id_field in ds.column_names
    ids = [str(i) for i in ds[id_field]] if has_id else [f"doc-{i:08d}" for i in range(len(ds))]
    works = [work_of(i) if has_id else i for i in ids]
    sizes: dict[str, int] = {}
    for work, text in zip(works, ds["text"]):
        sizes[work] = sizes.get(work, 0) + len(text)
    assignment = assign_splits(sizes, fractions)
    ds = ds.add_column("work", works)
    if "domain" not in ds.column_names:
        ds = ds.add_column("domain", ["all"] * len(ds))
    if not has_id:
        ds = ds.add_column("id", ids)
    return datasets.DatasetDict(
        {s: ds.select([i for i, w in enumerate(works) if assignment[w] == s]) for s in SPLITS}
    )


def write_jsonl_gz(path: str | os.PathLike, records: Iterable[dict]) -> None:
    """Write records as gzip JSON Lines through a temporary file and a rename."""
    write_records(path, records)
