"""What a side-by-side study runs: named systems, each a recipe resolved under one protocol.

A study file (YAML, JSON or TOML) lists the systems; ``--system NAME=SPEC`` flags add or
amend them::

    config: ../paper.yaml          # base recipe of every system without its own (optional)
    set: [max_epochs=50]           # overrides for every system (optional, --set style)
    reference: proposed            # the system the others are compared with (default: first)
    systems:
      - {name: proposed, model: proposed}
      - {name: best, config: ../best.yaml}
      - {name: wavlm, model: ssl-linear, set: [model_args.encoder=microsoft/wavlm-base-plus]}

Recipe paths in the file are relative to the file's folder. A system's recipe is resolved
from its ``config`` (or the study's base recipe), then the study's ``set``, its ``model``,
its own ``set``, the command's ``--set`` and flags. The protocol keys (:data:`SHARED_KEYS`)
are the study's: they come from the study-level recipe, ``set`` and flags and replace what a
system's recipe file says, so every system is tested on the same folds with the same seed;
a system's own ``set`` may not change them, and the study's may not set ``model``.

Every mistake (an unknown key, a bad or repeated name, a missing recipe file, a bad
override, a recipe :func:`~sertk.train.config.resolve_config` refuses) raises
:class:`ConfigError` naming the file, the system and the key, before anything runs.
"""
from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from sertk.train.config import (ALIASES, ConfigError, TrainConfig, parse_overrides,
                                read_config_file, resolve_config)

STUDY_KEYS = ("config", "set", "reference", "systems")
SYSTEM_KEYS = ("name", "model", "config", "set")
#: Keys that decide the folds and the seed: one value for the whole study.
SHARED_KEYS = ("manifest", "protocol", "k", "val_fraction", "val_speakers", "seed", "fold",
               "max_folds")
RECIPE_SUFFIXES = (".yaml", ".yml", ".json", ".toml")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class SystemSpec:
    """One system as written: its name, model, recipe file and ``KEY=VALUE`` overrides."""

    name: str
    model: str = ""
    recipe: str = ""
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class StudySpec:
    """The systems in order, the study-level recipe and overrides, the reference's name."""

    systems: tuple[SystemSpec, ...] = ()
    recipe: str = ""
    overrides: tuple[str, ...] = ()
    reference: str = ""
    where: str = "study"


