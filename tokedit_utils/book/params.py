"""Parameters: each notebook's ``parameters`` cell, the overrides of profiles and ``--set``,
and the guard that checks them."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import nbformat

from ..toolkit import paths
from ..toolkit.profiles import PROFILES_DIR, ChainError, _absolute_if_local, load_profile, profile_overrides, read_yaml  # noqa: F401

NOTEBOOKS_DIR = paths.NOTEBOOKS_DIR


chain = paths.chapter_notebooks


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
#: A member of a declared type: a name, its items' type, and a range: ``int > 0``,
#: ``float in [0, 1]``, ``int in [0, inf)``, ``list[int in [0, inf)] non-empty``,
#: ``"dose_matched"``. No ``>=``: papermill reads a second ``=`` on a line as a second
#: assignment and then ignores the parameter.
_MEMBER = re.compile(r"^(?P<name>\w+)(?:\[(?P<inner>.*)\])?\s*(?P<range>.*)$")
_NUMBER = r"-?(?:inf|[\d._e+-]+)"
_BOUND = re.compile(rf"^([<>])\s*({_NUMBER})$")
_INTERVAL = re.compile(rf"^in\s*([\[(])\s*({_NUMBER})\s*,\s*({_NUMBER})\s*([\])])$")


def _in_range(value, spec: str) -> bool:
    """Whether ``value`` lies in ``spec``: ``> 0``, ``< 1``, ``in [0, 1]``, ``in (0, 1]``,
    ``in [0, inf)``, ``non-empty`` (a list), or several of them joined by ``and``."""
    for part in filter(None, (p.strip() for p in spec.split(" and "))):
        if part == "non-empty":
            ok = len(value) > 0
        elif _BOUND.match(part):
            op, bound = _BOUND.match(part).groups()
            ok = value > float(bound) if op == ">" else value < float(bound)
        elif _INTERVAL.match(part):
            left, low, high, right = _INTERVAL.match(part).groups()
            low, high = float(low), float(high)
            ok = (value >= low if left == "[" else value > low) and (value <= high if right == "]" else value < high)
        else:
            raise ChainError(f"unknown range {part!r} (use > x, < x, in [a, b], in (a, inf), non-empty)")
        if not ok:
            return False
    return True


def _check(value, declared: str) -> tuple[bool, bool]:
    """``(type matches, value in range)`` of ``value`` against ``declared``."""
    typed = False
    for part in (p.strip() for p in _split_union(declared)):
        if len(part) > 1 and part[0] == part[-1] and part[0] in "'\"":
            if value == part[1:-1]:
                return True, True
            continue
        match = _MEMBER.match(part)
        name, inner, spec = match["name"], match["inner"], match["range"].strip()
        if name == "None":
            if value is None:
                return True, True
        elif name not in _TYPES:
            raise ChainError(f"unknown type {name!r} in the declaration {declared!r}")
        elif isinstance(value, _TYPES[name]) and not (name in ("int", "float") and isinstance(value, bool)):
            items = [_check(item, inner) for item in value] if name == "list" and inner else []
            if all(t for t, _ in items):
                typed = True
                if all(r for _, r in items) and _in_range(value, spec):
                    return True, True
    return typed, False


def matches_declared(value, declared: str) -> bool:
    """Whether ``value`` has one of the types of ``declared`` (``str | list[str] | None``);
    ``list[T]`` checks the items too, and a quoted literal (``float | "dose_matched"``) admits
    exactly that string. Ranges are checked apart (``in_declared_range``)."""
    return _check(value, declared)[0]


def in_declared_range(value, declared: str) -> bool:
    """Whether ``value`` has a type of ``declared`` and lies in that member's range."""
    return all(_check(value, declared))


def _split_union(declared: str) -> list[str]:
    """``"str | list[int | None] | None"`` -> ``["str", "list[int | None]", "None"]``."""
    parts, depth, current = [], 0, ""
    for char in declared:
        depth += (char in "[(") - (char in "])")  # an interval ``(0, 1]`` is balanced too
        if char == "|" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


def parse_sets(items: list[str], base: Path | None = None) -> dict[str, dict]:
    """``["01_corpora.corpus=books.jsonl", ...]`` as ``{stem: {name: value}}`` (values as YAML)."""
    out: dict[str, dict] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        stem, dot, name = key.strip().partition(".")
        if not sep or not dot or not stem or not name:
            raise ChainError(f"--set {item!r}: expected STEM.NAME=VALUE, e.g. 01_corpora.corpus=books.jsonl")
        value = read_yaml(raw, f"--set {item!r}, value") if raw.strip() else None
        out.setdefault(stem, {})[name] = _absolute_if_local(value, base or Path.cwd())
    return out


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
                elif not in_declared_range(value, declared[name]):
                    problems.append(f"profile {profile!r}: {stem}.{name} = {value!r} is out of range: "
                                    f"it must be {declared[name]}")
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
