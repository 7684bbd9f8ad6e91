"""Where settings are written, highest first, and how one setting is picked from them.

A :class:`Layer` is one place a front end reads settings from: its own explicit options (the
command line; for the pytest plugin a marker, ``--sss-*`` and the ini file), then — the same for
every front end — ``SSS_*`` variables (:func:`environment_layer`) and ``[tool.sss-emulator]``
(:func:`pyproject_layer`). :func:`resolve` picks a setting from the first layer that has it,
parsed by the one parser of :data:`~sss_emulator.config.values.SETTINGS`, and reports every
lower value it overrode, so that an ignored setting is never dropped silently.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sss_emulator.config.values import SETTINGS, SettingSpec
from sss_emulator.errors import ConfigError

__all__ = (
    "MISSING",
    "Layer",
    "Resolved",
    "check_layer",
    "command_line_layer",
    "environment_layer",
    "find_pyproject",
    "load_pyproject_table",
    "parse_setting",
    "pyproject_layer",
    "resolve",
)

#: The value of an option that was not given (``None`` and ``()`` count as not given too).
MISSING: Any = object()


@dataclass(frozen=True)
class Layer:
    """One place settings are written.

    ``values`` maps setting names to raw values as written there; ``base`` is the folder relative
    paths written there start from (the current folder for a command line and the environment,
    a file's own folder for a file, a test file's folder for a marker); ``label`` names a setting
    of this layer in notes and errors (``--timeout``, ``SSS_TIMEOUT``,
    ``sss_timeout in /repo/tox.ini``).
    """

    values: Mapping[str, Any]
    base: Path
    label: Callable[[str], str]

    def given(self, name: str) -> bool:
        """Whether this layer sets ``name`` (an option left out is ``None``/``()``/MISSING)."""
        value = self.values.get(name, MISSING)
        return value is not MISSING and value is not None and value != ()


@dataclass(frozen=True)
class Resolved:
    """A setting's value, where it came from, and what it overrode."""

    value: Any
    source: str
    ignored: tuple[str, ...] = ()


def _option_label(name: str) -> str:
    spec = SETTINGS.get(name)
    return spec.option if spec is not None and spec.option else f"--{name.replace('_', '-')}"


def command_line_layer(values: Mapping[str, Any], cwd: Path,
                       label: Callable[[str], str] = _option_label) -> Layer:
    """The options of ``sss-emulate`` (or any front end's own top layer) as typed."""
    return Layer(values, cwd, label)


def environment_layer(environ: Mapping[str, str], cwd: Path) -> Layer:
    """The ``SSS_*`` twin of each setting; an empty variable counts as unset."""
    values = {name: environ[spec.env] for name, spec in SETTINGS.items()
              if spec.env is not None and environ.get(spec.env, "") != ""}
    return Layer(values, cwd, lambda name: str(SETTINGS[name].env))


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` (``..`` in it taken as written)."""
    here = Path(os.path.abspath(start))
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_pyproject_table(start: Path) -> tuple[dict[str, Any], Path | None]:
    """``[tool.sss-emulator]`` of the nearest ``pyproject.toml`` (empty if none)."""
    path = find_pyproject(start)
    if path is None:
        return {}, None
    import tomllib  # only when there is a file to read

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it as TOML ({exc}); fix the file.") from exc
    table = data.get("tool", {}).get("sss-emulator", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.sss-emulator] must be a table")
    keys = sorted(spec.key for spec in SETTINGS.values() if spec.key is not None)
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)} in [tool.sss-emulator]; "
                          f"known: {', '.join(keys)}")
    return table, path


def pyproject_layer(start: Path) -> Layer:
    """``[tool.sss-emulator]`` of the nearest ``pyproject.toml``; its paths start at its folder."""
    table, path = load_pyproject_table(start)
    by_key = {spec.key: name for name, spec in SETTINGS.items() if spec.key is not None}
    values = {by_key[key]: value for key, value in table.items()}
    where = f"{path} [tool.sss-emulator]"
    return Layer(values, path.parent if path else start.absolute(),
                 lambda name: f"{SETTINGS[name].key} in {where}")


def _place(value: Any, base: Path) -> Any:
    """A written path as the absolute path it means: ``~`` expanded, relative to ``base``."""
    if isinstance(value, tuple):
        return tuple(_place(v, base) for v in value)
    return (base / os.path.expanduser(str(value))).absolute()


def parse_setting(name: str, raw: Any, base: Path, label: str) -> Any:
    """``raw`` as written for setting ``name``, parsed; a bad value names ``label``."""
    spec = SETTINGS[name]
    try:
        value = spec.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{label}: {exc}") from None
    return _place(value, base) if spec.paths else value


def _check_exists(spec: SettingSpec, value: Any, label: str) -> None:
    for path in value if isinstance(value, tuple) else (value,):
        if not isinstance(path, Path):
            continue
        if not path.exists():
            raise ConfigError(f"{label}: {spec.what} {path} does not exist; create it or fix "
                              "the setting.")
        if spec.must_exist == "dir" and not path.is_dir():
            raise ConfigError(f"{label}: {spec.what} {path} is not a folder; fix the setting.")


def check_layer(layer: Layer, names: Iterable[str] | None = None) -> None:
    """Parse every setting ``layer`` gives (or just ``names``) and check its paths exist.

    For refusing a bad command line before anything runs; :func:`resolve` does the same for the
    value that wins.
    """
    for name in layer.values if names is None else names:
        if name in SETTINGS and layer.given(name):
            label = layer.label(name)
            value = parse_setting(name, layer.values[name], layer.base, label)
            if SETTINGS[name].must_exist:
                _check_exists(SETTINGS[name], value, label)


def resolve(name: str, layers: Sequence[Layer], default: Any = None) -> Resolved:
    """Pick ``name`` from the first of ``layers`` (highest first) that gives it.

    Every layer's value is parsed (a bad one is an error even when overridden); the winner's
    paths must exist where the setting says so. A ``merge`` setting (``env``) adds up: each
    layer's variables over the lower ones'.
    """
    spec = SETTINGS[name]
    found: list[tuple[str, Any]] = []
    for layer in layers:
        if layer.given(name):
            label = layer.label(name)
            found.append((label, parse_setting(name, layer.values[name], layer.base, label)))
    if not found:
        return Resolved(default, "default")
    if spec.merge:
        return _merged(found)
    source, value = found[0]
    if spec.must_exist:
        _check_exists(spec, value, source)
    ignored = tuple(f"{label} ignored: {source} takes precedence"
                    for label, other in found[1:] if other != value)
    return Resolved(value, source, ignored)


def _merged(found: list[tuple[str, Any]]) -> Resolved:
    """``KEY=VALUE`` pairs of every layer, a higher layer's value winning for the same key."""
    merged: dict[str, str] = {}
    origin: dict[str, str] = {}
    ignored: list[str] = []
    for label, pairs in reversed(found):
        for key, value in pairs:
            if key in merged and merged[key] != value and origin[key] != label:
                ignored.append(f"{key} of {origin[key]} ignored: {label} takes precedence")
            merged[key], origin[key] = value, label
    return Resolved(tuple(merged.items()), found[0][0], tuple(ignored))