def read_study(path: str | Path) -> StudySpec:
    """The study file at ``path``, checked (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: study file not found")
    data = read_config_file(path)
    where = str(path)
    _check_keys(data, STUDY_KEYS, where)
    systems = data.get("systems")
    if not isinstance(systems, list) or not systems:
        raise ConfigError(f"{where}: systems must be a non-empty list of "
                          "{name, model, config, set} entries")
    specs: list[SystemSpec] = []
    for number, entry in enumerate(systems, 1):
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: system #{number} must be a mapping of "
                              f"{', '.join(SYSTEM_KEYS)}, got {entry!r}")
        name = _name(entry.get("name"), f"{where}: system #{number}")
        label = f"{where}: system {name!r}"
        _check_keys(entry, SYSTEM_KEYS, label)
        if any(s.name == name for s in specs):
            raise ConfigError(f"{where}: system name {name!r} appears twice; names must be "
                              "unique (each is a folder of the study)")
        specs.append(SystemSpec(name, _text(entry, "model", label),
                                _recipe(entry.get("config"), path.parent, label),
                                _overrides(entry.get("set"), label, system=True)))
    return StudySpec(tuple(specs), _recipe(data.get("config"), path.parent, where),
                     _overrides(data.get("set"), where, system=False),
                     _text(data, "reference", where), where)


def with_system_flags(spec: StudySpec, flags: Iterable[str]) -> StudySpec:
    """``spec`` with each ``--system NAME=SPEC`` applied in order.

    SPEC is whitespace-separated (shell-quoted) tokens: ``KEY=VALUE`` overrides, a recipe
    file (a name ending in .yaml/.yml/.json/.toml, relative to the working folder) and a
    model name, e.g. ``wavlm=ssl-linear model_args.encoder=/models/wavlm``. A NAME the
    study already has is amended (model and recipe replaced when given, overrides
    appended); a new NAME is added after the others.
    """
    systems = list(spec.systems)
    for flag in flags:
        name, sep, text = flag.partition("=")
        label = f"--system {flag!r}"
        if not sep:
            raise ConfigError(f"{label}: expected NAME=MODEL, NAME=RECIPE_FILE or "
                              "NAME='MODEL KEY=VALUE ...'")
        name = _name(name.strip(), label)
        try:
            tokens = shlex.split(text)
        except ValueError as err:
            raise ConfigError(f"{label}: {err}") from None
        recipes = [t for t in tokens if "=" not in t and t.endswith(RECIPE_SUFFIXES)]
        models = [t for t in tokens if "=" not in t and not t.endswith(RECIPE_SUFFIXES)]
        if len(recipes) > 1 or len(models) > 1:
            raise ConfigError(f"{label}: names more than one recipe file or model")
        model = models[0] if models else ""
        recipe = _recipe(recipes[0], Path.cwd(), label) if recipes else ""
        overrides = _overrides([t for t in tokens if "=" in t], label, system=True)
        index = next((i for i, s in enumerate(systems) if s.name == name), None)
        if index is None:
            systems.append(SystemSpec(name, model, recipe, overrides))
        else:
            old = systems[index]
            systems[index] = SystemSpec(name, model or old.model, recipe or old.recipe,
                                        old.overrides + overrides)
    return replace(spec, systems=tuple(systems))


def resolve_systems(spec: StudySpec, *, recipe: str | None = None,
                    overrides: Sequence[str] = (),
                    values: Mapping[str, Any] | None = None) -> dict[str, TrainConfig]:
    """Name -> resolved recipe of every system, in order. ``recipe`` (``--config``) replaces
    the study's base recipe; ``overrides`` (``--set``) and ``values`` (the flags; None = not
    given) apply to every system, after its own settings."""
    if not spec.systems:
        raise ConfigError("no systems: give a study file or --system NAME=MODEL (repeatable)")
    values = {k: v for k, v in (values or {}).items() if v is not None}
    if "model" in values:
        raise ConfigError("--model would give every system one model; name each system's "
                          "model in the study file or with --system NAME=MODEL")
    _overrides(list(overrides), "--set", system=False)
    base = recipe or spec.recipe or None
    shared = resolve_config(base, [*spec.overrides, *overrides], **values)
    if not shared.data.manifest:
        raise ConfigError("no manifest: pass --manifest FILE (a CSV from `sertk prepare`) or "
                          "set manifest in the study's config or set")
    configs = {}
    for system in spec.systems:
        own = [f"model={system.model}"] if system.model else []
        try:
            config = resolve_config(system.recipe or base,
                                    [*spec.overrides, *own, *system.overrides, *overrides],
                                    **values)
        except ConfigError as err:
            raise ConfigError(f"system {system.name!r}: {err}") from None
        configs[system.name] = config.replace(**{k: shared.flat_dict()[k] for k in SHARED_KEYS})
    return configs


def reference_name(spec: StudySpec, reference: str | None = None) -> str:
    """``reference`` (``--reference``), else the study file's, else the first system."""
    name = reference or spec.reference or (spec.systems[0].name if spec.systems else "")
    names = [s.name for s in spec.systems]
    if name not in names:
        raise ConfigError(f"reference {name!r} is not a system of the study "
                          f"(systems: {', '.join(names)})")
    return name


def _check_keys(entry: Mapping, known: Sequence[str], label: str) -> None:
    for key in entry:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{label}: unknown key {key!r}{hint} (known: {', '.join(known)})")


def _name(value: Any, label: str) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise ConfigError(f"{label}: name must be 1-64 letters, digits, '.', '_' or '-' "
                          f"(a folder of the study), got {value!r}")
    return value


def _text(entry: Mapping, key: str, label: str) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str):
        raise ConfigError(f"{label}: {key} must be a string, got {value!r}")
    return value


def _recipe(value: Any, folder: Path, label: str) -> str:
    """A recipe file's path (relative paths from ``folder``), checked to exist."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"{label}: config must be a recipe file's path, got {value!r}")
    path = folder / value
    if not path.is_file():
        raise ConfigError(f"{label}: recipe file {path} not found")
    return str(path)


def _overrides(value: Any, label: str, *, system: bool) -> tuple[str, ...]:
    """``KEY=VALUE`` strings, checked: well formed; a system's may not touch the protocol,
    the study's may not set the model."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{label}: set must be a list of KEY=VALUE strings (as --set), "
                          f"got {value!r}")
    try:
        keys = parse_overrides(value)
    except ConfigError as err:
        raise ConfigError(f"{label}: {err}") from None
    if system:
        shared = sorted(k for k in keys if ALIASES.get(k, k) in SHARED_KEYS)
        if shared:
            raise ConfigError(f"{label}: set {', '.join(shared)}: the protocol keys "
                              f"({', '.join(SHARED_KEYS)}) are the study's, the same for every "
                              "system; set them for the whole study")
    elif "model" in keys:
        raise ConfigError(f"{label}: set model=...: name each system's model instead")
    return tuple(value)
