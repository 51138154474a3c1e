"""ToEdit past one machine: a datatrove pipeline step and the scaled-out command.

    python -m tokedit_utils.toedit --executor local --tasks N --workers W \\
        --input IN_DIR --output OUT_DIR --model M --seed S [editing options]

runs datatrove's reader -> :class:`ToEditStep` -> writer over a folder of ``.jsonl``,
``.jsonl.gz`` or ``.parquet`` shards. Task ``r`` of ``N`` reads the input files
``r, r+N, r+2N, ...`` (sorted by path) and writes ``OUT_DIR/{r:05d}.<ext>``; datatrove's
logs, per-task statistics and completion markers go to ``OUT_DIR/logs`` (``--logging-dir``).
A rerun skips the tasks that completed and redoes the others from scratch (a task's shard
is rewritten whole). ``--executor slurm`` submits the same pipeline as a Slurm job array
(``--gpus-per-task`` GPUs per task, 0 for a CPU job; ``--dry-run`` prints the sbatch script
instead), ``--executor ray`` runs it on the Ray cluster of ``RAY_ADDRESS`` (else on a local
runtime) and waits for it. README.md beside this file shows both as they ran.

Records pass through whole: each output record is the input record with only the edited
field replaced, written with the same serializer as the single-process command, so the
set of output lines is byte for byte what ``python -m tokedit_utils.toedit`` writes for
the same files and seed, whatever the number of tasks or workers (the engine seeds each
document by its id, else by the hash of its text).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from datatrove.data import Document, DocumentsPipeline
from datatrove.executor import LocalPipelineExecutor, RayPipelineExecutor, SlurmPipelineExecutor
from datatrove.io import get_datafolder
from datatrove.pipeline.base import PipelineStep

from .records import CorpusFormatError
from .shards import RECORD, RecordJsonlReader, RecordJsonlWriter, RecordParquetReader, RecordParquetWriter
from .config import EditConfig
from .options import EXTENSIONS, build_cluster_parser as build_parser, config_from_args

LOCAL_RANK = "TOKEDIT_LOCAL_RANK"  # set per task by the local executor: its worker slot


# --------------------------------------------------------------------------- the step


def task_device(device: str | None = None) -> str | None:
    """The device of this task: ``device`` if given; on a CUDA machine the GPU of the
    task's worker slot (``cuda:{local rank % GPUs}``; under Slurm each task sees only its
    own GPU, so ``cuda:0``); otherwise None (the engine's choice)."""
    if device:
        return device
    import torch

    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get(LOCAL_RANK, 0)) % torch.cuda.device_count()}"
    return None


