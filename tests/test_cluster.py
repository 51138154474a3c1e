"""Tests of ToEdit as a datatrove pipeline step (tokedit_utils.toedit.cluster), on the CPU.

The prior is the tiny GPT-2 of tests/conftest.py (random weights, BPE trained on the
corpus), shared with the engine's tests. The threshold is low so that many tokens are edited.
"""

from __future__ import annotations

import json
from pathlib import Path

import dill
import pytest
from datatrove.data import Document

from tokedit_utils.toedit import cluster
from tokedit_utils import toedit
from tokedit_utils.toedit.cluster import ToEditStep

pytestmark = pytest.mark.usefixtures("one_thread")  # fixtures: tests/conftest.py

EDIT = ["--threshold", "0.01", "--seed", "7", "--chunk-docs", "3", "--no-progress"]


def _records(texts):
    """Records as people have them: int and str ids, one without an id, an empty text, extra fields."""
    records = [{"id": i if i % 2 else f"doc-{i}", "text": t, "source": f"s{i % 3}"} for i, t in enumerate(texts)]
    records[3].pop("id")
    records.append({"id": "empty", "text": "", "source": "s0"})
    return records


def _write_shards(folder: Path, records, shards: int, name="part") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in range(shards):
        path = folder / f"{name}-{s}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records[s::shards]))
        paths.append(path)
    return paths


def _lines(folder: Path) -> list[str]:
    """Every output line of a folder of shards, sorted (the set of records, as bytes)."""
    import gzip

    lines = []
    for path in sorted(folder.glob("*.jsonl*")):
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as handle:
            lines.extend(handle.read().splitlines())
    return sorted(lines)


def _plain(prior_dir, shards, out_dir: Path, extra=()) -> list[str]:
    """The single-process command over each shard."""
    out_dir.mkdir()
    for shard in shards:
        assert toedit.main(["--model", str(prior_dir), "--input", str(shard), "--output",
                            str(out_dir / shard.name), *EDIT, *extra]) == 0
    return _lines(out_dir)


def _scaled(prior_dir, in_dir: Path, out_dir: Path, *options, executor="local") -> int:
    return cluster.main(["--executor", executor, "--model", str(prior_dir), "--input", str(in_dir),
                         "--output", str(out_dir), *EDIT, *options])


def test_tasks_and_workers_do_not_change_the_records(prior_dir, texts, tmp_path):
    records = _records(texts)
    shards = _write_shards(tmp_path / "in", records, 4)
    reference = _plain(prior_dir, shards, tmp_path / "plain")
    source = sorted(json.dumps(r, ensure_ascii=False) for r in records)
    assert len(reference) == len(records) and len(set(reference) - set(source)) > len(records) // 2  # edited

    assert _scaled(prior_dir, tmp_path / "in", tmp_path / "one", "--tasks", "1", "--workers", "1") == 0
    assert _lines(tmp_path / "one") == reference
    assert _scaled(prior_dir, tmp_path / "in", tmp_path / "three", "--tasks", "3", "--workers", "2") == 0
    assert sorted(p.name for p in (tmp_path / "three").glob("*.jsonl")) == ["00000.jsonl", "00001.jsonl",
                                                                             "00002.jsonl"]
    assert _lines(tmp_path / "three") == reference
    summary = json.loads((tmp_path / "three" / "toedit.stats.json").read_text())
    plain_flagged = sum(json.loads(p.read_text())["flagged"] for p in (tmp_path / "plain").glob("*.stats.json"))
    assert summary["documents"] == len(records) and summary["flagged"] == plain_flagged


