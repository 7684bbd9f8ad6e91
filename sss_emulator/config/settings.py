"""Where settings come from: the command line, ``SSS_*`` variables, ``[tool.sss-emulator]`` in
the nearest ``pyproject.toml``, a LinkAhead profile, and defaults — in that order.

Resolution is written once (:func:`resolve`): it returns each value with the source it came from
and the lower-precedence values it overrode, so that an ignored override is reported, never
dropped silently. Files are read only by the ``load_*`` functions.
"""

from __future__ import annotations

import os
import shlex
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sss_emulator.config.profile import load_authtoken_config, load_profile
from sss_emulator.config.users import UsersConfig, load_users
from sss_emulator.core.tokens import PurposeEntry
from sss_emulator.core.workspace import default_root
from sss_emulator.errors import ConfigError

__all__ = (
    "MISSING",
    "SETTINGS",
    "Resolved",
    "Settings",
    "find_pyproject",
    "load_pyproject_table",
    "parse_env_option",
    "resolve",
    "resolve_settings",
)

MISSING: Any = object()


# --- the setting table -----------------------------------------------------------------------


def _paths(text: str) -> tuple[str, ...]:
    return tuple(p for p in text.split(os.pathsep) if p)


def _timeout(value: Any) -> float | None:
    if value in (None, "", "none", "0", 0):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"timeout {value!r} is not a number of seconds") from exc
    if number < 0:
        raise ConfigError(f"timeout {value!r} must not be negative")
    return number


