"""The chain runner and the profile guard."""

import json
import re

import nbformat
import pytest
import yaml

from tokedit_utils import book
from tokedit_utils.toolkit import paths

from conftest import BODY, _finish, _notebook, _run  # the toy chain


def test_every_profile_names_real_parameters_of_the_declared_types():
    for profile_file in sorted(book.PROFILES_DIR.glob("*.yml")):
        overrides = book.profile_overrides(profile_file.stem)
        assert book.check_overrides(profile_file.stem, overrides, book.chain()) == []


def test_every_none_parameter_declares_its_type():
    for nb in book.chain():
        assert book.undeclared_none_parameters(nb) == [], nb.name


@pytest.mark.parametrize("value, declared, ok", [
    ("books.jsonl", "str | list | None", True), (["a.jsonl"], "str | list | None", True),
    (None, "str | None", True), (3, "str | None", False), (True, "int | None", False),
    (4, "int | None", True), (0.5, "int | None", False), (2, "float", True),
    (["a", "b"], "list[str] | None", True), ([1], "str | list[str] | None", False),
    ([1, None], "list[int | None]", True),
])
def test_declared_types(value, declared, ok):
    assert book.matches_declared(value, declared) is ok


def _words_and_bytes(corpus):
    text = corpus["train"]["text"]
    return sum(len(t.split()) for t in text), sum(len(t.encode()) for t in text)


@pytest.mark.parametrize("profile", ["default", "smoke", "gpu", "paper"])
def test_token_budgets_fit_the_corpus(profile):
    """Chapter 1's mixtures need (1 - r) * mixture_tokens human training tokens and r *
    mixture_tokens synthetic tokens for every ratio r. Checked without running: a word is at
    least one token of a byte-level BPE and a token at least one byte; in between, the
    profile's tokenizer is trained on the training split and counts. A hub corpus is not
    checked here (the profile documents its size)."""
    from tokedit_utils.toolkit import data, models

    nb = next(nb for nb in book.chain() if nb.stem == "01_corpora")
    p = book.resolve_parameters(nb, profile, book.profile_overrides(profile))
    ratios = p["synthetic_ratios"]
    assert p["synthetic_tokens"] >= max(ratios) * p["mixture_tokens"]
    human_needed = (1 - min(ratios)) * p["mixture_tokens"]
    if p["corpus"] is not None and not book._local_paths(p["corpus"]):
        assert p["offline"] is False, f"{profile}: a hub corpus needs offline: false"
        return
    corpus = data.load_corpus(p["corpus"], p["text_field"], p["work_field"], p["max_docs_per_domain"])
    words, n_bytes = _words_and_bytes(corpus)
    assert n_bytes >= human_needed, f"{profile}: {n_bytes:,} bytes of training text, {human_needed:,.0f} tokens asked"
    if words < human_needed and p["teacher"] is None:
        tokenizer = models.train_tokenizer(corpus["train"]["text"], vocab_size=p["vocab_size"])
        tokens = sum(len(ids) for ids in tokenizer(list(corpus["train"]["text"]))["input_ids"])
        assert tokens >= human_needed, f"{profile}: {tokens:,} training tokens, {human_needed:,.0f} asked"


def test_profiles_cover_smoke_gpu_and_paper():
    assert {p.stem for p in book.PROFILES_DIR.glob("*.yml")} >= {"smoke", "gpu", "paper"}


def test_every_notebook_has_one_parameters_cell_with_profile():
    for nb in book.chain():
        assert book.parameters_cell(nb)["profile"] == "default"


def test_source_notebooks_are_committed_without_outputs():
    for path in book.chain():
        nb = nbformat.read(path, as_version=4)
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), path


# ------------------------------------------------------------------ a toy chain (fixtures: conftest.py)


def test_chain_runs_then_skips_unchanged_stages(toy, toy_first_run):
    first = [line for line in toy_first_run.logs if ":   cell" not in line]
    assert sum("running" in line for line in first) == 2
    _finish(toy_first_run)
    assert json.loads((paths.stage_dir("small", "01_first") / "results.json").read_text()) == {"value": 2}
    assert sum("skipped" in line for line in _run(toy)) == 2
    # the profile changes the first stage's parameters: it re-runs; its artifact changed, so the second re-runs too
    (toy[1] / "small.yml").write_text(yaml.safe_dump({"01_first": {"value": 3}}))
    assert sum("running" in line for line in _run(toy)) == 2


def test_changing_a_later_notebook_reruns_only_that_stage(toy, toy_first_run):
    _finish(toy_first_run)
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


