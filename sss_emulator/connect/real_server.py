"""A real LinkAhead server as what a run's callbacks reach (``--server-url``)."""

from __future__ import annotations

import dataclasses

from sss_emulator.connect.standin import INI_NAME, drop_tls_overrides, read_ini
from sss_emulator.core.hooks import RunContext
from sss_emulator.core.outcome import RunOutcome
from sss_emulator.errors import ConfigError
from sss_emulator.wire import session_token_from_set_cookie

__all__ = ("RealServerHook", "login_to_server", "logout_from_server")


def login_to_server(url: str, username: str, password: str, *,
                    cacert: str | None = None, timeout: float = 30) -> str:
    """Log in to a real LinkAhead server as pylib does and return the session token."""
    # imported here: urllib.request brings http.client, email and ssl (~25 ms), which only a
    # run against a real server needs
    import ssl
    import urllib.error
    import urllib.parse
    import urllib.request

    body = urllib.parse.urlencode({"username": username, "password": password}).encode()
    request = urllib.request.Request(url.rstrip("/") + "/login", data=body, method="POST",
                                     headers={"Content-Type":
                                              "application/x-www-form-urlencoded"})
    context = ssl.create_default_context(cafile=cacert) if url.startswith("https") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            headers = response.headers.get_all("Set-Cookie") or []
    except urllib.error.HTTPError as exc:
        raise ConfigError(f"{url} refused the login of {username!r} (HTTP {exc.code}); check "
                          "--username and the password (SSS_PASSWORD).") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(f"Cannot reach {url}: {reason}; check --server-url (and --cacert for "
                          "a self-signed certificate).") from exc
    token = session_token_from_set_cookie(headers)
    if token is not None:
        return token
    raise ConfigError(f"{url} answered the login without a SessionToken cookie; is it a "
                      "LinkAhead server?")


class RealServerHook:
    """Points scripts at a real server: its URL (and CA file) in the ini, a session token of it."""

    def __init__(self, url: str, token: str, *, cacert: str | None = None) -> None:
        self.url = url
        self.token = token
        self.cacert = cacert

    def before_run(self, context: RunContext) -> None:
        from sss_emulator.backend import patch_pylinkahead_ini

        _, existing = read_ini(context)
        text = patch_pylinkahead_ini(existing, self.url, cacert=self.cacert)
        context.workspace.place(INI_NAME, text.encode("utf-8"))
        drop_tls_overrides(context.env)

    def after_run(self, context: RunContext, outcome: RunOutcome) -> RunOutcome:
        note = (f"the run's {INI_NAME} (a copy; the skeleton is unchanged) pointed "
                f"[Connection] url at {self.url}")
        return dataclasses.replace(outcome, notes=(*outcome.notes, note))

    def close(self) -> None:
        """Log the session out, as pylib's ``logout()`` does (``GET /logout`` with its cookie).

        The script gets the session token on its command line, as the server passes it, and a
        command line is visible to every local user (``ps``): logged out, a token read there
        is worthless once the emulator is done, instead of for the server's session lifetime.
        A logout that fails changes nothing for the run; the session then expires on the
        server.
        """
        logout_from_server(self.url, self.token, cacert=self.cacert)


def logout_from_server(url: str, token: str, *, cacert: str | None = None,
                       timeout: float = 10) -> bool:
    """End the session ``token`` of a real server; whether the server answered."""
    import ssl
    import urllib.error
    import urllib.parse
    import urllib.request

    from sss_emulator.wire import COOKIE_NAME

    request = urllib.request.Request(
        url.rstrip("/") + "/logout", method="GET",
        headers={"Cookie": f"{COOKIE_NAME}={urllib.parse.quote(token, safe='')}"})
    context = ssl.create_default_context(cafile=cacert) if url.startswith("https") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context):
            return True
    except (urllib.error.URLError, OSError, ValueError):
        return False
