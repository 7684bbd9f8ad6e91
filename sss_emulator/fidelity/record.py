"""``sss-emulate record``: a pass-through proxy in front of a real server that records calls.

Every request goes to the server as it came (method, path with the context root, query,
headers, body) and every answer comes back as it went (status, headers including each
``Set-Cookie``, body), so the web UI, pylib or curl pointed at the proxy work as against the
server. A request that changes something and comes from another site (``Sec-Fetch-Site``,
``Origin``, ``Referer``: :mod:`sss_emulator.cross_site`) is refused, never forwarded. Bodies
stream through in chunks. Only a cookie's ``Domain`` (the browser would drop a
cookie of another host) and ``Secure`` (on a plain-http proxy) are removed, a ``Location`` to
the server is pointed back at the proxy, and ``Origin``/``Referer`` are pointed at the server.

A ``POST …/scripting`` is spooled (to hand it on and read it), its answer read whole, and the
pair written as a call file by :class:`~sss_emulator.fidelity.recording.CallFileWriter`. A call
that cannot be recorded is still answered; the proxy only logs why. The spool has a limit, as
``serve``'s ``--max-body``: a body declared larger is refused before a byte of it is read, a
chunked one once it has passed the limit, with the server's 413 error document; neither
reaches the server, and the spool stays in memory only up to 8 MiB (then on disk).

Built on ``http.client``; :mod:`sss_emulator.httpd` runs the app.
"""

from __future__ import annotations

import http.client
import logging
import shutil
import ssl
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlsplit

from sss_emulator import decisions
from sss_emulator.core.render import ResponseMeta, render_error_xml
from sss_emulator.core.roots import owned_dir
from sss_emulator.cross_site import foreign_site, refusal
from sss_emulator.fidelity.client import ScriptingClient
from sss_emulator.fidelity.observed import Observed, parse_response
from sss_emulator.fidelity.recording import CallFileWriter, RecordedCall
from sss_emulator.serve.form import FormLimits, read_form
from sss_emulator.wire import (
    below_context_root,
    session_token_from_set_cookie,
    token_from_cookie_header,
)

__all__ = ("RecordingProxy",)

logger = logging.getLogger("sss_emulator.fidelity.record")

_CHUNK = 64 * 1024
#: Bodies of recorded calls stay in memory up to this size, then go to a temporary file.
_SPOOL_IN_MEMORY = 8 * 1024 * 1024
#: Headers that belong to one connection, not to the message (RFC 9110 §7.6.1).
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                         "proxy-connection", "te", "trailer", "trailers", "transfer-encoding",
                         "upgrade"})

StartResponse = Callable[..., Any]


