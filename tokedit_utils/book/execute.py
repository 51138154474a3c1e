"""Executing the chain: each stage with papermill into a temporary folder, renamed into place
on success; unchanged stages skipped."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import nbformat

from ..toolkit import paths
from ..toolkit.profiles import PROFILES_DIR, ChainError, load_profile
from .cache import STAMP, _digest, artifacts_hash, key_parts, read_stamp, stage_inputs
from .progress import ProgressWatcher
from .params import NOTEBOOKS_DIR, chain, check_overrides, merge_overrides, resolve_parameters

#: Set for every notebook the runner executes: a stray hub call fails at once, offline.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


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
    tmp = partial_dir(profile, nb_path.stem)
    failed = final.with_name(f"{final.name}.failed.ipynb")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    env_before = dict(os.environ)
    os.environ.update({k: os.environ.get(k, v) for k, v in OFFLINE_ENV.items()})
    os.environ.update(kernel_env(tmp))
    n_cells = len(nbformat.read(nb_path, as_version=4).cells) + 1  # papermill adds the injected cell
    prefix = f"[{profile}] {nb_path.stem}:"
    watcher = ProgressWatcher(os.environ["TOKEDIT_PROGRESS"], prefix, log)
    cell_log = _cell_logger(log, prefix, n_cells)

    def logged(index, cell):
        watcher.poll()  # what the cell reported comes before the line of the finished cell
        watcher.clear()
        cell_log(index, cell)

    try:
        with watcher:
            pm.execute_notebook(
                str(nb_path),
                str(tmp / nb_path.name),
                parameters=params,
                cwd=str(nb_path.parent),
                kernel_name="python3",
                progress_bar=False,
                log_output=False,
                engine_name=_engine(),
                cell_log=logged,
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


def kernel_env(stage_tmp: Path) -> dict[str, str]:
    """What the kernel must see: this checkout's package first on its path (an installed copy
    of another clone would otherwise win), this runner's runs folder, and where to write."""
    path = [str(paths.PROJECT_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {"PYTHONPATH": os.pathsep.join(dict.fromkeys(path)), "TOKEDIT_RUNS": str(paths.runs_root()),
            "TOKEDIT_STAGE_DIR": str(stage_tmp), "TOKENIZERS_PARALLELISM": "false",
            "TOKEDIT_PROGRESS": str(stage_tmp.with_name(stage_tmp.name + ".progress.jsonl"))}


def named_temporary_folder(stage: Path) -> list[str]:
    """The results.json and YAML files of a stage that name the stage's own absolute path."""
    needle = str(stage)
    files = [stage / "results.json", *stage.rglob("*.yaml"), *stage.rglob("*.yml")]
    return sorted(str(f.relative_to(stage)) for f in files if f.is_file() and needle in f.read_text(errors="replace"))


def _needed(only: list[str], inputs: dict[str, dict]) -> set[str]:
    """The stems in ``only`` and every stage they read, directly or through another."""
    todo, seen = list(only), set()
    while todo:
        stem = todo.pop()
        if stem not in seen:
            seen.add(stem)
            todo.extend(inputs[stem]["upstream"])
    return seen


def _why(stamp: dict | None, parts: dict, stage: Path, nb_path: Path, force: bool) -> str | None:
    """Why a stage must run, or None when its stamp still holds."""
    if force:
        return "forced"
    if not stamp:
        return "not run before"
    old = stamp.get("parts", {})
    changed = [k for k in parts if old.get(k) != parts[k]]
    if changed:
        return ", ".join(changed) + " changed"
    if stamp.get("key") != _digest(parts):
        return "cache key changed"
    if not (stage / nb_path.name).exists():
        return "its executed notebook is missing"
    if artifacts_hash(stage) != stamp.get("artifacts"):
        return "its artifacts no longer match its stamp (changed by hand?)"
    return None


def run_chain(
    profile: str,
    until: str | None = None,
    force: bool = False,
    log=print,
    notebooks_dir: Path = NOTEBOOKS_DIR,
    profiles_dir: Path = PROFILES_DIR,
    sets: dict[str, dict] | None = None,
    package_root: Path | None = None,
    only: list[str] | None = None,
    dry_run: bool = False,
    report: list[dict] | None = None,
) -> list[Path]:
    """Execute the chain up to ``until`` (a stem), skipping stages whose key is unchanged.

    ``profile`` is a profile name or a YAML file; ``sets`` are ``--set`` overrides on top.
    ``only`` runs those stems and the earlier stages they read (cached ones are skipped);
    ``dry_run`` says what would run, and why, without running anything. ``report``, a list,
    gets one row per stage: ``{"stem", "status": "ran" | "skipped", "seconds", "last"}``.
    """
    report = [] if report is None else report
    notebooks = chain(notebooks_dir)
    stems = [nb.stem for nb in notebooks]
    for stem in ([until] if until else []) + list(only or []):
        if stem not in stems:
            raise ChainError(f"no notebook {stem!r} in the chain ({', '.join(stems)})")
    if until is not None:
        notebooks = notebooks[: stems.index(until) + 1]
    name, overrides = load_profile(profile, profiles_dir)
    overrides = merge_overrides(overrides, sets or {})
    problems = check_overrides(name, overrides, chain(notebooks_dir))
    if problems:
        raise ChainError("\n".join(problems))
    inputs = {nb.stem: stage_inputs(nb, notebooks, package_root) for nb in notebooks}
    if only:
        needed = _needed(only, inputs)
        notebooks = [nb for nb in notebooks if nb.stem in needed]
    artifacts: dict[str, str] = {}
    for nb_path in notebooks:
        params = resolve_parameters(nb_path, name, overrides)
        missing = [s for s in inputs[nb_path.stem]["upstream"] if s not in artifacts]
        if missing:
            raise ChainError(f"{nb_path.stem} reads {', '.join(missing)}, which did not run")
        stale = [s for s in inputs[nb_path.stem]["upstream"] if artifacts[s] is None]
        parts = key_parts(nb_path, params, inputs[nb_path.stem],
                          {s: h or "" for s, h in artifacts.items()}, package_root)
        key = _digest(parts)
        stage = paths.stage_dir(name, nb_path.stem)
        stamp = read_stamp(stage)
        prefix = f"[{name}] {nb_path.stem}:"
        why = _why(stamp, parts, stage, nb_path, force)
        if stale and not force and stamp:
            why = f"{', '.join(stale)} would re-run"
        last_seconds = (stamp or {}).get("seconds")
        if why is None:
            log(f"{prefix} unchanged, skipped")
            artifacts[nb_path.stem] = stamp["artifacts"]
            report.append({"stem": nb_path.stem, "status": "skipped", "seconds": 0.0, "last": last_seconds})
            continue
        if dry_run:
            log(f"{prefix} would run ({why})")
            artifacts[nb_path.stem] = None  # unknown until it runs: its readers would re-run too
            continue
        last = f"; it took {stamp['seconds']:.0f} s last time" if stamp and stamp.get("seconds") else ""
        log(f"{prefix} running ({why}){last} ...")
        start = time.perf_counter()
        execute_stage(nb_path, name, params, log=log)
        seconds = time.perf_counter() - start
        stamp = write_stamp(stage, key, parts, inputs[nb_path.stem], params, seconds)
        log(f"{prefix} done in {seconds:.0f} s")
        artifacts[nb_path.stem] = stamp["artifacts"]
        report.append({"stem": nb_path.stem, "status": "ran", "seconds": seconds, "last": last_seconds})
    return [paths.stage_dir(name, nb.stem) / nb.name for nb in notebooks]


def partial_dir(profile: str, stem: str) -> Path:
    """The temporary folder a stage is executed into before it is renamed into place."""
    final = paths.stage_dir(profile, stem)
    return final.with_name(f".{final.name}.partial")


def adopt_stage(nb_path: Path, profile: str, executed, params: dict, seconds: float,
                notebooks_dir: Path = NOTEBOOKS_DIR) -> str:
    """Stamp a stage that another executor ran into ``partial_dir`` (nbval runs the smoke chain
    in the tests) and rename it into place, exactly as ``run_chain`` would have.

    ``executed`` is the executed notebook; ``params`` the parameters it was injected with. Adopted
    only when those are the profile's resolved parameters, its cells are the source's, every
    stage it reads is stamped, and it wrote a results.json naming no temporary folder; else the
    partial folder is removed and nothing replaces the finished stage. Returns what was done.
    """
    tmp, final = partial_dir(profile, nb_path.stem), paths.stage_dir(profile, nb_path.stem)
    name, overrides = load_profile(profile)
    notebooks = chain(notebooks_dir)
    inputs = stage_inputs(nb_path, notebooks)
    stamps = {s: read_stamp(paths.stage_dir(name, s)) for s in inputs["upstream"]}
    source = nbformat.read(nb_path, as_version=4)
    cells = [c for c in executed.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    problem = None
    if params != resolve_parameters(nb_path, name, overrides):
        problem = "its parameters are not the profile's"
    elif [(c.cell_type, c.source) for c in cells] != [(c.cell_type, c.source) for c in source.cells]:
        problem = "its cells are not the source notebook's"
    elif not all(stamps.values()):
        problem = f"an earlier stage it reads is not stamped ({', '.join(s for s, v in stamps.items() if not v)})"
    elif not (tmp / "results.json").exists() or named_temporary_folder(tmp):
        problem = "it wrote no results.json, or one naming its temporary folder"
    if problem:
        shutil.rmtree(tmp, ignore_errors=True)
        return f"not adopted: {problem}"
    parts = key_parts(nb_path, params, inputs, {s: v["artifacts"] for s, v in stamps.items()})
    nbformat.write(executed, tmp / nb_path.name)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    write_stamp(final, _digest(parts), parts, inputs, params, seconds)
    return "adopted"


def write_stamp(stage: Path, key: str, parts: dict, inputs: dict, params: dict, seconds: float) -> dict:
    """Record what a finished stage was run from, and the hash of what it left."""
    stamp = {"key": key, "parts": parts, "inputs": inputs, "artifacts": artifacts_hash(stage),
             "seconds": round(seconds, 1), "parameters": params}
    paths.write_json(stage / STAMP, stamp)
    return stamp