class ToEditStep(PipelineStep):
    """Edit each document with :class:`~tokedit_utils.toedit.ToEditor`.

    The prior is loaded once per task, inside :meth:`run` (only its path is pickled), on
    the task's device (:func:`task_device`); documents are edited ``chunk_docs`` at a
    time. A document read by this module's readers carries its whole input record, which
    is edited as the single-process command edits it (the ``text_field``, or for
    instruction data only the response); any other ``Document`` is edited as the record
    ``{id_field: doc.id, text_field: doc.text}`` (plus ``metadata[prompt_field]``).

    The editing options are an :class:`EditConfig` (or its fields as keywords: strategy,
    threshold, sampler, k, batch_size, chunk_docs, ...). Statistics (documents, tokens, scored, flagged, changed,
    dropped) go to datatrove's per-task stats with ``stat_update``.
    """

    name = "ToEdit"
    type = "EDIT"

    def __init__(self, model: str, *, text_field: str = "text", id_field: str | None = "id",
                 prompt_field: str | None = None, condition_on_prompt: bool = False, seed: int = 0,
                 generation: int = 1, stats_field: str | None = None, device: str | None = None,
                 dtype: str | None = None, threads: int | None = None, config: EditConfig | None = None,
                 **options):
        super().__init__()
        self.model = str(model)
        self.text_field, self.id_field, self.prompt_field = text_field, id_field, prompt_field
        self.condition_on_prompt, self.seed, self.generation = condition_on_prompt, seed, generation
        self.stats_field, self.device, self.dtype, self.threads = stats_field, device, dtype, threads
        self.config = dataclasses.replace(config, **options) if config is not None else EditConfig(**options)

    def fingerprint(self) -> dict:
        """What determines the output (the rerun guard compares it)."""
        return {"model": self.model, "text_field": self.text_field, "id_field": self.id_field,
                "prompt_field": self.prompt_field, "condition_on_prompt": self.condition_on_prompt,
                "seed": self.seed, "generation": self.generation, "stats_field": self.stats_field,
                "dtype": self.dtype, **{k: v for k, v in dataclasses.asdict(self.config).items()
                                        if k not in ("chunk_docs", "overlap")}}

    def load_editor(self):
        import torch

        from .cpu import tune_cpu_allocator
        from .editor import ToEditor

        if self.threads:
            torch.set_num_threads(self.threads)
        editor = ToEditor.from_pretrained(self.model, device=task_device(self.device), dtype=self.dtype,
                                          config=self.config)
        if editor.device.type == "cpu":
            tune_cpu_allocator()  # as the single-process command does
        return editor

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        documents = iter(data or ())
        first = next(documents, None)
        if first is None:  # the editor loads on the first document: a task with no input loads nothing
            return
        editor = self.load_editor()
        # one pipeline over the task's chunks: the next chunk is read and tokenized, and the
        # last one rebuilt, during this one's forward pass
        for chunk, records, results in editor.edit_record_chunks(
                self._chunks(itertools.chain([first], documents), editor.chunk_docs), text_field=self.text_field,
                id_field=self.id_field, prompt_field=self.prompt_field, condition_on_prompt=self.condition_on_prompt,
                seed=self.seed, generation=self.generation, stats_field=self.stats_field):
            yield from self._apply(chunk, records, results)

    def _chunks(self, documents, size: int):
        chunk = []
        for document in documents:
            chunk.append(document)
            if len(chunk) >= size:
                yield chunk, [self._record(d) for d in chunk]
                chunk = []
        if chunk:
            yield chunk, [self._record(d) for d in chunk]

    def _record(self, document: Document) -> dict:
        record = document.metadata.get(RECORD)
        if record is None:
            record = {self.text_field: document.text}
            if self.id_field:
                record[self.id_field] = document.id
            if self.prompt_field:
                record[self.prompt_field] = document.metadata[self.prompt_field]
        return record

    def _apply(self, documents: list[Document], records: list[dict], results):
        for document, record, result in zip(documents, records, results):
            document.text = record[self.text_field]
            if RECORD in document.metadata:
                document.metadata[RECORD] = record
            elif self.stats_field:
                document.metadata[self.stats_field] = result.stats()
            self.stat_update("documents")
            self.stat_update("edited_documents", value=int(result.changed + result.dropped > 0))
            for name, value in result.stats().items():
                self.stat_update(name, value=value)
            yield document


def shard_format(folder: str, fmt: str | None = None) -> str:
    """The record format of the shards in ``folder`` (the one extension they share)."""
    if fmt:
        return fmt
    datafolder = get_datafolder(folder)
    found = {name: len(datafolder.list_files(glob_pattern=f"**/*{ext}")) for name, ext in EXTENSIONS.items()}
    present = [name for name, count in found.items() if count]
    if not present:
        raise FileNotFoundError(f"no .jsonl, .jsonl.gz or .parquet files under {folder}")
    if len(present) > 1:
        raise CorpusFormatError(f"{folder} mixes {', '.join(present)} files; pass --input-format")
    return present[0]


def build_pipeline(step: ToEditStep, input_dir: str, output_dir: str, input_format: str | None = None,
                   output_format: str | None = None) -> list[PipelineStep]:
    """reader -> ``step`` -> writer: one output shard ``{rank:05d}.<ext>`` per task."""
    input_format = shard_format(input_dir, input_format)
    output_format = output_format or input_format
    glob = f"**/*{EXTENSIONS[input_format]}"
    if input_format == "parquet":
        reader = RecordParquetReader(input_dir, glob_pattern=glob, text_key=step.text_field,
                                     id_key=step.id_field or "id")
    else:
        reader = RecordJsonlReader(input_dir, glob_pattern=glob, text_key=step.text_field,
                                   id_key=step.id_field or "id")
    name = "${rank}" + EXTENSIONS[output_format]
    if output_format == "parquet":
        writer = RecordParquetWriter(output_dir, output_filename=name, text_field=step.text_field)
    else:
        writer = RecordJsonlWriter(output_dir, output_filename=name, text_field=step.text_field,
                                   compression="gzip" if output_format == "jsonl.gz" else None)
    return [reader, step, writer]


