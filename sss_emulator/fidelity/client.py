"""A small client of a LinkAhead server's scripting API, as pylib and the web UI speak it.

``POST /login`` (urlencoded ``username``/``password``) hands out the ``SessionToken`` cookie;
``POST /scripting`` runs a call (urlencoded without files, multipart with them, as pylib does);
``GET /Shared/<random>/<file>`` downloads what the script left. A server that also answers
``GET /sss/api/runs/<srid>`` (``sss-emulate serve``) lists *every* shared file of a run; a real
server does not, so then the files the output links to are what is known.

Built on urllib (no extra dependency); uploads are streamed from disk.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from urllib.parse import quote

from sss_emulator.core.call import FieldValue, Upload
from sss_emulator.errors import ConfigError
from sss_emulator.fidelity.normalise import linked_shared_files
from sss_emulator.fidelity.observed import Observed, UserInfo, parse_response
from sss_emulator.wire import COOKIE_NAME, session_token_from_set_cookie

__all__ = ("Answer", "ScriptingClient", "encode_multipart")

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, headers and the whole body."""

    status: int
    headers: Message
    body: bytes


def _quote_header(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "")


def encode_multipart(fields: Sequence[tuple[str, FieldValue]], boundary: str | None = None
                     ) -> tuple[str, int, Iterator[bytes]]:
    """``multipart/form-data`` of ``fields`` in order: content type, length and the body.

    The body is produced chunk by chunk, uploads read from disk as it is sent.
    """
    boundary = boundary or uuid.uuid4().hex
    pieces: list[bytes | Path] = []
    for name, value in fields:
        disposition = f'form-data; name="{_quote_header(name)}"'
        if isinstance(value, Upload):
            disposition += f'; filename="{_quote_header(value.filename)}"'
            pieces.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
                          "Content-Type: application/octet-stream\r\n\r\n".encode())
            pieces.append(Path(value.source))
            pieces.append(b"\r\n")
        else:
            pieces.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
                          + value.encode("utf-8") + b"\r\n")
    pieces.append(f"--{boundary}--\r\n".encode())
    length = sum(p.stat().st_size if isinstance(p, Path) else len(p) for p in pieces)

    def body() -> Iterator[bytes]:
        for piece in pieces:
            if isinstance(piece, bytes):
                yield piece
                continue
            with piece.open("rb") as source:
                while chunk := source.read(_CHUNK):
                    yield chunk

    return f"multipart/form-data; boundary={boundary}", length, body()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to show, not to follow (a login page would hide the 401)."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class ScriptingClient:
    """Talks to one server's scripting API; keeps the session cookie of :meth:`login`.

    >>> client = ScriptingClient("https://linkahead.example.org")   # doctest: +SKIP
    >>> client.login("admin", password)                              # doctest: +SKIP
    >>> client.run([("call", "minimal.bash"), ("-p0", "x")]).status    # doctest: +SKIP
    200
    """

    def __init__(self, url: str, *, cacert: str | os.PathLike[str] | None = None,
                 token: str | None = None, timeout: float | None = None) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(f"{url!r} is not an http(s) URL; give the server's address, e.g. "
                              "https://linkahead.example.org (with its context root, if any).")
        self.base = url.rstrip("/")
        self.origin = f"{parsed.scheme}://{parsed.netloc}"
        self.token = token
        self.timeout = timeout
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
        if parsed.scheme == "https":
            context = ssl.create_default_context(cafile=str(cacert) if cacert else None)
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self._opener = urllib.request.build_opener(*handlers)

    # --- plumbing ----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        if self.token is None:
            return {}
        return {"Cookie": f"{COOKIE_NAME}={quote(self.token, safe='')};"}

    def _send(self, request: urllib.request.Request, limit: int | None = None) -> Answer:
        """Send ``request``; with ``limit``, read at most ``limit + 1`` bytes of the body (a
        longer body is told by its length, never held whole)."""
        size = -1 if limit is None else limit + 1
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return Answer(response.status, response.headers, response.read(size))
        except urllib.error.HTTPError as exc:
            with exc:
                return Answer(exc.code, exc.headers, exc.read(size))
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ConfigError(f"Cannot reach {self.base}: {reason}; check the URL (and "
                              "--cacert for a self-signed certificate).") from exc

    def get(self, path: str, *, limit: int | None = None, renew: bool = False) -> Answer:
        """``GET`` a path below the base URL, e.g. ``/Shared/<random>/<file>``.

        ``limit`` bounds how much of the body is read (see :meth:`_send`). With ``renew``, a
        ``SessionToken`` the answer hands out replaces ours, as pylib does: a long series of
        requests then outlives one token's lifetime.
        """
        answer = self._send(urllib.request.Request(self.base + path, headers=self._headers()),
                            limit)
        if renew:
            token = session_token_from_set_cookie(answer.headers.get_all("Set-Cookie") or [])
            if token:
                self.token = token
        return answer

    # --- the API -----------------------------------------------------------------------------

    def login(self, username: str, password: str) -> UserInfo | None:
        """Log in; returns the ``UserInfo`` of the answer when it has one.

        :class:`ConfigError` when the server refuses (a wrong password is not a difference).
        """
        body = urllib.parse.urlencode({"username": username, "password": password}).encode()
        answer = self._send(urllib.request.Request(
            self.base + "/login", data=body, method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"}))
        if answer.status != 200:
            raise ConfigError(f"{self.base} refused the login of {username!r} (HTTP "
                              f"{answer.status}); check the user name and the password.")
        token = session_token_from_set_cookie(answer.headers.get_all("Set-Cookie") or [])
        if token is None:
            raise ConfigError(f"{self.base} answered the login without a {COOKIE_NAME} "
                              "cookie; is it a LinkAhead server (with its context root)?")
        self.token = token
        return parse_response(answer.status, answer.body).user

    def run(self, fields: Sequence[tuple[str, FieldValue]]) -> Answer:
        """``POST /scripting`` with ``fields`` in order (multipart when one is an upload)."""
        headers = self._headers()
        if any(isinstance(value, Upload) for _, value in fields):
            content_type, length, body = encode_multipart(fields)
            headers.update({"Content-Type": content_type, "Content-Length": str(length)})
            request = urllib.request.Request(self.base + "/scripting", data=body,
                                             method="POST", headers=headers)
        else:
            data = urllib.parse.urlencode([(n, str(v)) for n, v in fields]).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            request = urllib.request.Request(self.base + "/scripting", data=data,
                                             method="POST", headers=headers)
        return self._send(request)

    def shared_files(self, observed: Observed) -> tuple[dict[str, bytes | None], bool]:
        """The files a run left for download, and whether that is all of them.

        Asks ``/sss/api/runs/<srid>`` first (only ``sss-emulate serve`` answers it), else
        downloads every ``/Shared/<random>/<file>`` link of stdout and stderr. A link that
        answers no file is left out: the file is not there to download.
        """
        listed = self._listed(observed.srid)
        if listed is not None:
            return listed, True
        found: dict[str, bytes | None] = {}
        for text in (observed.stdout or "", observed.stderr or ""):
            for random_name, name in linked_shared_files(text):
                path = urllib.parse.unquote(name)
                answer = self.get(f"/Shared/{quote(random_name)}/{quote(path)}")
                if answer.status == 200:
                    found[path] = answer.body
        return found, False

    def _listed(self, srid: str | None) -> dict[str, bytes | None] | None:
        if not srid:
            return None
        answer = self.get(f"/sss/api/runs/{quote(srid, safe='')}")
        if answer.status != 200:
            return None
        try:
            run = json.loads(answer.body)
            entries = [(str(f["name"]), str(f["link"])) for f in run["shared_files"]]
        except (ValueError, KeyError, TypeError):
            return None
        files: dict[str, bytes | None] = {}
        for name, link in entries:
            got = self._send(urllib.request.Request(self.origin + link, headers=self._headers()))
            if got.status == 200:
                files[name] = got.body
        return files
