"""The chain runner: execute the chapter notebooks in order with papermill, then build the book.

    python -m tokedit_utils.book --profile default        # run the chain, build _build/html
    python -m tokedit_utils.book --profile smoke --until 01_corpora --no-build

Each notebook ``notebooks/NN_name.ipynb`` is one stage. Its parameters are the defaults of
its ``parameters`` cell, overridden by the profile file ``profiles/<profile>.yml`` (a mapping
from notebook stem to overrides; an unknown name is an error). A stage is skipped when its
cache key is unchanged: the key covers the notebook's cells, its parameters, the package's
source and the artifacts of every earlier stage. A stage runs in a temporary folder that is
renamed into ``runs/<profile>/<stem>/`` only when the notebook succeeded.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
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
STAMP = ".stamp.json"

#: Set for every notebook the runner executes: a stray hub call fails at once, offline.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


class ChainError(RuntimeError):
    pass


# --------------------------------------------------------------------------- parameters


def chain(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The chapter notebooks in execution order."""
    return sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb"))


def parameters_cell(nb_path: Path) -> dict:
    """The defaults of a notebook's ``parameters`` cell (plain literal assignments)."""
    nb = nbformat.read(nb_path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ChainError(f"{nb_path}: expected exactly one cell tagged 'parameters', found {len(cells)}")
    values = {}
    for node in ast.parse(cells[0].source).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            try:
                values[target.id] = ast.literal_eval(node.value)
            except ValueError as exc:
                raise ChainError(f"{nb_path}: parameter {target.id!r} is not a literal value") from exc
    return values


def profile_overrides(profile: str, profiles_dir: Path = PROFILES_DIR) -> dict[str, dict]:
    """``{stem: {name: value}}`` from ``profiles/<profile>.yml``; the default profile has none."""
    if profile == "default":
        return {}
    path = profiles_dir / f"{profile}.yml"
    if not path.exists():
        known = ", ".join(["default"] + sorted(p.stem for p in profiles_dir.glob("*.yml")))
        raise ChainError(f"unknown profile {profile!r}: no {path} (known: {known})")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ChainError(f"{path}: expected a mapping of notebook stem to a mapping of overrides")
    return data


def check_overrides(profile: str, overrides: dict[str, dict], notebooks: list[Path]) -> list[str]:
    """Every problem with a profile: unknown notebooks, unknown parameters, wrong types."""
    problems = []
    by_stem = {nb.stem: nb for nb in notebooks}
    for stem, values in overrides.items():
        if stem not in by_stem:
            problems.append(f"profile {profile!r} names notebook {stem!r}, which does not exist")
            continue
        defaults = parameters_cell(by_stem[stem])
        for name, value in values.items():
            if name not in defaults:
                problems.append(f"profile {profile!r}: {stem} has no parameter {name!r} in its parameters cell")
            elif not _same_kind(defaults[name], value):
                problems.append(
                    f"profile {profile!r}: {stem}.{name} is {type(defaults[name]).__name__} by default, "
                    f"the override is {type(value).__name__} ({value!r})"
                )
    return problems


def _same_kind(default, value) -> bool:
    if default is None or value is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)) and isinstance(value, (int, float)):
        return not (isinstance(default, int) and isinstance(value, float))
    if isinstance(default, str) and isinstance(value, (int, float)):
        return True  # a named mode ("dose_matched") or a number
    return isinstance(value, type(default))


def resolve_parameters(nb_path: Path, profile: str, overrides: dict[str, dict]) -> dict:
    params = parameters_cell(nb_path)
    params.update(overrides.get(nb_path.stem, {}))
    params["profile"] = profile
    return params


# --------------------------------------------------------------------------- cache


