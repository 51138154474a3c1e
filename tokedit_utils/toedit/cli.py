"""The command: ``python -m tokedit_utils.toedit --model M --input IN --output OUT``.

The editing options are the fields of :class:`EditConfig`; the flags below add the
files, the random stream and the run's bookkeeping.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from ..paths import write_json
from ..records import CorpusFormatError, detect_format, dumps, iter_records, require_text, write_records
from .config import EditConfig
from .editor import PriorLoadError, ToEditor
from .results import EditStats

HELP_EPILOG = """\
Files: .jsonl, .jsonl.gz and .parquet, chosen by name. Every other field of a record is
copied. The output is written atomically: records go to OUTPUT.partial.jsonl and
OUTPUT.progress.json records how many input records are done, with the running
statistics. If a run is interrupted, run the same command again: it resumes after the
last finished chunk (a chunk is --chunk-docs records) and gives the same output as an
uninterrupted run. On success the final file is written, renamed into place and the
sidecars are removed. A sidecar from different arguments is an error (--restart discards it).

Statistics (tokens, flagged, changed, dropped, Table-6 and fine histograms) go to
--stats, default OUTPUT with its extension replaced by .stats.json. --stats-only writes
only the statistics.

With --executor (local, slurm, ray) the same edit runs as a datatrove pipeline
(tokedit_utils.cluster; its --help lists its options).

