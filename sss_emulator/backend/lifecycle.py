"""Things that run in the background between ``start()`` and ``stop()``, usable with ``with``,
and :class:`OnFirstConnection`, which starts a listening socket's server only once a client
knocks, so a run whose script never calls back pays for a bound socket and nothing else.
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self

__all__ = ["OnFirstConnection", "Service"]

_log = logging.getLogger("sss_emulator.backend.lifecycle")


class Service:
    """``with x:`` starts ``x`` and stops it on the way out, exception or not."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class OnFirstConnection(Service):
    """Wait in a small thread until ``sock`` has a client, then call ``serve(sock)`` once.

    ``sock`` is already listening (its address can be handed out at once); clients that connect
    wait in its backlog until ``serve`` has built the real server on that same socket and
    accepts them. ``serve`` takes the socket over. Until then the cost is one thread blocked in
    ``select()``. :meth:`stop` wakes the thread and waits for it, including for a ``serve`` under
    way, and closes the socket when ``serve`` never ran; stopping what ``serve`` started is the
    caller's business (check :attr:`served`).

    A ``serve`` that raises is logged and the socket closed, so clients see the connection
    refused instead of waiting for ever.
    """

    def __init__(self, sock: socket.socket, serve: Callable[[socket.socket], None],
                 name: str) -> None:
        self.sock = sock
        self._serve = serve
        self._name = name
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self.served = False

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._wait, name=self._name, daemon=True)
        self._thread.start()
        return self

    def _wait(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in selector.select()}
                if self._wake_r in ready:
                    return  # stop() before any client
                if self.sock in ready:
                    break
        try:
            self._serve(self.sock)
            self.served = True
        except Exception:
            _log.exception("%s could not start; its clients are refused", self._name)
            self.sock.close()

    def stop(self) -> None:
        if self._wake_w < 0:
            return  # stopped before
        if self._thread is not None:
            os.write(self._wake_w, b"x")
            self._thread.join()
            self._thread = None
        os.close(self._wake_r)
        os.close(self._wake_w)
        self._wake_r = self._wake_w = -1
        if not self.served:
            self.sock.close()
