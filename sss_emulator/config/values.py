"""What each setting is and how its value reads: the :data:`SETTINGS` table.

Every front end (command line, ``SSS_*`` variables, ``[tool.sss-emulator]``, the pytest plugin's
command line, ini options and markers, call files) hands its raw value to the same parser here,
so ``--timeout off``, ``SSS_TIMEOUT=off``, ``timeout = "off"``, ``sss_timeout = off`` and
``@pytest.mark.sss(timeout="off")`` all mean "no limit". A parser accepts a value as text (what a
command line, a variable or an ini file holds) and in its natural Python/TOML form (a number, a
list, a table, ``True``); it raises :class:`ValueError` with what is wrong, and the caller adds
where the value was written.
"""

from __future__ import annotations

import math
import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = (
    "FORMATS",
    "MODES",
    "NO_LIMIT",
    "SETTINGS",
    "SettingSpec",
    "parse_bool",
    "parse_env_pairs",
    "parse_timeout",
)

#: Words that mean "no time limit" wherever a timeout is given (and the number 0).
NO_LIMIT = ("", "0", "none", "off")
#: How ``sss-emulate run`` prints an outcome.
FORMATS = ("text", "json", "xml")
#: How the pytest plugin starts scripts: the server's way, inside the test process, or both.
MODES = ("subprocess", "inprocess", "both")

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def parse_timeout(value: Any) -> float | None:
    """Seconds as a non-negative number; ``0``, ``none``, ``off`` and empty mean no limit."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"timeout {value!r} is not a number of seconds (use e.g. 30, or off "
                         "for no limit)")
    if isinstance(value, str):
        if value.strip().lower() in NO_LIMIT:
            return None
        value = value.strip()
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"timeout {value!r} is not a number of seconds (use e.g. 30, or off "
                         "for no limit)") from None
    if math.isnan(number):
        raise ValueError(f"timeout {value!r} is not a number of seconds")
    if number < 0:
        raise ValueError(f"timeout {value!r} must not be negative (use 0 or off for no limit)")
    return None if number == 0 or math.isinf(number) else number


def parse_bool(value: Any) -> bool:
    """``True``/``False``, or the words ``true``/``false``, ``yes``/``no``, ``on``/``off``, 1/0."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | str):
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(f"{value!r} is not a boolean (use true or false)")


def parse_env_pairs(value: Any) -> tuple[tuple[str, str], ...]:
    """Variables for the script: a mapping, ``KEY=VALUE`` items, or one shell-quoted text."""
    if isinstance(value, Mapping):
        return tuple((str(k), _scalar_text(v, f"value of {k!r}")) for k, v in value.items())
    if isinstance(value, str):
        try:
            items: Sequence[Any] = shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"environment {value!r} is not shell-quoted KEY=VALUE words "
                             f"({exc})") from None
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise ValueError(f"environment {value!r} must be a mapping of names to values or "
                         "KEY=VALUE entries")
    pairs = []
    for item in items:
        if isinstance(item, list | tuple) and len(item) == 2:  # pairs from a resolved value
            pairs.append((str(item[0]), str(item[1])))
            continue
        key, sep, val = str(item).partition("=")
        if not isinstance(item, str) or not sep or not key:
            raise ValueError(f"environment entry {item!r} is not KEY=VALUE")
        pairs.append((key, val))
    return tuple(pairs)


def _scalar_text(value: Any, what: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError(f"{what} {value!r} must be a string or a number")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} must be a string")
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{value!r} must be a non-empty name")
    return value.strip()


def _path(value: Any) -> str:
    if not isinstance(value, str | os.PathLike) or not os.fspath(value).strip():
        raise ValueError(f"{value!r} must be a path")
    return os.fspath(value)


def _paths(value: Any) -> tuple[str, ...]:
    """Text is ``os.pathsep``-separated (as ``PATH``); a list holds one path per item."""
    if isinstance(value, str):
        return tuple(p for p in value.split(os.pathsep) if p)
    if isinstance(value, os.PathLike):
        return (os.fspath(value),)
    if isinstance(value, list | tuple) and all(isinstance(v, str | os.PathLike) for v in value):
        return tuple(os.fspath(v) for v in value if os.fspath(v))
    raise ValueError(f"{value!r} must be a path or a list of paths")


def _words(value: Any) -> tuple[str, ...]:
    """Text is space-separated; a list holds one word per item."""
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value if v.strip())
    raise ValueError(f"{value!r} must be a string or a list of strings")


def _server_address(value: Any) -> str:
    """``http(s)://127.0.0.1:PORT`` (or ``localhost``/``[::1]``), or ``ini``: the ``[Connection]
    url`` of the home skeleton's ``.pylinkahead.ini`` (the profile's, with ``--profile``)."""
    text = _text(value).strip()
    if text.lower() == "ini":
        return "ini"
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"server address {text!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise ValueError(f"server address {text!r} must look like https://127.0.0.1:10443 "
                         "(scheme, host and port), or be the word ini")
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"server address {text!r}: the stand-in listens on this machine only; "
                         "use 127.0.0.1, localhost or [::1] as the host")
    return text


