"""Nothing a run starts outlives it, not even a ``setsid`` daemon.

A script's process group is stopped when it ends (:mod:`sss_emulator.core.runner`), but a
process that called ``setsid`` (``setsid sleep 300 &``, a daemon) has left that group. On Linux
the emulator's command-line process becomes a *child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``):
orphans of its runs are re-parented to it instead of to init, so they can be found among its own
children. Each run's environment carries a marker (:data:`RUN_MARKER_ENV`); after the run, the
adopted children that carry the run's marker are killed with their process groups and reaped,
and adopted children that already exited are reaped so that no zombies pile up.

Only processes that own all their children become subreapers (the CLI: ``run``, ``watch``,
``serve``); inside a test process or another program, the emulator never waits for children it
did not start.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
import time

from sss_emulator.core import processes
from sss_emulator.logs import Logger

__all__ = ("RUN_MARKER_ENV", "become_subreaper", "is_subreaper", "new_marker", "reap_run",
           "track", "untrack")

logger = Logger("sss_emulator.core.reaper")

#: The variable that marks a run's processes (and their descendants, which inherit it).
RUN_MARKER_ENV = "SSS_EMULATOR_RUN"
_PR_SET_CHILD_SUBREAPER = 36
_ROUNDS = 10

_state = {"subreaper": False}
_tracked: set[int] = set()
_lock = threading.Lock()


def become_subreaper() -> bool:
    """Make this process the reaper of its runs' orphans (Linux); whether that worked."""
    if _state["subreaper"]:
        return True
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        ok = bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        ok = False
    _state["subreaper"] = ok
    if not ok:
        logger.debug("not a child subreaper: daemons a script starts with setsid may outlive it")
    return ok


def is_subreaper() -> bool:
    return _state["subreaper"]


def new_marker() -> str:
    return os.urandom(8).hex()


def track(pid: int) -> None:
    """``pid`` is a script the runner waits for itself: never reap or kill it here."""
    with _lock:
        _tracked.add(pid)


def untrack(pid: int) -> None:
    with _lock:
        _tracked.discard(pid)


def _children() -> list[int]:
    """This process's children: its runs' scripts and the orphans it adopted."""
    return processes.children(os.getpid())


def _marker(pid: int) -> str | None:
    return processes.environ_value(pid, RUN_MARKER_ENV)


def _zombie(pid: int) -> bool:
    return processes.state(pid) == "Z"


def _reap(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done or time.monotonic() >= deadline:
            return
        time.sleep(0.01)


def reap_run(marker: str) -> list[int]:
    """Kill and reap the adopted orphans of the run marked ``marker``; reap exited orphans.

    Returns the pids killed. Does nothing unless this process is a subreaper.
    """
    if not _state["subreaper"]:
        return []
    killed: list[int] = []
    for _ in range(_ROUNDS):  # an orphan's own children are adopted once it dies
        with _lock:
            tracked = set(_tracked)
        candidates = [pid for pid in _children() if pid not in tracked]
        for pid in candidates:
            if _zombie(pid):
                _reap(pid, 0)
        victims = [pid for pid in candidates if not _zombie(pid) and _marker(pid) == marker]
        if not victims:
            break
        for pid in victims:
            with contextlib.suppress(OSError):
                if os.getpgid(pid) == pid:
                    os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            logger.info("stopped process %s that a run left behind (setsid)", pid)
        for pid in victims:
            _reap(pid, 2.0)
        killed.extend(victims)
    return killed
