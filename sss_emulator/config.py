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

import yaml

from .errors import ConfigError
from .tokens import PurposeEntry, parse_purpose_entries
from .workspace import default_root

__all__ = (
    "SETTINGS",
    "Profile",
    "Resolved",
    "Settings",
    "UserEntry",
    "UsersConfig",
    "find_pyproject",
    "load_authtoken_config",
    "load_profile",
    "load_pyproject_table",
    "load_users",
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


_SERVER_DIR_PARTS = ("custom", "caosdb-server")


@dataclass(frozen=True)
class Profile:
    """What a LinkAhead profile directory says about server-side scripting."""

    server_dir: Path
    bin_dirs: tuple[Path, ...]
    home: Path | None
    authtoken_config: Path | None
    context_root: str
    conf: Mapping[str, str]
    notes: tuple[str, ...] = ()


def _read_conf(path: Path, into: dict[str, str]) -> None:
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE, got {raw.strip()!r}")
        into[key.strip()] = value.strip().strip("`").strip()


def _server_dir(profile: Path) -> Path:
    if profile.is_file():  # profile.yml given
        profile = profile.parent
    for candidate in (profile / Path(*_SERVER_DIR_PARTS), profile / "caosdb-server", profile):
        if (candidate / "scripting").is_dir() or (candidate / "conf").is_dir():
            return candidate
    raise ConfigError(
        f"{profile} is not a LinkAhead profile: no custom/caosdb-server/scripting or conf folder "
        "in it. Point --profile at the folder that holds profile.yml and custom/."
    )


def load_profile(path: Path) -> Profile:
    """Read a profile as a LinkAhead server would (contract §6); nothing is written."""
    if not path.exists():
        raise ConfigError(f"Profile {path} does not exist; check the --profile path.")
    server_dir = _server_dir(path)
    conf: dict[str, str] = {}
    conf_dir = server_dir / "conf" / "ext" / "server.conf.d"
    if conf_dir.is_dir():
        for conf_file in sorted(conf_dir.glob("*.conf")):
            _read_conf(conf_file, conf)
    notes: list[str] = []
    bin_dirs: list[Path] = []
    for entry in conf.get("SERVER_SIDE_SCRIPTING_BIN_DIRS", "./scripting/bin/").split():
        folder = (server_dir / entry).absolute() if not os.path.isabs(entry) else Path(entry)
        if folder.is_dir():
            bin_dirs.append(folder)
        else:
            notes.append(f"profile bin dir {entry} ({folder}) does not exist here; skipped")
    home_entry = conf.get("SERVER_SIDE_SCRIPTING_HOME_DIR", "./scripting/home/")
    home = (server_dir / home_entry).absolute()
    if not home.is_dir():
        notes.append(f"profile home dir {home_entry} ({home}) does not exist; HOME starts empty")
        home = None  # type: ignore[assignment]
    if "SERVER_SIDE_SCRIPTING_WORKING_DIR" in conf:
        notes.append("SERVER_SIDE_SCRIPTING_WORKING_DIR of the profile is not used; runs go to "
                     "--work-root")
    authtoken: Path | None = None
    if "AUTHTOKEN_CONFIG" in conf:
        authtoken = (server_dir / conf["AUTHTOKEN_CONFIG"]).absolute()
        if not authtoken.is_file():
            raise ConfigError(
                f"AUTHTOKEN_CONFIG of the profile points at {authtoken}, which does not exist; "
                "fix the path in server.conf.d."
            )
    else:
        for name in ("authtoken.yaml", "authtoken.yml"):
            candidate = server_dir / "conf" / "ext" / name
            if candidate.is_file():
                authtoken = candidate
                break
    return Profile(
        server_dir=server_dir,
        bin_dirs=tuple(bin_dirs),
        home=home,
        authtoken_config=authtoken,
        context_root=conf.get("CONTEXT_ROOT", "").strip("/"),
        conf=conf,
        notes=tuple(notes),
    )


def _load_yaml(path: Path, what: str) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"Cannot read {what} {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: {what} is not valid YAML ({problem}); fix the file.") from exc


def load_authtoken_config(path: Path) -> tuple[PurposeEntry, ...]:
    """The purpose entries of an ``AUTHTOKEN_CONFIG`` file."""
    try:
        return parse_purpose_entries(_load_yaml(path, "AUTHTOKEN_CONFIG"), str(path))
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


@dataclass(frozen=True)
class UserEntry:
    """A user of the users file."""

    name: str
    password: str | None
    roles: tuple[str, ...]
    realm: str = "PAM"


@dataclass(frozen=True)
class UsersConfig:
    """Users, passwords, roles and role permissions (``--users FILE``)."""

    users: Mapping[str, UserEntry] = field(default_factory=dict)
    role_permissions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    return tuple(value)


def load_users(path: Path) -> UsersConfig:
    """Read a users file::

        users:
          alice: {password: secret, roles: [team]}
        roles:
          team: [SCRIPTING:EXECUTE:handle_csv.py]
    """
    data = _load_yaml(path, "users file") or {}
    if not isinstance(data, dict) or set(data) - {"users", "roles"}:
        raise ConfigError(f"{path}: a users file is a mapping with the keys 'users' and 'roles'")
    users: dict[str, UserEntry] = {}
    for name, entry in (data.get("users") or {}).items():
        entry = entry or {}
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: user {name!r} must be a mapping (password, roles, realm)")
        users[str(name)] = UserEntry(
            name=str(name),
            password=None if entry.get("password") is None else str(entry["password"]),
            roles=_strings(entry.get("roles"), f"{path}: roles of user {name!r}"),
            realm=str(entry.get("realm", "PAM")),
        )
    roles: dict[str, tuple[str, ...]] = {}
    for role, grants in (data.get("roles") or {}).items():
        if isinstance(grants, dict):
            grants = grants.get("permissions")
        roles[str(role)] = _strings(grants, f"{path}: permissions of role {role!r}")
    return UsersConfig(users=users, role_permissions=roles)


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

