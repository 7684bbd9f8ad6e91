"""Run a WSGI app on a local socket: in the foreground for ``sss-emulate serve``, or in a
background thread for tests and the ``sss_server`` fixture.

Built on ``werkzeug.serving.make_server(threaded=True)``, so concurrent requests run
concurrently. The socket is bound here, not by werkzeug, so that a port in use is one clear line
of ours rather than werkzeug's message and ``sys.exit``, and so that a caller can bind now and
serve later (the stand-in serves only once a script connects: :func:`start_server`).
``--tls`` uses a self-signed certificate made with the ``cryptography`` package (a dependency).

A server bound to a loopback address answers only requests whose ``Host`` names this machine
(:class:`HostCheck`): a web page on ``evil.example`` can rebind its own name to 127.0.0.1 and
then send requests that are same-origin for the browser, so neither CORS nor an ``Origin``
check stops them, but their ``Host`` is still ``evil.example``.

werkzeug, ``ssl`` and ``cryptography`` are imported when a server is built, not with this
module: a run that never serves must not pay for them.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import sys
import threading
from _socket import AF_INET, AF_INET6, SO_REUSEADDR, SOCK_STREAM, SOL_SOCKET
from _socket import socket as RawSocket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from sss_emulator import decisions
from sss_emulator.logs import Logger
from sss_emulator.wire import is_loopback

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler

__all__ = (
    "ANY_HOST",
    "AddressInUse",
    "HostCheck",
    "ServerHandle",
    "TlsFiles",
    "bind",
    "host_allowed",
    "make_self_signed_cert",
    "running_server",
    "serve",
    "start_server",
)

logger = Logger("sss_emulator.httpd")


class AddressInUse(OSError):
    """The port is taken; the message says which and what to do."""


@dataclass(frozen=True)
class TlsFiles:
    """A certificate (give it to clients as ``cacert``) and its private key."""

    cert: Path
    key: Path


#: An allowed host that turns the ``Host`` check off (``--allowed-host '*'``).
ANY_HOST = "*"
_STATUS_LINES = {400: "400 Bad Request", 403: "403 Forbidden", 421: "421 Misdirected Request"}


def _host_name(header: str) -> str:
    """The name of a ``Host`` header: no port, no brackets, no final dot, lower case."""
    name = header.strip().lower()
    if name.startswith("["):
        end = name.find("]")
        name = name[1:end] if end > 0 else name[1:]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    return name.rstrip(".")


def host_allowed(header: str | None, allowed: Sequence[str] = ()) -> bool:
    """Whether a request with this ``Host`` header may reach a server bound to loopback.

    Allowed: no header at all (HTTP/1.0 clients; every browser sends one), names of this
    machine (``localhost``, 127.x.y.z, ``[::1]``), and ``allowed`` (``--host``, ``--allowed-host``;
    ``*`` allows every name); any port.
    """
    if header is None:
        return True
    name = _host_name(header)
    if is_loopback(name):
        return True
    names = {_host_name(a) for a in allowed}
    return ANY_HOST in names or name in names


class HostCheck:
    """WSGI middleware: requests whose ``Host`` is not :func:`host_allowed` get
    :data:`decisions.FOREIGN_HOST_STATUS` and one line saying how to allow the name.

    Why: a page on ``evil.example`` whose name the attacker rebinds to 127.0.0.1 talks to this
    server from the browser as its own origin (so the ``Origin`` check of ``serve`` passes)
    without the session cookies of 127.0.0.1, which still leaves whatever needs no login:
    ``--anonymous`` runs, password guessing, a stand-in or proxy without a token. Its requests
    carry ``Host: evil.example``, which no client of a local server sends.
    """

    def __init__(self, app: Any, allowed: Sequence[str] = (), *,
                 listening: str = "127.0.0.1") -> None:
        self.app = app
        self.allowed = tuple(allowed)
        self.listening = listening

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        header = environ.get("HTTP_HOST")
        if host_allowed(header, self.allowed):
            return self.app(environ, start_response)
        name = _host_name(header or "")
        logger.warning("refused a request for host %r (DNS rebinding?)", header)
        body = (f"Refused a request for host {name!r}: this server listens on {self.listening} "
                "and answers only requests addressed to localhost, 127.0.0.1 or [::1], so that "
                "a web page cannot reach it by rebinding its own name to this machine; to use "
                f"the name {name}, start the server with --allowed-host {name} (or "
                f"SSS_ALLOWED_HOSTS={name}).\n").encode()
        status = decisions.FOREIGN_HOST_STATUS
        start_response(_STATUS_LINES.get(status, f"{status} Refused"),
                       [("Content-Type", "text/plain; charset=utf-8"),
                        ("X-Content-Type-Options", "nosniff"),
                        ("Content-Length", str(len(body)))])
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def _guarded(app: Any, sock: RawSocket, allowed: Sequence[str]) -> Any:
    """``app`` behind a :class:`HostCheck` when ``sock`` is bound to a loopback address
    (elsewhere every name of the machine is legitimate, and ``serve`` warns instead)."""
    address = str(sock.getsockname()[0])
    if not is_loopback(address) or ANY_HOST in allowed:
        return app
    return HostCheck(app, allowed, listening=address)


#: Seconds a connection may stay silent while the server waits for a request or its body;
#: then it is closed (a request that never finishes sending must not hold a thread forever).
READ_TIMEOUT_S = 60.0


@cache
def _handlers() -> tuple[type[WSGIRequestHandler], type[WSGIRequestHandler]]:
    """werkzeug's request handler with Nagle off, and the same logging at debug level only.

    Built on first use, so that importing this module does not import werkzeug.
    """
    import socket

    from werkzeug.serving import WSGIRequestHandler

    class Handler(WSGIRequestHandler):
        """werkzeug writes headers and body in separate sends, and Nagle holding the body back
        until the client's delayed ACK costs ~40 ms per response. ``timeout`` (socketserver's
        per-connection socket timeout) bounds each wait for the client."""

        timeout = READ_TIMEOUT_S

        def setup(self) -> None:
            super().setup()
            with contextlib.suppress(OSError):  # not TCP (e.g. a Unix socket)
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            """werkzeug colours request lines with terminal escapes even into a log file or
            a CI log; plain text unless stderr is a terminal."""
            if sys.stderr.isatty():
                super().log_request(code, size)
            else:
                self.log("info", '"%s" %s %s', self.requestline, code, size)

    class QuietHandler(Handler):
        """Request lines go to our logger at debug level instead of stderr."""

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            logger.debug("%s %s", self.requestline, code)

        def log(self, type: str, message: str, *args: Any) -> None:
            logger.debug(message, *args)

    return Handler, QuietHandler


def _hosts_for(host: str) -> list[str]:
    hosts = ["localhost", "127.0.0.1", "::1"]
    if host not in hosts and host not in ("0.0.0.0", "::", ""):
        hosts.append(host)
    return hosts


def make_self_signed_cert(directory: Path, host: str = "127.0.0.1") -> TlsFiles:
    """Write ``cert.pem`` and ``key.pem`` for localhost, 127.0.0.1, ::1 and ``host``.

    A certificate already there that covers ``host`` and is valid for another day is kept, so
    its path stays good across restarts and several servers can share it.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = TlsFiles(directory / "cert.pem", directory / "key.pem")
    if _still_good(files, _hosts_for(host)):
        return files
    _cert_with_cryptography(files, _hosts_for(host))
    files.key.chmod(0o600)
    return files


