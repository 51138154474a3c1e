"""Every chapter notebook in the style of the book's pages: one setup call, code lines that
fit the page's column, every parameter commented, no logic hidden from the reader."""

import ast
import io
import tokenize

import nbformat
import pytest

from tokedit_utils import book

WIDTH = 88  # characters: the code column of a rendered page


def _cells(source):
    """The code cells, numbered as the notebook numbers all its cells (from 0)."""
    nb = nbformat.read(source, as_version=4)
    return [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]


def _tags(cell):
    return cell.metadata.get("tags", [])


@pytest.mark.parametrize("source", book.chain(), ids=lambda p: p.stem)
def test_code_lines_fit_the_page(source):
    long = [f"cell {i}, line {n}: {len(line)} characters"
            for i, cell in _cells(source)
            for n, line in enumerate(cell.source.splitlines(), 1) if len(line) > WIDTH]
    assert not long, f"{source.name}: lines over {WIDTH} characters: {long}"


@pytest.mark.parametrize("source", book.chain(), ids=lambda p: p.stem)
def test_every_parameter_is_commented(source):
    cell = next(c for _, c in _cells(source) if "parameters" in _tags(c))
    comments = {tok.start[0] for tok in tokenize.generate_tokens(io.StringIO(cell.source).readline)
                if tok.type == tokenize.COMMENT}
    assigned = [node for node in ast.parse(cell.source).body if isinstance(node, ast.Assign)]
    assert assigned, f"{source.name}: an empty parameters cell"
    bare = [node.targets[0].id for node in assigned if node.lineno not in comments]
    assert not bare, f"{source.name}: parameters without a comment on their line: {bare}"


@pytest.mark.parametrize("source", book.chain(), ids=lambda p: p.stem)
def test_one_setup_call(source):
    calls = [c for _, c in _cells(source) if "session.chapter(" in c.source]
    assert len(calls) == 1, f"{source.name}: {len(calls)} cells call session.chapter"
    assert f'session.chapter("{source.stem}", profile' in calls[0].source
    for name in ("session.start(", "paths.output_dir(", "time.perf_counter() - chapter_start"):
        assert not any(name in c.source for _, c in _cells(source)), f"{source.name}: {name}"


@pytest.mark.parametrize("source", book.chain(), ids=lambda p: p.stem)
def test_hidden_cells_only_render(source):
    """A cell whose input the page hides computes nothing the reader would need: it holds
    no assignment, definition or import, only calls that display what is already there."""
    binding = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.FunctionDef, ast.Import,
               ast.ImportFrom, ast.ClassDef, ast.NamedExpr)
    for i, cell in _cells(source):
        if "remove-input" in _tags(cell):
            found = [type(n).__name__ for n in ast.walk(ast.parse(cell.source))
                     if isinstance(n, binding)]
            assert not found, f"{source.name}, cell {i}: a hidden cell computes ({found})"
