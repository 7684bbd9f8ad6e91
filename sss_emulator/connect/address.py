"""The stand-in where the server would be: ``--server-address https://127.0.0.1:10443``.

Scripts written for a deployment sometimes name the server themselves
(``configure_connection(url="https://127.0.0.1:10443", ssl_insecure=True)``) instead of reading
the ini. With a server address the stand-in also listens there, speaking TLS for an ``https``
address with a self-signed certificate, and each run's ``.pylinkahead.ini`` names that address
with ``cacert`` pointing at the certificate. So a script is accepted the way the server's
clients accept it: by the ini's ``cacert``, by ``ssl_insecure``, or (with ``--mounts``) by the
certificate at ``/opt/caosdb/cert/caosdb.cert.pem``. ``REQUESTS_CA_BUNDLE`` and
``CURL_CA_BUNDLE`` of the caller are dropped from the script's environment: ``requests`` lets
them override both ``cacert`` and ``ssl_insecure``, which the server's scripts do not expect.
"""

from __future__ import annotations

import configparser
import contextlib
import dataclasses
import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sss_emulator.core.hooks import RunContext
from sss_emulator.core.outcome import RunOutcome
from sss_emulator.core.processes import port_listener
from sss_emulator.core.roots import owned_dir
from sss_emulator.errors import ConfigError, SetupError

if TYPE_CHECKING:
    from sss_emulator.httpd import TlsFiles

__all__ = (
    "AddressListener",
    "ServerAddress",
    "ServerAddressHook",
    "address_from_ini",
    "parse_address",
    "port_holder",
    "resolve_address",
)

logger = logging.getLogger("sss_emulator.connect.address")

_INI_NAMES = (".pylinkahead.ini", ".pycaosdb.ini")


@dataclass(frozen=True)
class ServerAddress:
    """Where scripts expect the server: ``https://127.0.0.1:10443``."""

    url: str
    host: str
    port: int
    tls: bool
    origin: str = "--server-address"

    @property
    def bind_host(self) -> str:
        """The address to listen on (``localhost`` is 127.0.0.1, as /etc/hosts has it first)."""
        return "::1" if self.host == "::1" else "127.0.0.1"

    @property
    def base(self) -> str:
        """``scheme://host:port`` without a path."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"


def parse_address(text: str, origin: str = "--server-address") -> ServerAddress:
    """A URL (already checked by the settings engine, or read from an ini) as an address."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{origin}: {text!r} is not a URL ({exc}).") from None
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(f"{origin}: {text!r} must look like https://127.0.0.1:10443.")
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError(f"{origin}: {text!r} names {host}; the stand-in listens on this "
                          "machine only (127.0.0.1, localhost or [::1]).")
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return ServerAddress(text.strip(), host, port, parts.scheme == "https", origin)


def address_from_ini(home: Path | None) -> ServerAddress:
    """The ``[Connection] url`` of the home skeleton's ini, as an address."""
    for name in _INI_NAMES:
        path = home / name if home is not None else None
        if path is None or not path.is_file():
            continue
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path, encoding="utf-8")
        except configparser.Error as exc:
            raise ConfigError(f"--server-address ini: {path} does not parse ({exc}).") from None
        url = parser.get("Connection", "url", fallback="").strip()
        if url:
            return parse_address(url, f"[Connection] url of {path}")
        raise ConfigError(f"--server-address ini: {path} has no [Connection] url; give the "
                          "address itself, e.g. --server-address https://127.0.0.1:10443.")
    where = f"in {home}" if home is not None else "(no home skeleton is configured)"
    raise ConfigError(f"--server-address ini: no .pylinkahead.ini {where}; give the address "
                      "itself, e.g. --server-address https://127.0.0.1:10443.")


def resolve_address(value: str | None, home: Path | None) -> ServerAddress | None:
    """The address a ``server_address`` setting names (``ini``: the skeleton ini's url)."""
    if not value:
        return None
    return address_from_ini(home) if value == "ini" else parse_address(value)


