"""The chain runner and the profile guard."""

import json

import nbformat
import pytest
import yaml

from tokedit_utils import book, paths


def test_every_profile_names_real_parameters():
    for profile_file in sorted(book.PROFILES_DIR.glob("*.yml")):
        overrides = book.profile_overrides(profile_file.stem)
        assert book.check_overrides(profile_file.stem, overrides, book.chain()) == []


def test_profiles_cover_smoke_gpu_and_paper():
    assert {p.stem for p in book.PROFILES_DIR.glob("*.yml")} >= {"smoke", "gpu", "paper"}


def test_every_notebook_has_one_parameters_cell_with_profile():
    for nb in book.chain():
        assert book.parameters_cell(nb)["profile"] == "default"


def test_source_notebooks_are_committed_without_outputs():
    for path in book.chain():
        nb = nbformat.read(path, as_version=4)
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), path


# ------------------------------------------------------------------ a toy chain


def _notebook(path, params_src, body):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(params_src)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)


BODY = """
from tokedit_utils import paths
out = paths.output_dir(profile, STEM)
(out / "artifact.txt").write_text(f"{value}")
if value == 13:
    raise RuntimeError("unlucky value")
paths.write_results(out, {"value": value})
"""


@pytest.fixture()
def toy(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKEDIT_RUNS", str(tmp_path / "runs"))
    nbs, profiles = tmp_path / "notebooks", tmp_path / "profiles"
    nbs.mkdir()
    profiles.mkdir()
    for stem in ("01_first", "02_second"):
        _notebook(nbs / f"{stem}.ipynb", 'profile = "default"\nvalue = 1', BODY.replace("STEM", repr(stem)))
    (profiles / "small.yml").write_text(yaml.safe_dump({"01_first": {"value": 2}}))
    return nbs, profiles


def _run(toy, profile="small", **kw):
    logs = []
    book.run_chain(profile, notebooks_dir=toy[0], profiles_dir=toy[1], log=logs.append, **kw)
    return logs


def test_chain_runs_then_skips_unchanged_stages(toy):
    first = _run(toy)
    assert sum("running" in line for line in first) == 2
    assert json.loads((paths.stage_dir("small", "01_first") / "results.json").read_text()) == {"value": 2}
    assert sum("skipped" in line for line in _run(toy)) == 2
    # the profile changes the first stage's parameters: it re-runs; its artifact changed, so the second re-runs too
    (toy[1] / "small.yml").write_text(yaml.safe_dump({"01_first": {"value": 3}}))
    assert sum("running" in line for line in _run(toy)) == 2


def test_changing_a_later_notebook_reruns_only_that_stage(toy):
    _run(toy)
    second = toy[0] / "02_second.ipynb"
    nb = nbformat.read(second, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("1 + 1"))
    nbformat.write(nb, second)
    logs = _run(toy)
    assert "skipped" in logs[0] and "running" in logs[1]


def test_failing_notebook_stops_the_chain_and_leaves_no_stage(toy):
    (toy[1] / "small.yml").write_text(yaml.safe_dump({"01_first": {"value": 13}}))
    with pytest.raises(book.ChainError) as err:
        _run(toy)
    assert "RuntimeError: unlucky value" in str(err.value)
    stage = paths.stage_dir("small", "01_first")
    assert not stage.exists()
    assert not any(p.name.endswith(".partial") for p in stage.parent.iterdir())
    assert (stage.parent / "01_first.failed.ipynb").exists()
    assert not paths.stage_dir("small", "02_second").exists()


def test_unknown_override_is_an_error(toy):
    (toy[1] / "small.yml").write_text(yaml.safe_dump({"01_first": {"valeu": 2}}))
    with pytest.raises(book.ChainError, match="no parameter 'valeu'"):
        _run(toy)


def test_override_of_the_wrong_type_is_an_error(toy):
    (toy[1] / "small.yml").write_text(yaml.safe_dump({"01_first": {"value": "two"}}))
    with pytest.raises(book.ChainError, match="is int by default"):
        _run(toy)


def test_a_number_may_replace_a_named_mode():
    assert book._same_kind("dose_matched", 0.99) and not book._same_kind(0.99, "dose_matched")


def test_unknown_notebook_and_profile_are_errors(toy):
    (toy[1] / "small.yml").write_text(yaml.safe_dump({"09_missing": {"value": 2}}))
    with pytest.raises(book.ChainError, match="'09_missing', which does not exist"):
        _run(toy)
    with pytest.raises(book.ChainError, match="unknown profile 'nosuch'"):
        _run(toy, profile="nosuch")