def test_instruction_records_edit_only_the_response(prior_dir, texts, tmp_path):
    records = [{"id": i, "prompt": texts[-1 - i][:120], "response": t} for i, t in enumerate(texts[:6])]
    shards = _write_shards(tmp_path / "in", records, 2)
    fields = ["--text-field", "response", "--prompt-field", "prompt", "--condition-on-prompt"]
    reference = _plain(prior_dir, shards, tmp_path / "plain", fields)
    assert _scaled(prior_dir, tmp_path / "in", tmp_path / "out", "--tasks", "2", "--workers", "1", *fields) == 0
    assert _lines(tmp_path / "out") == reference
    out = sorted((json.loads(line) for line in reference), key=lambda r: r["id"])
    assert [r["prompt"] for r in out] == [r["prompt"] for r in records]
    assert sum(o["response"] != r["response"] for o, r in zip(out, records)) >= 4


def test_interrupted_run_resumes_and_guards_its_arguments(prior_dir, texts, tmp_path, monkeypatch):
    records = _records(texts)
    shards = _write_shards(tmp_path / "in", records, 3)
    reference = _plain(prior_dir, shards, tmp_path / "plain")
    out = tmp_path / "out"
    tasks = ["--tasks", "3", "--workers", "1"]  # in this process, so the patches below reach the tasks

    real_run, real_edit, real_load, loads = ToEditStep.run, ToEditStep._apply, ToEditStep.load_editor, []

    def run_dies_in_task_1(self, data, rank=0, world_size=1):
        self.chunks_left = 1 if rank == 1 else None  # task 1 edits (and writes) one chunk, then dies
        return real_run(self, data, rank, world_size)

    def edit(self, documents, records, results):
        if self.chunks_left is not None:
            if not self.chunks_left:
                raise RuntimeError("killed")
            self.chunks_left -= 1
        yield from real_edit(self, documents, records, results)

    monkeypatch.setattr(ToEditStep, "load_editor", lambda self: loads.append(1) or real_load(self))
    monkeypatch.setattr(ToEditStep, "run", run_dies_in_task_1)
    monkeypatch.setattr(ToEditStep, "_apply", edit)
    with pytest.raises(RuntimeError, match="killed"):
        _scaled(prior_dir, tmp_path / "in", out, *tasks)
    written = _lines(out)
    assert 0 < len(written) < len(records)  # task 0 done, task 1 wrote a chunk then died, task 2 never ran
    assert sorted(p.name for p in (out / "logs" / "completions").iterdir()) == ["00000"]

    monkeypatch.setattr(ToEditStep, "run", real_run)
    monkeypatch.setattr(ToEditStep, "_apply", real_edit)
    loads.clear()
    assert _scaled(prior_dir, tmp_path / "in", out, *tasks) == 0
    assert len(loads) == 2  # the completed task was skipped
    assert _lines(out) == reference  # every document exactly once, as the plain command edits it

    loads.clear()
    assert _scaled(prior_dir, tmp_path / "in", out, *tasks) == 0 and not loads  # all done: nothing runs
    assert _scaled(prior_dir, tmp_path / "in", out, *tasks, "--seed", "8") == 2  # other arguments
    assert _scaled(prior_dir, tmp_path / "in", out, *tasks, "--seed", "8", "--restart") == 0
    assert len(loads) == 3 and _lines(out) != reference and len(_lines(out)) == len(records)


