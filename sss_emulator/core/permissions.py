"""Who may run which script: the permission string and Shiro-style wildcard matching.

The server checks ``SCRIPTING:EXECUTE:<call with / as :>`` (documented); the matching rules
below follow Apache Shiro's ``WildcardPermission`` (the server uses Shiro; the exact rules are a
**U** behaviour, so they live in this one module).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sss_emulator import decisions

__all__ = ("UserEntry", "UsersConfig", "implies", "is_allowed", "permission_for")


def permission_for(call: str) -> str:
    """``administration/diagnostics.py`` → ``SCRIPTING:EXECUTE:administration:diagnostics.py``."""
    return "SCRIPTING:EXECUTE:" + call.strip("/").replace("/", ":")


def _parts(permission: str) -> list[set[str]]:
    return [
        {token.strip() for token in part.split(",")}
        for part in permission.strip().split(":")
    ]


def implies(grant: str, permission: str) -> bool:
    """True when ``grant`` covers ``permission``.

    Parts are split on ``:``; ``*`` matches one whole part; a part may list alternatives with
    ``,``; a shorter grant implies every longer permission (``SCRIPTING:EXECUTE`` allows all
    scripts). Case matters for script names, as file names are case-sensitive.

    >>> implies("SCRIPTING:EXECUTE:*", "SCRIPTING:EXECUTE:a.py")
    True
    >>> implies("SCRIPTING:EXECUTE:my_scripts:*", "SCRIPTING:EXECUTE:other:a.py")
    False
    """
    grant_parts = _parts(grant.replace("/", ":"))
    wanted = _parts(permission)
    for index, granted in enumerate(grant_parts):
        if index >= len(wanted):
            # Shiro: extra grant parts must all be wildcards.
            if "*" not in granted:
                return False
            continue
        if "*" not in granted and not wanted[index] <= granted:
            return False
    return True


def is_allowed(
    roles: Sequence[str],
    permission: str,
    role_permissions: Mapping[str, Iterable[str]],
) -> bool:
    """True when any of ``roles`` grants ``permission``; ``administration`` may do everything."""
    if decisions.DEFAULT_ADMIN_ROLE in roles:
        return True
    return any(
        implies(grant, permission)
        for role in roles
        for grant in role_permissions.get(role, ())
    )


@dataclass(frozen=True)
class UserEntry:
    """A user of the users file."""

    name: str
    password: str | None
    roles: tuple[str, ...]
    realm: str = "PAM"
    email: str | None = None
    """What ``GET User/<realm>/<name>`` answers (scripts look it up to mail the caller)."""


@dataclass(frozen=True)
class UsersConfig:
    """Users, passwords, roles and role permissions (``--users FILE``)."""

    users: Mapping[str, UserEntry] = field(default_factory=dict)
    role_permissions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
