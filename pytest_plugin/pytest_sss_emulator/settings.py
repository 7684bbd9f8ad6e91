"""Where the plugin's settings come from: marker > command line > ini > ``[tool.sss-emulator]``.

The session-wide layers (command line, ini file, pyproject table, profile) are resolved once per
session into :class:`BaseSettings`; a test's ``@pytest.mark.sss(...)`` (or a call file's case)
is laid over them by :func:`emulator_kwargs`. ``SSS_*`` environment variables are deliberately
not read: a developer's shell must not change what a test suite checks.

Every error here is a :class:`PluginConfigError` whose message names the option or file and how
to fix it; the hooks turn it into a usage error or a one-line test failure.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sss_emulator.config import MISSING, UsersConfig, load_users, resolve_settings
from sss_emulator.core.tokens import PurposeEntry
from sss_emulator.errors import ConfigError

__all__ = (
    "DEFAULT_TIMEOUT_S",
    "MARKER_KEYS",
    "MODES",
    "BaseSettings",
    "PluginConfigError",
    "emulator_kwargs",
    "parse_mode",
    "parse_timeout",
    "resolve_base",
)

logger = logging.getLogger("pytest_sss_emulator.settings")

#: How scripts are started: the server's way, inside the test process, or both and compared.
MODES = ("subprocess", "inprocess", "both")
#: A script still running after this many seconds fails its test instead of hanging the suite.
DEFAULT_TIMEOUT_S = 60.0
#: What ``@pytest.mark.sss(...)`` (and ``sss_factory(...)``) accept.
MARKER_KEYS = ("user", "roles", "timeout", "mode", "bin_dirs", "anonymous", "env", "home",
               "users")

_NO_TIMEOUT = ("none", "0", "off", "")


class PluginConfigError(ConfigError):
    """A setting of the plugin is wrong; the message names where it was set."""


def parse_timeout(value: Any, where: str) -> float | None:
    """Seconds as a positive number; ``0``/``none``/``off`` mean no limit."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _NO_TIMEOUT):
        return None
    if isinstance(value, bool):
        raise PluginConfigError(f"{where}: timeout {value!r} is not a number of seconds")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PluginConfigError(
            f"{where}: timeout {value!r} is not a number of seconds (use e.g. 30, or 0 for none)"
        ) from None
    if number < 0:
        raise PluginConfigError(f"{where}: timeout {value!r} must not be negative")
    return number or None


def parse_mode(value: Any, where: str) -> str:
    """One of :data:`MODES`."""
    if value not in MODES:
        raise PluginConfigError(
            f"{where}: mode {value!r} is not one of {', '.join(MODES)}"
        )
    return str(value)


@dataclass(frozen=True)
class BaseSettings:
    """The session-wide settings every emulator of the session starts from."""

    bin_dirs: tuple[Path, ...] = ()
    home: Path | None = None
    timeout: float | None = DEFAULT_TIMEOUT_S
    mode: str = "subprocess"
    keep: bool = False
    env: tuple[tuple[str, str], ...] = ()
    users: UsersConfig = field(default_factory=UsersConfig)
    purposes: tuple[PurposeEntry, ...] = ()
    context_root: str = ""
    identity: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def _existing_dir(path: Path, where: str, what: str) -> Path:
    if not path.is_dir():
        raise PluginConfigError(f"{where}: {what} {path} does not exist; create it or fix {where}.")
    return path


def _ini_dir(config: pytest.Config) -> Path:
    return config.inipath.parent if config.inipath else config.rootpath


