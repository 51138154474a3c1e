"""Corpora: the embedded human corpus and a user's own text, loaded with `datasets`.

Splits are made **by work**: the work is the unit that never straddles two splits (a play,
a novel, a book of the Bible, a speech), so held-out text is really unseen. The work of a
document is, in this order:

1. the value of ``work_field``, when one is named (any column of the data);
2. else the id convention of :func:`work_of`: an id ``a/b/...`` belongs to the work ``a/b``
   (after dropping a trailing ``/partN``); an id without ``/`` is its own work;
3. else, without an id field, each document is its own work.

Within each domain, works are ordered by the SHA-256 of their name and dealt to the split
furthest below its share of the domain's characters (80/10/10 by default), after validation
and test each got one work (:func:`assign_splits`). The split is the same on every machine
and needs no seed. A domain with fewer works than splits cannot fill every split: it is then
split **document by document** (a warning names it, and :func:`split_notes` says so in the
chapter). A domain with fewer documents than splits has no text in some split; chapters skip
it there (:func:`missing_splits`).

The domain of a document is its ``domain`` field. Without one, a file's documents form one
domain named after the file (``my_books.jsonl.gz`` -> ``my_books``), a folder's after the
folder, and a hub dataset's after its id.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import datasets

from ..toedit.records import CorpusFormatError, iter_records, require_text, write_records
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
    columns = ["id", "domain", "source", "text"]
    ds = datasets.Dataset.from_dict({c: [r[c] for r in rows] for c in columns})
    return limit_per_domain(split_by_work(ds, fractions=fractions), max_docs_per_domain)


def split_by_work(
    ds: datasets.Dataset,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    work_field: str | None = None,
    id_field: str = "id",
) -> datasets.DatasetDict:
    """Split a Dataset with ``text`` and ``domain`` columns into train/validation/test by work.

    The work follows the rule of the module docstring; the result has ``id`` and ``work``
    columns too. Each split lists the domains in sorted order and, within a domain, the
    documents in corpus order. A domain with fewer works than non-empty splits is split by
    document, with a warning that names it.
    """
    if work_field is not None and work_field not in ds.column_names:
        raise CorpusFormatError(f"no work field {work_field!r} in the corpus (columns: {', '.join(ds.column_names)})")
    has_id = id_field in ds.column_names
    ids = [str(i) for i in ds[id_field]] if has_id else [f"doc-{i:08d}" for i in range(len(ds))]
    if work_field is not None:
        works = [str(w) for w in ds[work_field]]
    else:
        works = [work_of(i) for i in ids] if has_id else list(ids)
    texts, doc_domains = list(ds["text"]), [str(d) for d in ds["domain"]]
    by_domain: dict[str, list[int]] = {}
    for i, domain in enumerate(doc_domains):
        by_domain.setdefault(domain, []).append(i)
    n_splits = sum(f > 0 for f in fractions)
    chosen = {s: [] for s in SPLITS}
    for domain in sorted(by_domain):
        rows = by_domain[domain]
        unit = {i: works[i] for i in rows}
        n_works = len(set(unit.values()))
        if n_works < n_splits and len(rows) > n_works:
            warnings.warn(
                f"domain {domain!r} has {n_works} work(s) for {n_splits} splits: its "
                f"{len(rows)} documents are split one by one, so a work may straddle splits",
                stacklevel=2,
            )
            unit = {i: ids[i] for i in rows}
        sizes: dict[str, int] = {}
        for i in rows:
            sizes[unit[i]] = sizes.get(unit[i], 0) + len(texts[i])
        assignment = assign_splits(sizes, fractions)
        for i in rows:
            chosen[assignment[unit[i]]].append(i)
        empty = [s for s, f in zip(SPLITS, fractions) if f > 0 and not any(assignment[unit[i]] == s for i in rows)]
        if empty:
            warnings.warn(f"domain {domain!r} has {len(rows)} document(s): no {' or '.join(empty)} text", stacklevel=2)
    ds = ds.remove_columns([c for c in ("work",) if c in ds.column_names]).add_column("work", works)
    if not has_id:
        ds = ds.add_column("id", ids)
    return datasets.DatasetDict({s: ds.select(chosen[s]) for s in SPLITS})


def missing_splits(corpus: datasets.DatasetDict) -> dict[str, list[str]]:
    """``{domain: [splits without any of its text]}`` for the domains that lack some split."""
    present = {s: set(corpus[s]["domain"]) for s in corpus}
    everywhere = set().union(*present.values())
    out = {d: [s for s in corpus if d not in present[s]] for d in sorted(everywhere)}
    return {d: splits for d, splits in out.items() if splits}


def split_notes(corpus: datasets.DatasetDict) -> list[str]:
    """Sentences for the reader: domains split by document, domains missing from a split."""
    notes = []
    split_of: dict[tuple[str, str], set[str]] = {}
    for split in corpus:
        for domain, work in zip(corpus[split]["domain"], corpus[split]["work"]):
            split_of.setdefault((domain, work), set()).add(split)
    straddling = sorted({d for (d, _), splits in split_of.items() if len(splits) > 1})
    for domain in straddling:
        notes.append(f"The domain *{domain}* has too few works to fill every split, so its "
                     f"documents were split one by one: some of its held-out text shares a "
                     f"work with its training text.")
    for domain, splits in missing_splits(corpus).items():
        notes.append(f"The domain *{domain}* has no {' and no '.join(splits)} text "
                     f"(too few documents); measurements on those splits skip it.")
    return notes


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
    work_field: str | None = None,
    max_docs_per_domain: int | None = None,
    id_field: str = "id",
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    **hub_kwargs,
) -> datasets.DatasetDict:
    """Open a corpus as train/validation/test, split by work (rule in the module docstring).

    ``None`` gives the embedded corpus. Local files (``.jsonl``, ``.jsonl.gz``, ``.json``,
    ``.parquet``, ``.txt``; one file, a list, or a folder of them) are validated first and
    loaded with ``datasets``; a ``.txt`` file holds one document per paragraph (blank-line
    separated). Anything else is taken as a Hugging Face Hub dataset id (needs a network
    connection and HF_DATASETS_OFFLINE unset). ``max_docs_per_domain`` keeps the first
    documents of each domain in each split. The columns are id, domain, work and text, plus
    ``source`` where the data has it.
    """
    if source is None:
        return load_embedded_corpus(fractions=fractions, max_docs_per_domain=max_docs_per_domain)
    files = _local_files(source)
    if files is None:
        ds = datasets.load_dataset(str(source), split="train", **hub_kwargs)
        name = str(source).rstrip("/").split("/")[-1]
        ds = _standard_columns(ds, text_field, id_field, work_field, name, name)
    else:
        for path in files:
            validate_corpus_file(path, text_field)
        kinds = {_suffix(p) for p in files}
        if len(kinds) > 1 and not kinds <= {".jsonl", ".jsonl.gz", ".json"}:
            raise CorpusFormatError(f"mixed file types in one corpus: {sorted(kinds)}")
        folder = Path(source) if not isinstance(source, (list, tuple)) and Path(source).is_dir() else None
        parts = [_standard_columns(_load_file(path), text_field, id_field, work_field,
                                   folder.name if folder else _stem(path), _stem(path)) for path in files]
        ds = datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]
    corpus = split_by_work(ds, fractions, work_field=work_field)
    return limit_per_domain(corpus, max_docs_per_domain)


def load_chapter1_corpus(profile: str, stem: str = "01_corpora") -> datasets.DatasetDict:
    """The human corpus exactly as chapter 1 of ``profile`` split it (same source, text field,
    work rule and size), from the ``corpus_settings`` of its ``results.json``."""
    from . import paths

    results = paths.read_results(profile, stem)
    if "corpus_settings" not in results:
        raise KeyError(f"{stem}'s results.json of profile {profile!r} has no corpus_settings: re-run {stem}")
    settings = dict(results["corpus_settings"])
    return load_corpus(settings.pop("corpus"), **settings)


def _stem(path: Path) -> str:
    return path.name[: -len(_suffix(path))]


def _load_file(path: Path) -> datasets.Dataset:
    kind = _suffix(path)
    if kind == ".parquet":
        return datasets.load_dataset("parquet", data_files=str(path), split="train")
    if kind == ".txt":
        return datasets.load_dataset("text", data_files=str(path), split="train", sample_by="paragraph")
    return datasets.load_dataset("json", data_files=str(path), split="train")


def _standard_columns(ds: datasets.Dataset, text_field: str, id_field: str, work_field: str | None,
                      default_domain: str, id_prefix: str) -> datasets.Dataset:
    """The columns the chapters use: text, domain and id (made up where missing: each such
    document is then its own work), and the work field and source where present."""
    if text_field not in ds.column_names:
        raise CorpusFormatError(f"dataset has no column {text_field!r} (columns: {', '.join(ds.column_names)})")
    keep = [c for c in dict.fromkeys([text_field, "domain", id_field, work_field, "source"]) if c in ds.column_names]
    ds = ds.select_columns(keep)
    if text_field != "text":
        ds = ds.rename_column(text_field, "text")
    if "domain" not in ds.column_names:
        ds = ds.add_column("domain", [default_domain] * len(ds))
    ds = ds.cast_column("domain", datasets.Value("string"))
    if id_field in ds.column_names:  # ids as strings, so files with int and str ids concatenate
        ds = ds.cast_column(id_field, datasets.Value("string"))
        if id_field != "id":
            ds = ds.rename_column(id_field, "id")
    else:
        ds = ds.add_column("id", [f"{id_prefix}/{i:06d}" for i in range(len(ds))])
    return ds


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


def write_jsonl_gz(path: str | os.PathLike, records: Iterable[dict]) -> None:
    """Write records as gzip JSON Lines through a temporary file and a rename; no records (an
    empty corpus or mixture, from a budget too small) is an error, so no stage keeps one."""
    if write_records(path, records) == 0:
        Path(path).unlink(missing_ok=True)
        raise ValueError(f"{path}: no records to write (an empty corpus or mixture: is a token budget too small?)")
