"""Helpers shared by the backend tests; a plain module, so imports never pick another conftest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sss_emulator.backend import CallRecorder, EntityStore

BACKEND_TOKEN = '["S","PAM","alice",["data-manager"],[],1700000000000,3600000,"SALT","0123abcd"]'
#: Tokens of the other callers the permission tests act as (each accepted by
#: :func:`backend_authenticate`): the administrator and a second normal user.
ADMIN_TOKEN = '["S","PAM","admin",["administration"],[],1700000000000,3600000,"SALT","a"]'
BOB_TOKEN = '["S","PAM","bob",["guest"],[],1700000000000,3600000,"SALT","b"]'
DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class BackendPrincipal:
    """Satisfies the backend's Principal protocol, as the core's token type will."""

    name: str = "alice"
    realm: str = "PAM"
    roles: tuple[str, ...] = field(default=("data-manager",))


_PRINCIPALS = {
    BACKEND_TOKEN: BackendPrincipal(),
    ADMIN_TOKEN: BackendPrincipal("admin", "PAM", ("administration",)),
    BOB_TOKEN: BackendPrincipal("bob", "PAM", ("guest",)),
}


def backend_authenticate(token: str) -> BackendPrincipal | None:
    """Accept exactly the tokens this test session issued."""
    return _PRINCIPALS.get(token)


def act_as(url: str, token: str | None) -> None:
    """Point pylib in this process at the stand-in as another caller (None: anonymous)."""
    import linkahead

    if token is None:
        linkahead.configure_connection(url=url, password_method="unauthenticated", timeout=10)
    else:
        linkahead.configure_connection(url=url, auth_token=token,
                                       password_method="auth_token", timeout=10)


@dataclass
class BackendRun:
    """A running stand-in: the store behind it, the recorder, its URL and the accepted token."""

    store: EntityStore
    recorder: CallRecorder
    url: str
    token: str = BACKEND_TOKEN