Exit codes: 0 success, 2 bad input or arguments, 3 prior cannot be loaded.
"""

_TYPES = {"int": int, "float": float, "str": str}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _with_default(help: str, default) -> str:
    return help if default is None or isinstance(default, bool) else f"{help} (default: {default})"


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """One flag per :class:`EditConfig` field, its help and default taken from the field."""
    group = parser.add_argument_group("editing options")
    for f in dataclasses.fields(EditConfig):
        help = _with_default(f.metadata["help"], f.default)
        kind = str(f.type).replace(" | None", "")
        if kind == "bool":
            group.add_argument(_flag(f.name), action="store_true", help=help)
        else:
            group.add_argument(_flag(f.name), type=_TYPES[kind], default=f.default, help=help,
                               choices=f.metadata.get("choices"), metavar=f.name.upper() if
                               not f.metadata.get("choices") else None)


def config_from_args(args: argparse.Namespace) -> EditConfig:
    """The :class:`EditConfig` of parsed arguments (ValueError for a value out of range)."""
    return EditConfig(**{name: getattr(args, name) for name in EditConfig.field_names()})


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tokedit_utils.toedit", description="ToEdit: token-level editing "
                                "of a text corpus with a prior causal LM (one forward pass, seeded, exact).",
                                epilog=HELP_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="prior: a local save_pretrained folder or a hub id")
    p.add_argument("--input", required=True, help="input records (.jsonl, .jsonl.gz, .parquet)")
    p.add_argument("--output", help="output records (same formats); required unless --stats-only")
    p.add_argument("--stats", help="statistics JSON (default: beside the output)")
    p.add_argument("--stats-only", action="store_true", help="only compute and write the statistics")
    p.add_argument("--text-field", default="text", help="field to edit (the response, for instruction data)"
                   " (default: text)")
    p.add_argument("--id-field", default="id", help="field naming a document's random stream (hash of the "
                   "text if absent) (default: id)")
    p.add_argument("--prompt-field", help="instruction data: the prompt field, copied unchanged")
    p.add_argument("--condition-on-prompt", action="store_true",
                   help="score the response after the prompt (default: the response alone, as the official script)")
    p.add_argument("--seed", type=int, default=0, help="seed of every document's random stream (default: 0)")
    p.add_argument("--generation", type=int, default=1,
                   help="generation number, part of the random stream (default: 1)")
    p.add_argument("--device", help="cuda, mps or cpu (default: the first available)")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), help="default: bf16 on CUDA, fp32 on CPU")
    p.add_argument("--stats-field", help="also store per-record statistics under this field")
    p.add_argument("--restart", action="store_true", help="discard an interrupted run's sidecars")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_config_options(p)
    return p


def stats_path_for(output) -> Path:
    out = Path(output)
    name = out.name
    for ext in (".jsonl.gz", ".json.gz", ".jsonl", ".json", ".parquet"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    return out.with_name(name + ".stats.json")


def _fingerprint(args, input_path: Path) -> dict:
    st = input_path.stat()
    keep = {k: v for k, v in vars(args).items() if k not in ("restart", "no_progress", "device", "chunk_docs")}
    return {"args": keep, "input_size": st.st_size, "input_mtime": st.st_mtime}


def run(args, config: EditConfig | None = None) -> dict:
    """The command's work (also callable from Python with a parsed namespace)."""
    config = config or config_from_args(args)
    input_path = Path(args.input)
    if not input_path.is_file():
        raise FileNotFoundError(f"input file not found: {input_path}")
    if not args.stats_only and not args.output:
        raise ValueError("--output is required unless --stats-only")
    if args.stats_only and not (args.stats or args.output):
        raise ValueError("--stats-only needs --stats (or --output to place the statistics beside)")
    detect_format(input_path)
    output = Path(args.output) if args.output else None
    if output is not None and not args.stats_only:
        detect_format(output)
    stats_path = Path(args.stats) if args.stats else stats_path_for(output)

    # validate the whole input before loading anything or writing anything
    n_records = 0
    for line_no, rec in iter_records(input_path):
        require_text(rec, args.text_field, input_path, line_no)
        if args.prompt_field:
            require_text(rec, args.prompt_field, input_path, line_no)
        n_records += 1

    editor = ToEditor.from_pretrained(args.model, device=args.device, dtype=args.dtype, config=config)

    side = output if (output is not None and not args.stats_only) else stats_path
    partial = side.with_name(side.name + ".partial.jsonl")
    progress_path = side.with_name(side.name + ".progress.json")
    fingerprint = _fingerprint(args, input_path)
    stats, done, elapsed_before = EditStats(fine_bins=editor.fine_bins), 0, 0.0
    if progress_path.exists() and not args.restart:
        saved = json.loads(progress_path.read_text())
        if saved.get("fingerprint") != json.loads(json.dumps(fingerprint)):
            raise ValueError(f"{progress_path} belongs to a run with other arguments or input; "
                             f"pass --restart to discard it")
        done, elapsed_before = saved["records_done"], saved.get("elapsed_s", 0.0)
        stats = EditStats.from_dict(saved["stats"])
        if not args.stats_only:
            with open(partial, "r+b") as handle:  # drop anything written after the last checkpoint
                handle.truncate(saved["partial_bytes"])
    else:
        progress_path.unlink(missing_ok=True)
        if not args.stats_only:
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(b"")

    bar = None
    if not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=n_records, initial=done, unit="doc", dynamic_ncols=True)
    t0 = time.perf_counter()
    session_tokens = 0
    sink = None if args.stats_only else open(partial, "a", encoding="utf-8")
    try:
        chunk: list[dict] = []

        def flush():
            nonlocal done, session_tokens
            if not chunk:
                return
            records, results = editor.edit_records(
                chunk, text_field=args.text_field, id_field=args.id_field, prompt_field=args.prompt_field,
                condition_on_prompt=args.condition_on_prompt, seed=args.seed, generation=args.generation,
                stats_field=args.stats_field)
            stats.update(results)
            done += len(chunk)
            session_tokens += sum(r.tokens for r in results)
            payload = {"fingerprint": fingerprint, "records_done": done, "stats": stats.to_dict(),
                       "elapsed_s": elapsed_before + time.perf_counter() - t0, "partial_bytes": 0}
            if sink is not None:
                sink.write("".join(dumps(r) + "\n" for r in records))
                sink.flush()
                os.fsync(sink.fileno())
                payload["partial_bytes"] = partial.stat().st_size
            write_json(progress_path, payload)
            if bar is not None:
                bar.update(len(chunk))
                bar.set_postfix(tok_s=f"{session_tokens / max(time.perf_counter() - t0, 1e-9):,.0f}")
            chunk.clear()

        for _, rec in iter_records(input_path, skip=done):
            chunk.append(rec)
            if len(chunk) >= editor.chunk_docs:
                flush()
        flush()
    finally:
        if sink is not None:
            sink.close()
        if bar is not None:
            bar.close()

    elapsed = elapsed_before + time.perf_counter() - t0
    summary = stats.to_dict()
    summary.update({"config": editor.config(), "model": str(args.model), "input": str(input_path),
                    "output": None if args.stats_only else str(output), "seed": args.seed,
                    "generation": args.generation, "elapsed_s": elapsed,
                    "tokens_per_second": stats.tokens / elapsed if elapsed > 0 else None})
    if not args.stats_only:
        write_records(output, (record for _, record in iter_records(partial)))
    write_json(stats_path, summary)
    partial.unlink(missing_ok=True)
    progress_path.unlink(missing_ok=True)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--executor" in argv or any(a.startswith("--executor=") for a in argv):
        from .. import cluster  # the datatrove pipeline (local, Slurm, Ray executors)

        return cluster.main(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from ..session import tune_cpu_allocator

    tune_cpu_allocator()  # process-wide; on CPU each batch's activations are otherwise page-faulted in anew
    try:
        summary = run(args, config)
    except PriorLoadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except (FileNotFoundError, CorpusFormatError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps({k: summary[k] for k in ("documents", "empty_documents", "tokens", "flagged", "changed",
                                              "dropped", "flagged_fraction", "tokens_per_second")}, indent=1))
    return 0