def _first_layer(config: pytest.Config) -> dict[str, tuple[Any, str]]:
    """The settings given on the command line, else in the ini file: name → (value, where)."""
    base = _ini_dir(config)
    inifile = str(config.inipath or "the ini file")
    chosen: dict[str, tuple[Any, str]] = {}
    opt = config.option
    if opt.sss_bin_dirs:
        chosen["bin_dirs"] = (tuple(_from_cwd(config, p) for p in opt.sss_bin_dirs),
                              "--sss-bin-dir")
    elif config.getini("sss_bin_dirs"):
        chosen["bin_dirs"] = (tuple(Path(p).absolute() for p in config.getini("sss_bin_dirs")),
                              f"sss_bin_dirs in {inifile}")
    for name in ("home", "profile", "users"):
        cli_value = getattr(opt, f"sss_{name}", None)
        ini_value = str(config.getini(f"sss_{name}") or "").strip()
        if cli_value:
            chosen[name] = (_from_cwd(config, cli_value), f"--sss-{name}")
        elif ini_value:
            chosen[name] = ((base / os.path.expanduser(ini_value)).absolute(),
                            f"sss_{name} in {inifile}")
    if opt.sss_timeout is not None:
        chosen["timeout"] = (parse_timeout(opt.sss_timeout, "--sss-timeout"), "--sss-timeout")
    elif str(config.getini("sss_timeout") or "").strip():
        where = f"sss_timeout in {inifile}"
        chosen["timeout"] = (parse_timeout(config.getini("sss_timeout"), where), where)
    if opt.sss_mode:
        chosen["mode"] = (parse_mode(opt.sss_mode, "--sss-mode"), "--sss-mode")
    elif str(config.getini("sss_mode") or "").strip():
        where = f"sss_mode in {inifile}"
        chosen["mode"] = (parse_mode(str(config.getini("sss_mode")).strip(), where), where)
    return chosen


def _from_cwd(config: pytest.Config, value: str) -> Path:
    return (config.invocation_params.dir / os.path.expanduser(value)).absolute()


def check_command_line(config: pytest.Config) -> None:
    """Refuse bad ``--sss-*`` values before any test runs (a usage error, exit 4)."""
    opt = config.option
    for folder in opt.sss_bin_dirs or ():
        _existing_dir(_from_cwd(config, folder), "--sss-bin-dir", "bin dir")
    if opt.sss_home:
        _existing_dir(_from_cwd(config, opt.sss_home), "--sss-home", "home skeleton")
    if opt.sss_timeout is not None:
        parse_timeout(opt.sss_timeout, "--sss-timeout")
    for name in ("profile", "users"):
        value = getattr(opt, f"sss_{name}")
        if value and not _from_cwd(config, value).exists():
            raise PluginConfigError(f"--sss-{name}: {_from_cwd(config, value)} does not exist")


def resolve_base(config: pytest.Config) -> BaseSettings:
    """Command line > ini > ``[tool.sss-emulator]`` of the nearest pyproject.toml > profile."""
    chosen = _first_layer(config)
    for name, what in (("bin_dirs", "bin dir"), ("home", "home skeleton")):
        if name in chosen:
            value, where = chosen[name]
            for folder in value if isinstance(value, tuple) else (value,):
                _existing_dir(folder, where, what)
    for name in ("profile", "users"):
        if name in chosen and not chosen[name][0].exists():
            raise PluginConfigError(f"{chosen[name][1]}: {chosen[name][0]} does not exist")
    cli: dict[str, Any] = {name: chosen[name][0] if name in chosen else MISSING
                           for name in ("bin_dirs", "home", "profile", "users")}
    cli.update(user=MISSING, roles=MISSING, anonymous=MISSING, keep=MISSING)
    try:
        settings = resolve_settings(cli, environ={}, cwd=config.rootpath)
    except ConfigError as exc:
        raise PluginConfigError(exc.message) from None
    if "timeout" in chosen:
        timeout = chosen["timeout"][0]
    elif settings.sources.get("timeout", "default") != "default":
        timeout = settings.timeout
    else:
        timeout = DEFAULT_TIMEOUT_S
    identity = {k: settings.values[k] for k in ("user", "roles", "anonymous")
                if settings.values.get(k) is not None}
    return BaseSettings(
        bin_dirs=settings.bin_dirs,
        home=settings.home,
        timeout=timeout,
        mode=chosen["mode"][0] if "mode" in chosen else "subprocess",
        keep=bool(config.option.sss_keep),
        env=settings.env,
        users=settings.users,
        purposes=settings.purposes,
        context_root=settings.context_root,
        identity=identity,
        notes=settings.notes,
    )


