"""Auth tokens in the server's JSON-array format, and the purpose tokens of ``authtoken.yaml``.

The format is taken from pylib's docstring (contract §5, V)::

    ["S", realm, user, roles, permissions, issued_ms, validity_ms, salt, checksum]
    ["O", realm, user, roles, permissions, issued_ms, validity_ms, salt, checksum,
     max_replays, replay_timeout_ms]

The checksum is an HMAC-SHA512 over all the other fields (``max_replays`` and
``replay_timeout_ms`` of a one-time token too) with a secret of this emulator instance, so that
the stand-in can tell its own tokens from forged or altered ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import threading
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
    #: The token's canonical id (its checksum): the same for every encoding of its JSON.
    key: str = ""
    #: For a one-time token that was just used: a session token of the same holder, which the
    #: server answers with ``Set-Cookie`` so that pylib goes on with a session (as the server
    #: exchanges a one-time token for a session).
    renewed_token: str | None = field(default=None, compare=False, repr=False)

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


#: ``json.dumps(value, separators=(",", ":"))`` without making an encoder per call.
_compact = json.JSONEncoder(separators=(",", ":")).encode

#: Tokens longer than this are not even parsed (a real one is a few hundred bytes).
MAX_TOKEN_CHARS = 64 * 1024
#: Revocations and use counts are forgotten once their token has expired; pruned past this many.
_PRUNE_AT = 10_000


@dataclass
class _Uses:
    first_ms: int
    count: int
    expires_ms: int


@dataclass
class TokenAuthority:
    """Issues tokens and recognises its own; one per emulator or server instance.

    The secret is random per instance, so a token of one server is worthless to any other
    (browsers send every local server's ``SessionToken`` cookie to all of them: cookies ignore
    ports). Every field of a token is covered by its HMAC, the replay limits of one-time tokens
    too. Revocation (logout) and replay counting go by the checksum, which is the same for
    every JSON encoding of one token; revoking a token also revokes the tokens issued on its
    behalf (``parent=``), i.e. those handed to the scripts its holder started. A session token
    lives :data:`~sss_emulator.decisions.SESSION_VALIDITY_MS` (the server's session timeout);
    :meth:`accept` renews it with each request, as the server does, and revoking any token of
    such a chain of renewals revokes the chain from its first token on.
    """

    secret: bytes = field(default_factory=lambda: os.urandom(32))
    clock_ms: Any = field(default=lambda: int(time.time() * 1000), repr=False)
    _revoked: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _children: dict[str, list[tuple[str, int]]] = field(default_factory=dict, init=False,
                                                          repr=False)
    _uses: dict[str, _Uses] = field(default_factory=dict, init=False, repr=False)
    #: A renewed session token's checksum -> (the checksum of the token it renews, expiry).
    _renewals: dict[str, tuple[str, int]] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    #: The secret and an HMAC keyed with it, copied per checksum.
    _keyed: tuple[bytes, hmac.HMAC] | None = field(default=None, init=False, repr=False,
                                                    compare=False)

    def _checksum(self, fields: Sequence[Any]) -> str:
        payload = _compact(list(fields)).encode()
        keyed = self._keyed
        if keyed is None or keyed[0] is not self.secret:  # the HMAC's key set up once
            keyed = self._keyed = (self.secret, hmac.new(self.secret, None, hashlib.sha512))
        mac = keyed[1].copy()
        mac.update(payload)
        return mac.hexdigest()

    def _salt(self) -> str:
        raw = os.urandom(13).hex().upper()
        return "-".join(raw[i : i + 8] for i in range(0, 26, 8))

    def session_token(self, identity: Identity, permissions: Sequence[str] = (),
                      parent: str | None = None) -> str:
        """A session token of ``identity``, as the server passes to scripts by default.

        With ``parent`` (a token this authority accepts), logging ``parent`` out also
        revokes the new token: a script's token dies with its caller's session.
        """
        parent_info = None if parent is None else self.decode(parent)
        return self._session(identity, permissions, parent_info, renews=False)

    def renew(self, token: str) -> str | None:
        """A fresh session token of ``token``'s holder (same identity, roles, permissions),
        valid for a full session from now; None unless ``token`` is a session token this
        authority accepts. Revoking either revokes both."""
        info = self.decode(token)
        if info is None or info.kind != "S":
            return None
        return self._session(info.identity, info.permissions, info, renews=True)

    def _session(self, identity: Identity, permissions: Sequence[str],
                 parent: TokenInfo | None, *, renews: bool) -> str:
        now = self.clock_ms()
        head = ["S", identity.realm, identity.name, list(identity.roles), list(permissions),
                now, decisions.SESSION_VALIDITY_MS, self._salt()]
        checksum = self._checksum(head)
        if parent is not None:
            expires = now + decisions.SESSION_VALIDITY_MS
            self._link(parent.key, checksum, expires)
            if renews:
                with self._lock:
                    self._renewals[checksum] = (parent.key, expires)
        return _compact([*head, checksum])

    def one_time_token(self, entry: PurposeEntry) -> str:
        """The one-time token a purpose entry of ``authtoken.yaml`` grants a script."""
        head = ["O", decisions.ONE_TIME_REALM, entry.username, list(entry.roles),
                list(entry.permissions), self.clock_ms(), entry.expires_after_ms, self._salt()]
        tail = [entry.max_replays, entry.replay_timeout_ms]
        return _compact([*head, self._checksum([*head, *tail]), *tail])

    def decode(self, token: str) -> TokenInfo | None:
        """``token`` decoded if this authority issued it, untampered, unexpired and not
        revoked; else ``None``. Does not count as a use of a one-time token."""
        decoded = self._decode(token)
        return None if decoded is None else decoded[0]

    def verify(self, token: str) -> TokenInfo | None:
        """Accept ``token`` for one request: :meth:`decode`, and for a one-time token count
        the use, refuse it past ``max_replays`` uses or ``replay_timeout_ms`` after its first
        use, and hand out a session token in ``renewed_token``."""
        decoded = self._decode(token)
        if decoded is None:
            return None
        info, replays = decoded
        if info.kind == "S" or replays is None:
            return info
        max_replays, replay_timeout_ms = replays
        now = self.clock_ms()
        with self._lock:
            uses = self._uses.get(info.key)
            if uses is None:
                self._prune(now)
                uses = self._uses[info.key] = _Uses(now, 0, info.issued_ms + info.validity_ms)
            if uses.count >= max_replays or (
                uses.count > 0 and now > uses.first_ms + replay_timeout_ms
            ):
                return None
            uses.count += 1
        renewed = self.session_token(info.identity, info.permissions, parent=token)
        return dataclasses.replace(info, renewed_token=renewed)

    def accept(self, token: str) -> TokenInfo | None:
        """:meth:`verify` for one request to the server: the answer to a request made with a
        session token carries a renewed one in ``renewed_token`` (the server's ``Set-Cookie``,
        :data:`~sss_emulator.decisions.SESSION_RENEWED_PER_REQUEST`)."""
        info = self.verify(token)
        if info is None or info.kind != "S" or not decisions.SESSION_RENEWED_PER_REQUEST:
            return info
        return dataclasses.replace(info, renewed_token=self.renew(token))

    def revoke(self, token: str) -> bool:
        """Refuse ``token`` (any encoding of it) and the tokens issued on its behalf from now
        on, and with a renewed token the session it renews back to its first token; ``False``
        when it is no token this authority accepts."""
        info = self.decode(token)
        if info is None:
            return False
        now = self.clock_ms()
        with self._lock:
            self._prune(now)
            first, expires = info.key, info.issued_ms + info.validity_ms
            while first in self._renewals:  # a renewal: the whole session goes
                first = self._renewals[first][0]
                expires = max(expires, now + decisions.SESSION_VALIDITY_MS)
            pending = [(first, expires)]
            while pending:
                key, expires = pending.pop()
                self._revoked[key] = expires
                pending.extend(self._children.pop(key, ()))
        return True

    def _link(self, parent_key: str, child_key: str, expires_ms: int) -> None:
        with self._lock:
            self._prune(self.clock_ms())
            self._children.setdefault(parent_key, []).append((child_key, expires_ms))

    def _prune(self, now: int) -> None:
        """Forget what concerns expired tokens (called with the lock held)."""
        if len(self._revoked) > _PRUNE_AT:
            self._revoked = {k: e for k, e in self._revoked.items() if e >= now}
        if len(self._uses) > _PRUNE_AT:
            self._uses = {k: u for k, u in self._uses.items() if u.expires_ms >= now}
        if len(self._renewals) > _PRUNE_AT:
            self._renewals = {k: r for k, r in self._renewals.items() if r[1] >= now}
        if len(self._children) > _PRUNE_AT:
            self._children = {k: kept for k, v in self._children.items()
                              if (kept := [c for c in v if c[1] >= now])}

    def _decode(self, token: str) -> tuple[TokenInfo, tuple[int, int] | None] | None:
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
            return None
        try:
            fields = json.loads(token)
        except (ValueError, TypeError, RecursionError):
            return None
        if not isinstance(fields, list) or not fields or fields[0] not in ("S", "O"):
            return None
        if len(fields) != (9 if fields[0] == "S" else 11) or not _well_typed(fields):
            return None
        head, checksum, tail = fields[:8], fields[8], fields[9:]
        if not hmac.compare_digest(checksum, self._checksum([*head, *tail])):
            return None
        info = TokenInfo(
            kind=head[0],
            identity=Identity(head[2], head[1], tuple(head[3])),
            permissions=tuple(head[4]),
            issued_ms=head[5],
            validity_ms=head[6],
            key=checksum,
        )
        if info.expired(self.clock_ms()):
            return None
        with self._lock:
            if checksum in self._revoked:
                return None
        return info, (tail[0], tail[1]) if tail else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _well_typed(fields: list[Any]) -> bool:
    """Every field has the type the format gives it (so no other JSON decodes alike)."""
    _kind, realm, user, roles, permissions, issued, validity, salt, checksum, *tail = fields
    return (isinstance(realm, str) and isinstance(user, str) and _is_strings(roles)
            and _is_strings(permissions) and _is_int(issued) and _is_int(validity)
            and isinstance(salt, str) and isinstance(checksum, str)
            and all(_is_int(v) for v in tail))
