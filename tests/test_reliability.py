"""The command under misuse: two runs on one output, text a tokenizer cannot take, files
it may not read or write, and gzip output that must be the same bytes on every run.

The prior is the tiny GPT-2 of tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tokedit_utils.toedit import main
from tokedit_utils.toedit.records import write_records

pytestmark = pytest.mark.usefixtures("one_thread")  # fixtures: tests/conftest.py

ROOT = Path(__file__).resolve().parents[1]
EDIT = ["--threshold", "0.01", "--seed", "3", "--no-progress"]


def _run(prior, src, out, *extra):
    return main(["--model", str(prior), "--input", str(src), "--output", str(out), *EDIT, *extra])


def _write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _gzip_header(path: Path) -> tuple[bytes, int]:
    """(the 4 bytes of MTIME, the FLG byte) of a gzip file's header."""
    data = path.read_bytes()
    assert data[:2] == b"\x1f\x8b"
    return data[4:8], data[3]


# ------------------------------------------------------------------ reproducible .gz


def test_gz_written_by_the_package_has_no_time_or_name(tmp_path):
    write_records(tmp_path / "a.jsonl.gz", [{"text": "x"}])
    mtime, flags = _gzip_header(tmp_path / "a.jsonl.gz")
    assert mtime == b"\0\0\0\0" and not flags & 0x08  # FNAME: the temporary file's random name
    with gzip.open(tmp_path / "a.jsonl.gz", "rt") as handle:
        assert handle.read() == '{"text": "x"}\n'


def test_identical_runs_give_identical_gz_bytes(prior_dir, texts, tmp_path):
    src = _write_jsonl(tmp_path / "in.jsonl", [{"id": i, "text": t} for i, t in enumerate(texts[:4])])
    assert _run(prior_dir, src, tmp_path / "a" / "out.jsonl.gz") == 0
    time.sleep(1.1)  # the gzip header's time has a resolution of one second
    assert _run(prior_dir, src, tmp_path / "b" / "out.jsonl.gz") == 0
    assert (tmp_path / "a" / "out.jsonl.gz").read_bytes() == (tmp_path / "b" / "out.jsonl.gz").read_bytes()


def test_datatrove_gz_shards_have_no_time(tmp_path):
    from datatrove.data import Document

    from tokedit_utils.toedit.cluster import RECORD, RecordJsonlWriter

    with RecordJsonlWriter(str(tmp_path), "${rank}.jsonl.gz", compression="gzip") as writer:
        writer.write(Document(text="x", id="0", metadata={RECORD: {"id": "0", "text": "x"}}), rank=0)
    assert _gzip_header(tmp_path / "00000.jsonl.gz")[0] == b"\0\0\0\0"
    with gzip.open(tmp_path / "00000.jsonl.gz", "rt") as handle:
        assert json.loads(handle.read()) == {"id": "0", "text": "x"}


# ------------------------------------------------------------------ text a tokenizer cannot take


def test_a_lone_surrogate_is_an_input_error_before_anything_is_written(prior_dir, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "fine"}\n{"text": "lone \\ud800 high"}\n')
    out = tmp_path / "out" / "o.jsonl"
    assert _run(prior_dir, src, out) == 2
    err = capsys.readouterr().err
    assert f"{src}, line 2: field 'text' holds a lone surrogate (\\ud800 at character 6)" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]  # not even the output's folder


# ------------------------------------------------------------------ permissions


