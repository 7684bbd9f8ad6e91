"""Run the stand-in on 127.0.0.1 in a background thread, for one CLI run or one test."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sss_emulator.backend.lifecycle import Service

__all__ = ["BackendServer"]

_log = logging.getLogger("sss_emulator.backend.service")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _QuietHandler(WSGIRequestHandler):
    """Send werkzeug's per-request log lines to our logger at debug level, not to stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        _log.debug("%s %s", self.requestline, code)

    def log(self, type: str, message: str, *args: Any) -> None:
        _log.debug(message, *args)


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
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, no trailing slash."""
        if self._server is None:
            raise RuntimeError(
                "BackendServer is not running; use it as a context manager or call start()."
            )
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> BackendServer:
        """Bind and serve in a daemon thread."""
        self._server = make_server(
            self.host, self.port, self.app, threaded=True, request_handler=_QuietHandler
        )
        # a short poll interval makes stop() return quickly (tests start many servers)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="sss-backend", daemon=True
        )
        self._thread.start()
        _log.debug("stand-in listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

