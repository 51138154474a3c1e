"""Regenerate tests/notebooks/: the smoke-profile outputs that nbval compares.

    make refresh-references      (or: .venv/bin/python tests/make_references.py)

Runs the chain in the smoke profile in a temporary runs folder, then keeps, for each
executed notebook, only the outputs of cells tagged ``nbval-check-output`` (nbval's lax
mode compares just those). Commit the result together with the notebook change.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
REFERENCES = HERE / "notebooks"
TAG = "nbval-check-output"


def strip_unchecked(nb):
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code" and TAG not in cell.metadata.get("tags", []):
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    return nb


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="toedit-refs-") as runs:
        os.environ["TOKEDIT_RUNS"] = runs
        from tokedit_utils import book

        executed = book.run_chain("smoke", force=True)
        REFERENCES.mkdir(exist_ok=True)
        for stale in REFERENCES.glob("*.ipynb"):
            stale.unlink()
        for path in executed:
            nb = strip_unchecked(nbformat.read(path, as_version=4))
            nbformat.write(nb, REFERENCES / path.name)
            print(f"wrote {REFERENCES / path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