def test_gz_and_parquet_shards_and_bad_records(prior_dir, texts, tmp_path, capsys):
    import gzip

    import pyarrow.parquet as pq

    records = _records(texts)[:6]
    plain = _plain(prior_dir, _write_shards(tmp_path / "in", records, 2), tmp_path / "plain")
    (tmp_path / "gz").mkdir()
    for path in (tmp_path / "in").iterdir():
        (tmp_path / "gz" / (path.name + ".gz")).write_bytes(gzip.compress(path.read_bytes()))
    assert _scaled(prior_dir, tmp_path / "gz", tmp_path / "pq", "--tasks", "2", "--workers", "1",
                   "--output-format", "parquet") == 0
    assert sorted(p.name for p in (tmp_path / "pq").glob("*.parquet")) == ["00000.parquet", "00001.parquet"]
    rows = [row for p in sorted((tmp_path / "pq").glob("*.parquet")) for row in pq.read_table(p).to_pylist()]
    assert sorted(r["text"] for r in rows) == sorted(json.loads(line)["text"] for line in plain)
    # parquet in, gzipped JSON Lines out, nothing flagged: the texts come back unchanged
    assert _scaled(prior_dir, tmp_path / "pq", tmp_path / "back", "--output-format", "jsonl.gz",
                   "--threshold", "1.5") == 0
    assert sorted(p.name for p in (tmp_path / "back").glob("*.gz")) == ["00000.jsonl.gz"]
    assert sorted(json.loads(line)["text"] for line in _lines(tmp_path / "back")) == sorted(r["text"] for r in rows)

    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.jsonl").write_text('{"id": 1, "text": "fine"}\n{"id": 2, "body": "no text"}\n')
    assert _scaled(prior_dir, tmp_path / "bad", tmp_path / "bad-out") == 2
    assert "a.jsonl, line 2: missing field 'text'" in capsys.readouterr().err


def test_slurm_executor_from_the_command_line(prior_dir, texts, tmp_path, capsys):
    _write_shards(tmp_path / "in", _records(texts), 2)
    argv = ["--executor", "slurm", "--model", str(prior_dir), "--input", str(tmp_path / "in"),
            "--output", str(tmp_path / "out"), "--tasks", "8", "--workers", "4", "--partition", "gpu",
            "--time", "04:00:00", "--cpus-per-task", "6", "--mem-per-cpu-gb", "5", "--qos", "high",
            "--venv", "/opt/toedit/.venv/bin/activate", "--sbatch", "account=proj42", "--seed", "3"]
    args = cluster.build_parser().parse_args(argv)
    executor = cluster.build_executor(args, cluster.build_pipeline(cluster.step_from_args(args), args.input,
                                                                   args.output), str(tmp_path / "logs"))
    assert executor.world_size == 8
    sbatch = executor.get_sbatch_args(8)
    assert {key: sbatch[key] for key in ("partition", "time", "cpus-per-task", "mem-per-cpu", "gpus", "array",
                                         "qos", "account", "job-name")} == {
        "partition": "gpu", "time": "04:00:00", "cpus-per-task": 6, "mem-per-cpu": "5G", "gpus": 1,
        "array": "0-7%4", "qos": "high", "account": "proj42", "job-name": "toedit"}
    step = executor.pipeline[1]
    assert isinstance(step, ToEditStep) and step.seed == 3 and step.model == str(prior_dir)
    assert len(dill.dumps(executor)) < 100_000  # the pipeline ships paths and options, no model

    capsys.readouterr()
    assert toedit.main(argv + ["--dry-run"]) == 0  # the single-file command hands --executor over
    script = capsys.readouterr().out
    assert "#SBATCH --gpus=1" in script and "#SBATCH --array=0-7%4" in script
    assert "source /opt/toedit/.venv/bin/activate" in script and "launch_pickled_pipeline" in script
    assert not (tmp_path / "out" / "logs" / "executor.pik").exists()  # nothing submitted


def test_ray_executor_is_built_from_the_command_line(prior_dir, texts, tmp_path):
    _write_shards(tmp_path / "in", _records(texts), 2)
    args = cluster.build_parser().parse_args([
        "--executor", "ray", "--model", str(prior_dir), "--input", str(tmp_path / "in"), "--output",
        str(tmp_path / "out"), "--tasks", "4", "--gpus-per-task", "1"])
    executor = cluster.build_executor(args, cluster.build_pipeline(cluster.step_from_args(args), args.input,
                                                                   args.output), str(tmp_path / "logs"))
    assert executor.world_size == 4 and executor.gpus_per_task == 1


@pytest.fixture
def ray_runtime():
    """A local Ray runtime: two CPU workers, no GPU, shut down however the test ends. Its
    workers inherit this process's environment (PYTHONPATH), so they import this checkout."""
    import ray

    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False,
             object_store_memory=80 * 2**20)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.filterwarnings("ignore:placement_group:DeprecationWarning")  # datatrove's call into Ray