def _hash_files(files, root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(str(path.relative_to(root)).encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def artifacts_hash(stage: Path) -> str:
    """Hash of what a stage left for later stages (not its executed notebook or stamp)."""
    files = [p for p in stage.rglob("*") if p.is_file() and p.name != STAMP and p.suffix != ".ipynb"]
    return _hash_files(files, stage)


def package_hash() -> str:
    pkg = paths.PROJECT_ROOT / "tokedit_utils"
    return _hash_files([p for p in pkg.rglob("*.py")], pkg)


def cache_key(nb_path: Path, params: dict, upstream: list[str], code_hash: str) -> str:
    nb = nbformat.read(nb_path, as_version=4)
    cells = [(c.cell_type, c.source) for c in nb.cells]
    payload = json.dumps({"cells": cells, "params": params, "upstream": upstream, "code": code_hash}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def read_stamp(stage: Path) -> dict | None:
    try:
        return json.loads((stage / STAMP).read_text())
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------- execution


def execute_stage(nb_path: Path, profile: str, params: dict) -> Path:
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
    try:
        pm.execute_notebook(
            str(nb_path),
            str(tmp / nb_path.name),
            parameters=params,
            cwd=str(nb_path.parent),
            kernel_name="python3",
            progress_bar=False,
            log_output=False,
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
    if not (tmp / "results.json").exists():
        shutil.rmtree(tmp, ignore_errors=True)
        raise ChainError(f"{nb_path.name} ran but wrote no results.json (every chapter must)")
    failed.unlink(missing_ok=True)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def run_chain(
    profile: str,
    until: str | None = None,
    force: bool = False,
    log=print,
    notebooks_dir: Path = NOTEBOOKS_DIR,
    profiles_dir: Path = PROFILES_DIR,
) -> list[Path]:
    """Execute the chain up to ``until`` (a stem), skipping stages whose key is unchanged."""
    notebooks = chain(notebooks_dir)
    if until is not None:
        stems = [nb.stem for nb in notebooks]
        if until not in stems:
            raise ChainError(f"no notebook {until!r} in the chain ({', '.join(stems)})")
        notebooks = notebooks[: stems.index(until) + 1]
    overrides = profile_overrides(profile, profiles_dir)
    problems = check_overrides(profile, overrides, chain(notebooks_dir))
    if problems:
        raise ChainError("\n".join(problems))
    code = package_hash()
    upstream: list[str] = []
    for nb_path in notebooks:
        params = resolve_parameters(nb_path, profile, overrides)
        key = cache_key(nb_path, params, upstream, code)
        stage = paths.stage_dir(profile, nb_path.stem)
        stamp = read_stamp(stage)
        if not force and stamp and stamp.get("key") == key and (stage / nb_path.name).exists():
            log(f"[{profile}] {nb_path.stem}: unchanged, skipped")
        else:
            log(f"[{profile}] {nb_path.stem}: running ...")
            start = time.perf_counter()
            execute_stage(nb_path, profile, params)
            seconds = time.perf_counter() - start
            stamp = {"key": key, "artifacts": artifacts_hash(stage), "seconds": round(seconds, 1), "parameters": params}
            paths.write_json(stage / STAMP, stamp)
            log(f"[{profile}] {nb_path.stem}: done in {seconds:.0f} s")
        upstream.append(stamp["artifacts"])
    return [paths.stage_dir(profile, nb.stem) / nb.name for nb in notebooks]


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
        nbformat.write(executed, source / "chapters" / nb.name)
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="default", help="default, smoke, gpu or paper (profiles/<name>.yml)")
    parser.add_argument("--until", help="stop after this notebook stem, e.g. 01_corpora")
    parser.add_argument("--force", action="store_true", help="re-execute even unchanged stages")
    parser.add_argument("--no-build", action="store_true", help="run the chain but do not build the book")
    parser.add_argument("--check-profiles", action="store_true", help="only check every profile file against the notebooks")
    args = parser.parse_args(argv)
    try:
        if args.check_profiles:
            problems = [p for f in sorted(PROFILES_DIR.glob("*.yml")) for p in check_overrides(f.stem, profile_overrides(f.stem), chain())]
            print("\n".join(problems) or "all profiles name real parameters")
            return 1 if problems else 0
        start = time.perf_counter()
        run_chain(args.profile, until=args.until, force=args.force)
        if not args.no_build and args.until is None:
            build_book(args.profile)
        print(f"[{args.profile}] total {time.perf_counter() - start:.0f} s")
    except ChainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
