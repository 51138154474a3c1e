"""CITATION.cff and `make lab`. The citation file is valid against the Citation File Format 1.2.0 schema (the JSON schema that
cffconvert ships, in tests/citation/; cffconvert itself pins jsonschema 3, which the notebook
stack cannot take), with the package's version and the paper's authors as the book cites them."""

import json
import re
import tomllib
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = Path(__file__).resolve().parent / "citation" / "cff-1.2.0.schema.json"


def _cff() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text())


def test_citation_file_validates_against_the_cff_schema():
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()),
                                           format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(_cff())]
    assert errors == []


def test_the_schema_check_catches_a_broken_file():
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    broken = {**_cff(), "authors": [{"nickname": "x"}], "cff-version": "9.9"}
    broken.pop("title")
    assert len(list(validator.iter_errors(broken))) >= 2


def test_citation_matches_the_package_and_the_bibliography():
    cff = _cff()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert cff["version"] == project["version"] and cff["license"] == project["license"]
    bib = (ROOT / "book" / "references.bib").read_text()
    entry = bib[bib.index("@inproceedings{zhu2025toedit"):].split("\n}", 1)[0]
    families = [name.split(",")[0].strip() for name in re.search(r"author\s*=\s*\{(.*)\}", entry)[1].split(" and ")]
    paper = cff["references"][0]
    assert [a["family-names"] for a in paper["authors"]] == families
    assert "2412.14689" in entry and paper["year"] == 2025


def test_make_lab_serves_as_root_without_a_browser_and_this_checkout():
    """``make lab``'s command (printed by ``make -n``, nothing run): JupyterLab on the notebooks,
    allowed as root, with no browser where no display is, this checkout first on the path."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MAKEFLAGS")}
    out = subprocess.run(["make", "-n", "lab", "VENV=.venv", "STAMP=README.md"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    line = " ".join(out.replace("\\\n", " ").split())
    assert f"PYTHONPATH={ROOT}" in line and "jupyter lab --notebook-dir=notebooks" in line
    assert "--allow-root" in line and "--no-browser" in line
