"""Things that run in the background between ``start()`` and ``stop()``, usable with ``with``,
and :class:`OnFirstConnection`, which starts a listening socket's server only once a client
knocks, so a run whose script never calls back pays for a bound socket and nothing else.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import selectors
import threading
from _socket import socket as RawSocket  # not `socket`: see httpd.bind
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Self

from sss_emulator.logs import Logger

__all__ = ["OnFirstConnection", "Service"]

_log = Logger("sss_emulator.backend.lifecycle")


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
    """Wait in a small thread until a client knocks on one of ``serve``'s sockets, then call
    that socket's function once with it.

    Each socket is already listening (its address can be handed out at once); clients wait in
    its backlog until the function has built the real server on that same socket and accepts
    them. The function takes the socket over. Until then the cost is one thread blocked in
    ``select()``: started without waiting for it to run, and stopped without waiting for it to
    end (it only owns its wake-up pipe), because on a busy machine every hand-over between
    threads can cost milliseconds, more than a short script takes.

    :meth:`stop` closes the sockets nobody knocked on (their ports are free when it returns)
    and waits for a start under way; stopping what a function started is the caller's
    business. A function that raises is logged and its socket closed, so clients see the
    connection refused instead of waiting for ever.
    """

    def __init__(self, serve: Mapping[RawSocket, Callable[[RawSocket], None]],
                 name: str) -> None:
        self._pending = dict(serve)
        self._name = name
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = False
        self._stopping = False
        self._wake_r = self._wake_w = -1
        #: Sockets whose function ran without error.
        self.served: set[RawSocket] = set()

    def start(self) -> Self:
        self._wake_r, self._wake_w = os.pipe()
        _thread.start_new_thread(self._wait, (self._wake_r,))
        return self

    def _wait(self, wake_r: int) -> None:
        try:
            with selectors.DefaultSelector() as selector:
                with self._lock:
                    if self._stopping:
                        return
                    waiting = list(self._pending)
                try:
                    for sock in waiting:
                        selector.register(sock, selectors.EVENT_READ)
                    selector.register(wake_r, selectors.EVENT_READ)
                except (OSError, ValueError):  # stop() closed them meanwhile
                    return
                while True:
                    ready = [key.fileobj for key, _ in selector.select()]
                    with self._lock:
                        if self._stopping or wake_r in ready:
                            return
                        knocked = [(s, self._pending.pop(s)) for s in ready
                                   if isinstance(s, RawSocket) and s in self._pending]
                        self._busy = True
                    for sock, serve in knocked:
                        selector.unregister(sock)
                        self._start(sock, serve)
                    with self._lock:
                        self._busy = False
                        self._idle.notify_all()
                        if not self._pending:
                            return
        finally:
            os.close(wake_r)

    def _start(self, sock: RawSocket, serve: Callable[[RawSocket], None]) -> None:
        try:
            serve(sock)
        except Exception:
            _log.exception("%s could not start a server; its clients are refused", self._name)
            sock.close()
        else:
            self.served.add(sock)

    def stop(self) -> None:
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            self._idle.wait_for(lambda: not self._busy)
            pending, self._pending = list(self._pending), {}
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):  # the thread ended: every socket was served
                os.write(self._wake_w, b"x")
            os.close(self._wake_w)
            self._wake_w = -1
        for sock in pending:
            sock.close()
