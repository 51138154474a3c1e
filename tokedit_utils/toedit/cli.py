"""The command: ``python -m tokedit_utils.toedit --model M --input IN --output OUT``.

Its flags are built in ``options`` (shared with the scaled-out command in ``cluster``);
here is the run: check the paths, edit chunk by chunk with resumable sidecars, write the
output and its statistics.
"""

from __future__ import annotations

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
from .options import build_parser, config_from_args
from .editor import PriorLoadError, ToEditor
from .results import EditStats


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
            if k not in ("restart", "no_progress", "device", "chunk_docs", "overwrite", "overlap")}
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
        files.check_writable(path)
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
    with files.writer_lock(stats_path if args.stats_only else output):
        if not args.stats_only and output.exists() and not args.overwrite:  # finished while we checked
            raise FileExistsError(f"{output} exists; pass --overwrite to replace it")
        return _run_locked(args, config, input_path, output, stats_path)


def _run_locked(args, config: EditConfig, input_path: Path, output: Path | None, stats_path: Path) -> dict:
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
        # the next chunk is read and tokenized, and the last one rebuilt, during this one's forward pass
        for edited, results in source.edit_chunks(editor, source.chunks(skip=done, size=editor.chunk_docs),
                                                  condition_on_prompt=args.condition_on_prompt, seed=args.seed,
                                                  generation=args.generation, stats_field=args.stats_field):
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
    except (FileNotFoundError, FileExistsError, PermissionError, NotADirectoryError, CorpusFormatError,
            ValueError, files.OutputBusyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: the finished chunks are kept beside the output; run the same command "
              "again to resume (--restart starts over)", file=sys.stderr)
        return 130
    print(json.dumps({k: summary[k] for k in ("documents", "empty_documents", "tokens", "flagged", "changed",
                                              "dropped", "flagged_fraction", "tokens_per_second")}, indent=1))
    return 0