class RecordingProxy:
    """The WSGI app of ``record``: forwards to ``upstream`` and writes a call file per call.

    Attributes:
        public_url: the proxy's own ``http://host:port`` (set by :mod:`sss_emulator.httpd`).
        recorded: call files written so far, oldest first.
        on_record: called with each new call file and the call, for the terminal.
    """

    def __init__(self, upstream: str, writer: CallFileWriter, *, cacert: str | None = None,
                 timeout: float | None = None,
                 max_body: int | None = decisions.MAX_REQUEST_BODY_BYTES) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{upstream!r} is not an http(s) URL")
        self.upstream = upstream.rstrip("/")
        self.scheme = parts.scheme
        self.netloc = parts.netloc
        self.context_root = parts.path.strip("/")
        self.writer = writer
        self.cacert = cacert
        self.timeout = timeout
        #: The largest ``/scripting`` body spooled and forwarded (None: no limit).
        self.max_body = max_body
        self.public_url: str | None = None
        self.recorded: list[Path] = []
        self.on_record: Callable[[Path, Observed], None] | None = None
        self._context = (ssl.create_default_context(cafile=cacert)
                         if parts.scheme == "https" else None)
        self._scratch: Path | None = None
        self._scratch_lock = threading.Lock()

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.netloc}"

    # --- WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        target = _target(environ)
        headers = self._request_headers(environ)
        relative = below_context_root(environ.get("PATH_INFO", "") or "/", self.context_root)
        logout = relative is not None and relative.strip("/").split("/", 1)[0] == "logout"
        foreign = foreign_site(environ, changes_state=logout or None)
        if foreign is not None:
            # Forwarded, it would act as the user on their real server with their cookie.
            logger.warning("refused a cross-site %s %s from %s", method, target, foreign)
            message = f"sss-emulate record: {refusal(method, foreign)}\n".encode()
            start_response("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8"),
                                             ("X-Content-Type-Options", "nosniff"),
                                             ("Content-Length", str(len(message)))])
            return [message]
        try:
            if method == "POST" and relative is not None and relative.rstrip("/") == \
                    "/scripting":
                return self._scripting(environ, start_response, target, headers)
            return self._forward(environ, start_response, method, target, headers)
        except _Unforwardable as exc:  # a client's bytes http.client will not send: theirs
            message = (f"sss-emulate record: this request cannot be forwarded ({exc}).\n"
                       ).encode()
            start_response("400 Bad Request", [("Content-Type", "text/plain; charset=utf-8"),
                                               ("Content-Length", str(len(message)))])
            return [message]
        except (OSError, http.client.HTTPException) as exc:
            logger.warning("cannot reach %s for %s %s: %s", self.upstream, method, target, exc)
            message = (f"sss-emulate record: cannot reach {self.upstream} ({exc}); is the server "
                       "up?\n").encode()
            start_response("502 Bad Gateway", [("Content-Type", "text/plain; charset=utf-8"),
                                               ("Content-Length", str(len(message)))])
            return [message]

    def close(self) -> None:
        """Remove the scratch folder (every request has its own connection, nothing to stop).

        Requests still in flight are cut off when the program ends (their threads are daemons),
        so their parts would stay; the folder goes with them, and if the proxy is SIGKILLed the
        next start sweeps it (:func:`~sss_emulator.core.roots.owned_dir`).
        """
        with self._scratch_lock:
            scratch, self._scratch = self._scratch, None
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)

    def _call_scratch(self) -> Path:
        """A new private folder for one call's form parts, in the proxy's scratch folder."""
        with self._scratch_lock:
            if self._scratch is None:
                self._scratch = owned_dir("record")
            return Path(tempfile.mkdtemp(prefix="call-", dir=self._scratch))

    # --- forwarding ----------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.netloc, timeout=self.timeout,
                                               context=self._context)
        return http.client.HTTPConnection(self.netloc, timeout=self.timeout)

    def _request_headers(self, environ: dict[str, Any]) -> dict[str, str]:
        headers: dict[str, str] = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                name = key[5:].replace("_", "-").title()
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
                name = key.replace("_", "-").title()
            else:
                continue
            if name.lower() in _HOP_BY_HOP or name.lower() in ("host", "expect"):
                continue  # the body is already on its way: no 100-continue to wait for
            headers[name] = value
        headers["Host"] = self.netloc
        for name in ("Origin", "Referer"):
            if name in headers and self.public_url and \
                    headers[name].startswith(self.public_url):
                headers[name] = self.origin + headers[name][len(self.public_url):]
        return headers

    def _response_headers(self, response: http.client.HTTPResponse,
                          drop: Iterable[str] = ()) -> list[tuple[str, str]]:
        dropped = {*_HOP_BY_HOP, *(d.lower() for d in drop)}
        headers = []
        for name, value in response.getheaders():
            lower = name.lower()
            if lower in dropped:
                continue
            if lower == "set-cookie":
                value = self._cookie(value)
            elif lower == "location" and self.public_url and value.startswith(self.origin):
                value = self.public_url + value[len(self.origin):]
            headers.append((name, value))
        return headers

    def _cookie(self, value: str) -> str:
        """A cookie the browser keeps for the proxy's address: unchanged unless it must not be.

        Only ``Domain`` (another host's) and ``Secure`` (on a plain-http proxy) go, and a
        ``SameSite=None`` that needed ``Secure`` becomes ``Lax``; the ``;`` after the value
        stays, since pylib looks for ``SessionToken=…;``.
        """
        proxy_secure = bool(self.public_url and self.public_url.startswith("https:"))
        parts = value.split(";")
        kept, changed = [parts[0]], False
        for attribute in parts[1:]:
            name = attribute.split("=", 1)[0].strip().lower()
            if name == "domain" or (name == "secure" and not proxy_secure):
                changed = True
                continue
            kept.append(attribute)
        if not changed:
            return value
        kept = [" SameSite=Lax" if a.strip().lower() == "samesite=none" else a for a in kept]
        rewritten = ";".join(kept)
        return rewritten if len(kept) > 1 else rewritten + ";"

    def _forward(self, environ: dict[str, Any], start_response: StartResponse, method: str,
                 target: str, headers: dict[str, str]) -> Iterable[bytes]:
        body: Iterable[bytes] | None = None
        chunked = False
        length = _content_length(environ)
        if length:
            body = _read_chunks(environ["wsgi.input"], length)
        elif environ.get("wsgi.input_terminated") and method not in ("GET", "HEAD"):
            body, chunked = _read_chunks(environ["wsgi.input"], None), True
            headers.pop("Content-Length", None)
        connection = self._connection()
        try:
            _send(connection, method, target, body=body, headers=headers,
                  encode_chunked=chunked)
            response = connection.getresponse()
        except BaseException:
            connection.close()
            raise
        start_response(f"{response.status} {response.reason}", self._response_headers(response))
        return _stream(response, connection)

    # --- recording -----------------------------------------------------------------------------

    def _scripting(self, environ: dict[str, Any], start_response: StartResponse, target: str,
                   headers: dict[str, str]) -> Iterable[bytes]:
        length = _content_length(environ)
        if length is None and not environ.get("wsgi.input_terminated"):
            length = 0  # no length and not chunked: there is no body
        limit = self.max_body
        if limit is not None and length is not None and length > limit:
            return self._too_large(start_response)  # declared too large: not a byte read
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
        try:
            for chunk in _read_chunks(environ["wsgi.input"], length):
                spool.write(chunk)
                if limit is not None and spool.tell() > limit:  # chunked, past the limit
                    return self._too_large(start_response)
            size = spool.tell()
            spool.seek(0)
            headers["Content-Length"] = str(size)
            connection = self._connection()
            try:
                _send(connection, "POST", target, body=_read_chunks(spool, size),
                      headers=headers)
                response = connection.getresponse()
                answer = response.read()
                out_headers = self._response_headers(response)
                status = response.status
                reason = response.reason
                encoding = response.getheader("Content-Encoding", "")
                set_cookies = response.headers.get_all("Set-Cookie") or []
            finally:
                connection.close()
            try:
                self._record(spool, environ, size, status, _decoded(answer, encoding),
                             headers.get("Cookie"), set_cookies)
            except Exception:  # recording must never break the call it watches
                logger.exception("could not record the call to %s", target)
        finally:
            spool.close()
        start_response(f"{status} {reason}", out_headers)
        return [answer]

    def _too_large(self, start_response: StartResponse) -> Iterable[bytes]:
        """413 with the server's error document; the client's connection is not reused (the
        rest of its body is never read)."""
        description = (decisions.TOO_LARGE_DESCRIPTION.format(limit=self.max_body)
                       + " Send a smaller body, or start the proxy with a larger --max-body.")
        logger.warning("refused a /scripting body over %s bytes", self.max_body)
        body = render_error_xml(413, description,
                                ResponseMeta(baseuri=self.public_url or self.upstream))
        start_response("413 Request Entity Too Large", [
            ("Content-Type", "text/xml; charset=UTF-8"),  # as serve answers
            ("Content-Length", str(len(body))), ("Connection", "close")])
        return [body]

    def _record(self, spool: IO[bytes], environ: dict[str, Any], size: int, status: int,
                answer: bytes, cookie: str | None, set_cookies: list[str]) -> None:
        spool.seek(0)
        form_environ = {"CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
                        "CONTENT_LENGTH": str(size), "wsgi.input": spool}
        token = token_from_cookie_header(cookie)
        tokens = tuple(t for t in (token, session_token_from_set_cookie(set_cookies)) if t)
        scratch = self._call_scratch()
        try:
            fields = read_form(form_environ, scratch / "parts", FormLimits(max_body=None))
            if not any(name == "call" and isinstance(value, str) and value
                       for name, value in fields):
                logger.info("not recorded: the request to /scripting has no call field")
                return
            observed = parse_response(status, answer)
            if observed.code is not None:
                client = ScriptingClient(self.upstream, cacert=self.cacert, token=token,
                                         timeout=self.timeout)
                files, complete = client.shared_files(observed)
                observed = replace(observed, shared=files, shared_complete=complete)
            path = self.writer.write(RecordedCall(fields, observed, tokens,
                                                  anonymous=token is None))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        self.recorded.append(path)
        logger.info("recorded %s", path)
        if self.on_record is not None:
            self.on_record(path, observed)