def _env_pairs(value: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(value, Mapping):
        return tuple((str(k), str(v)) for k, v in value.items())
    items = shlex.split(value) if isinstance(value, str) else list(value)
    pairs = []
    for item in items:
        key, sep, val = str(item).partition("=")
        if not sep or not key:
            raise ConfigError(f"environment entry {item!r} is not KEY=VALUE")
        pairs.append((key, val))
    return tuple(pairs)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{value!r} is not a boolean (use true or false)")


@dataclass(frozen=True)
class SettingSpec:
    """One setting: its ``SSS_*`` twin, its pyproject key, and how to read each."""

    env: str
    key: str
    from_env: Callable[[str], Any]
    from_file: Callable[[Any], Any]
    is_path: bool = False


def _same(value: Any) -> Any:
    return value


def _tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


SETTINGS: dict[str, SettingSpec] = {
    "profile": SettingSpec("SSS_PROFILE", "profile", str, str, is_path=True),
    "bin_dirs": SettingSpec("SSS_BIN_DIRS", "bin-dirs", _paths, _tuple, is_path=True),
    "home": SettingSpec("SSS_HOME", "home", str, str, is_path=True),
    "shared_root": SettingSpec("SSS_SHARED_ROOT", "shared-root", str, str, is_path=True),
    "work_root": SettingSpec("SSS_WORK_ROOT", "work-root", str, str, is_path=True),
    "timeout": SettingSpec("SSS_TIMEOUT", "timeout", _timeout, _timeout),
    "env": SettingSpec("SSS_ENV", "env", _env_pairs, _env_pairs),
    "users": SettingSpec("SSS_USERS", "users", str, str, is_path=True),
    "authtoken_config": SettingSpec("SSS_AUTHTOKEN_CONFIG", "authtoken-config", str, str,
                                    is_path=True),
    "format": SettingSpec("SSS_FORMAT", "format", str, str),
    "keep": SettingSpec("SSS_KEEP", "keep", _bool, _bool),
    "user": SettingSpec("SSS_USER", "user", str, str),
    "roles": SettingSpec("SSS_ROLES", "roles", lambda s: tuple(s.split()), _tuple),
    "anonymous": SettingSpec("SSS_ANONYMOUS", "anonymous", _bool, _bool),
    "auth_token": SettingSpec("SSS_AUTH_TOKEN", "auth-token", str, str),
    "poll": SettingSpec("SSS_POLL", "poll", _bool, _bool),
    "debounce_ms": SettingSpec("SSS_DEBOUNCE_MS", "debounce-ms", int, int),
    "data": SettingSpec("SSS_DATA", "data", _paths, _tuple, is_path=True),
    "stand_in": SettingSpec("SSS_STAND_IN", "stand-in", _bool, _bool),
    "server_url": SettingSpec("SSS_SERVER_URL", "server-url", str, str),
    "username": SettingSpec("SSS_USERNAME", "username", str, str),
    "cacert": SettingSpec("SSS_CACERT", "cacert", str, str, is_path=True),
    "coverage": SettingSpec("SSS_COVERAGE", "coverage", _bool, _bool),
    "debug_wait": SettingSpec("SSS_DEBUG_WAIT", "debug-wait", str, str),
}


@dataclass(frozen=True)
class Resolved:
    """A setting's value, where it came from, and what it overrode."""

    value: Any
    source: str
    ignored: tuple[str, ...] = ()


def _as_path(value: Any, base: Path) -> Any:
    if isinstance(value, tuple):
        return tuple(_as_path(v, base) for v in value)
    return (base / os.path.expanduser(str(value))).absolute()


def resolve(
    name: str,
    cli_value: Any,
    environ: Mapping[str, str],
    table: Mapping[str, Any],
    table_source: str,
    table_dir: Path,
    cwd: Path,
    default: Any = None,
) -> Resolved:
    """Pick ``name`` from CLI > ``SSS_*`` > ``[tool.sss-emulator]`` > default.

    ``cli_value`` is :data:`MISSING` (or ``None``/empty) when the option was not given. Paths
    from the command line and the environment are relative to ``cwd``, from the file to its dir.
    """
    spec = SETTINGS[name]
    layers: list[tuple[str, Any]] = []
    if cli_value is not MISSING and cli_value is not None and cli_value != ():
        layers.append((f"--{name.replace('_', '-')}", cli_value))
    if spec.env in environ and environ[spec.env] != "":
        try:
            layers.append((spec.env, spec.from_env(environ[spec.env])))
        except (ConfigError, ValueError) as exc:
            raise ConfigError(f"{spec.env}={environ[spec.env]!r}: {exc}") from exc
    if spec.key in table:
        try:
            file_value = spec.from_file(table[spec.key])
        except (ConfigError, ValueError, TypeError) as exc:
            raise ConfigError(f"{table_source} key {spec.key!r}: {exc}") from exc
        if spec.is_path:
            file_value = _as_path(file_value, table_dir)
        layers.append((table_source, file_value))
    if not layers:
        return Resolved(default, "default")
    source, value = layers[0]
    if spec.is_path and source != table_source:
        value = _as_path(value if not isinstance(value, list) else tuple(value), cwd)
    ignored = tuple(
        f"{label} ignored: {source} takes precedence" for label, other in layers[1:]
        if other != value
    )
    return Resolved(value, source, ignored)


# --- files ------------------------------------------------------------------------------------


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start``."""
    for folder in (start.absolute(), *start.absolute().parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_pyproject_table(start: Path) -> tuple[dict[str, Any], Path | None]:
    """``[tool.sss-emulator]`` of the nearest ``pyproject.toml`` (empty if none)."""
    path = find_pyproject(start)
    if path is None:
        return {}, None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it as TOML ({exc}); fix the file.") from exc
    table = data.get("tool", {}).get("sss-emulator", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.sss-emulator] must be a table")
    unknown = sorted(set(table) - {s.key for s in SETTINGS.values()})
    if unknown:
        known = ", ".join(sorted(s.key for s in SETTINGS.values()))
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(unknown)} in [tool.sss-emulator]; known: {known}"
        )
    return table, path


# --- the settings of one run ------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Everything resolved for a run, with the notes a user should see."""

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


_RUN_SETTINGS = ("profile", "bin_dirs", "home", "shared_root", "work_root", "timeout", "env",
                 "users", "authtoken_config")


def resolve_settings(
    cli: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve every setting from ``cli`` (option name → value or MISSING), env and pyproject.

    Names in ``cli`` that are not run settings (``format``, ``keep``, ``user``, …) are resolved
    too and returned in ``Settings.values`` so adapters apply one precedence for all options.
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    table, pyproject = load_pyproject_table(cwd)
    table_source = f"{pyproject} [tool.sss-emulator]" if pyproject else ""
    table_dir = pyproject.parent if pyproject else cwd
    names = list(dict.fromkeys([*_RUN_SETTINGS, *cli]))
    resolved = {
        name: resolve(name, cli.get(name, MISSING), environ, table, table_source, table_dir, cwd)
        for name in names
        if name in SETTINGS
    }
    notes = [note for r in resolved.values() for note in r.ignored]

    profile = load_profile(Path(resolved["profile"].value)) if resolved["profile"].value else None
    bin_dirs: tuple[Path, ...] = tuple(Path(p) for p in resolved["bin_dirs"].value or ())
    configured = bool(bin_dirs)
    if profile is not None:
        notes.extend(profile.notes)
        if bin_dirs:
            notes.append(f"bin dirs of the profile ignored: {resolved['bin_dirs'].source} "
                         "takes precedence")
        else:
            bin_dirs, configured = profile.bin_dirs, True
    for folder in bin_dirs if resolved["bin_dirs"].value else ():
        if not folder.is_dir():
            raise ConfigError(f"Bin dir {folder} ({resolved['bin_dirs'].source}) does not exist; "
                              "create it or fix the setting.")
    home = _pick_path(resolved["home"], profile.home if profile else None, "home dir", notes)
    if home is not None and not home.is_dir():
        raise ConfigError(f"Home skeleton {home} ({resolved['home'].source}) is not a directory; "
                          "create it or fix the setting.")
    authtoken = _pick_path(resolved["authtoken_config"],
                           profile.authtoken_config if profile else None, "AUTHTOKEN_CONFIG",
                           notes)
    users_path = resolved["users"].value
    return Settings(
        bin_dirs=bin_dirs,
        home=home,
        shared_root=Path(resolved["shared_root"].value or default_root("shared")),
        work_root=Path(resolved["work_root"].value or default_root("work")),
        timeout=resolved["timeout"].value,
        env=tuple(resolved["env"].value or ()),
        users=load_users(Path(users_path)) if users_path else UsersConfig(),
        purposes=load_authtoken_config(authtoken) if authtoken else (),
        context_root=profile.context_root if profile else "",
        bin_dirs_configured=configured,
        notes=tuple(notes),
        sources={name: r.source for name, r in resolved.items()},
        values={name: r.value for name, r in resolved.items()},
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
    return _env_pairs(list(values))

