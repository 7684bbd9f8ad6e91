"""Helpers shared by the backend tests; a plain module, so imports never pick another conftest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sss_emulator.backend import CallRecorder, EntityStore

BACKEND_TOKEN = '["S","PAM","alice",["data-manager"],[],1700000000000,3600000,"SALT","0123abcd"]'
DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class BackendPrincipal:
    """Satisfies the backend's Principal protocol, as the core's token type will."""

    name: str = "alice"
    realm: str = "PAM"
    roles: tuple[str, ...] = field(default=("data-manager",))


def backend_authenticate(token: str) -> BackendPrincipal | None:
    """Accept exactly the one token this test session issued."""
    return BackendPrincipal() if token == BACKEND_TOKEN else None


@dataclass
class BackendRun:
    """A running stand-in: the store behind it, the recorder, its URL and the accepted token."""

    store: EntityStore
    recorder: CallRecorder
    url: str
    token: str = BACKEND_TOKEN
