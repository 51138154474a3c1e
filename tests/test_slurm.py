"""The editing pipeline submitted to a real, one-node Slurm cluster (``make test-slurm``).

Skipped unless ``TOKEDIT_SLURM=1``: ``tests/slurm_check.sh`` sets it after installing
``slurm-wlm`` and ``munge``, inside a network namespace of its own where only loopback
exists, so the daemons started here are reachable from this machine only. The cluster
(munged, slurmctld, slurmd, as root, with every file in a temporary folder) lives for this
module; its daemons are stopped by process id however the tests end.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_cluster import EDIT, _lines, _plain, _records, _write_shards

pytestmark = [pytest.mark.skipif(os.environ.get("TOKEDIT_SLURM") != "1",
                                 reason="make test-slurm runs these (a Slurm cluster of one node, as root)"),
              pytest.mark.usefixtures("one_thread")]

DAEMONS = ("munged", "slurmctld", "slurmd")
CONF = """\
ClusterName=toedit
SlurmctldHost={host}(127.0.0.1)
AuthType=auth/munge
AuthInfo=socket={dir}/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerParameters=kill_invalid_depend
MpiDefault=none
ReturnToService=2
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=cpu Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _memory_mb() -> int:
    with open("/proc/meminfo") as handle:
        total_kb = int(next(line for line in handle if line.startswith("MemTotal")).split()[1])
    return int(total_kb / 1024 * 0.8)  # what slurmd may hand out; the rest stays for the system


def _wait(condition, what: str, timeout: float, logs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    tails = "".join(f"\n--- {p}:\n" + p.read_text()[-2000:] for p in logs if p.exists())
    raise TimeoutError(f"{what}: not after {timeout:.0f} s{tails}")


def _run(*command, env) -> str:
    return subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """``(env, folder)``: the environment that reaches the cluster (``SLURM_CONF``)."""
    missing = [name for name in (*DAEMONS, "sbatch", "squeue", "scancel") if not shutil.which(name)]
    assert not missing, f"{missing} not installed: run make test-slurm, which installs them"
    folder = tmp_path_factory.mktemp("slurm")
    folder.chmod(0o700)  # munged refuses a socket folder others can write to
    for sub in ("state", "spool"):
        (folder / sub).mkdir()
    host = socket.gethostname().split(".")[0]
    conf = folder / "slurm.conf"
    conf.write_text(CONF.format(host=host, dir=folder, cpus=os.cpu_count(), memory_mb=_memory_mb()))
    key = folder / "munge.key"
    subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    commands = {
        "munged": ["munged", "--foreground", "--force", f"--socket={folder}/munge.socket", f"--key-file={key}",
                   f"--pid-file={folder}/munged.pid", f"--log-file={folder}/munged.log",
                   f"--seed-file={folder}/munged.seed"],
        "slurmctld": ["slurmctld", "-D", "-i", "-f", str(conf)],
        "slurmd": ["slurmd", "-D", "-f", str(conf)],
    }
    started: dict[str, subprocess.Popen] = {}
    logs = [folder / f"{name}.log" for name in DAEMONS]
    try:
        for name in DAEMONS:
            with open(folder / f"{name}.out", "w") as out:
                started[name] = subprocess.Popen(commands[name], env=env, stdout=out, stderr=subprocess.STDOUT)
            if name == "munged":
                _wait(lambda: (folder / "munge.socket").exists(), "munged's socket", 30, logs)
        _wait(lambda: subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True,
                                     text=True).stdout.strip() == "idle", "the node idle", 60, logs)
        print(f"\nslurm: {', '.join(f'{n} pid {p.pid}' for n, p in started.items())}; "
              f"node {host}: {os.cpu_count()} CPUs, {_memory_mb()} MB; conf {conf}")
        yield env, folder
    finally:
        print()
        if "slurmctld" in started:  # no job outlives the test
            subprocess.run(["scancel", "--full", "--user", "root"], env=env, capture_output=True)
        for name in reversed(DAEMONS):
            process = started.get(name)
            if process is None:
                continue
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            print(f"slurm: stopped {name} (pid {process.pid}), exit {process.returncode}")


