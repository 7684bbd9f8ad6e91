"""The users file: who may log in, with which roles, and what each role may run."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sss_emulator.config.files import load_yaml
from sss_emulator.core.permissions import UserEntry, UsersConfig
from sss_emulator.errors import ConfigError
from sss_emulator.shiro import Rule

__all__ = ("UserEntry", "UsersConfig", "load_users")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    return tuple(value)


#: The keys each level of a users file may have; anything else is refused (a typo such as
#: ``role:`` would otherwise silently leave a user without roles).
FILE_KEYS = ("users", "roles")
USER_KEYS = ("password", "roles", "realm", "email")
ROLE_KEYS = ("permissions", "deny")


def _check_keys(found: Iterable[Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = [str(key) for key in found if key not in allowed]
    if not unknown:
        return
    key = unknown[0]
    import difflib  # only for a name that is not known

    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"{where}: unknown key {key!r}{hint}; the keys are "
                      f"{', '.join(allowed)}")


def load_users(path: Path) -> UsersConfig:
    """Read a users file::

        users:
          alice: {password: secret, roles: [team], email: alice@example.com}
        roles:
          team: [SCRIPTING:EXECUTE:handle_csv.py]
          guest: {permissions: ["SCRIPTING:EXECUTE:*"], deny: [TRANSACTION:DELETE]}

    A role's list (or its ``permissions``) are grants; ``deny`` are denies, both without
    priority (the server's ``PermissionRules`` of that role).
    """
    data = load_yaml(path, "users file") or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a users file is a mapping with the keys 'users' and 'roles'")
    _check_keys(data, FILE_KEYS, str(path))
    for section in FILE_KEYS:
        if not isinstance(data.get(section) or {}, dict):
            raise ConfigError(f"{path}: {section!r} must be a mapping of names, e.g. "
                              f"{'alice: {roles: [team]}' if section == 'users' else 'team: []'}")
    users: dict[str, UserEntry] = {}
    for name, entry in (data.get("users") or {}).items():
        entry = entry or {}
        if not isinstance(entry, dict):
            raise ConfigError(
                f"{path}: user {name!r} must be a mapping (password, roles, realm, email)"
            )
        _check_keys(entry, USER_KEYS, f"{path}: user {name!r}")
        users[str(name)] = UserEntry(
            name=str(name),
            password=None if entry.get("password") is None else str(entry["password"]),
            roles=_strings(entry.get("roles"), f"{path}: roles of user {name!r}"),
            realm=str(entry.get("realm", "PAM")),
            email=None if entry.get("email") is None else str(entry["email"]),
        )
    roles: dict[str, tuple[str | Rule, ...]] = {}
    for role, grants in (data.get("roles") or {}).items():
        denies: tuple[str, ...] = ()
        if isinstance(grants, dict):
            _check_keys(grants, ROLE_KEYS, f"{path}: role {role!r}")
            denies = _strings(grants.get("deny"), f"{path}: deny of role {role!r}")
            grants = grants.get("permissions")
        roles[str(role)] = (*_strings(grants, f"{path}: permissions of role {role!r}"),
                            *(Rule("Deny", permission) for permission in denies))
    return UsersConfig(users=users, role_permissions=roles)
