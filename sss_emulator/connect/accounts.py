"""One model of users, roles and permissions: the users file is the stand-in's starting state,
and everyone who asks "may this caller …?" reads that state.

The stand-in's :class:`~sss_emulator.backend.access.AccessControl` is the state (the
administration API changes it; ``--db`` keeps it). The core's scripting check, ``serve``'s
logins and its page read users and role permissions through a
:class:`~sss_emulator.core.permissions.UsersConfig`; :func:`live_users` gives them one whose
mappings read the state at each lookup, so a role granted ``SCRIPTING:EXECUTE:a.py`` through
``linkahead_admin.py`` may run ``a.py`` at once, and a user created through the API can log in.
Until the state exists (a run whose stand-in has not started), the users file answers, which is
what the state starts from. The users file itself is never written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from sss_emulator.core.permissions import UserEntry, UsersConfig

if TYPE_CHECKING:
    from sss_emulator.backend.access import AccessControl
    from sss_emulator.shiro import Rule

__all__ = ("access_control", "live_users")

Source = Callable[[], "AccessControl | None"]


def access_control(users: UsersConfig, *, sqlite_path: Path | None = None) -> AccessControl:
    """The stand-in's state as the users file starts it (and ``sqlite_path`` keeps it)."""
    from sss_emulator.backend.access import AccessControl
    from sss_emulator.backend.model import UserRecord

    records = [UserRecord(u.name, u.realm, u.email, u.roles, password=u.password)
               for u in users.users.values()]
    return AccessControl(records, users.role_permissions, sqlite_path=sqlite_path)


def live_users(source: Source, fallback: UsersConfig) -> UsersConfig:
    """A users config that reads the state ``source`` returns, or ``fallback`` while it is
    None."""
    return UsersConfig(users=_Users(source, fallback.users),
                       role_permissions=_Roles(source, fallback.role_permissions))


class _Users(Mapping[str, UserEntry]):
    """``name → UserEntry`` of the active users (an inactive user may not log in)."""

    def __init__(self, source: Source, fallback: Mapping[str, UserEntry]) -> None:
        self._source = source
        self._fallback = fallback

    def _entries(self) -> Mapping[str, UserEntry]:
        access = self._source()
        if access is None:
            return self._fallback
        return {u.name: UserEntry(u.name, u.password, u.roles, u.realm, u.email,
                                  u.password_hash)
                for u in access.users() if u.status == "ACTIVE"}

    def __getitem__(self, name: str) -> UserEntry:
        return self._entries()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries())

    def __len__(self) -> int:
        return len(self._entries())


class _Roles(Mapping[str, "tuple[str | Rule, ...]"]):
    """``role → rules`` as the state has them now."""

    def __init__(self, source: Source, fallback: Mapping[str, tuple[str | Rule, ...]]) -> None:
        self._source = source
        self._fallback = fallback

    def _rules(self) -> Mapping[str, tuple[str | Rule, ...]]:
        access = self._source()
        return self._fallback if access is None else access.role_permissions()

    def __getitem__(self, role: str) -> tuple[str | Rule, ...]:
        return tuple(self._rules()[role])

    def __iter__(self) -> Iterator[str]:
        return iter(self._rules())

    def __len__(self) -> int:
        return len(self._rules())