def test_unknown_notebook_and_profile_are_errors(toy):
    (toy[1] / "small.yml").write_text(yaml.safe_dump({"09_missing": {"value": 2}}))
    with pytest.raises(book.ChainError, match="'09_missing', which does not exist"):
        _run(toy)
    with pytest.raises(book.ChainError, match="unknown profile 'nosuch'"):
        _run(toy, profile="nosuch")


# ------------------------------------------------------------------ what a stage reads


def test_real_stage_inputs():
    notebooks = book.chain()
    inputs = {nb.stem: book.stage_inputs(nb, notebooks) for nb in notebooks}
    assert inputs["01_corpora"]["upstream"] == []
    assert inputs["02_collapse"]["upstream"] == ["01_corpora"]
    assert "data/corpus" in inputs["01_corpora"]["files"]
    assert "tokedit_utils/toolkit/lm_eval_tasks" in inputs["02_collapse"]["files"]
    # chapter 5 reads no earlier stage, no corpus and none of the training code
    assert inputs["05_theory"]["upstream"] == [] and inputs["05_theory"]["files"] == ["requirements.txt"]
    assert "tokedit_utils.chapters.theory" in inputs["05_theory"]["modules"]
    assert "tokedit_utils.toolkit.trainer" not in inputs["05_theory"]["modules"]
    assert "tokedit_utils.chapters.theory" not in inputs["01_corpora"]["modules"]
    # modules imported through other modules count: collapse imports training
    assert "tokedit_utils.toolkit.trainer" in inputs["02_collapse"]["modules"]


@pytest.fixture()
def package(tmp_path):
    """A stand-in package for the key: first.py (imported by stage 1), second.py (stage 2),
    and second imports helper.py."""
    root = tmp_path / "pkg" / "tokedit_utils"
    root.mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "paths.py").write_text("")
    (root / "first.py").write_text("A = 1\n")
    (root / "helper.py").write_text("B = 1\n")
    (root / "second.py").write_text("from . import helper\n")
    return root


def _imports(module):
    # parsed for the cache key, never executed (the kernel imports the real package)
    return f"if False:\n    from tokedit_utils import {module}\n"


def test_a_module_change_reruns_only_the_stages_that_import_it(toy, package):
    for stem, module, extra in (("01_first", "first", ""),
                                ("02_second", "second", 'paths.read_results(profile, "01_first")')):
        _notebook(toy[0] / f"{stem}.ipynb", 'profile = "default"\nvalue = 1',
                  _imports(module) + BODY.replace("STEM", repr(stem)) + extra)
    run = lambda: _run(toy, package_root=package)  # noqa: E731
    run()
    (package / "helper.py").write_text("B = 2\n")  # imported by second, through second.py
    logs = run()
    assert "skipped" in logs[0] and "running (modules changed)" in logs[1]
    (package / "first.py").write_text("A = 2\n")  # stage 1 re-runs; its artifacts are unchanged
    logs = run()
    assert "running (modules changed)" in logs[0]
    assert "02_second: unchanged, skipped" in logs[-1]


def test_declared_upstream_and_inputs(toy, tmp_path):
    extra = paths.PROJECT_ROOT / "requirements.txt"  # any project file serves as a declared input
    nb = nbformat.read(toy[0] / "02_second.ipynb", as_version=4)
    nb.metadata["tokedit"] = {"upstream": [], "inputs": [str(extra.relative_to(paths.PROJECT_ROOT))]}
    nbformat.write(nb, toy[0] / "02_second.ipynb")
    _run(toy)
    assert book.read_stamp(paths.stage_dir("small", "02_second"))["inputs"]["files"] == ["requirements.txt"]
    # a declaration adds to what the code shows, never removes: stage 2 still reads stage 1
    (toy[1] / "small.yml").write_text(yaml.safe_dump({"01_first": {"value": 5}}))
    logs = _run(toy)
    assert "running (parameters changed)" in logs[0] and "02_second: running (upstream changed)" in logs[-2]


