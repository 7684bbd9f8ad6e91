"""Run the stand-in's app on 127.0.0.1 in a background thread, for one test or a benchmark.

A thin :class:`~sss_emulator.backend.lifecycle.Service` over :mod:`sss_emulator.httpd`, the one
threaded server helper (``serve`` uses it too), so both answer with the same handler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sss_emulator import httpd
from sss_emulator.backend.lifecycle import Service

if TYPE_CHECKING:
    from sss_emulator.httpd import ServerHandle

__all__ = ["BackendServer"]

_log = logging.getLogger("sss_emulator.backend.service")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class BackendServer(Service):
    """A threaded werkzeug server on an ephemeral port, stopped on exit.

    Example::

        with BackendServer(app) as srv:
            linkahead.configure_connection(url=srv.url, auth_token=token)
    """

    def __init__(self, app: WsgiApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._handle: ServerHandle | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, no trailing slash."""
        if self._handle is None:
            raise RuntimeError(
                "BackendServer is not running; use it as a context manager or call start()."
            )
        return self._handle.url

    def start(self) -> BackendServer:
        """Bind and serve in a daemon thread."""
        # a short poll interval makes stop() return quickly (tests start many servers)
        self._handle = httpd.start_server(self.app, httpd.bind(self.host, self.port),
                                          poll_interval=0.05, name="sss-backend")
        _log.debug("stand-in listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._handle is not None:
            self._handle.stop()
        self._handle = None
