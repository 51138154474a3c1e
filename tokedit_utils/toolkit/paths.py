"""Where things live: the project root, the embedded corpus, and the run folders.

A chain run writes each notebook's artifacts to ``runs/<profile>/<stem>/``. While the
runner executes a notebook it points ``TOKEDIT_STAGE_DIR`` at a temporary folder and
renames it into place only when the notebook succeeded, so a failed run leaves no
half-written stage behind. Run by hand (JupyterLab), a notebook writes to
``runs/<profile>/lab/<stem>/`` instead, where it cannot be mistaken for the chain's
output, and still reads the chain's earlier stages. Paths a stage records are relative to the stage (``write_results``
makes them so), so its artifacts still work after the rename or when copied elsewhere:
read them back with ``input_dir(profile, stem) / relative_path``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..toedit import records
from ..toedit.records import atomic_write_text, write_json  # noqa: F401 (the toolkit's API)

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
DATA_DIR = PROJECT_ROOT / "data"
CORPUS_DIR = DATA_DIR / "corpus"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"


def runs_root() -> Path:
    """Root of all run artifacts (``TOKEDIT_RUNS`` overrides ``<project>/runs``)."""
    return Path(os.environ.get("TOKEDIT_RUNS", PROJECT_ROOT / "runs"))


def stage_dir(profile: str, stem: str) -> Path:
    """The final folder of a finished stage (what later notebooks read)."""
    return runs_root() / profile / stem


def lab_dir(profile: str, stem: str) -> Path:
    """Where a notebook run by hand writes: beside the chain's stages, never one of them."""
    return runs_root() / profile / "lab" / stem


def output_dir(profile: str, stem: str) -> Path:
    """The folder a notebook writes to: the runner's temporary folder, else ``lab_dir``."""
    path = Path(os.environ["TOKEDIT_STAGE_DIR"]) if os.environ.get("TOKEDIT_STAGE_DIR") else lab_dir(profile, stem)
    path.mkdir(parents=True, exist_ok=True)
    return path


def input_dir(profile: str, stem: str) -> Path:
    """A finished earlier stage; a clear error if it has not been run yet."""
    path = stage_dir(profile, stem)
    if not (path / "results.json").exists():
        raise FileNotFoundError(
            f"stage {stem!r} of profile {profile!r} has not been run: {path} has no results.json. "
            f"Run `python -m tokedit_utils.book --profile {profile} --until {stem}` first."
        )
    return path


def write_results(out_dir: Path, results: dict) -> None:
    """Write a chapter's headline numbers to ``results.json`` (atomically).

    A path inside ``out_dir`` (a ``Path`` or a string) is written relative to it, so the
    file still holds after the runner renames the stage into place. Returns nothing, so a
    notebook cell that ends with this call shows no path on the page.
    """
    out_dir = Path(out_dir)
    write_json(out_dir / "results.json", relative_to_stage(results, out_dir))


def relative_to_stage(value, stage: Path):
    """``value`` with every absolute path inside ``stage`` made relative to it (recursively)."""
    if isinstance(value, dict):
        return {k: relative_to_stage(v, stage) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [relative_to_stage(v, stage) for v in value]
    if isinstance(value, (str, Path)) and os.path.isabs(value):
        try:
            return str(Path(value).resolve().relative_to(Path(stage).resolve()))
        except ValueError:
            return str(value) if isinstance(value, Path) else value
    return value


def read_results(profile: str, stem: str) -> dict:
    return json.loads((input_dir(profile, stem) / "results.json").read_text())


def chapter_notebooks(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The chapter notebooks in execution order."""
    return sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb"))
