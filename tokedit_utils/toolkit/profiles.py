"""Profiles: the YAML files of parameter overrides, one mapping per notebook stem.

The runner applies them; a chapter reads one to show what another profile would run."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from . import paths

PROFILES_DIR = paths.PROJECT_ROOT / "profiles"


class ChainError(RuntimeError):
    """A problem with the chain: a profile, a parameter, a stage."""


def load_profile(profile: str, profiles_dir: Path = PROFILES_DIR, _seen: tuple = ()) -> tuple[str, dict[str, dict]]:
    """``(name, {stem: {name: value}})`` of a profile name or a profile file anywhere.

    Strings naming an existing file or folder relative to the profile file become absolute.
    A top-level ``extends: NAME`` (a profile name, or a file relative to this one) starts
    from that profile's overrides; this file's override each parameter it names.
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
    data = read_yaml(path.read_text(), str(path)) or {}
    base = data.pop("extends", None) if isinstance(data, dict) else None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ChainError(f"{path}: expected a mapping of notebook stem to a mapping of overrides "
                         f"(and optionally extends: a profile name)")
    data = {stem: {k: _absolute_if_local(v, path.parent) for k, v in values.items()} for stem, values in data.items()}
    if base is None:
        return path.stem, data
    if not isinstance(base, str) or not base:
        raise ChainError(f"{path}: extends must name a profile (a name or a .yml file), got {base!r}")
    if path in _seen:
        raise ChainError(f"{path}: extends itself through {' -> '.join(p.name for p in _seen)}")
    local = path.parent / base
    target = str(local) if base.endswith((".yml", ".yaml")) and local.exists() else base
    merged = load_profile(target, profiles_dir, (*_seen, path))[1]
    for stem, values in data.items():
        merged[stem] = {**merged.get(stem, {}), **values}
    return path.stem, merged


def read_yaml(text: str, where: str):
    """YAML, or a ChainError naming ``where`` (a file or an option) and the line and column."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f": line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ChainError(f"{where}{at}: not valid YAML ({problem})") from None


def profile_overrides(profile: str, profiles_dir: Path = PROFILES_DIR) -> dict[str, dict]:
    """``{stem: {name: value}}`` of a profile; the default profile has none."""
    return load_profile(profile, profiles_dir)[1]


def _absolute_if_local(value, base: Path):
    if isinstance(value, list):
        return [_absolute_if_local(v, base) for v in value]
    if isinstance(value, str) and value and not os.path.isabs(value) and (base / value).exists():
        return str((base / value).resolve())
    return value
