"""The chain runner: execute the chapter notebooks in order with papermill, then build the book.

    python -m tokedit_utils.book --profile default        # run the chain, build _build/html
    python -m tokedit_utils.book --profile smoke --until 01_corpora --no-build
    python -m tokedit_utils.book --profile my.yml --set 01_corpora.corpus=books.jsonl.gz

**Parameters.** Each notebook ``notebooks/NN_name.ipynb`` is one stage. Its parameters are the
defaults of its ``parameters`` cell, overridden by a profile: ``profiles/<name>.yml``, or a
YAML file anywhere (``--profile path/to/mine.yml``; its runs go to ``runs/mine/``), a mapping
from notebook stem to overrides. ``--set STEM.NAME=VALUE`` (repeatable; VALUE read as YAML)
overrides on top. A string that names an existing file or folder, relative to the profile
file (or, for ``--set``, to the current folder), is made absolute. An override of a name the
notebook does not have is an error, and so is a value of the wrong type: the type of the
default, or for a parameter whose default is ``None`` the type it declares with an annotation
or a type comment, ``corpus = None  # type: str | list | None``.

**The cache.** A stage is skipped when its key is unchanged and its artifacts still match the
hash its stamp recorded (a stage changed by hand re-runs, and the runner says so). The key covers
exactly what can change the stage's numbers:

- its cells and its resolved parameters;
- the package modules it imports (``from tokedit_utils import data, ...`` in its code, and
  what those import in turn), plus the data files those modules read (``MODULE_INPUTS``);
  never the runner, the command line or the datatrove step (``NOT_KEYED``), which no chapter runs;
- ``requirements.txt``; any file or folder a parameter names (a reader's corpus);
- its **upstream** stages' artifacts: the stages its code or its modules name in
  ``paths.input_dir(profile, "NN_x")``, ``paths.read_results(profile, "NN_x")`` or
  ``data.load_chapter1_corpus``, plus those declared in the notebook metadata,
  ``"tokedit": {"upstream": ["01_corpora"], "inputs": ["data/corpus"]}`` (``"upstream": "all"``
  names every earlier stage; ``inputs`` are extra files or folders relative to the project).

So a change to chapter 5's module re-runs chapter 5 only, and a change to the corpus or to the
lm-eval task templates re-runs the chapters that read them. The runner says which part changed;
``--dry-run`` says what would re-run, and why, and runs nothing. ``--only STEM`` runs one
chapter and whatever earlier stage it reads that is out of date.

**Running.** A stage runs in a temporary folder renamed into ``runs/<profile>/<stem>/`` only
when the notebook succeeded. Its kernel imports the package of this checkout (first on its
``PYTHONPATH``) and uses this checkout's ``runs/``. A notebook run by hand in JupyterLab writes
to ``runs/<profile>/lab/<stem>/`` instead, and reads the chain's earlier stages. It prints a line per finished code cell with its time, and the
stage's total. Its ``results.json`` and YAML files must not name the temporary folder (every
path a stage writes is relative to the stage).

**The book.** Each page shows the parameters once: the ``parameters`` cell, rewritten to the
values the run used (papermill's injected cell is dropped), with a label naming the profile.
"""

from __future__ import annotations

# The runner's API, by job (the tests and the command use these names).
from ..toolkit.profiles import ChainError, load_profile, profile_overrides  # noqa: F401
from .cache import NOT_KEYED, STAMP, inferred_upstream, artifacts_hash, imported_modules, key_parts, read_stamp, stage_inputs, _local_paths  # noqa: F401
from .execute import adopt_stage, execute_stage, kernel_env, partial_dir, named_temporary_folder, run_chain  # noqa: F401
from .html import build_book, html_dir, mathjax_dir, show_parameters_once, toc_files, _literal  # noqa: F401
from .pages import page_problems  # noqa: F401
from .params import (  # noqa: F401
    NOTEBOOKS_DIR, PROFILES_DIR, chain, check_overrides, in_declared_range, matches_declared, merge_overrides, parameter_types,
    parameters_cell, parse_sets, resolve_parameters, undeclared_none_parameters,
)