def _submit(slurm, prior_dir, in_dir: Path, out_dir: Path, workers: int) -> str:
    """``python -m tokedit_utils.toedit --executor slurm ...`` as a user types it; the job id."""
    env, _ = slurm
    command = [sys.executable, "-m", "tokedit_utils.toedit", "--executor", "slurm", "--model", str(prior_dir),
               "--input", str(in_dir), "--output", str(out_dir), "--tasks", "3", "--workers", str(workers),
               "--partition", "cpu", "--time", "00:10:00", "--gpus-per-task", "0", "--cpus-per-task", "1",
               "--mem-per-cpu-gb", "2", "--venv", str(Path(sys.prefix) / "bin" / "activate"), *EDIT]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["submitted"] == "slurm"
    print(f"slurm: submitted job {result['job_id']} ({' '.join(command[1:])})")
    return str(result["job_id"])


def _reference(prior_dir, texts, tmp_path) -> tuple[list, list[str]]:
    """The records in 3 shards under ``tmp_path/in``, and the plain command's output lines
    (its summaries and progress bars kept off this script's output)."""
    records = _records(texts)
    shards = _write_shards(tmp_path / "in", records, 3)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return records, _plain(prior_dir, shards, tmp_path / "plain")


def _queue(env, job: str) -> list[str]:
    """``"<job>_<task> <state>"`` for the job's array tasks still in the queue."""
    out = _run("squeue", "-h", "-r", "-j", job, "-o", "%i %T", env=env)
    return out.split("\n")[:-1] if out else []


def _wait_for_job(slurm, job: str, out_dir: Path, timeout=600):
    env, folder = slurm
    _wait(lambda: not _queue(env, job), f"job {job}", timeout,
          [*sorted((out_dir / "logs" / "slurm_logs").glob("*.out")), folder / "slurmctld.log"])


def test_three_array_tasks_are_byte_identical_to_the_plain_command(slurm, prior_dir, texts, tmp_path):
    records, reference = _reference(prior_dir, texts, tmp_path)
    out = tmp_path / "out"
    t0 = time.monotonic()
    job = _submit(slurm, prior_dir, tmp_path / "in", out, workers=3)
    _wait_for_job(slurm, job, out)
    print(f"slurm: job {job}, 3 array tasks, done in {time.monotonic() - t0:.0f} s")
    assert sorted(p.name for p in (out / "logs" / "completions").iterdir()) == ["00000", "00001", "00002"]
    assert sorted(p.name for p in out.glob("*.jsonl")) == ["00000.jsonl", "00001.jsonl", "00002.jsonl"]
    assert _lines(out) == reference  # byte for byte the plain command's records
    print(f"slurm: {len(reference)} documents, byte-identical to the plain command")
    script = (out / "logs" / "launch_script.slurm").read_text()
    assert "#SBATCH --array=0-2%3" in script and "--gpus" not in script  # a CPU job: no GPU requested


def test_a_cancelled_array_task_is_redone_by_a_resubmission(slurm, prior_dir, texts, tmp_path):
    env, _ = slurm
    records, reference = _reference(prior_dir, texts, tmp_path)
    out = tmp_path / "out"
    job = _submit(slurm, prior_dir, tmp_path / "in", out, workers=1)  # one task at a time
    _wait(lambda: f"{job}_1 RUNNING" in _queue(env, job), f"task 1 of job {job} running", 300)
    _run("scancel", f"{job}_1", env=env)  # killed mid-run; task 2 still runs after it
    print(f"slurm: scancel {job}_1 while it ran")
    _wait_for_job(slurm, job, out)
    assert sorted(p.name for p in (out / "logs" / "completions").iterdir()) == ["00000", "00002"]
    left = len(_lines(out))
    assert left < len(records)
    print(f"slurm: job {job} ended with tasks 0 and 2 complete, {left} of {len(records)} documents written")

    t0 = time.monotonic()
    again = _submit(slurm, prior_dir, tmp_path / "in", out, workers=1)  # the same command
    _wait_for_job(slurm, again, out)
    assert json.loads((out / "logs" / "ranks_to_run.json").read_text()) == [1]  # only the cancelled task
    lines = _lines(out)
    assert len(lines) == len(records) and lines == reference  # every document exactly once, as edited alone
    print(f"slurm: resubmitted as job {again}: only task 1 ran, in {time.monotonic() - t0:.0f} s; "
          f"{len(lines)} documents, each once, byte-identical to the plain command")
