"""Auth tokens in the server's JSON-array format, and the purpose tokens of ``authtoken.yaml``.

The format is taken from pylib's docstring (contract §5, V)::

    ["S", realm, user, roles, permissions, issued_ms, validity_ms, salt, checksum]
    ["O", realm, user, roles, permissions, issued_ms, validity_ms, salt, checksum,
     max_replays, replay_timeout_ms]

The checksum is an HMAC-SHA512 over the other fields with a secret of this emulator instance, so
that the stand-in can tell its own tokens from forged ones.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sss_emulator import decisions

__all__ = (
    "ANONYMOUS",
    "Identity",
    "PurposeEntry",
    "TokenAuthority",
    "TokenInfo",
    "find_purpose",
    "parse_purpose_entries",
)


@dataclass(frozen=True)
class Identity:
    """A caller: who runs a script, or who a token speaks for."""

    name: str
    realm: str = decisions.DEFAULT_REALM
    roles: tuple[str, ...] = ()

    @property
    def is_anonymous(self) -> bool:
        return self.name == decisions.ANONYMOUS_USER and self.realm == decisions.ANONYMOUS_REALM


ANONYMOUS = Identity(decisions.ANONYMOUS_USER, decisions.ANONYMOUS_REALM, ("anonymous",))


@dataclass(frozen=True)
class PurposeEntry:
    """One entry of ``AUTHTOKEN_CONFIG`` whose ``purpose`` names a script call."""

    purpose: str
    roles: tuple[str, ...]
    username: str = decisions.PURPOSE_TOKEN_DEFAULT_USER
    permissions: tuple[str, ...] = ()
    expires_after_ms: int = decisions.ONE_TIME_VALIDITY_MS
    max_replays: int = decisions.ONE_TIME_MAX_REPLAYS
    replay_timeout_ms: int = decisions.ONE_TIME_REPLAY_TIMEOUT_MS


def parse_purpose_entries(data: Any, source: str) -> tuple[PurposeEntry, ...]:
    """Read the list of an ``authtoken.yaml``; a ``ValueError`` names ``source`` if malformed."""
    if data is None:
        return ()
    if not isinstance(data, list):
        raise ValueError(f"{source}: expected a YAML list of entries with 'purpose' and 'roles'")
    entries = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise ValueError(f"{source}: entry {index + 1} is not a mapping")
        if "purpose" not in item:
            continue  # entries without purpose configure other tokens, not scripts
        roles = item.get("roles") or []
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise ValueError(f"{source}: entry {index + 1} 'roles' must be a list of role names")
        permissions = item.get("permissions") or []
        entries.append(
            PurposeEntry(
                purpose=str(item["purpose"]),
                roles=tuple(roles),
                username=str(item.get("username") or decisions.PURPOSE_TOKEN_DEFAULT_USER),
                permissions=tuple(str(p) for p in permissions),
                expires_after_ms=int(item.get("expiresAfter", decisions.ONE_TIME_VALIDITY_MS)),
                max_replays=int(item.get("maxReplays", decisions.ONE_TIME_MAX_REPLAYS)),
                replay_timeout_ms=int(
                    item.get("replayTimeout", decisions.ONE_TIME_REPLAY_TIMEOUT_MS)
                ),
            )
        )
    return tuple(entries)


def find_purpose(entries: Sequence[PurposeEntry], call: str) -> PurposeEntry | None:
    """The entry for ``SCRIPTING:EXECUTE:<call>`` (raw call path, slashes kept, exact match)."""
    wanted = f"SCRIPTING:EXECUTE:{call}"
    return next((e for e in entries if e.purpose == wanted), None)


@dataclass(frozen=True)
class TokenInfo:
    """A decoded token: what the stand-in needs to answer ``Info`` and check access."""

    kind: Literal["S", "O"]
    identity: Identity
    permissions: tuple[str, ...]
    issued_ms: int
    validity_ms: int

    @property
    def name(self) -> str:
        return self.identity.name

    @property
    def realm(self) -> str:
        return self.identity.realm

    @property
    def roles(self) -> tuple[str, ...]:
        return self.identity.roles

    def expired(self, now_ms: int | None = None) -> bool:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return now > self.issued_ms + self.validity_ms


@dataclass
class TokenAuthority:
    """Issues tokens and recognises its own; one per emulator or server instance."""

    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    clock_ms: Any = field(default=lambda: int(time.time() * 1000), repr=False)

    def _checksum(self, fields: Sequence[Any]) -> str:
        payload = json.dumps(list(fields), separators=(",", ":")).encode()
        return hmac.new(self.secret, payload, hashlib.sha512).hexdigest()

    def _salt(self) -> str:
        raw = secrets.token_hex(13).upper()
        return "-".join(raw[i : i + 8] for i in range(0, 26, 8))

    def session_token(self, identity: Identity, permissions: Sequence[str] = ()) -> str:
        """A session token of ``identity``, as the server passes to scripts by default."""
        head = ["S", identity.realm, identity.name, list(identity.roles), list(permissions),
                self.clock_ms(), decisions.SESSION_VALIDITY_MS, self._salt()]
        return json.dumps([*head, self._checksum(head)], separators=(",", ":"))

    def one_time_token(self, entry: PurposeEntry) -> str:
        """The one-time token a purpose entry of ``authtoken.yaml`` grants a script."""
        head = ["O", decisions.ONE_TIME_REALM, entry.username, list(entry.roles),
                list(entry.permissions), self.clock_ms(), entry.expires_after_ms, self._salt()]
        tail = [entry.max_replays, entry.replay_timeout_ms]
        return json.dumps([*head, self._checksum(head), *tail], separators=(",", ":"))

    def verify(self, token: str) -> TokenInfo | None:
        """Decode ``token`` if this authority issued it and it has not expired; else ``None``."""
        try:
            fields = json.loads(token)
        except (ValueError, TypeError):
            return None
        if not isinstance(fields, list) or len(fields) < 9 or fields[0] not in ("S", "O"):
            return None
        head, checksum = fields[:8], fields[8]
        if not isinstance(checksum, str) or not hmac.compare_digest(
            checksum, self._checksum(head)
        ):
            return None
        try:
            info = TokenInfo(
                kind=head[0],
                identity=Identity(str(head[2]), str(head[1]), tuple(map(str, head[3]))),
                permissions=tuple(map(str, head[4])),
                issued_ms=int(head[5]),
                validity_ms=int(head[6]),
            )
        except (TypeError, ValueError):
            return None
        return None if info.expired(self.clock_ms()) else info