def _cert_with_cryptography(files: TlsFiles, hosts: Sequence[str]) -> None:
    import datetime as _dt  # only for TLS (--tls): not on a plain run's path
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sss-emulate serve")])
    alt: list[x509.GeneralName] = []
    for entry in hosts:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(entry)))
        except ValueError:
            alt.append(x509.DNSName(entry))
    now = _dt.datetime.now(_dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))


def _still_good(files: TlsFiles, hosts: Sequence[str]) -> bool:
    import datetime as _dt

    if not (files.cert.is_file() and files.key.is_file()):
        return False
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    covered = {str(n) for n in names.get_values_for_type(x509.IPAddress)}
    covered |= set(names.get_values_for_type(x509.DNSName))
    fresh = cert.not_valid_after_utc > _dt.datetime.now(_dt.UTC) + _dt.timedelta(days=1)
    return fresh and all(str(_normal(h)) in covered for h in hosts)


def _normal(host: str) -> object:
    import ipaddress

    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return host


def bind(host: str, port: int) -> RawSocket:
    """A listening socket; :class:`AddressInUse` with a one-line fix when the port is taken.

    It is the C-level ``_socket.socket`` (what ``socket.socket`` is built on): a server needs
    only its descriptor, and importing :mod:`socket` builds its enums (about 5 ms), which a run
    whose script never calls back should not pay for.
    """
    family = AF_INET6 if ":" in host else AF_INET
    sock = RawSocket(family, SOCK_STREAM)
    sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise AddressInUse(
                exc.errno, f"Port {port} on {host} is in use by another program; stop it, or "
                           "pick another port with --port (0 chooses a free one)."
            ) from exc
        raise
    return sock


def _build(app: Any, host: str, port: int, tls: TlsFiles | None, quiet: bool,
           allowed_hosts: Sequence[str]) -> BaseWSGIServer:
    return _on_socket(app, bind(host, port), tls, quiet, (host, *allowed_hosts))