# --------------------------------------------------------------------------- executors


class ToEditLocalExecutor(LocalPipelineExecutor):
    """datatrove's local executor; each running task also learns its worker slot (its GPU)."""

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
        os.environ[LOCAL_RANK] = str(local_rank)
        return super()._run_for_rank(rank, local_rank, node_rank)


def build_executor(args, pipeline: list, logging_dir: str):
    """The executor named by ``args.executor``, configured from the command's arguments."""
    common = {"pipeline": pipeline, "tasks": args.tasks, "logging_dir": logging_dir,
              "skip_completed": not args.restart}
    if args.executor == "local":
        return ToEditLocalExecutor(workers=args.workers, **common)
    if args.executor == "slurm":
        if not (args.partition and args.time):
            raise ValueError("--executor slurm needs --partition and --time")
        sbatch = dict(item.split("=", 1) for item in args.sbatch or ())
        return SlurmPipelineExecutor(
            workers=args.workers, time=args.time, partition=args.partition, cpus_per_task=args.cpus_per_task,
            mem_per_cpu_gb=args.mem_per_cpu_gb, gpus_per_task=args.gpus_per_task, qos=args.qos,
            job_name=args.job_name, env_command=args.env_command, venv_path=args.venv, sbatch_args=sbatch,
            **common)
    if args.executor == "ray":
        return RayPipelineExecutor(workers=args.workers, cpus_per_task=args.cpus_per_task,
                                   mem_per_cpu_gb=args.mem_per_cpu_gb, gpus_per_task=args.gpus_per_task,
                                   **common)
    raise ValueError(f"unknown executor {args.executor!r}")


def slurm_script(executor: SlurmPipelineExecutor) -> str:
    """The sbatch script ``executor.run()`` would submit (nothing is submitted)."""
    run = f"srun -l -n {executor.nodes_per_task} launch_pickled_pipeline " \
          f"{executor.logging_dir.resolve_paths('executor.pik')}"
    return executor.get_launch_file_contents(executor.get_sbatch_args(executor.tasks), run)


# --------------------------------------------------------------------------- command line


def step_from_args(args) -> ToEditStep:
    """The editing step of parsed arguments (ValueError for an option out of range)."""
    return ToEditStep(
        args.model, text_field=args.text_field, id_field=args.id_field, prompt_field=args.prompt_field,
        condition_on_prompt=args.condition_on_prompt, seed=args.seed, generation=args.generation,
        stats_field=args.stats_field, device=args.device, dtype=args.dtype, threads=args.threads,
        config=config_from_args(args))


def guard_rerun(logging_dir: str, output_dir: str, fingerprint: dict, restart: bool) -> None:
    """A rerun must use the arguments of the run whose completed tasks it skips.

    With ``restart`` the old completion markers and output shards are discarded."""
    logs, out = get_datafolder(logging_dir), get_datafolder(output_dir)
    saved = None
    if logs.isfile("toedit_run.json"):
        with logs.open("toedit_run.json", "r") as handle:
            saved = json.load(handle)
    if restart:
        for folder in ("completions", "stats"):
            for name in logs.list_files(folder) if logs.isdir(folder) else []:
                logs.rm(name)
        for ext in EXTENSIONS.values():
            for name in out.list_files(glob_pattern=f"*{ext}", recursive=False):
                if Path(name).name[:5].isdigit():
                    out.rm(name)
    elif saved is not None and saved != json.loads(json.dumps(fingerprint)):
        raise ValueError(f"{logs.resolve_paths('toedit_run.json')} belongs to a run with other arguments; "
                         f"pass --restart to discard its completed tasks, or choose another --output")
    with logs.open("toedit_run.json", "w") as handle:
        json.dump(fingerprint, handle, indent=1)


