"""The cache keys on what can change a chapter's numbers: every stage a notebook reads, no
runner or command-line code; a stage changed by hand re-runs; a notebook run by hand writes
beside the chain's stages; ``--dry-run`` and ``--only``."""

import json
import os

import nbformat
import yaml

from tokedit_utils import book
from tokedit_utils.book import cache, execute
from tokedit_utils.toolkit import paths

from conftest import BODY, _finish, _notebook, _run  # the toy chain (its fixtures: conftest.py)


def test_declared_upstream_includes_every_stage_the_code_reads():
    notebooks = book.chain()
    for nb in notebooks:
        declared = nbformat.read(nb, as_version=4).metadata.get("tokedit", {}).get("upstream")
        inferred = cache.inferred_upstream(nb, cache.imported_modules(nb))
        if isinstance(declared, list):
            assert set(inferred) <= set(declared), f"{nb.name} declares {declared}, its code reads {inferred}"
    inputs = {nb.stem: book.stage_inputs(nb, notebooks) for nb in notebooks}
    assert "02_collapse" in inputs["06_training"]["upstream"]
    # chapter 6's module reads chapter 4's threshold: found in the module, not the notebook
    assert "04_editing" in cache.inferred_upstream(notebooks[5], inputs["06_training"]["modules"])


def test_no_stage_is_keyed_on_the_runner_the_command_or_the_cluster_step():
    for nb in book.chain():
        modules = book.stage_inputs(nb, book.chain())["modules"]
        keyed = [m for m in modules if m.startswith("tokedit_utils.book") or m in cache.NOT_KEYED]
        assert keyed == [], f"{nb.stem} is keyed on {keyed}"
    editing = book.stage_inputs(next(nb for nb in book.chain() if nb.stem == "04_editing"), book.chain())
    assert "tokedit_utils.toedit.scoring" in editing["modules"]  # what it really runs stays keyed


def test_a_stage_changed_by_hand_reruns_with_the_reason(toy, toy_first_run):
    _finish(toy_first_run)
    (paths.stage_dir("small", "01_first") / "artifact.txt").write_text("edited by hand")
    logs = _run(toy)
    assert "01_first: running (its artifacts no longer match its stamp" in logs[0]
    assert json.loads((paths.stage_dir("small", "01_first") / "results.json").read_text()) == {"value": 2}
    assert (paths.stage_dir("small", "01_first") / "artifact.txt").read_text() == "2"


def test_dry_run_says_what_would_run_and_runs_nothing(toy, toy_first_run):
    logs = _run(toy, dry_run=True)
    assert logs == ["[small] 01_first: would run (not run before)", "[small] 02_second: would run (not run before)"]
    assert not paths.stage_dir("small", "01_first").exists()
    _finish(toy_first_run)
    (toy[1] / "small.yml").write_text(yaml.safe_dump({"01_first": {"value": 4}}))
    logs = _run(toy, dry_run=True)
    assert logs == ["[small] 01_first: would run (parameters changed)",
                    "[small] 02_second: would run (01_first would re-run)"]
    assert (paths.stage_dir("small", "01_first") / "artifact.txt").read_text() == "2"


def test_only_runs_a_stage_and_what_it_reads(toy):
    _notebook(toy[0] / "03_third.ipynb", 'profile = "default"\nvalue = 1', BODY.replace("STEM", repr("03_third")))
    logs = _run(toy, only=["02_second"])
    assert [line.split(":")[0] for line in logs if "running" in line] == ["[small] 01_first", "[small] 02_second"]
    assert not paths.stage_dir("small", "03_third").exists()
    # a student changes a parameter of stage 2 and re-runs it alone
    logs = _run(toy, only=["02_second"], sets={"02_second": {"value": 8}})
    assert "01_first: unchanged, skipped" in logs[0] and "02_second: running (parameters changed)" in logs[1]


def test_the_kernel_imports_this_checkout_and_uses_its_runs(monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", "/elsewhere/clone")
    env = execute.kernel_env(tmp_path / "partial")
    assert env["PYTHONPATH"].split(os.pathsep) == [str(paths.PROJECT_ROOT), "/elsewhere/clone"]
    assert env["TOKEDIT_RUNS"] == str(paths.runs_root())


def test_a_notebook_run_by_hand_writes_beside_the_chain(monkeypatch):
    monkeypatch.delenv("TOKEDIT_STAGE_DIR", raising=False)
    out = paths.output_dir("handrun", "06_training")
    assert out == paths.runs_root() / "handrun" / "lab" / "06_training"
    assert out != paths.stage_dir("handrun", "06_training")
