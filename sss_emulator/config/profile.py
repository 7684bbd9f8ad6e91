"""A LinkAhead profile directory, read as the server reads it (contract section 6)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sss_emulator.config.files import load_yaml
from sss_emulator.core.tokens import PurposeEntry, parse_purpose_entries
from sss_emulator.errors import ConfigError

__all__ = ("Profile", "load_authtoken_config", "load_profile")


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
    root: Path | None = None
    """The folder given as the profile (its compose files declare the server's mounts)."""


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
        root=(path if path.is_dir() else path.parent).absolute(),
    )


def load_authtoken_config(path: Path) -> tuple[PurposeEntry, ...]:
    """The purpose entries of an ``AUTHTOKEN_CONFIG`` file."""
    try:
        return parse_purpose_entries(load_yaml(path, "AUTHTOKEN_CONFIG"), str(path))
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
