"""The plugin's settings: its own three layers on top of the one engine of
:mod:`sss_emulator.config`.

Precedence, highest first: a test's ``@pytest.mark.sss(...)`` (or a call file's case) >
``--sss-*`` on the command line > the ``sss_*`` ini options > ``SSS_*`` variables >
``[tool.sss-emulator]`` of the nearest ``pyproject.toml`` > a LinkAhead profile > the default.
Below the ini file this is exactly the ``sss-emulate`` command's order, and every value is read
by the same parser, so ``sss_timeout = off`` means what ``--timeout off`` and ``SSS_TIMEOUT=off``
mean. The ini file counts as an explicit option of the test suite, so a developer's ``SSS_*``
variables cannot change what the suite pins there (``docs/configuration.md`` has the rule).

The session's layers are resolved once (:func:`resolve_base`); a marker is laid over them per
test (:func:`emulator_kwargs`). Every error is a :class:`PluginConfigError` whose message names
the option, ini file or marker and how to fix it; the hooks turn it into a usage error or a
one-line test failure.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from sss_emulator.config import (
    MODES,
    SETTINGS,
    Layer,
    Settings,
    check_layer,
    identity_for,
    parse_setting,
    resolve_settings,
    with_layer,
)
from sss_emulator.errors import ConfigError
from sss_emulator.invocation.emulator import world_of

__all__ = (
    "DEFAULT_TIMEOUT_S",
    "MARKER_KEYS",
    "MODES",
    "PluginConfigError",
    "check_command_line",
    "emulator_kwargs",
    "parse_mode",
    "resolve_base",
    "sss_variables",
)

#: A script still running after this many seconds fails its test instead of hanging the suite.
DEFAULT_TIMEOUT_S = 60.0
#: What ``@pytest.mark.sss(...)`` (and ``sss_factory(...)``, and a call file's case) accept:
#: each is the setting of the same name in :data:`sss_emulator.config.SETTINGS`.
MARKER_KEYS = ("user", "roles", "timeout", "mode", "bin_dirs", "anonymous", "env", "home",
               "users", "server_address", "mounts", "extroot", "extroot_path", "caosroot_path")

#: The plugin's settings with their ``--sss-*`` option (its ``dest``) and ini option.
_OPTIONS: dict[str, tuple[str, str | None]] = {
    "bin_dirs": ("sss_bin_dirs", "sss_bin_dirs"),
    "home": ("sss_home", "sss_home"),
    "profile": ("sss_profile", "sss_profile"),
    "users": ("sss_users", "sss_users"),
    "timeout": ("sss_timeout", "sss_timeout"),
    "mode": ("sss_mode", "sss_mode"),
    "keep": ("sss_keep", None),
    "server_address": ("sss_server_address", "sss_server_address"),
    "mounts": ("sss_mounts", "sss_mounts"),
    "extroot": ("sss_extroot", "sss_extroot"),
}
_FLAGS = {"bin_dirs": "--sss-bin-dir"}
#: Settings the plugin uses that no option of its own names (read from SSS_* and pyproject).
_ALSO = ("user", "roles", "anonymous", "env", "authtoken_config", "keep", "mode",
         "extroot_path", "caosroot_path")
_DEFAULTS: dict[str, Any] = {"timeout": DEFAULT_TIMEOUT_S, "mode": "subprocess", "keep": False}


class PluginConfigError(ConfigError):
    """A setting of the plugin is wrong; the message names where it was set."""


def parse_mode(value: Any, where: str) -> str:
    """One of :data:`MODES`, read by the engine's parser."""
    try:
        return str(parse_setting("mode", value, Path.cwd(), where))
    except ConfigError as exc:
        raise PluginConfigError(exc.message) from None


def _flag(name: str) -> str:
    return _FLAGS.get(name, f"--sss-{name.replace('_', '-')}")


def command_line_layer(config: pytest.Config) -> Layer:
    """``--sss-*`` as given; relative paths start at the folder pytest was started in."""
    values: dict[str, Any] = {}
    for name, (dest, _ini) in _OPTIONS.items():
        value = getattr(config.option, dest, None)
        if value not in (None, [], False):  # --sss-keep is a flag: absent means "not given"
            values[name] = tuple(value) if isinstance(value, list) else value
    return Layer(values, config.invocation_params.dir, _flag)