def _on_socket(app: Any, sock: RawSocket, tls: TlsFiles | None, quiet: bool,
               allowed_hosts: Sequence[str] = ()) -> BaseWSGIServer:
    """A werkzeug server on ``sock`` (which it takes over: ``sock`` is closed here); on a
    loopback address it answers only the ``Host`` names :func:`host_allowed` accepts."""
    from werkzeug.serving import make_server

    try:
        app = _guarded(app, sock, allowed_hosts)
        context = None
        if tls is not None:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls.cert), str(tls.key))
        handler, quiet_handler = _handlers()
        host, port = sock.getsockname()[:2]
        server = make_server(host, port, app, threaded=True,
                             request_handler=quiet_handler if quiet else handler,
                             ssl_context=context, fd=sock.fileno())
    finally:
        sock.close()  # werkzeug works on its own duplicate of the descriptor
    return server


def _url(server: BaseWSGIServer, host: str, tls: TlsFiles | None) -> str:
    return _url_for(host, int(server.server_address[1]), tls)


def _url_for(host: str, port: int, tls: TlsFiles | None) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"{'https' if tls else 'http'}://{shown}:{port}"


@dataclass
class ServerHandle:
    """A server running in a background thread."""

    url: str
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def start_server(
    app: Any, sock: RawSocket, *, tls: TlsFiles | None = None, quiet: bool = True,
    poll_interval: float = 0.1, name: str = "sss-serve", allowed_hosts: Sequence[str] = (),
) -> ServerHandle:
    """Serve ``app`` on the listening socket ``sock`` (from :func:`bind`) in a daemon thread.

    Connections already waiting on ``sock`` are served too, so a caller may bind early, hand
    out the URL, and start the server only when the first client knocks. ``handle.stop()``
    ends it; its shutdown waits at most ``poll_interval`` seconds. ``allowed_hosts``: names
    besides this machine's that a request's ``Host`` may give (see :class:`HostCheck`).
    """
    host = sock.getsockname()[0]
    server = _on_socket(app, sock, tls, quiet, allowed_hosts)
    url = _url(server, host, tls)
    thread = threading.Thread(target=server.serve_forever,
                              kwargs={"poll_interval": poll_interval}, name=name, daemon=True)
    thread.start()
    return ServerHandle(url, server, thread)


@contextmanager
def running_server(
    app: Any, host: str = "127.0.0.1", port: int = 0, *, tls: TlsFiles | None = None,
    quiet: bool = True, allowed_hosts: Sequence[str] = (),
) -> Iterator[ServerHandle]:
    """Serve ``app`` in a daemon thread for the duration of a ``with`` block.

    Sets ``app.public_url`` (when the app has one) so scripts call back to this server.
    ``host`` and ``allowed_hosts`` are the names a request's ``Host`` may give besides this
    machine's (see :class:`HostCheck`).
    """
    sock = bind(host, port)
    url = _url_for(host, sock.getsockname()[1], tls)  # as asked for ("localhost" stays)
    if hasattr(app, "public_url"):
        app.public_url = url
    handle = start_server(app, sock, tls=tls, quiet=quiet, allowed_hosts=(host, *allowed_hosts))
    handle.url = url
    try:
        yield handle
    finally:
        handle.stop()
        close = getattr(app, "close", None)
        if close is not None:
            close()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 10443,
    *,
    tls: TlsFiles | None = None,
    quiet: bool = False,
    on_ready: Callable[[str], None] | None = None,
    err: TextIO | None = None,
    stopping: str = "running scripts are stopped and their directories removed.",
    prog: str = "sss-emulate serve",
    allowed_hosts: Sequence[str] = (),
) -> int:
    """Serve ``app`` in the foreground until Ctrl+C or SIGTERM; return an exit status.

    ``on_ready(url)`` is called once the socket listens (port 0 → the port chosen). A port in
    use is one line on ``err`` and status 1. ``stopping`` says what stopping means for ``app``;
    ``prog`` names the command in messages. On a loopback address, requests must name
    this machine, ``host`` or one of ``allowed_hosts`` in their ``Host`` (:class:`HostCheck`).
    """
    err = err or sys.stderr
    try:
        server = _build(app, host, port, tls, quiet, allowed_hosts)
    except AddressInUse as exc:
        print(f"{prog}: error: {exc.strerror}", file=err)
        return 1
    except OSError as exc:
        print(f"{prog}: error: cannot listen on {host}:{port}: "
              f"{exc.strerror or exc}", file=err)
        return 1
    url = _url(server, host, tls)
    if hasattr(app, "public_url"):
        app.public_url = url
    # SIGTERM and SIGHUP stop the server as Ctrl+C does: runs stopped, their files removed.
    # SIGINT is set too: started with ``&`` from a non-interactive shell (a CI script), the
    # process inherits SIGINT as ignored, and Python then installs no handler of its own.
    stop_signals = [signal.SIGINT, signal.SIGTERM] + (
        [signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in stop_signals}
    try:
        if on_ready is not None:
            on_ready(url)
        server.serve_forever(poll_interval=0.2)  # returns on Ctrl+C (werkzeug catches it)
    except KeyboardInterrupt:
        pass
    finally:
        print(f"{prog}: stopping; {stopping}", file=err, flush=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.server_close()
        close = getattr(app, "close", None)
        if close is not None:
            close()
    return 0
