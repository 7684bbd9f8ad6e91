"""Who a call runs as: the one meaning of ``--user``/``--role``/``--anonymous``, of
``@pytest.mark.sss(user=..., roles=..., anonymous=...)`` and of a call file's ``user:``."""

from __future__ import annotations

from collections.abc import Sequence

from sss_emulator.core.permissions import UsersConfig
from sss_emulator.core.tokens import ANONYMOUS, Identity
from sss_emulator.decisions import DEFAULT_ADMIN_ROLE, DEFAULT_REALM, DEFAULT_USER

__all__ = ("identity_for",)


def identity_for(
    users: UsersConfig,
    user: str | None = None,
    roles: Sequence[str] = (),
    *,
    anonymous: bool = False,
) -> Identity:
    """The caller a run is made as.

    No user (or ``admin`` when the users file does not list it) is the default admin with the
    role ``administration`` unless ``roles`` are given. A named user has the realm and roles of
    their entry in the users file; ``roles`` replace the entry's roles; a user the file does not
    list has no roles but ``roles``, as an unknown account would on the server. ``anonymous``
    wins over everything else.
    """
    if anonymous:
        return ANONYMOUS
    roles = tuple(roles)
    entry = users.users.get(user) if user else None
    if not user or (entry is None and user == DEFAULT_USER):
        return Identity(DEFAULT_USER, DEFAULT_REALM, roles or (DEFAULT_ADMIN_ROLE,))
    if entry is None:
        return Identity(user, DEFAULT_REALM, roles)
    return Identity(user, entry.realm, roles or entry.roles)
