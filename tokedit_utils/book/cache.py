"""What a stage reads, hashed into its cache key, and the stamp a finished stage keeps."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
from pathlib import Path

import nbformat

from ..toolkit import paths
from ..toolkit.profiles import ChainError
from .params import NOTEBOOKS_DIR

PACKAGE = "tokedit_utils"
STAMP = ".stamp.json"
#: Files every stage depends on.
COMMON_INPUTS = ["requirements.txt"]
#: Data files a package module reads: a stage that imports the module depends on them.
MODULE_INPUTS = {"data": ["data/corpus"], "tasks": ["tokedit_utils/toolkit/lm_eval_tasks"]}
#: Modules no chapter runs, though importing the engine package reaches them: the runner, the
#: command line and the datatrove step. They are not followed, so editing them re-runs nothing.
NOT_KEYED = ("tokedit_utils.book", "tokedit_utils.toedit.cli", "tokedit_utils.toedit.cluster",
             "tokedit_utils.toedit.__main__")


def _keyed(name: str) -> bool:
    return not any(name == m or name.startswith(m + ".") for m in NOT_KEYED)


def _hash_paths(files, root: Path) -> dict[str, str]:
    """``{path relative to root: sha256}`` of files, folders expanded (hidden files left out)."""
    out = {}
    for path in files:
        path = Path(path)
        members = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")) if path.is_dir() else [path]
        for member in members:
            digest = hashlib.sha256()
            with open(member, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            try:
                name = str(member.relative_to(root))
            except ValueError:
                name = str(member)
            out[name] = digest.hexdigest()
    return out


def artifacts_hash(stage: Path) -> str:
    """Hash of what a stage left for later stages (not its executed notebook or stamp)."""
    files = [p for p in stage.rglob("*") if p.is_file() and p.name != STAMP and p.suffix != ".ipynb"]
    return _digest(_hash_paths(files, stage))


def _digest(payload) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _code(nb) -> str:
    """The Python of a notebook's code cells (IPython magics and shell lines left out)."""
    lines = [line for c in nb.cells if c.cell_type == "code" for line in c.source.splitlines()]
    return "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))


def _package_files(package_root: Path) -> dict[str, Path]:
    """``{dotted module name: file}`` of the package (``tokedit_utils.toolkit.data``, ...)."""
    out = {}
    for path in package_root.rglob("*.py"):
        parts = list(path.relative_to(package_root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(source: str, module: str, is_package: bool, known: dict[str, Path]) -> set[str]:
    """Package modules that ``source`` (of ``module``) imports, by name."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {name for name in found if name in known and _keyed(name)}


def imported_modules(nb_path: Path, package_root: Path | None = None) -> list[str]:
    """The package modules a notebook imports, directly or through other modules, sorted
    (the runner, the command line and the datatrove step left out: ``NOT_KEYED``)."""
    package_root = package_root or paths.PROJECT_ROOT / PACKAGE
    known = _package_files(package_root)
    todo = _imports(_code(nbformat.read(nb_path, as_version=4)), "__main__", False, known)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parents = [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)]
        todo.update(p for p in parents if p in known)  # importing a.b runs a/__init__.py
        path = known[name]
        todo.update(_imports(path.read_text(), name, path.name == "__init__.py", known) - seen)
    return sorted(seen)


_UPSTREAM_CALL = re.compile(r"(?:input_dir|read_results|stage_dir)\(\s*profile\s*,\s*[\"'](\d\d_[\w-]+)[\"']")


def inferred_upstream(nb_path: Path, modules: list[str], package_root: Path | None = None) -> list[str]:
    """The earlier stages a notebook's code, or a package module it imports, names in
    ``input_dir(profile, "NN_x")``, ``read_results(...)``, ``stage_dir(...)``, or reads
    with ``data.load_chapter1_corpus``."""
    known = _package_files(package_root or paths.PROJECT_ROOT / PACKAGE)
    code = _code(nbformat.read(nb_path, as_version=4))
    found = set(_UPSTREAM_CALL.findall(code)) | ({"01_corpora"} if "load_chapter1_corpus(" in code else set())
    for module in modules:
        found |= set(_UPSTREAM_CALL.findall(known[module].read_text()))
    return sorted(found - {nb_path.stem})


def stage_inputs(nb_path: Path, notebooks: list[Path], package_root: Path | None = None) -> dict:
    """``{"upstream": [stems], "modules": [names], "files": [paths]}``: what the stage reads.

    Upstream stages are those inferred from the code and the modules it imports, plus those
    the notebook metadata ``tokedit`` declares (a declaration adds, never removes); extra
    ``inputs`` come from the same metadata.
    """
    nb = nbformat.read(nb_path, as_version=4)
    declared = nb.metadata.get("tokedit", {})
    stems = [p.stem for p in notebooks]
    modules = imported_modules(nb_path, package_root)
    upstream = set(inferred_upstream(nb_path, modules, package_root))
    if declared.get("upstream") == "all":  # a page that reads every earlier chapter (the verdicts)
        upstream |= set(stems[: stems.index(nb_path.stem)])
    else:
        upstream |= set(declared.get("upstream", []))
    upstream = sorted(upstream)
    for stem in upstream:
        if stem not in stems or stems.index(stem) >= stems.index(nb_path.stem):
            raise ChainError(f"{nb_path.name} reads stage {stem!r}, which is not an earlier notebook of the chain")
    files = list(COMMON_INPUTS) + list(declared.get("inputs", []))
    for module in modules:
        files += MODULE_INPUTS.get(module.split(".")[-1], [])
    return {"upstream": upstream, "modules": modules, "files": sorted(set(files))}


def _local_paths(value, base: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Existing files or folders named by a parameter value (a reader's corpus, say); a
    relative path is read from ``base``, the notebooks' folder, where their kernels run."""
    values = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for v in values:
        if isinstance(v, str) and v and len(v) < 4096:
            path = Path(v) if os.path.isabs(v) else base / v
            if path.exists():
                out.append(path)
    return out


def key_parts(nb_path: Path, params: dict, inputs: dict, upstream_hashes: dict[str, str],
              package_root: Path | None = None) -> dict[str, str]:
    """The hashes that make up a stage's cache key, one per kind of input (for messages)."""
    package_root = package_root or paths.PROJECT_ROOT / PACKAGE
    nb = nbformat.read(nb_path, as_version=4)
    known = _package_files(package_root)
    named = [p for value in params.values() for p in _local_paths(value, nb_path.parent)]
    return {
        "notebook": _digest([(c.cell_type, c.source) for c in nb.cells]),
        "parameters": _digest(params),
        "modules": _digest(_hash_paths([known[m] for m in inputs["modules"]], package_root.parent)),
        "files": _digest(_hash_paths([paths.PROJECT_ROOT / f for f in inputs["files"]], paths.PROJECT_ROOT)),
        "parameter files": _digest(_hash_paths(named, paths.PROJECT_ROOT)),
        "upstream": _digest({stem: upstream_hashes[stem] for stem in inputs["upstream"]}),
    }


def read_stamp(stage: Path) -> dict | None:
    try:
        return json.loads((stage / STAMP).read_text())
    except (OSError, ValueError):
        return None