def port_holder(port: int) -> str | None:
    """``pid 123 (python3)`` listening on ``port``, where the system tells (own processes, or
    all as root); None when it cannot be found out."""
    found = port_listener(port)
    return f"pid {found[0]} ({found[1]})" if found is not None else None


def port_taken_message(address: ServerAddress) -> str:
    holder = port_holder(address.port)
    who = f"taken by {holder}" if holder else "taken by another program"
    return (f"Port {address.port} on {address.bind_host} is {who}, so scripts that call "
            f"{address.base} cannot reach the stand-in there; stop that program (an "
            f"`sss-emulate serve` listens on 10443 by default), or run "
            f"without {address.origin}.")


class AddressListener:
    """An app served at a :class:`ServerAddress` (TLS for https) from :meth:`start` to
    :meth:`close`. The certificate is made at once, so a run's ini (and mounts) can name it
    before anything listens."""

    def __init__(self, address: ServerAddress, app: Callable[[], Any]) -> None:
        from sss_emulator.httpd import make_self_signed_cert

        self.address = address
        self._app = app
        self._stack = contextlib.ExitStack()
        self._lock = threading.Lock()
        self.tls: TlsFiles | None = None
        self.started = False
        if address.tls:
            folder = owned_dir("address-tls")  # swept by the next start if we are killed
            self._cleanup = folder
            self.tls = make_self_signed_cert(folder, address.host)

    @property
    def cert(self) -> Path | None:
        """The certificate clients must trust (None for an http address)."""
        return self.tls.cert if self.tls else None

    def start(self) -> AddressListener:
        """Listen (once); :class:`SetupError` with one line when the port is taken."""
        from sss_emulator.httpd import AddressInUse, running_server

        with self._lock:
            if self.started:
                return self
            app = self._app()

            def handler(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
                return app(environ, start_response)  # no public_url/close of ours to set

            try:
                self._stack.enter_context(running_server(
                    handler, self.address.bind_host, self.address.port, tls=self.tls))
            except AddressInUse:
                raise SetupError(port_taken_message(self.address)) from None
            except OSError as exc:
                raise SetupError(f"Cannot listen on {self.address.base} for the stand-in: "
                                 f"{exc.strerror or exc}; run without "
                                 f"{self.address.origin}.") from None
            self.started = True
            logger.debug("stand-in also at %s", self.address.base)
        return self

    def close(self) -> None:
        """Stop listening and remove the certificate."""
        with self._lock:
            self._stack.close()
            self.started = False
            if self.tls is not None:
                shutil.rmtree(self._cleanup, ignore_errors=True)


class ServerAddressHook:
    """After the stand-in hook: the stand-in also listens at ``address``, and each run's ini
    names that address (and the certificate) instead of the stand-in's own port."""

    def __init__(self, standin_hook: Any, address: ServerAddress) -> None:
        self.standin_hook = standin_hook
        self.address = address
        self.listener = AddressListener(address, lambda: self.standin_hook.stand_in.app)

    def before_run(self, context: RunContext) -> None:
        from sss_emulator.connect.standin import point_run_at

        self.listener.start()
        cacert = str(self.listener.cert) if self.listener.cert else None
        path_before = context.env.get("PATH")  # the stand-in hook has put sendmail there
        point_run_at(context, self.standin_hook.stand_in, url=self.url, cacert=cacert)
        if path_before is not None:
            context.env["PATH"] = path_before

    @property
    def url(self) -> str:
        root = getattr(self.standin_hook, "context_root", "").strip("/")
        return f"{self.address.base}/{root}" if root else self.address.base

    def after_run(self, context: RunContext, outcome: RunOutcome) -> RunOutcome:
        own = self.standin_hook.stand_in.url
        notes = tuple(n.replace(own, self.url) for n in outcome.notes)
        return dataclasses.replace(outcome, notes=notes)

    def close(self) -> None:
        self.listener.close()