def test_ray_executor_runs_on_a_local_runtime(ray_runtime, prior_dir, texts, tmp_path):
    records = _records(texts)
    reference = _plain(prior_dir, _write_shards(tmp_path / "in", records, 3), tmp_path / "plain")
    out = tmp_path / "out"
    ray_tasks = ["--tasks", "3", "--workers", "2", "--cpus-per-task", "1", "--mem-per-cpu-gb", "1",
                 "--gpus-per-task", "0"]
    assert _scaled(prior_dir, tmp_path / "in", out, *ray_tasks, executor="ray") == 0
    assert ray_runtime.cluster_resources()["CPU"] == 2  # it ran on the fixture's runtime
    assert _lines(out) == reference  # byte for byte the plain command's records
    summary = json.loads((out / "toedit.stats.json").read_text())
    assert summary["documents"] == len(records)

    # a rerun redoes only what is not complete: task 1 lost its marker and its shard
    written = {p.name: p.stat().st_mtime_ns for p in out.glob("*.jsonl")}
    (out / "logs" / "completions" / "00001").unlink()
    (out / "00001.jsonl").unlink()
    assert _scaled(prior_dir, tmp_path / "in", out, *ray_tasks, executor="ray") == 0
    again = {p.name: p.stat().st_mtime_ns for p in out.glob("*.jsonl")}
    assert {k: again[k] for k in ("00000.jsonl", "00002.jsonl")} == {k: written[k] for k in ("00000.jsonl",
                                                                                            "00002.jsonl")}
    assert "00001.jsonl" in again and _lines(out) == reference
    assert _scaled(prior_dir, tmp_path / "in", out, *ray_tasks, "--seed", "8", executor="ray") == 2


def test_step_edits_any_datatrove_documents_by_id(prior_dir, texts):
    step = ToEditStep(str(prior_dir), seed=5, threshold=0.01)
    docs = [Document(text=t, id=f"d{i}", metadata={"lang": "en"}) for i, t in enumerate(texts[:5])]
    out = list(step(reversed(docs)))  # order does not matter: each document has its own stream
    editor = step.load_editor()
    expected = editor.edit_texts(texts[:5], ids=[f"d{i}" for i in range(5)], seed=5)
    assert {d.id: d.text for d in out} == {f"d{i}": r.text for i, r in enumerate(expected)}
    assert sum(r.text != t for r, t in zip(expected, texts)) >= 3 and out[0].metadata == {"lang": "en"}
    assert step.stats["documents"].total == 5 and step.stats["flagged"].total == sum(r.flagged for r in expected)


def test_task_device_follows_the_worker_slot(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv(cluster.LOCAL_RANK, "3")
    assert cluster.task_device() == "cuda:1"
    assert cluster.task_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cluster.task_device() is None


def test_the_engine_modules_import_each_other_without_a_cycle():
    """Every import inside tokedit_utils/toedit, lazy ones in functions included, points one
    way (the command hands --executor over to the cluster module, which imports neither the
    command nor the package back)."""
    import ast

    folder = Path(cluster.__file__).parent
    modules = {p.stem for p in folder.glob("*.py")} - {"__init__", "__main__"}
    graph = {}
    for name in modules:
        graph[name] = set()
        for node in ast.walk(ast.parse((folder / f"{name}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:  # "from .x import" / "from . import x"
                targets = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
                graph[name] |= {t if t in modules else "the package" for t in targets}
    assert not [name for name, deps in graph.items() if "the package" in deps], graph  # it imports cli

    def reaches(start, goal, seen=()):
        return any(d == goal or (d not in seen and reaches(d, goal, (*seen, d))) for d in graph[start])

    cycles = sorted(name for name in graph if reaches(name, name))
    assert cycles == [], {name: graph[name] for name in cycles}
    assert "cluster" in graph["cli"] and "cli" not in graph["cluster"]
