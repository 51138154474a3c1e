"""The chapter notebooks: nbval references in step with the sources, and the smoke book.

nbval executes tests/notebooks/*.ipynb (see pyproject.toml's addopts), and conftest.py has the
runner stamp each execution as a smoke stage; this file checks those references still match
the source notebooks and the smoke profile, and builds the whole smoke book from those stages.
"""

import ast
import re
from pathlib import Path

import nbformat
import pytest

from tokedit_utils import book
from tokedit_utils.toolkit import paths

REFERENCES = Path(__file__).resolve().parent / "notebooks"
REFRESH = "the nbval reference is stale: run `make refresh-references` and commit tests/notebooks/"


def _injected(nb) -> dict:
    cell = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    return {n.targets[0].id: ast.literal_eval(n.value) for n in ast.parse(cell.source).body if isinstance(n, ast.Assign)}


@pytest.mark.parametrize("source", book.chain(), ids=lambda p: p.stem)
def test_reference_matches_source_and_smoke_profile(source):
    reference = REFERENCES / source.name
    assert reference.exists(), REFRESH
    src, ref = nbformat.read(source, as_version=4), nbformat.read(reference, as_version=4)
    ref_cells = [c for c in ref.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    assert [(c.cell_type, c.source) for c in ref_cells] == [(c.cell_type, c.source) for c in src.cells], REFRESH
    expected = book.resolve_parameters(source, "smoke", book.profile_overrides("smoke"))
    assert _injected(ref) == expected, REFRESH


@pytest.mark.parametrize("source", book.chain(), ids=lambda p: p.stem)
def test_each_chapter_checks_some_printed_numbers(source):
    ref = nbformat.read(REFERENCES / source.name, as_version=4)
    checked = [c for c in ref.cells if c.cell_type == "code" and "nbval-check-output" in c.metadata.get("tags", [])]
    assert checked and all(c.outputs for c in checked), f"{source.name}: no checked output in its reference"


def test_nbval_execution_is_the_smoke_chain():
    """Each notebook nbval executed in this session became the smoke stage, stamped, so the
    chain, the book, the results and the page tests reuse it (empty when nbval did not run)."""
    from conftest import ADOPTED

    assert {stem: why for stem, why in ADOPTED.items() if why != "adopted"} == {}
    for stem in ADOPTED:
        assert book.read_stamp(paths.stage_dir("smoke", stem)) is not None


def test_smoke_book_builds_every_chapter(smoke_html):
    html = smoke_html
    assert (html / "intro.html").exists()
    for nb in book.chain():
        page = html / "chapters" / f"{nb.stem}.html"
        assert page.exists(), f"no page for {nb.stem}"
        assert "<img" in page.read_text(), f"{nb.stem}: no figure in the page"
        assert (paths.stage_dir("smoke", nb.stem) / "results.json").exists()
    # the book works offline: no page loads a script from the network; MathJax is local
    for page in html.rglob("*.html"):
        remote = re.findall(r'<script[^>]*src="(https?://[^"]+)"', page.read_text())
        assert not remote, f"{page.relative_to(html)} loads {remote}"
    assert (html / "_static" / "mathjax" / "MathJax.js").exists()
    assert "_static/mathjax/MathJax.js" in (html / "chapters" / "05_theory.html").read_text()
    # nothing re-executes when nothing changed
    logs = []
    book.run_chain("smoke", log=logs.append)
    assert all("skipped" in line for line in logs)