def _strings(value: Any, where: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise PluginConfigError(f"{where}: {key}= must be a string or a list of strings, "
                                f"not {value!r}")
    return tuple(value)


def _paths(value: Any, where: str, key: str, base: Path) -> tuple[Path, ...]:
    if isinstance(value, str | os.PathLike):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str | os.PathLike)
                                                  for v in value):
        raise PluginConfigError(f"{where}: {key}= must be a path or a list of paths, "
                                f"not {value!r}")
    return tuple((base / os.path.expanduser(os.fspath(v))).absolute() for v in value)


def _one_path(value: Any, where: str, key: str, base: Path) -> Path:
    if not isinstance(value, str | os.PathLike):
        raise PluginConfigError(f"{where}: {key}= must be a path, not {value!r}")
    return (base / os.path.expanduser(os.fspath(value))).absolute()


def _env(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        raise PluginConfigError(f"{where}: env= must be a mapping of names to values, "
                                f"not {value!r}")
    return tuple((str(k), str(v)) for k, v in value.items())


def emulator_kwargs(
    base: BaseSettings, overrides: Mapping[str, Any], where: str, relative_to: Path
) -> tuple[dict[str, Any], str]:
    """Emulator keyword arguments and the mode, with ``overrides`` (a marker) on top of ``base``.

    ``where`` names the marker or file in messages; relative paths are taken from
    ``relative_to`` (the test file's folder).
    """
    unknown = sorted(set(overrides) - set(MARKER_KEYS))
    if unknown:
        raise PluginConfigError(
            f"{where}: unknown argument(s) {', '.join(unknown)}; known: {', '.join(MARKER_KEYS)}"
        )
    kwargs: dict[str, Any] = {
        "bin_dirs": base.bin_dirs,
        "home": base.home,
        "timeout": base.timeout,
        "env": dict(base.env),
        "users": base.users,
        "purposes": base.purposes,
        "context_root": base.context_root,
        "keep": base.keep,
        "notes": base.notes,
    }
    kwargs.update(base.identity)
    mode = base.mode
    for key, value in overrides.items():
        if key == "mode":
            mode = parse_mode(value, where)
        elif key == "timeout":
            kwargs["timeout"] = parse_timeout(value, where)
        elif key == "bin_dirs":
            kwargs["bin_dirs"] = tuple(_existing_dir(p, f"{where} bin_dirs=", "bin dir")
                                       for p in _paths(value, where, key, relative_to))
        elif key == "home":
            home = _one_path(value, where, key, relative_to)
            kwargs["home"] = _existing_dir(home, f"{where} home=", "home skeleton")
        elif key == "users":
            try:
                kwargs["users"] = load_users(_one_path(value, where, key, relative_to))
            except ConfigError as exc:
                raise PluginConfigError(f"{where} users=: {exc.message}") from None
        elif key == "user":
            if not isinstance(value, str) or not value:
                raise PluginConfigError(f"{where}: user= must be a non-empty string, "
                                        f"not {value!r}")
            kwargs["user"] = value
        elif key == "roles":
            kwargs["roles"] = _strings(value, where, key)
        elif key == "anonymous":
            if not isinstance(value, bool):
                raise PluginConfigError(f"{where}: anonymous= must be True or False, "
                                        f"not {value!r}")
            kwargs["anonymous"] = value
        elif key == "env":
            kwargs["env"] = {**kwargs["env"], **dict(_env(value, where))}
    return kwargs, mode
