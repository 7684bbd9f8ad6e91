"""The settings of a run, resolved once for every front end (see ``docs/configuration.md``).

Precedence, the same for ``sss-emulate run``/``watch``/``serve``/``list``/``doctor``, the
``sss_server`` fixture and the pytest plugin: the front end's own explicit options (the command
line; for the plugin a marker or call-file case, then ``--sss-*``, then the ini file) >
``SSS_*`` variables > ``[tool.sss-emulator]`` of the nearest ``pyproject.toml`` > a LinkAhead
profile > the default. :func:`resolve_settings` takes the front end's own layers (or, as a
shorthand, one command-line mapping) and adds the shared ones; :func:`with_layer` lays a
per-test layer over settings resolved once per session. Files are read only here and by the
``load_*`` functions.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sss_emulator.config.layers import (
    MISSING,
    Layer,
    Resolved,
    command_line_layer,
    environment_layer,
    pyproject_layer,
    resolve,
)
from sss_emulator.config.profile import Profile, load_authtoken_config, load_profile
from sss_emulator.config.users import UsersConfig, load_users
from sss_emulator.config.values import SETTINGS, parse_env_pairs
from sss_emulator.core.tokens import PurposeEntry
from sss_emulator.core.workspace import default_root
from sss_emulator.errors import ConfigError

__all__ = (
    "MISSING",
    "Settings",
    "parse_env_option",
    "resolve_settings",
    "resolve_values",
    "setting_layers",
    "with_layer",
)


@dataclass(frozen=True)
class Settings:
    """Everything resolved for a run, with the notes a user should see.

    ``values``/``sources`` hold every resolved setting by name (``format``, ``user``, …) with
    the label of the place it came from; ``resolved`` and ``layers`` let :func:`with_layer`
    lay another layer on top without reading the files again.
    """

    bin_dirs: tuple[Path, ...] = ()
    home: Path | None = None
    shared_root: Path = field(default_factory=lambda: default_root("shared"))
    work_root: Path = field(default_factory=lambda: default_root("work"))
    timeout: float | None = None
    env: tuple[tuple[str, str], ...] = ()
    users: UsersConfig = field(default_factory=UsersConfig)
    purposes: tuple[PurposeEntry, ...] = ()
    context_root: str = ""
    bin_dirs_configured: bool = False
    notes: tuple[str, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)
    resolved: Mapping[str, Resolved] = field(default_factory=dict)
    layers: tuple[Layer, ...] = ()
    profile: Profile | None = None
    authtoken_config: Path | None = None


#: What every run needs, whether or not the front end has an option for it.
_RUN_SETTINGS = ("profile", "bin_dirs", "home", "shared_root", "work_root", "timeout", "env",
                 "users", "authtoken_config")


def setting_layers(
    front: Sequence[Layer] = (),
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    pyproject_from: Path | None = None,
    *,
    skip_broken_pyproject: bool = False,
) -> tuple[Layer, ...]:
    """``front`` (the front end's own layers, highest first), then ``SSS_*``, then pyproject.

    ``SSS_*`` paths are relative to ``cwd``; the pyproject table is the nearest one at or above
    ``pyproject_from`` (default ``cwd``). ``skip_broken_pyproject`` reads on without a
    ``pyproject.toml`` that cannot be read (watch mode starts, and each run reports it).
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    shared = [environment_layer(environ, cwd)]
    try:
        shared.append(pyproject_layer(pyproject_from or cwd))
    except ConfigError:
        if not skip_broken_pyproject:
            raise
    return (*front, *shared)


def _layers(cli: Mapping[str, Any] | None, front: Sequence[Layer],
            environ: Mapping[str, str] | None, cwd: Path | None,
            pyproject_from: Path | None, skip_broken_pyproject: bool = False,
            ) -> tuple[Layer, ...]:
    cwd = Path.cwd() if cwd is None else cwd
    own = [*front] + ([command_line_layer(cli, cwd)] if cli else [])
    return setting_layers(own, environ, cwd, pyproject_from,
                          skip_broken_pyproject=skip_broken_pyproject)


def resolve_values(
    names: Iterable[str],
    cli: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    *,
    front: Sequence[Layer] = (),
    pyproject_from: Path | None = None,
    defaults: Mapping[str, Any] | None = None,
    skip_broken_pyproject: bool = False,
) -> dict[str, Resolved]:
    """Just the named settings, without reading a profile, users or token file."""
    layers = _layers(cli, front, environ, cwd, pyproject_from, skip_broken_pyproject)
    defaults = defaults or {}
    return {name: resolve(name, layers, defaults.get(name)) for name in names}


def resolve_settings(
    cli: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    *,
    front: Sequence[Layer] = (),
    pyproject_from: Path | None = None,
    names: Iterable[str] = (),
    defaults: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve every setting a run needs, plus ``names`` and every setting ``cli`` names.

    ``cli`` maps option names to what was typed (MISSING/``None``/``()`` when not given) and is
    the shorthand for one command-line layer; front ends with several layers of their own pass
    them as ``front`` (highest first). ``defaults`` replaces a setting's default (the plugin's
    60 s timeout).
    """
    layers = _layers(cli, front, environ, cwd, pyproject_from)
    given = [name for layer in front for name in layer.values] + list(cli or ())
    wanted = [n for n in dict.fromkeys([*_RUN_SETTINGS, *names, *given]) if n in SETTINGS]
    defaults = defaults or {}
    resolved = {name: resolve(name, layers, defaults.get(name)) for name in wanted}
    return _assemble(resolved, layers, None)


def with_layer(settings: Settings, layer: Layer) -> Settings:
    """``settings`` with ``layer`` above all of its layers (a marker over the session's).

    Only the settings ``layer`` gives are resolved anew; files are read again only when their
    path changed.
    """
    layers = (layer, *settings.layers)
    resolved = dict(settings.resolved)
    for name in layer.values:
        if name in SETTINGS and layer.given(name):
            before = settings.resolved.get(name)
            resolved[name] = resolve(name, layers, before.value if before else None)
    return _assemble(resolved, layers, settings)


def _assemble(resolved: Mapping[str, Resolved], layers: tuple[Layer, ...],
              previous: Settings | None) -> Settings:
    """Apply the profile below everything else, and read the files the settings name."""
    notes = [note for r in resolved.values() for note in r.ignored]
    values = {name: r.value for name, r in resolved.items()}

    def unchanged(name: str) -> bool:
        return previous is not None and previous.values.get(name) == values.get(name)

    profile_path = values.get("profile")
    if not profile_path:
        profile = None
    elif previous is not None and unchanged("profile"):
        profile = previous.profile
    else:
        profile = load_profile(Path(profile_path))
    bin_dirs: tuple[Path, ...] = tuple(values.get("bin_dirs") or ())
    configured = bool(bin_dirs)
    if profile is not None:
        notes.extend(profile.notes)
        if bin_dirs:
            notes.append(f"bin dirs of the profile ignored: {resolved['bin_dirs'].source} "
                         "takes precedence")
        else:
            bin_dirs, configured = profile.bin_dirs, True
    home = _pick_path(resolved["home"], profile.home if profile else None, "home dir", notes)
    authtoken = _pick_path(resolved["authtoken_config"],
                           profile.authtoken_config if profile else None, "AUTHTOKEN_CONFIG",
                           notes)
    users_path = values.get("users")
    if previous is not None and unchanged("users"):
        users = previous.users
    else:
        users = load_users(Path(users_path)) if users_path else UsersConfig()
    if previous is not None and previous.authtoken_config == authtoken:
        purposes = previous.purposes
    else:
        purposes = load_authtoken_config(authtoken) if authtoken else ()
    return Settings(
        bin_dirs=bin_dirs,
        home=home,
        shared_root=Path(values.get("shared_root") or default_root("shared")),
        work_root=Path(values.get("work_root") or default_root("work")),
        timeout=values.get("timeout"),
        env=tuple(values.get("env") or ()),
        users=users,
        purposes=purposes,
        context_root=profile.context_root if profile else "",
        bin_dirs_configured=configured,
        notes=tuple(notes),
        sources={name: r.source for name, r in resolved.items()},
        values=values,
        resolved=resolved,
        layers=layers,
        profile=profile,
        authtoken_config=authtoken,
    )


def _pick_path(
    own: Resolved, from_profile: Path | None, what: str, notes: list[str]
) -> Path | None:
    if own.value:
        if from_profile is not None:
            notes.append(f"{what} of the profile ignored: {own.source} takes precedence")
        return Path(own.value)
    return from_profile


def parse_env_option(values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``--env KEY=VALUE`` values → pairs, refusing entries without ``=``."""
    try:
        return parse_env_pairs(list(values))
    except ValueError as exc:
        raise ConfigError(f"--env: {exc}") from None
