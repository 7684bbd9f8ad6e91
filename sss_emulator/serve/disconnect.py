"""Learn that an HTTP client went away while its request is still being answered.

A run that waits for a debugger can wait long; when the browser tab is closed or curl is
stopped, nobody will ever attach, and the waiting process (with its open debugpy port) must end
then, not when someone attaches. The request's socket tells: ``POLLRDHUP`` (Linux) reports that
the peer closed its side, without reading anything from the socket (a read would take bytes of
a pipelined request, and a TLS socket cannot be peeked).
"""

from __future__ import annotations

import contextlib
import select
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ("cancel_on_disconnect",)

#: How often the watcher looks at the socket, in seconds (it also wakes when the run ends).
POLL_INTERVAL_S = 0.2
_GONE = getattr(select, "POLLRDHUP", 0) | select.POLLHUP | select.POLLERR | select.POLLNVAL


@contextlib.contextmanager
def cancel_on_disconnect(sock: Any) -> Iterator[threading.Event]:
    """An event that is set once the client of ``sock`` hangs up (while the block runs).

    ``sock`` is the request's socket (werkzeug's ``environ["werkzeug.socket"]``); without one
    (an in-memory test client) the event is never set.
    """
    cancel = threading.Event()
    fileno = getattr(sock, "fileno", None)
    fd = fileno() if callable(fileno) else -1
    if not isinstance(fd, int) or fd < 0 or not hasattr(select, "POLLRDHUP"):
        yield cancel
        return
    done = threading.Event()
    poller = select.poll()
    poller.register(fd, select.POLLRDHUP)

    def watch() -> None:
        while not done.is_set():
            events = poller.poll(POLL_INTERVAL_S * 1000)
            if any(mask & _GONE for _, mask in events):
                cancel.set()
                return

    thread = threading.Thread(target=watch, name="sss-disconnect-watch", daemon=True)
    thread.start()
    try:
        yield cancel
    finally:
        done.set()
        thread.join()
