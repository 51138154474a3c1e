"""The guard: parameters out of their declared range and malformed YAML are refused before any
notebook runs, with one line naming what is wrong; a failed or refused run never replaces a
finished stage; an empty corpus or mixture is an error, not a stage."""

import json

import pytest
import yaml

from tokedit_utils import book
from tokedit_utils.book.__main__ import main
from tokedit_utils.toolkit import data, paths

from conftest import BODY, _finish, _notebook, _run  # the toy chain (its fixtures: conftest.py)


@pytest.mark.parametrize("value, declared, ok", [
    (5, "int > 0", True), (-5, "int > 0", False), (0, "int in [0, inf)", True), (-1, "int in [0, inf)", False), (1.0, "float in [0, 1]", True),
    (1.0, "float in [0, 1)", False), ([0.0, 1.0], "list[float in [0, 1]] non-empty", True),
    ([], "list[float in [0, 1]] non-empty", False), ([0.5, 2.0], "list[float in [0, 1]]", False),
    (None, "int > 0 | None", True), ("dose_matched", 'float in (0, 1] | "dose_matched"', True),
    (0.0, 'float in (0, 1] | "dose_matched"', False),
])
def test_declared_ranges(value, declared, ok):
    assert book.matches_declared(value, declared)
    assert book.in_declared_range(value, declared) is ok


def test_every_numeric_parameter_declares_a_range_its_default_meets():
    for nb in book.chain():
        defaults, declared = book.parameters_cell(nb), book.parameter_types(nb)
        for name, value in defaults.items():
            if isinstance(value, (int, float, list)) and not isinstance(value, bool):
                assert name in declared, f"{nb.stem}.{name} declares no type and range"
            if name in declared:
                assert book.in_declared_range(value, declared[name]), f"{nb.stem}.{name} = {value!r}"


def test_papermill_reads_every_parameter_of_every_notebook():
    """A range must not hide a parameter from papermill (a second ``=`` on a line does)."""
    import nbformat
    from papermill.translators import PythonTranslator

    for nb in book.chain():
        cell = next(c for c in nbformat.read(nb, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
        assert [p.name for p in PythonTranslator.inspect(cell)] == list(book.parameters_cell(nb)), nb.name


def _ranged(toy):
    _notebook(toy[0] / "01_first.ipynb", 'profile = "default"\nvalue = 1  # type: int > 0',
              BODY.replace("STEM", repr("01_first")))


def test_an_out_of_range_value_is_refused_before_anything_runs(toy):
    _ranged(toy)
    _run(toy, until="01_first")  # the finished stage the refused value must leave as it was
    before = (paths.stage_dir("small", "01_first") / "results.json").read_text()
    with pytest.raises(book.ChainError, match=r"01_first.value = -5 is out of range: it must be int > 0"):
        _run(toy, sets={"01_first": {"value": -5}})
    assert (paths.stage_dir("small", "01_first") / "results.json").read_text() == before


def test_a_failed_run_never_replaces_a_finished_stage(toy, toy_first_run):
    _finish(toy_first_run)
    (toy[1] / "small.yml").write_text(yaml.safe_dump({"01_first": {"value": 13}}))  # the notebook raises
    with pytest.raises(book.ChainError, match="unlucky value"):
        _run(toy)
    assert json.loads((paths.stage_dir("small", "01_first") / "results.json").read_text()) == {"value": 2}
    assert book.read_stamp(paths.stage_dir("small", "01_first"))["parameters"]["value"] == 2


def test_the_command_refuses_an_impossible_budget_in_one_line(capsys):
    rc = main(["--profile", "smoke", "--set", "01_corpora.mixture_tokens=-5", "--until", "01_corpora", "--no-build"])
    err = capsys.readouterr().err
    assert rc == 1 and err.strip().count("\n") == 0 and "Traceback" not in err
    assert "01_corpora.mixture_tokens = -5 is out of range: it must be int > 0" in err


def test_malformed_yaml_profile_and_set_are_one_line_errors(tmp_path, capsys):
    bad = tmp_path / "bad.yml"
    bad.write_text("01_corpora:\n  vocab_size: [1\n")
    assert main(["--profile", str(bad), "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}: line 3, column 1: not valid YAML") and err.count("\n") == 1
    assert main(["--profile", "smoke", "--set", "01_corpora.vocab_size=[1", "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --set '01_corpora.vocab_size=[1', value: line 1, column 3: not valid YAML")
    assert err.count("\n") == 1


def test_an_empty_corpus_or_mixture_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no records to write"):
        data.write_jsonl_gz(tmp_path / "mixture.jsonl.gz", [])
    assert not (tmp_path / "mixture.jsonl.gz").exists()