@contextlib.contextmanager
def _as_nobody():
    """Run the block without root's right to ignore file permissions (tests run as root here)."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def shared_dir():
    """A folder the unprivileged user can enter (pytest's own tmp folders are root's, 0700)."""
    path = Path(tempfile.mkdtemp(prefix="toedit-perm-"))
    path.chmod(0o755)
    yield path
    for sub in sorted(path.rglob("*"), reverse=True):
        sub.chmod(0o700)
    subprocess.run(["rm", "-rf", str(path)], check=True)


@pytest.mark.parametrize("case", ["input", "output folder", "its parent"])
def test_permission_errors_name_the_path_before_the_model_loads(tmp_path, shared_dir, capsys, case):
    src = _write_jsonl(shared_dir / "in.jsonl", [{"text": "some text"}])
    locked = shared_dir / "locked"
    locked.mkdir(mode=0o555)
    out = {"input": shared_dir / "free" / "o.jsonl", "output folder": locked / "o.jsonl",
           "its parent": locked / "new" / "o.jsonl"}[case]
    if case == "input":
        src.chmod(0o000)
    (shared_dir / "free").mkdir(mode=0o777)
    missing_prior = tmp_path / "never-loaded"  # a model load would fail with exit 3
    with _as_nobody():
        code = _run(missing_prior, src, out)
    err = capsys.readouterr().err
    assert code == 2, err
    named = src if case == "input" else locked
    assert err.startswith(f"error: {named}: permission denied"), err
    assert "Traceback" not in err


# ------------------------------------------------------------------ one writer per output


def _command(prior, src, out, *extra) -> list[str]:
    return [sys.executable, "-m", "tokedit_utils.toedit", "--model", str(prior), "--input", str(src),
            "--output", str(out), *EDIT, *extra]


def test_a_second_run_on_the_same_output_refuses_and_the_output_is_exact(prior_dir, texts, tmp_path, capsys):
    records = [{"id": f"{i}-{j}", "text": t} for j in range(12) for i, t in enumerate(texts)]
    src = _write_jsonl(tmp_path / "in.jsonl", records)
    out, lock = tmp_path / "out" / "edited.jsonl", tmp_path / "out" / "edited.jsonl.lock"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(_command(prior_dir, src, out, "--chunk-docs", "4", "--batch-size", "2"),
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not lock.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lock.exists(), first.communicate()
        assert _run(prior_dir, src, out, "--chunk-docs", "4") == 2
    finally:
        stdout, stderr = first.communicate(timeout=600)
    err = capsys.readouterr().err
    assert err.startswith(f"error: {out} is being written by process {first.pid} on "), err
    assert first.returncode == 0, stderr
    assert _run(prior_dir, src, tmp_path / "alone.jsonl") == 0  # the same edit, uninterrupted
    assert out.read_bytes() == (tmp_path / "alone.jsonl").read_bytes()
    assert sorted(p.name for p in out.parent.iterdir()) == ["edited.jsonl", "edited.stats.json"]


def test_a_lock_left_by_a_killed_run_does_not_block(prior_dir, texts, tmp_path):
    src = _write_jsonl(tmp_path / "in.jsonl", [{"id": i, "text": t} for i, t in enumerate(texts[:3])])
    out = tmp_path / "edited.jsonl"
    (tmp_path / "edited.jsonl.lock").write_text("process 999999 on elsewhere\n")  # no OS lock held
    assert _run(prior_dir, src, out) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edited.jsonl", "edited.stats.json", "in.jsonl"]


# ------------------------------------------------------------------ memory for any document


def test_a_long_document_is_edited_a_segment_at_a_time(gpt2, tok, texts):
    from tokedit_utils.toedit import ToEditor
    from tokedit_utils.toedit.scoring import segments

    long = "\n\n".join(texts)
    spans = segments(long, 600)
    assert spans[0][0] == 0 and spans[-1][1] == len(long) and len(spans) > 10
    assert all(b - a <= 600 and a == b_prev for (a, b), (_, b_prev) in zip(spans[1:], spans))
    assert all(long[a] == " " and not long[a + 1].isspace() for a, _ in spans[1:])  # cut before a word

    editor = ToEditor(gpt2, tok, threshold=0.01, batch_size=4)
    editor.segment_chars = 600
    held, edit_docs = [], editor._edit_docs
    editor._edit_docs = lambda docs, probs: (held.append(sum(len(d.ids) for d in docs)), edit_docs(docs, probs))[1]
    [result] = editor.edit_texts([long], seed=1, return_probs=True)
    whole = len(tok(long)["input_ids"])
    # never the whole document at once: a segment (at most one token per character) and its left context
    assert len(held) == len(spans) and max(held) <= 600 + editor.context - 1 < whole
    assert result.tokens == len(result.probs) == whole  # a cut before a word changes no token
    assert result.scored == whole - 1 and 0 < result.changed < result.flagged
    assert sorted(result.flagged_positions) == sorted(set(result.flagged_positions))
    assert result.flagged == len(result.flagged_positions) == int((result.probs >= 0.01).sum())

    editor.batch_size = 1  # the same edit whatever the batch
    assert editor.edit_texts([long], seed=1)[0].text == result.text
    editor.threshold = 2.0  # nothing flagged: the text comes back byte for byte
    assert editor.edit_texts([long], seed=1)[0].text == long
