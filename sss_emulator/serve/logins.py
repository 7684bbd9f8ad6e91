"""Who is calling the local server: users and passwords, login sessions, and cookies.

A login session *is* a session token of the emulator's
:class:`~sss_emulator.core.tokens.TokenAuthority`, the same kind the server hands a script as
``--auth-token``. So one check (``verify`` plus the logout list) accepts a browser's cookie,
pylib's login and a script calling back with its token, and refuses forged, expired and
logged-out tokens alike.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from sss_emulator import decisions
from sss_emulator.config import UserEntry, UsersConfig
from sss_emulator.core.tokens import ANONYMOUS, Identity, TokenAuthority, TokenInfo
from sss_emulator.passwords import check_password
from sss_emulator.wire import COOKIE_NAME, session_cookie_header, token_from_cookie_header

__all__ = (
    "ADMIN_PASSWORD_ENV",
    "COOKIE_NAME",
    "Sessions",
    "default_users",
    "session_cookie_header",
    "token_from_cookie_header",
)

logger = logging.getLogger("sss_emulator.serve.logins")

#: The environment variable that sets the default ``admin`` password (never passed to scripts:
#: ``core.environment`` scrubs every ``SSS_*``).
ADMIN_PASSWORD_ENV = "SSS_ADMIN_PASSWORD"

def default_users(
    users: UsersConfig, environ: Mapping[str, str] | None = None
) -> tuple[UsersConfig, str | None]:
    """``users`` unchanged when it names anyone; else one ``admin`` with a known password.

    Returns the users and the generated password (``None`` when it came from the environment or
    a file), so the server can print a password nobody could otherwise know.
    """
    if users.users:
        return users, None
    environ = os.environ if environ is None else environ
    given = environ.get(ADMIN_PASSWORD_ENV) or None
    password = given or secrets.token_urlsafe(12)
    admin = UserEntry(name=decisions.DEFAULT_USER, password=password,
                      roles=(decisions.DEFAULT_ADMIN_ROLE,), realm=decisions.DEFAULT_REALM)
    config = UsersConfig(users={admin.name: admin}, role_permissions=users.role_permissions)
    return config, None if given else password


@dataclass(frozen=True)
class _LoginResult:
    identity: Identity
    token: str


class Sessions:
    """Logs users in and out and tells who a token belongs to; thread-safe."""

    def __init__(self, users: UsersConfig, authority: TokenAuthority) -> None:
        self.users = users
        self.authority = authority

    def login(self, username: str, password: str) -> _LoginResult | None:
        """A new session for correct credentials; ``None`` otherwise (the caller answers 401)."""
        entry = self.users.users.get(username)
        if entry is None or (entry.password is None and entry.password_hash is None):
            # hash anyway so a wrong user name takes as long as a wrong password
            check_password(password, None)
            return None
        if entry.password_hash is not None:
            if not check_password(password, entry.password_hash):
                return None
        elif not hmac.compare_digest(password.encode(), (entry.password or "").encode()):
            return None
        identity = Identity(entry.name, entry.realm, entry.roles)
        logger.info("login of %s", entry.name)
        return _LoginResult(identity, self.authority.session_token(identity))

    def logout(self, token: str | None) -> None:
        """Make ``token`` unusable from now on, in any encoding of its JSON, and with it the
        tokens handed to the scripts it started (:meth:`script_token`)."""
        if token:
            self.authority.revoke(token)

    def verify(self, token: str | None) -> TokenInfo | None:
        """The token's holder if we issued it, it has not expired and was not logged out (a
        one-time token also counts one use, see :meth:`TokenAuthority.verify`)."""
        if not token:
            return None
        return self.authority.verify(token)

    def accept(self, token: str | None) -> TokenInfo | None:
        """:meth:`verify` for a request the answer to which renews a session token (the
        server's ``Set-Cookie``, :meth:`TokenAuthority.accept`)."""
        if not token:
            return None
        return self.authority.accept(token)

    def renew(self, token: str) -> str | None:
        """A renewed session token for the session ``token`` (None for any other token;
        a one-time token's use is not counted)."""
        return self.authority.renew(token)

    def script_token(self, identity: Identity, session_token: str | None) -> str | None:
        """The session token a script of ``identity`` gets: tied to the caller's session, so
        that logging that session out revokes the script's token too."""
        if identity.is_anonymous:
            return None
        return self.authority.session_token(identity, parent=session_token)

    def identity_for(self, token: str | None) -> Identity | None:
        """Who a request acts as: the token's holder, else anonymous; ``None`` means 401.

        A request without a token is anonymous (the emulator refuses it with 401 unless
        anonymous access is on); a request *with* a token we do not accept is always 401, as
        the server does for an expired session, even when anonymous access is on.
        """
        if token is None:
            return ANONYMOUS
        info = self.verify(token)
        return self.current(info) if info is not None else None

    def current(self, info: TokenInfo) -> Identity | None:
        """The token's holder as the users' state has them *now*; ``None`` (401) for a user
        that was deactivated or deleted since the token was issued.

        A session token names the roles its user had at login, and every request renews it:
        read from the token, a user whose ``administration`` role was taken away (or who was
        deleted) would go on running scripts as administrator for as long as they keep
        using the session. The server reads a user's roles from its user source on each
        request (:data:`decisions.SESSION_ROLES_ARE_LIVE`). A one-time token (a purpose's,
        from ``AUTHTOKEN_CONFIG``) and the session it becomes carry the purpose's roles,
        which no user source has: those are kept.
        """
        held = info.identity
        if (info.kind != "S" or held.is_anonymous or held.realm == decisions.ONE_TIME_REALM
                or not decisions.SESSION_ROLES_ARE_LIVE):
            return held
        entry = self.users.users.get(held.name)  # active users only
        if entry is None or entry.realm != held.realm:
            logger.info("refused a session of %s: no longer an active user", held.name)
            return None
        return Identity(entry.name, entry.realm, tuple(entry.roles))

    def accept_current(self, token: str | None) -> TokenInfo | None:
        """:meth:`accept` that also refuses the session of a user who is no longer active
        (the stand-in reads the roles of an active one from the state itself)."""
        info = self.accept(token)
        if info is None or self.current(info) is None:
            return None
        return info