def ini_layer(config: pytest.Config) -> Layer:
    """The ``sss_*`` ini options; relative paths start at the ini file's folder."""
    values: dict[str, Any] = {}
    for name, (_dest, ini) in _OPTIONS.items():
        if ini is None:
            continue
        value = config.getini(ini)
        if isinstance(value, list):
            if value:
                values[name] = tuple(str(v) for v in value)
        elif str(value or "").strip():
            values[name] = str(value).strip()
    inifile = str(config.inipath or "the ini file")
    base = config.inipath.parent if config.inipath else config.rootpath
    return Layer(values, base, lambda name: f"{_OPTIONS[name][1]} in {inifile}")


def marker_layer(overrides: Mapping[str, Any], where: str, relative_to: Path) -> Layer:
    """A marker's (or call-file case's) keywords; relative paths start at ``relative_to``."""
    unknown = sorted(set(overrides) - set(MARKER_KEYS))
    if unknown:
        raise PluginConfigError(
            f"{where}: unknown argument(s) {', '.join(unknown)}; known: {', '.join(MARKER_KEYS)}"
        )
    return Layer(dict(overrides), relative_to, lambda name: f"{where} {name}=")


def check_command_line(config: pytest.Config) -> None:
    """Refuse bad ``--sss-*`` values before any test runs (a usage error, exit 4)."""
    try:
        check_layer(command_line_layer(config))
    except ConfigError as exc:
        raise PluginConfigError(exc.message) from None


def resolve_base(config: pytest.Config) -> Settings:
    """The session's settings: ``--sss-*`` > ini > SSS_* > pyproject > profile > default."""
    try:
        return resolve_settings(
            front=(command_line_layer(config), ini_layer(config)),
            cwd=config.invocation_params.dir,
            pyproject_from=config.rootpath,
            names=(*_OPTIONS, *_ALSO),
            defaults=_DEFAULTS,
        )
    except ConfigError as exc:
        raise PluginConfigError(exc.message) from None


def sss_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """The ``SSS_*`` variables of the settings engine that are set (for the report header)."""
    environ = os.environ if environ is None else environ
    return sorted(spec.env for spec in SETTINGS.values()
                  if spec.env is not None and environ.get(spec.env, "") != "")


def emulator_kwargs(
    base: Settings, overrides: Mapping[str, Any], where: str, relative_to: Path
) -> tuple[dict[str, Any], str]:
    """Emulator keyword arguments and the mode, with ``overrides`` (a marker) on top of ``base``.

    ``where`` names the marker or file in messages; relative paths are taken from
    ``relative_to`` (the test file's folder). Who the test calls as is decided by
    :func:`sss_emulator.config.identity_for`, as for ``sss-emulate --user``.
    """
    layer = marker_layer(overrides, where, relative_to)
    try:
        settings = with_layer(base, layer) if overrides else base
    except ConfigError as exc:
        raise PluginConfigError(exc.message) from None
    values = settings.values
    anonymous = bool(values.get("anonymous"))
    try:
        identity = identity_for(settings.users, values.get("user"), values.get("roles") or (),
                                anonymous=anonymous, roles_option="roles=")
    except ConfigError as exc:  # an unknown user
        raise PluginConfigError(f"{where}: {exc.message}") from None
    kwargs: dict[str, Any] = {
        "bin_dirs": settings.bin_dirs,
        "home": settings.home,
        "timeout": settings.timeout,
        "env": dict(settings.env),
        "users": settings.users,
        "purposes": settings.purposes,
        "context_root": settings.context_root,
        "keep": bool(values.get("keep")),
        "notes": settings.notes,
        "anonymous": anonymous,
        "user": identity.name,
        "realm": identity.realm,
        "roles": identity.roles,
    }
    try:
        world = world_of(settings)
    except ConfigError as exc:
        raise PluginConfigError(f"{where}: {exc.message}") from None
    if world is not None:
        kwargs["world"] = world
        kwargs["notes"] = (*settings.notes, *world.notes)
    return kwargs, str(values.get("mode") or "subprocess")
