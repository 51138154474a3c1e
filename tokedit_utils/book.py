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

**The cache.** A stage is skipped when its key is unchanged. The key covers exactly what the
stage reads:

- its cells and its resolved parameters;
- the package modules it imports (``from tokedit_utils import data, ...`` in its code, and
  what those import in turn), plus the data files those modules read (``MODULE_INPUTS``);
- ``requirements.txt``; any file or folder a parameter names (a reader's corpus);
- its **upstream** stages' artifacts, and its extra ``inputs`` (files or folders relative to
  the project). Both are declared in the notebook's metadata,
  ``"tokedit": {"upstream": ["01_corpora"], "inputs": ["data/corpus"]}`` (``"upstream": "all"``
  names every earlier stage); without a
  declaration the upstream stages are those the code names in ``paths.input_dir(profile,
  "NN_x")``, ``paths.read_results(profile, "NN_x")`` or ``data.load_chapter1_corpus``.

So a change to chapter 5's module re-runs chapter 5 only, and a change to the corpus or to the
lm-eval task templates re-runs the chapters that read them. The runner says which part changed.

**Running.** A stage runs in a temporary folder renamed into ``runs/<profile>/<stem>/`` only
when the notebook succeeded. It prints a line per finished code cell with its time, and the
stage's total. Its ``results.json`` and YAML files must not name the temporary folder (every
path a stage writes is relative to the stage).

