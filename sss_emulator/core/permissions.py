"""Who may run which script: the permission string, and the users and roles it is read from.

The server checks ``SCRIPTING:EXECUTE:<call with / as :>`` (documented); the matching and the
priority order of rules are Shiro's and the server's, written once in :mod:`sss_emulator.shiro`
(the stand-in's entity and administration checks read the same).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sss_emulator import decisions
from sss_emulator.shiro import Rule, decide, implies

__all__ = ("UserEntry", "UsersConfig", "denied_by", "implies", "is_allowed", "permission_for")


def permission_for(call: str) -> str:
    """``administration/diagnostics.py`` → ``SCRIPTING:EXECUTE:administration:diagnostics.py``."""
    return "SCRIPTING:EXECUTE:" + call.strip("/").replace("/", ":")


def is_allowed(
    roles: Sequence[str],
    permission: str,
    role_permissions: Mapping[str, Iterable[str | Rule]],
) -> bool:
    """True when the rules of ``roles`` allow ``permission`` (a plain string is a grant; a
    :class:`~sss_emulator.shiro.Rule` may deny, with priority); ``administration`` may do
    everything."""
    if decisions.DEFAULT_ADMIN_ROLE in roles:
        return True
    return decide(
        (rule if isinstance(rule, Rule) else Rule.grant(rule)
         for role in roles for rule in role_permissions.get(role, ())),
        permission,
    )


def denied_by(
    roles: Sequence[str],
    permission: str,
    role_permissions: Mapping[str, Iterable[str | Rule]],
) -> list[tuple[str, Rule]]:
    """The roles whose deny rules match ``permission``: what a refusal must name, since granting
    the permission again changes nothing against a deny (only a priority grant overrides it)."""
    return [(role, rule) for role in roles for rule in role_permissions.get(role, ())
            if isinstance(rule, Rule) and rule.kind == "Deny"
            and implies(rule.permission, permission)]


@dataclass(frozen=True)
class UserEntry:
    """A user of the users file."""

    name: str
    password: str | None
    roles: tuple[str, ...]
    realm: str = "PAM"
    email: str | None = None
    """What ``GET User/<realm>/<name>`` answers (scripts look it up to mail the caller)."""
    password_hash: str | None = None
    """A password set through the administration API, kept only as a salted hash
    (:mod:`sss_emulator.passwords`); checked when set, instead of :attr:`password`."""


@dataclass(frozen=True)
class UsersConfig:
    """Users, passwords, roles and role permissions (``--users FILE``)."""

    users: Mapping[str, UserEntry] = field(default_factory=dict)
    role_permissions: Mapping[str, tuple[str | Rule, ...]] = field(default_factory=dict)