def test_a_file_named_by_a_parameter_is_part_of_the_key(toy, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("one")
    _notebook(toy[0] / "01_first.ipynb", 'profile = "default"\nvalue = 1\ncorpus = None  # type: str | None',
              BODY.replace("STEM", repr("01_first")))
    (toy[1] / "small.yml").write_text(yaml.safe_dump({"01_first": {"corpus": "../corpus.txt"}}))
    _run(toy, until="01_first")  # the file is stage 1's parameter: stage 1 shows it
    assert "skipped" in _run(toy, until="01_first")[0]
    corpus.write_text("two")
    assert "running (parameter files changed)" in _run(toy, until="01_first")[0]


def test_progress_line_per_code_cell_and_stage_total(toy_first_run):
    logs = toy_first_run.logs
    cells = [line for line in logs if line.startswith("[small] 01_first:   cell")]
    assert len(cells) == 3  # injected parameters, parameters, body
    assert re.search(r"cell  3/3 +\d+\.\d s  from tokedit_utils.toolkit imp", cells[-1])
    assert re.search(r"01_first: done in \d+ s", "\n".join(logs))


def test_a_stage_that_records_its_temporary_folder_fails(toy):
    leaky = BODY.replace("paths.write_results(out, {\"value\": value})",
                         "(out / 'results.json').write_text(json.dumps({'where': str(out)}))")
    _notebook(toy[0] / "01_first.ipynb", 'profile = "default"\nvalue = 1',
              "import json\n" + leaky.replace("STEM", repr("01_first")))
    with pytest.raises(book.ChainError, match="temporary folder into results.json"):
        _run(toy)
    assert not paths.stage_dir("small", "01_first").exists()


def test_profile_file_anywhere_and_set_overrides(toy, tmp_path):
    mine = tmp_path / "elsewhere" / "mine.yml"
    mine.parent.mkdir()
    mine.write_text(yaml.safe_dump({"01_first": {"value": 7}}))
    sets = book.parse_sets(["02_second.value=9"])
    book.run_chain(str(mine), notebooks_dir=toy[0], profiles_dir=toy[1], log=lambda _: None, sets=sets)
    assert json.loads((paths.stage_dir("mine", "01_first") / "results.json").read_text()) == {"value": 7}
    assert json.loads((paths.stage_dir("mine", "02_second") / "results.json").read_text()) == {"value": 9}
    with pytest.raises(book.ChainError, match="expected STEM.NAME=VALUE"):
        book.parse_sets(["value=3"])


def test_set_makes_an_existing_relative_path_absolute(tmp_path, monkeypatch):
    (tmp_path / "books.jsonl").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    sets = book.parse_sets(["01_corpora.corpus=books.jsonl", "01_corpora.teacher=org/model", "01_corpora.x=[1, 2]"])
    assert sets == {"01_corpora": {"corpus": str(tmp_path / "books.jsonl"), "teacher": "org/model", "x": [1, 2]}}


def test_none_override_needs_a_declared_type(toy):
    (toy[1] / "small.yml").write_text(yaml.safe_dump({"01_first": {"value": None}}))
    with pytest.raises(book.ChainError, match="declares no type"):
        _run(toy)


# ------------------------------------------------------------------ the page


def test_parameters_are_shown_once_with_the_values_used():
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "default"\nsize = 4096   # vocabulary\nseed = 0')
    params.metadata["tags"] = ["parameters"]
    injected = nbformat.v4.new_code_cell('# Parameters\nprofile = "smoke"\nsize = 512\nseed = 0\n')
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells = [params, injected, nbformat.v4.new_code_cell("print(size)")]
    shown = book.show_parameters_once(nb, "smoke")
    assert len(shown.cells) == 2 and "injected-parameters" not in str(shown.cells[1].metadata)
    source = shown.cells[0].source
    assert source.splitlines()[0].startswith("# Parameters of this run: the smoke profile")
    assert "size = 512  # smoke profile (default: 4096); vocabulary" in source
    assert "\nseed = 0" in source  # unchanged lines stay as written
    ns = {}
    exec(source, ns)
    assert (ns["profile"], ns["size"], ns["seed"]) == ("smoke", 512, 0)


@pytest.mark.parametrize("html, problem", [
    ('<div class="cell_output"><pre>PosixPath(\'/x/results.json\')</pre></div>', "local path"),
    ('<p>written to /work/main/runs/default/.02_collapse.partial</p>', "local path"),
    ('<div class="tag_parameters"></div><div class="tag_injected-parameters"></div>', "shown 2 times"),
    ('<div class="cell_input"><pre># NBVAL_CHECK_OUTPUT\nx = 1</pre></div>', "nbval marker"),
    ('<div class="cell_output"><p>| n | error |\n|---|---|</p></div>', "raw Markdown table"),
    ('<div class="cell_output"><p>with $d=20$ features</p></div>', "unrendered math"),
])
def test_page_checker_catches_each_problem(html, problem):
    found = book.page_problems(f"<html><body>{html}</body></html>")
    assert any(problem in p for p in found), found


def test_page_checker_passes_rendered_output():
    html = ('<div class="tag_parameters cell_input"><pre>x = 1</pre></div><div class="cell_output">'
            '<table><tr><td>1</td></tr></table><p>with <span class="math">\\(d=20\\)</span></p>'
            '<pre>cost: $5 | $6</pre></div>')
    assert book.page_problems(html) == []
