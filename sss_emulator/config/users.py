"""The users file: who may log in, with which roles, and what each role may run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sss_emulator.config.files import load_yaml
from sss_emulator.core.permissions import UserEntry, UsersConfig
from sss_emulator.errors import ConfigError

__all__ = ("UserEntry", "UsersConfig", "load_users")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    return tuple(value)


def load_users(path: Path) -> UsersConfig:
    """Read a users file::

        users:
          alice: {password: secret, roles: [team], email: alice@example.com}
        roles:
          team: [SCRIPTING:EXECUTE:handle_csv.py]
    """
    data = load_yaml(path, "users file") or {}
    if not isinstance(data, dict) or set(data) - {"users", "roles"}:
        raise ConfigError(f"{path}: a users file is a mapping with the keys 'users' and 'roles'")
    users: dict[str, UserEntry] = {}
    for name, entry in (data.get("users") or {}).items():
        entry = entry or {}
        if not isinstance(entry, dict):
            raise ConfigError(
                f"{path}: user {name!r} must be a mapping (password, roles, realm, email)"
            )
        users[str(name)] = UserEntry(
            name=str(name),
            password=None if entry.get("password") is None else str(entry["password"]),
            roles=_strings(entry.get("roles"), f"{path}: roles of user {name!r}"),
            realm=str(entry.get("realm", "PAM")),
            email=None if entry.get("email") is None else str(entry["email"]),
        )
    roles: dict[str, tuple[str, ...]] = {}
    for role, grants in (data.get("roles") or {}).items():
        if isinstance(grants, dict):
            grants = grants.get("permissions")
        roles[str(role)] = _strings(grants, f"{path}: permissions of role {role!r}")
    return UsersConfig(users=users, role_permissions=roles)
