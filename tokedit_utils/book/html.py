"""The HTML book: executed notebooks and the book's pages, built by Jupyter Book with warnings
as errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

from ..toolkit import paths
from ..toolkit.profiles import ChainError
from .params import _assignments, chain

BOOK_DIR = paths.PROJECT_ROOT / "book"
CONFIG = paths.PROJECT_ROOT / "_config.yml"


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


def training_editing(ch6: dict, threshold) -> str:
    """Chapter 6's editing in words: the prior's threshold for the regimes it edits, the
    teacher's for the rest."""
    names = {"pt": "pre-training", "cpt": "continual pre-training", "sft": "fine-tuning"}
    regimes = ch6.get("prior_regimes") or [] if ch6.get("prior") else []
    with_prior = [n for r, n in names.items() if r in regimes]
    others = [n for r, n in names.items() if r not in regimes]
    if not with_prior:
        return threshold(ch6.get("edit_threshold"))
    text = f"{threshold(ch6.get('prior_threshold'))} with the prior for {' and '.join(with_prior)}"
    if others:
        text += f" and {threshold(ch6.get('edit_threshold'))} with chapter 1's teacher for {' and '.join(others)}"
    return text


def intro_substitutions(profile: str) -> dict[str, str]:
    """The settings the introduction states, from each stage's resolved parameters (its stamp):
    MyST substitutions such as ``{{ ratios }}``, so the page says what this build ran."""
    from .cache import read_stamp

    def params(stem: str) -> dict:
        return (read_stamp(paths.stage_dir(profile, stem)) or {}).get("parameters", {})

    def share_list(values) -> str:
        pct = [f"{100 * v:g}" for v in values or []]
        return (", ".join(pct[:-1]) + " and " + pct[-1] + "%") if len(pct) > 1 else (pct[0] + "%" if pct else "—")

    def threshold(value) -> str:
        return f"p = {value:g}" if isinstance(value, (int, float)) else f"a {str(value).replace('_', '-')} threshold"

    ch1, ch2, ch4, ch6, ch7 = (params(s) for s in ("01_corpora", "02_collapse", "04_editing", "06_training",
                                                   "07_ablations"))
    mapping = ch7.get("threshold_mapping")
    prior = ch4.get("prior")
    return {
        "profile": profile,
        "ratios": share_list(ch1.get("synthetic_ratios")),
        "mixture_tokens": f"{ch1.get('mixture_tokens', 0):,}",
        "teacher": (f"a {ch1.get('teacher_layers', '?')}-layer GPT-2 trained here" if not ch1.get("teacher")
                    else f"`{Path(str(ch1['teacher'])).name}`"),
        "students": f"{ch2.get('student_layers', '?')}-layer, {ch2.get('student_width', '?')}-wide GPT-2",
        "seeds": str(len(ch2.get("student_seeds") or [])),
        "prior": "chapter 1's teacher (a stand-in)" if not prior else f"`{Path(str(prior)).name}`",
        "threshold": threshold(ch4.get("threshold")),
        "training_threshold": training_editing(ch6, threshold),
        "ablation_thresholds": ("the paper's thresholds" if mapping == "literal" else
                                f"{str(mapping).replace('_', '-')} thresholds"),
    }


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
    config = yaml.safe_load(CONFIG.read_text())  # the intro's settings, from this build's stages
    config["parse"]["myst_enable_extensions"].append("substitution")
    config["parse"]["myst_substitutions"] = intro_substitutions(profile)
    (source / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    out = html_dir(profile).parent.parent
    cmd = [
        str(Path(sys.executable).with_name("jupyter-book")), "build", str(source),
        "--config", str(source / "_config.yml"), "--toc", str(source / "_toc.yml"),
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