# --- helpers ------------------------------------------------------------------------------------


class _Unforwardable(Exception):
    """A request http.client refuses to send: a control character in its method, target or
    a header (``G\\x1b[2JET``). The client's mistake, answered 400, not the server's (502)."""


def _send(connection: http.client.HTTPConnection, method: str, target: str,
          **request: Any) -> None:
    try:
        connection.request(method, target, **request)
    except (ValueError, http.client.InvalidURL) as exc:  # checked before anything is sent
        raise _Unforwardable(str(exc)) from None


def _target(environ: dict[str, Any]) -> str:
    """The request target as the client sent it (percent-escapes kept)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return str(raw)
    path = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), safe="/;=,@:")
    query = environ.get("QUERY_STRING")
    return f"{path}?{query}" if query else path


def _content_length(environ: dict[str, Any]) -> int | None:
    try:
        return int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


def _read_chunks(stream: IO[bytes], length: int | None) -> Iterator[bytes]:
    """``length`` bytes of ``stream`` (all of it for ``None``), chunk by chunk."""
    left = length
    while left is None or left > 0:
        chunk = stream.read(_CHUNK if left is None else min(_CHUNK, left))
        if not chunk:
            return
        if left is not None:
            left -= len(chunk)
        yield chunk


def _stream(response: http.client.HTTPResponse, connection: http.client.HTTPConnection
            ) -> Iterator[bytes]:
    try:
        while chunk := response.read(_CHUNK):
            yield chunk
    finally:
        connection.close()


def _decoded(body: bytes, encoding: str) -> bytes:
    """The body as the server wrote it, for reading (the client still gets it compressed)."""
    encoding = encoding.strip().lower()
    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            return zlib.decompress(body)
    except zlib.error:
        return body
    return body
