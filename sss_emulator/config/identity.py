"""Who a call runs as: the one meaning of ``--user``/``--role``/``--anonymous``, of
``@pytest.mark.sss(user=..., roles=..., anonymous=...)`` and of a call file's ``user:``."""

from __future__ import annotations

from collections.abc import Sequence

from sss_emulator.core.permissions import UsersConfig
from sss_emulator.core.tokens import ANONYMOUS, Identity
from sss_emulator.decisions import DEFAULT_ADMIN_ROLE, DEFAULT_REALM, DEFAULT_USER
from sss_emulator.errors import ConfigError

__all__ = ("identity_for",)


def identity_for(
    users: UsersConfig,
    user: str | None = None,
    roles: Sequence[str] = (),
    *,
    anonymous: bool = False,
    roles_option: str = "--role",
) -> Identity:
    """The caller a run is made as.

    No user (or ``admin`` when the users file does not list it) is the default admin with the
    role ``administration`` unless ``roles`` are given. A named user has the realm and roles of
    their entry in the users file; ``roles`` replace the entry's roles; a user the file does not
    list has no roles but ``roles``, as an unknown account would on the server. ``anonymous``
    wins over everything else.

    A user the users file does not list, given without ``roles``, is most likely a typo
    (``--user alce``): that raises :class:`ConfigError` naming the users the file knows
    (``roles_option`` is how the front end spells ``roles`` in the hint).
    """
    if anonymous:
        return ANONYMOUS
    roles = tuple(roles)
    entry = users.users.get(user) if user else None
    if not user or (entry is None and user == DEFAULT_USER):
        return Identity(DEFAULT_USER, DEFAULT_REALM, roles or (DEFAULT_ADMIN_ROLE,))
    if entry is None:
        if users.users and not roles:
            raise ConfigError(_unknown_user(user, sorted(users.users), roles_option))
        return Identity(user, DEFAULT_REALM, roles)
    return Identity(user, entry.realm, roles or entry.roles)


def _unknown_user(user: str, known: list[str], roles_option: str) -> str:
    import difflib  # only for a name that is not known

    close = difflib.get_close_matches(user, known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (f"unknown user {user!r}{hint}: the users file lists {', '.join(known)}; use one of "
            f"them, or give {roles_option} to run as a user it does not list")