def summarize(logging_dir: str) -> dict:
    """The editing step's totals over the stats of every completed task (this run's and
    earlier ones')."""
    keys = ("documents", "edited_documents", "tokens", "scored", "flagged", "changed", "dropped")
    summary = dict.fromkeys(keys, 0)
    logs, name = get_datafolder(logging_dir), f"{ToEditStep.type}: {ToEditStep.name}"
    for path in logs.list_files("stats") if logs.isdir("stats") else []:
        with logs.open(path, "r") as handle:
            steps = json.load(handle)
        for key, value in next((s["stats"] for s in steps if s["name"] == name), {}).items():
            if key in summary:  # datatrove stores a bare number when there is only a total
                summary[key] += int(value["total"] if isinstance(value, dict) else value)
    summary["flagged_fraction"] = summary["flagged"] / summary["scored"] if summary["scored"] else 0.0
    return summary


class IncompleteRun(RuntimeError):
    """Some tasks of a run failed; the completed ones are kept."""


def run(args) -> dict | str:
    """The scaled-out command's work: the run's summary, or the sbatch script of a dry run."""
    if args.stats_only:
        raise ValueError("--stats-only is not available with --executor (datatrove writes per-task stats)")
    if not args.output:
        raise ValueError("--output (a folder) is required with --executor")
    if Path(args.input).is_file():
        raise ValueError(f"with --executor, --input is a folder of shards, not a file: {args.input}")
    if args.tasks < 1:
        raise ValueError("--tasks must be >= 1")
    if args.threads is None and args.executor == "local" and args.device in (None, "cpu"):
        workers = args.workers if args.workers > 0 else args.tasks
        args.threads = max(1, (os.cpu_count() or 1) // max(min(workers, args.tasks), 1))
    if args.executor != "local" and args.gpus_per_task == 0:  # a CPU job: it may not see a GPU it
        args.device = args.device or "cpu"                   # was not given, nor more cores
        args.threads = args.threads or args.cpus_per_task
    step = step_from_args(args)
    pipeline = build_pipeline(step, args.input, args.output, args.input_format, args.output_format)
    logging_dir = args.logging_dir or os.path.join(args.output, "logs")
    executor = build_executor(args, pipeline, logging_dir)
    if args.executor == "slurm" and args.dry_run:
        return slurm_script(executor)
    fingerprint = {"input": str(args.input), "tasks": args.tasks, "input_format": args.input_format,
                   "output_format": args.output_format, "step": step.fingerprint()}
    guard_rerun(logging_dir, args.output, fingerprint, args.restart)
    if args.executor == "ray":
        import ray

        if not ray.is_initialized():  # the cluster of RAY_ADDRESS, else a local runtime for this run
            ray.init(include_dashboard=False)
    tokens_before, t0 = summarize(logging_dir)["tokens"], time.perf_counter()  # tasks skipped below
    executor.run()
    if args.executor == "slurm":  # submitted; the job array runs on
        return {"submitted": "slurm", "job_id": executor.job_id, "logging_dir": logging_dir}
    missing = executor.get_incomplete_ranks(range(args.tasks), skip_completed=True)  # Ray goes on past a failure
    if missing:
        raise IncompleteRun(f"tasks {missing} did not complete (their logs: {logging_dir}/logs); "
                            f"run the same command again to redo them")
    summary = summarize(logging_dir)
    summary["elapsed_s"] = elapsed = time.perf_counter() - t0
    summary["tokens_per_second"] = (summary["tokens"] - tokens_before) / elapsed  # this run's tasks only
    if args.stats:
        Path(args.stats).write_text(json.dumps(summary, indent=1))
    else:  # the output folder may be remote (s3://, hf://): datatrove's file system layer
        with get_datafolder(args.output).open("toedit.stats.json", "w") as handle:
            json.dump(summary, handle, indent=1)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tokedit_utils.toedit --executor ...`` arrives here (and ``python -m
    tokedit_utils.toedit.cluster ...``)."""
    from .editor import PriorLoadError

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    try:
        result = run(args)
    except PriorLoadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except (FileNotFoundError, CorpusFormatError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except IncompleteRun as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(result if isinstance(result, str) else json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