def _host_names(value: Any) -> tuple[str, ...]:
    """Host names a local server also answers to (``--allowed-host``): words, as ``roles``;
    each a bare name or address (no scheme, path or port), or ``*`` for any name."""
    names = _words(value)
    for name in names:
        if name == "*":
            continue
        bare = name.removeprefix("[").removesuffix("]")
        with_port = name.count(":") == 1 or (name.startswith("[") and not name.endswith("]"))
        if not bare or with_port or any(c in bare for c in "/@?#"):
            raise ValueError(f"allowed host {name!r} must be a host name or address without "
                             "scheme, port or path (e.g. myhost.local, 192.0.2.7, [fe80::1]), "
                             "or * for any")
    return tuple(name.lower() for name in names)


def _container_path(value: Any) -> str:
    text = _text(value).strip()
    if not text.startswith("/") or text.rstrip("/") == "":
        raise ValueError(f"{value!r} must be an absolute path below / (e.g. "
                         "/opt/caosdb/mnt/extroot)")
    return text.rstrip("/")


def _int_in(low: int, high: int | None, hint: str) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"{value!r} is not a whole number ({hint})")
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number ({hint})") from None
        if number < low or (high is not None and number > high):
            raise ValueError(f"{number} is out of range ({hint})")
        return number

    return parse


def _one_of(choices: tuple[str, ...], what: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = value.strip().lower() if isinstance(value, str) else value
        if text not in choices:
            raise ValueError(f"{what} {value!r} is not one of {', '.join(choices)}")
        return str(text)

    return parse


@dataclass(frozen=True)
class SettingSpec:
    """One setting: how its value reads, and the names it has in each place it may be written.

    ``paths`` settings are taken relative to where they are written (see
    :class:`~sss_emulator.config.layers.Layer`) with ``~`` expanded; ``must_exist`` is checked
    for the value that wins (``"dir"`` or ``"path"``), naming it ``what``. ``merge`` settings
    add up across layers instead of the highest one replacing the rest.
    """

    parse: Callable[[Any], Any]
    env: str | None = None
    key: str | None = None
    option: str | None = None
    paths: bool = False
    must_exist: str | None = None
    what: str = ""
    merge: bool = False


def _spec(parse: Callable[[Any], Any], name: str, *, twins: bool = True,
          option: str | None = None, **more: Any) -> SettingSpec:
    return SettingSpec(parse, env=f"SSS_{name.upper()}" if twins else None,
                       key=name.replace("_", "-") if twins else None,
                       option=option or f"--{name.replace('_', '-')}", **more)


#: Every setting of every front end, by the name options and markers use for it.
SETTINGS: dict[str, SettingSpec] = {
    # where scripts and their files are
    "profile": _spec(_path, "profile", paths=True, must_exist="path", what="profile"),
    "bin_dirs": _spec(_paths, "bin_dirs", option="--bin-dir", paths=True, must_exist="dir",
                      what="bin dir"),
    "home": _spec(_path, "home", paths=True, must_exist="dir", what="home skeleton"),
    "shared_root": _spec(_path, "shared_root", paths=True),
    "work_root": _spec(_path, "work_root", paths=True),
    "users": _spec(_path, "users", paths=True, must_exist="path", what="users file"),
    "authtoken_config": _spec(_path, "authtoken_config", paths=True, must_exist="path",
                              what="AUTHTOKEN_CONFIG file"),
    "data": _spec(_paths, "data", paths=True),
    # how a run goes
    "timeout": _spec(parse_timeout, "timeout"),
    "env": _spec(parse_env_pairs, "env", merge=True),
    "format": _spec(_one_of(FORMATS, "format"), "format"),
    "keep": _spec(parse_bool, "keep"),
    "mode": _spec(_one_of(MODES, "mode"), "mode", twins=False),
    # who calls
    "user": _spec(_name, "user"),
    "roles": _spec(_words, "roles", option="--role"),
    "anonymous": _spec(parse_bool, "anonymous"),
    "auth_token": _spec(_text, "auth_token"),
    # what scripts call back
    "stand_in": _spec(parse_bool, "stand_in"),
    "server_url": _spec(_text, "server_url"),
    "username": _spec(_name, "username"),
    "cacert": _spec(_path, "cacert", paths=True),
    "server_address": _spec(_server_address, "server_address"),
    # the server's file mounts (docs/mounts.md)
    "mounts": _spec(parse_bool, "mounts"),
    "extroot": _spec(_path, "extroot", paths=True, must_exist="dir", what="extroot folder"),
    "extroot_path": _spec(_container_path, "extroot_path"),
    "caosroot_path": _spec(_container_path, "caosroot_path"),
    # watch mode
    "poll": _spec(parse_bool, "poll"),
    "debounce_ms": _spec(_int_in(1, None, "milliseconds, at least 1"), "debounce_ms"),
    # serve
    "host": _spec(_name, "host"),
    "port": _spec(_int_in(0, 65535, "a TCP port from 0 to 65535; 0 picks a free one"), "port"),
    "context_root": _spec(_text, "context_root"),
    "allowed_hosts": _spec(_host_names, "allowed_hosts", option="--allowed-host"),
    "db": _spec(_path, "db", paths=True),
    # developer tools
    "coverage": _spec(parse_bool, "coverage"),
    "debug_wait": _spec(_text, "debug_wait"),
}