**The book.** Each page shows the parameters once: the ``parameters`` cell, rewritten to the
values the run used (papermill's injected cell is dropped), with a label naming the profile.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import yaml

from . import paths

NOTEBOOKS_DIR = paths.PROJECT_ROOT / "notebooks"
PROFILES_DIR = paths.PROJECT_ROOT / "profiles"
BOOK_DIR = paths.PROJECT_ROOT / "book"
CONFIG = paths.PROJECT_ROOT / "_config.yml"
PACKAGE = "tokedit_utils"
STAMP = ".stamp.json"
#: Files every stage depends on.
COMMON_INPUTS = ["requirements.txt"]
#: Data files a package module reads: a stage that imports the module depends on them.
MODULE_INPUTS = {"data": ["data/corpus"], "tasks": ["tokedit_utils/lm_eval_tasks"]}

#: Set for every notebook the runner executes: a stray hub call fails at once, offline.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


class ChainError(RuntimeError):
    pass


# --------------------------------------------------------------------------- parameters


def chain(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The chapter notebooks in execution order."""
    return sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb"))


def _parameters_source(nb_path: Path) -> str:
    nb = nbformat.read(nb_path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ChainError(f"{nb_path}: expected exactly one cell tagged 'parameters', found {len(cells)}")
    return cells[0].source


def _assignments(source: str, where) -> list[tuple[str, object, str | None, ast.stmt]]:
    """``(name, value, declared type or None, node)`` for each assignment of a parameters cell."""
    out = []
    for node in ast.parse(source, type_comments=True).body:
        if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
            continue
        target = node.targets[0] if isinstance(node, ast.Assign) else node.target
        try:
            value = ast.literal_eval(node.value)
        except ValueError as exc:
            raise ChainError(f"{where}: parameter {target.id!r} is not a literal value") from exc
        declared = ast.unparse(node.annotation) if isinstance(node, ast.AnnAssign) else node.type_comment
        if declared:
            declared = re.split(r"[#;]", declared)[0].strip()
        out.append((target.id, value, declared or None, node))
    return out


def parameters_cell(nb_path: Path) -> dict:
    """The defaults of a notebook's ``parameters`` cell (plain literal assignments)."""
    return {name: value for name, value, _, _ in _assignments(_parameters_source(nb_path), nb_path)}


def parameter_types(nb_path: Path) -> dict[str, str]:
    """Declared types (``str | None``) of the parameters that declare one."""
    return {name: t for name, _, t, _ in _assignments(_parameters_source(nb_path), nb_path) if t}


_TYPES = {"str": str, "int": int, "float": (int, float), "bool": bool, "list": (list, tuple), "dict": dict}


def matches_declared(value, declared: str) -> bool:
    """Whether ``value`` has one of the types of ``declared`` (``str | list[str] | None``);
    ``list[T]`` checks the items too, and a quoted literal (``float | "dose_matched"``) admits
    exactly that string."""
    for part in (p.strip() for p in _split_union(declared)):
        name, _, inner = part.partition("[")
        if len(part) > 1 and part[0] == part[-1] and part[0] in "'\"":
            if value == part[1:-1]:
                return True
        elif name == "None":
            if value is None:
                return True
        elif name not in _TYPES:
            raise ChainError(f"unknown type {name!r} in the declaration {declared!r}")
        elif isinstance(value, _TYPES[name]) and not (name in ("int", "float") and isinstance(value, bool)):
            if name == "list" and inner:
                if all(matches_declared(item, inner.rstrip("]")) for item in value):
                    return True
            else:
                return True
    return False


def _split_union(declared: str) -> list[str]:
    """``"str | list[int | None] | None"`` -> ``["str", "list[int | None]", "None"]``."""
    parts, depth, current = [], 0, ""
    for char in declared:
        depth += (char == "[") - (char == "]")
        if char == "|" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


def load_profile(profile: str, profiles_dir: Path = PROFILES_DIR) -> tuple[str, dict[str, dict]]:
    """``(name, {stem: {name: value}})`` of a profile name or a profile file anywhere.

    Strings naming an existing file or folder relative to the profile file become absolute.
    """
    if profile == "default":
        return "default", {}
    if profile.endswith((".yml", ".yaml")) or os.sep in profile:
        path = Path(profile).expanduser().resolve()
        if not path.exists():
            raise ChainError(f"no profile file {profile}")
    else:
        path = profiles_dir / f"{profile}.yml"
        if not path.exists():
            known = ", ".join(["default"] + sorted(p.stem for p in profiles_dir.glob("*.yml")))
            raise ChainError(f"unknown profile {profile!r}: no {path} (known: {known})")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ChainError(f"{path}: expected a mapping of notebook stem to a mapping of overrides")
    data = {stem: {k: _absolute_if_local(v, path.parent) for k, v in values.items()} for stem, values in data.items()}
    return path.stem, data


def profile_overrides(profile: str, profiles_dir: Path = PROFILES_DIR) -> dict[str, dict]:
    """``{stem: {name: value}}`` of a profile; the default profile has none."""
    return load_profile(profile, profiles_dir)[1]


def parse_sets(items: list[str], base: Path | None = None) -> dict[str, dict]:
    """``["01_corpora.corpus=books.jsonl", ...]`` as ``{stem: {name: value}}`` (values as YAML)."""
    out: dict[str, dict] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        stem, dot, name = key.strip().partition(".")
        if not sep or not dot or not stem or not name:
            raise ChainError(f"--set {item!r}: expected STEM.NAME=VALUE, e.g. 01_corpora.corpus=books.jsonl")
        value = yaml.safe_load(raw) if raw.strip() else None
        out.setdefault(stem, {})[name] = _absolute_if_local(value, base or Path.cwd())
    return out


def _absolute_if_local(value, base: Path):
    if isinstance(value, list):
        return [_absolute_if_local(v, base) for v in value]
    if isinstance(value, str) and value and not os.path.isabs(value) and (base / value).exists():
        return str((base / value).resolve())
    return value


def merge_overrides(*layers: dict[str, dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for layer in layers:
        for stem, values in layer.items():
            out.setdefault(stem, {}).update(values)
    return out


def check_overrides(profile: str, overrides: dict[str, dict], notebooks: list[Path]) -> list[str]:
    """Every problem with a profile: unknown notebooks, unknown parameters, wrong types."""
    problems = []
    by_stem = {nb.stem: nb for nb in notebooks}
    for stem, values in overrides.items():
        if stem not in by_stem:
            problems.append(f"profile {profile!r} names notebook {stem!r}, which does not exist")
            continue
        defaults, declared = parameters_cell(by_stem[stem]), parameter_types(by_stem[stem])
        for name, value in values.items():
            if name not in defaults:
                problems.append(f"profile {profile!r}: {stem} has no parameter {name!r} in its parameters cell")
            elif name in declared:
                if not matches_declared(value, declared[name]):
                    problems.append(f"profile {profile!r}: {stem}.{name} must be {declared[name]}, "
                                    f"the override is {type(value).__name__} ({value!r})")
            elif defaults[name] is None or value is None:
                problems.append(f"profile {profile!r}: {stem}.{name} can be None, but its parameters cell "
                                f"declares no type for it (add `# type: ... | None` to its line)")
            elif not _same_kind(defaults[name], value):
                problems.append(
                    f"profile {profile!r}: {stem}.{name} is {type(defaults[name]).__name__} by default, "
                    f"the override is {type(value).__name__} ({value!r})"
                )
    return problems


def undeclared_none_parameters(nb_path: Path) -> list[str]:
    """Parameters whose default is None but that declare no type."""
    declared = parameter_types(nb_path)
    return [name for name, value in parameters_cell(nb_path).items() if value is None and name not in declared]


def _same_kind(default, value) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)) and isinstance(value, (int, float)):
        return not (isinstance(default, int) and isinstance(value, float))
    return isinstance(value, type(default))


def resolve_parameters(nb_path: Path, profile: str, overrides: dict[str, dict]) -> dict:
    params = parameters_cell(nb_path)
    params.update(overrides.get(nb_path.stem, {}))
    params["profile"] = profile
    return params


# --------------------------------------------------------------------------- what a stage reads


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
    """``{dotted module name: file}`` of the package (``tokedit_utils.data``, ...)."""
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
    return {name for name in found if name in known}


def imported_modules(nb_path: Path, package_root: Path | None = None) -> list[str]:
    """The package modules a notebook imports, directly or through other modules, sorted."""
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


def stage_inputs(nb_path: Path, notebooks: list[Path], package_root: Path | None = None) -> dict:
    """``{"upstream": [stems], "modules": [names], "files": [paths]}``: what the stage reads.

    ``upstream`` and extra ``inputs`` come from the notebook metadata ``tokedit`` when it
    declares them, else upstream stages are inferred from the code (module docstring).
    """
    nb = nbformat.read(nb_path, as_version=4)
    declared = nb.metadata.get("tokedit", {})
    stems = [p.stem for p in notebooks]
    if declared.get("upstream") == "all":  # a page that reads every earlier chapter (the verdicts)
        upstream = stems[: stems.index(nb_path.stem)]
    elif "upstream" in declared:
        upstream = list(declared["upstream"])
    else:
        code = _code(nb)
        found = set(_UPSTREAM_CALL.findall(code)) | ({"01_corpora"} if "load_chapter1_corpus(" in code else set())
        upstream = sorted(found - {nb_path.stem})
    for stem in upstream:
        if stem not in stems or stems.index(stem) >= stems.index(nb_path.stem):
            raise ChainError(f"{nb_path.name} reads stage {stem!r}, which is not an earlier notebook of the chain")
    modules = imported_modules(nb_path, package_root)
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


# --------------------------------------------------------------------------- execution


def _engine():
    """papermill's nbclient engine, calling ``cell_log(index, cell)`` as each cell finishes."""
    from papermill.engines import NBClientEngine, papermill_engines

    class CellLogEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, cell_log=None, **kwargs):
            if cell_log is not None:
                complete = nb_man.cell_complete

                def cell_complete(cell, cell_index=None, **kw):
                    complete(cell, cell_index=cell_index, **kw)
                    cell_log(cell_index, cell)

                nb_man.cell_complete = cell_complete
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register("tokedit", CellLogEngine)
    return "tokedit"


def _cell_logger(log, prefix: str, n_cells: int):
    def cell_log(index, cell):
        if cell.cell_type != "code" or index is None:
            return
        seconds = cell.metadata.get("papermill", {}).get("duration") or 0.0
        first = next((line for line in cell.source.splitlines() if line.strip()), "")
        log(f"{prefix}   cell {index + 1:>2}/{n_cells} {seconds:7.1f} s  {first[:60]}")
    return cell_log


def execute_stage(nb_path: Path, profile: str, params: dict, log=print) -> Path:
    """Run one notebook into a temporary folder; rename it into place on success."""
    import papermill as pm

    final = paths.stage_dir(profile, nb_path.stem)
    tmp = final.with_name(f".{final.name}.partial")
    failed = final.with_name(f"{final.name}.failed.ipynb")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    env_before = dict(os.environ)
    os.environ.update({k: os.environ.get(k, v) for k, v in OFFLINE_ENV.items()})
    os.environ.update({"TOKEDIT_STAGE_DIR": str(tmp), "TOKENIZERS_PARALLELISM": "false"})
    n_cells = len(nbformat.read(nb_path, as_version=4).cells) + 1  # papermill adds the injected cell
    try:
        pm.execute_notebook(
            str(nb_path),
            str(tmp / nb_path.name),
            parameters=params,
            cwd=str(nb_path.parent),
            kernel_name="python3",
            progress_bar=False,
            log_output=False,
            engine_name=_engine(),
            cell_log=_cell_logger(log, f"[{profile}] {nb_path.stem}:", n_cells),
        )
    except pm.PapermillExecutionError as exc:
        shutil.move(tmp / nb_path.name, failed)
        shutil.rmtree(tmp, ignore_errors=True)
        raise ChainError(
            f"{nb_path.name} failed in cell {exc.exec_count} ({exc.ename}: {exc.evalue}).\n"
            f"{''.join(exc.traceback[-3:]) if exc.traceback else ''}\n"
            f"The executed notebook, with the error, is at {failed}"
        ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    problem = None
    if not (tmp / "results.json").exists():
        problem = f"{nb_path.name} ran but wrote no results.json (every chapter must)"
    else:
        leaks = named_temporary_folder(tmp)
        if leaks:
            problem = (f"{nb_path.name} wrote the path of its temporary folder into {', '.join(leaks)}: "
                       f"paths in a stage's artifacts must be relative to the stage")
    if problem:
        shutil.move(tmp / nb_path.name, failed)
        shutil.rmtree(tmp, ignore_errors=True)
        raise ChainError(problem)
    failed.unlink(missing_ok=True)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def named_temporary_folder(stage: Path) -> list[str]:
    """The results.json and YAML files of a stage that name the stage's own absolute path."""
    needle = str(stage)
    files = [stage / "results.json", *stage.rglob("*.yaml"), *stage.rglob("*.yml")]
    return sorted(str(f.relative_to(stage)) for f in files if f.is_file() and needle in f.read_text(errors="replace"))


def run_chain(
    profile: str,
    until: str | None = None,
    force: bool = False,
    log=print,
    notebooks_dir: Path = NOTEBOOKS_DIR,
    profiles_dir: Path = PROFILES_DIR,
    sets: dict[str, dict] | None = None,
    package_root: Path | None = None,
) -> list[Path]:
    """Execute the chain up to ``until`` (a stem), skipping stages whose key is unchanged.

    ``profile`` is a profile name or a YAML file; ``sets`` are ``--set`` overrides on top.
    """
    notebooks = chain(notebooks_dir)
    if until is not None:
        stems = [nb.stem for nb in notebooks]
        if until not in stems:
            raise ChainError(f"no notebook {until!r} in the chain ({', '.join(stems)})")
        notebooks = notebooks[: stems.index(until) + 1]
    name, overrides = load_profile(profile, profiles_dir)
    overrides = merge_overrides(overrides, sets or {})
    problems = check_overrides(name, overrides, chain(notebooks_dir))
    if problems:
        raise ChainError("\n".join(problems))
    artifacts: dict[str, str] = {}
    for nb_path in notebooks:
        params = resolve_parameters(nb_path, name, overrides)
        inputs = stage_inputs(nb_path, notebooks, package_root)
        missing = [s for s in inputs["upstream"] if s not in artifacts]
        if missing:
            raise ChainError(f"{nb_path.stem} reads {', '.join(missing)}, which did not run")
        parts = key_parts(nb_path, params, inputs, artifacts, package_root)
        key = _digest(parts)
        stage = paths.stage_dir(name, nb_path.stem)
        stamp = read_stamp(stage)
        prefix = f"[{name}] {nb_path.stem}:"
        if not force and stamp and stamp.get("key") == key and (stage / nb_path.name).exists():
            log(f"{prefix} unchanged, skipped")
        else:
            old = (stamp or {}).get("parts", {})
            if force:
                why = "forced"
            elif old:
                why = ", ".join(k for k in parts if old.get(k) != parts[k]) + " changed"
            else:
                why = "cache key changed" if stamp else "not run before"
            log(f"{prefix} running ({why}) ...")
            start = time.perf_counter()
            execute_stage(nb_path, name, params, log=log)
            seconds = time.perf_counter() - start
            stamp = {"key": key, "parts": parts, "inputs": inputs, "artifacts": artifacts_hash(stage),
                     "seconds": round(seconds, 1), "parameters": params}
            paths.write_json(stage / STAMP, stamp)
            log(f"{prefix} done in {seconds:.0f} s")
        artifacts[nb_path.stem] = stamp["artifacts"]
    return [paths.stage_dir(name, nb.stem) / nb.name for nb in notebooks]


# --------------------------------------------------------------------------- book


def html_dir(profile: str) -> Path:
    """Where the HTML of a profile's book goes: ``_build/html`` for the published default."""
    root = paths.PROJECT_ROOT if profile == "default" else paths.runs_root() / profile
    return root / "_build" / "html"


def toc_files(toc_path: Path) -> list[str]:
    toc = yaml.safe_load(toc_path.read_text())
    files = [toc["root"]]
    for part in toc.get("parts", [toc]):
        files.extend(ch["file"] for ch in part.get("chapters", []))
    return files


def mathjax_dir() -> Path:
    """MathJax 2 as shipped by the jupyter-server-mathjax wheel."""
    import jupyter_server_mathjax

    return Path(jupyter_server_mathjax.__file__).parent / "static"


def _literal(value) -> str:
    """A value as the parameters cell writes it; a local absolute path shows only its name."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:_}"
    if isinstance(value, str):
        return json.dumps(f"…/{Path(value).name}" if os.path.isabs(value) else value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)


def show_parameters_once(nb, profile: str):
    """Drop papermill's injected cell and write the values the run used into the ``parameters``
    cell, with a label; lines whose value the profile changed say so and keep their comment."""
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    used = {}
    for cell in injected:
        used.update({name: value for name, value, _, _ in _assignments(cell.source, "injected cell")})
    nb.cells = [c for c in nb.cells if c not in injected]
    cell = next((c for c in nb.cells if "parameters" in c.metadata.get("tags", [])), None)
    if cell is None:
        return nb
    lines = cell.source.splitlines()
    changed = []
    for name, default, _, node in reversed(_assignments(cell.source, "parameters cell")):
        if name not in used or used[name] == default:
            continue
        first, last = node.lineno - 1, node.end_lineno - 1
        head = lines[first][: node.value.col_offset]
        comment = lines[last][node.value.end_col_offset:].strip()
        if name != "profile":  # the label names the profile
            changed.append(name)
            note = f"# {profile} profile (default: {_literal(default)})"
            comment = f"{note}; {comment[1:].strip()}" if comment.startswith("#") else note
        lines[first : last + 1] = [f"{head}{_literal(used[name])}  {comment}".rstrip()]
    label = (f"# Parameters of this run: the {profile} profile" if profile != "default"
             else "# Parameters of this run: the default profile")
    if changed:
        label += f" ({len(changed)} changed from the default, marked)"
    cell.source = "\n".join([label] + lines)
    return nb


def build_book(profile: str, log=print) -> Path:
    """Assemble the book's pages and the executed notebooks, then build HTML with warnings as errors."""
    notebooks = chain()
    missing = [nb.stem for nb in notebooks if not (paths.stage_dir(profile, nb.stem) / nb.name).exists()]
    if missing:
        raise ChainError(f"no executed notebook for {', '.join(missing)} in profile {profile!r}: run the chain first")
    listed = toc_files(BOOK_DIR / "_toc.yml")
    unlisted = [nb.stem for nb in notebooks if f"chapters/{nb.stem}" not in listed]
    if unlisted:
        raise ChainError(f"book/_toc.yml does not list {', '.join(unlisted)} (as chapters/<stem>)")
    source = paths.runs_root() / profile / "_book"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(BOOK_DIR, source, ignore=shutil.ignore_patterns("_build", "chapters"))
    (source / "chapters").mkdir()
    for nb in notebooks:
        executed = nbformat.read(paths.stage_dir(profile, nb.stem) / nb.name, as_version=4)
        # Saved widget state (progress bars of libraries) would make every page load the
        # widget manager from a CDN; the book shows no widgets, so the state is dropped.
        executed.metadata.pop("widgets", None)
        nbformat.write(show_parameters_once(executed, profile), source / "chapters" / nb.name)
    out = html_dir(profile).parent.parent
    cmd = [
        str(Path(sys.executable).with_name("jupyter-book")), "build", str(source),
        "--config", str(CONFIG), "--toc", str(source / "_toc.yml"),
        "--path-output", str(out), "-W", "-n", "--keep-going",
    ]
    log(f"[{profile}] building the book ...")
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise ChainError(f"jupyter-book build failed (exit {done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    # MathJax travels with the book (the mathjax_path of _config.yml points here), copied after
    # the build because Jupyter Book would add every script of a source _static/ to every page
    shutil.copytree(mathjax_dir(), html_dir(profile) / "_static" / "mathjax", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("localization"))
    log(f"[{profile}] book built: {html_dir(profile) / 'index.html'}")
    return html_dir(profile)


_LOCAL_PATH = re.compile(r"(?:/work/|/tmp/|/root/|/home/|PosixPath|\.partial\b)")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$", re.M)
_RAW_MATH = re.compile(r"\$[^$\s][^$\n]*\$")


def page_problems(html: str) -> list[str]:
    """What a reader should never see on a page: a local path, the parameters shown twice,
    nbval markers in code, and Markdown output that was not rendered (table pipes, ``$`` math)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    problems = []
    for match in sorted(set(_LOCAL_PATH.findall(html))):
        problems.append(f"a local path ({match!r}) in the page")
    parameter_cells = soup.select(".tag_parameters, .tag_injected-parameters")
    if len(parameter_cells) > 1:
        problems.append(f"the parameters are shown {len(parameter_cells)} times")
    for code in soup.select(".cell_input"):
        if "NBVAL_" in code.get_text():
            problems.append("an nbval marker comment (NBVAL_...) in the code")
            break
    for output in soup.select(".cell_output"):
        for pre in output.select("pre"):  # printed text may hold pipes and dollars
            pre.decompose()
        text = output.get_text("\n")
        if _TABLE_ROW.search(text):
            problems.append(f"a raw Markdown table in an output: {_TABLE_ROW.search(text).group(0).strip()[:60]!r}")
        if _RAW_MATH.search(text):
            problems.append(f"unrendered math in an output: {_RAW_MATH.search(text).group(0)[:60]!r}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="default",
                        help="default, smoke, gpu, paper (profiles/<name>.yml) or a path to a profile YAML file")
    parser.add_argument("--set", action="append", default=[], metavar="STEM.NAME=VALUE",
                        help="override one parameter (repeatable), e.g. --set 01_corpora.corpus=books.jsonl")
    parser.add_argument("--until", help="stop after this notebook stem, e.g. 01_corpora")
    parser.add_argument("--force", action="store_true", help="re-execute even unchanged stages")
    parser.add_argument("--no-build", action="store_true", help="run the chain but do not build the book")
    parser.add_argument("--check-profiles", action="store_true", help="only check every profile file against the notebooks")
    args = parser.parse_args(argv)
    try:
        if args.check_profiles:
            problems = [p for f in sorted(PROFILES_DIR.glob("*.yml")) for p in check_overrides(f.stem, profile_overrides(f.stem), chain())]
            print("\n".join(problems) or "all profiles name real parameters of the declared types")
            return 1 if problems else 0
        start = time.perf_counter()
        name = load_profile(args.profile)[0]
        run_chain(args.profile, until=args.until, force=args.force, sets=parse_sets(args.set))
        if not args.no_build and args.until is None:
            build_book(name)
        print(f"[{name}] total {time.perf_counter() - start:.0f} s")
    except ChainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
