"""Finding a run's leftover processes: the one place that reads Linux's ``/proc``.

The runner asks whether a script's process group still has live members (to stop children it
left behind); ``serve`` asks which processes still work inside a run's directory (to stop them
at shutdown). Both are the same scan of ``/proc/<pid>``, written once here. Where there is no
``/proc`` (macOS), the scan finds nothing and callers fall back on what the kernel's process
calls tell them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ("ProcessInfo", "group_alive", "processes", "running_in")

_PROC = "/proc"


class ProcessInfo:
    """One process as ``/proc/<pid>/stat`` describes it.

    A plain class, not a dataclass: the runner imports this module on every CLI start, and a
    dataclass costs its creation (``exec`` of generated code) at import.
    """

    __slots__ = ("pgid", "pid", "state")

    def __init__(self, pid: int, state: str, pgid: int) -> None:
        self.pid = pid
        self.state = state  # "R", "S", ..., "Z" for a zombie (dead, waiting to be reaped)
        self.pgid = pgid

    @property
    def zombie(self) -> bool:
        return self.state == "Z"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProcessInfo):
            return NotImplemented
        return (self.pid, self.state, self.pgid) == (other.pid, other.state, other.pgid)

    def __hash__(self) -> int:
        return hash((self.pid, self.state, self.pgid))

    def __repr__(self) -> str:
        return f"ProcessInfo(pid={self.pid}, state={self.state!r}, pgid={self.pgid})"


def processes() -> Iterator[ProcessInfo]:
    """Every process visible now (none where there is no ``/proc``); ones that end while being
    read are skipped."""
    try:
        entries = os.scandir(_PROC)
    except OSError:
        return
    with entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"{_PROC}/{entry.name}/stat", encoding="utf-8",
                          errors="replace") as handle:
                    stat = handle.read()
            except OSError:
                continue
            # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses
            fields = stat[stat.rindex(")") + 2:].split()
            yield ProcessInfo(int(entry.name), fields[0], int(fields[2]))


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is left in process group ``pgid``.

    ``killpg(pgid, 0)`` also succeeds for zombies, which pile up where PID 1 does not reap
    orphans (containers); ``/proc`` tells them apart. Without ``/proc`` the kernel's answer
    stands.
    """
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    if not os.path.isdir(_PROC):
        return True
    return any(p.pgid == pgid and not p.zombie for p in processes())


def running_in(directory: Path) -> list[ProcessInfo]:
    """Live processes whose working directory is ``directory`` or below it."""
    prefix = str(directory)
    found = []
    for process in processes():
        if process.zombie:
            continue
        try:
            cwd = os.readlink(f"{_PROC}/{process.pid}/cwd")
        except OSError:
            continue
        if cwd == prefix or cwd.startswith(prefix + "/"):
            found.append(process)
    return found
