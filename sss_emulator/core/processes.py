"""Finding a run's leftover processes: the one place that reads Linux's ``/proc``.

The runner asks whether a script's process group still has live members (to stop children it
left behind); ``serve`` asks which processes still work inside a run's directory (to stop them
at shutdown); the reaper asks which orphans it adopted and which run marked them; the sweep of
dead runs' folders asks whether a folder's owner still runs (its start time tells a recycled
pid apart); ``--server-address`` asks who holds a port it cannot listen on. All of them read
``/proc``, and only here, so its formats are parsed once (``tests/core/test_architecture.py``
keeps it that way). Where there is no ``/proc`` (macOS), the scans find nothing and callers
fall back on what the kernel's process calls tell them.

Every CLI start imports this module, so it holds plain functions and one ``__slots__`` class:
no dataclasses, no imports beyond ``os``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

__all__ = (
    "MARKED_PIDS_SH",
    "ProcessInfo",
    "children",
    "command_name",
    "environ_value",
    "exists",
    "group_alive",
    "have_proc",
    "port_listener",
    "processes",
    "running_in",
    "start_time",
    "state",
)

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


def _stat_fields(text: str) -> list[str]:
    """The fields of a ``stat`` line after ``comm``, from the state on (``fields[0]``).

    ``comm`` may hold spaces and parentheses, so the line is split after its last ``)``.
    """
    return text[text.rindex(")") + 2 :].split()


def _read_stat(pid: int) -> list[str] | None:
    try:
        with open(f"{_PROC}/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            return _stat_fields(handle.read())
    except (OSError, ValueError):
        return None


def have_proc() -> bool:
    """Whether this system has ``/proc`` to ask (Linux); without it callers use ``kill(0)``."""
    return os.path.isdir(_PROC)


def exists(pid: int) -> bool:
    """Whether ``pid`` names a process (a zombie or another user's included), by ``kill(0)``.

    Not a ``/proc`` read, but the question every caller asks when ``/proc`` is missing.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def state(pid: int) -> str | None:
    """``pid``'s state letter (``"R"``, ``"S"``, ..., ``"Z"`` for a zombie); None when it is
    gone or there is no ``/proc``."""
    fields = _read_stat(pid)
    return fields[0] if fields else None


def start_time(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot, as the kernel writes it), or None when it
    is gone, a zombie, or there is no ``/proc``.

    A pid and its start time name one process for good: a pid the kernel hands out again comes
    with another start time, so a folder tagged with both is never taken for a new process's.
    """
    fields = _read_stat(pid)
    return fields[19] if fields is not None and len(fields) > 19 and fields[0] != "Z" else None


def command_name(pid: int) -> str | None:
    """``argv[0]`` of ``pid`` (what ``ps`` shows first), or None when it is gone or unreadable;
    how the emulator's own helpers (the guardian) are told apart from a run's processes."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace") if raw else None


def children(pid: int) -> list[int]:
    """The children of ``pid`` (of every thread of it); empty when that cannot be read.

    A subreaper finds the orphans it adopted here: they are no longer anyone else's children.
    """
    found: list[int] = []
    try:
        tasks = os.listdir(f"{_PROC}/{pid}/task")
    except OSError:
        return []
    for task in tasks:
        try:
            with open(f"{_PROC}/{pid}/task/{task}/children", encoding="ascii") as handle:
                found.extend(int(p) for p in handle.read().split())
        except (OSError, ValueError):
            continue
    return found


def environ_value(pid: int, name: str) -> str | None:
    """The value of variable ``name`` in ``pid``'s environment as it started, or None (unset,
    gone, or not ours to read).

    Descendants inherit a variable, so it marks which run a process belongs to even after it
    left the run's process group.
    """
    try:
        with open(f"{_PROC}/{pid}/environ", "rb") as handle:
            environ = handle.read()
    except OSError:
        return None
    prefix = name.encode() + b"="
    for entry in environ.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode(errors="replace")
    return None


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on TCP ``port`` (IPv4 and IPv6)."""
    inodes: set[str] = set()
    for table in (f"{_PROC}/net/tcp", f"{_PROC}/net/tcp6"):
        try:
            with open(table, encoding="ascii", errors="replace") as handle:
                lines = handle.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is HEXIP:HEXPORT; state 0A is LISTEN
            if (len(fields) > 9 and fields[3] == "0A"
                    and int(fields[1].rsplit(":", 1)[1], 16) == port):
                inodes.add(fields[9])
    return inodes


def port_listener(port: int) -> tuple[int, str] | None:
    """``(pid, command name)`` of a process listening on TCP ``port``, where ``/proc`` tells
    (this user's processes, or all as root); None when it cannot be found out.

    Only for a message that names who holds a port: it walks every process's open files.
    """
    inodes = {f"socket:[{i}]" for i in _listening_inodes(port)}
    if not inodes:
        return None
    try:
        entries = os.listdir(_PROC)
    except OSError:
        return None
    for name in entries:
        if not name.isdigit():
            continue
        try:
            fds = os.listdir(f"{_PROC}/{name}/fd")
            for fd in fds:
                if os.readlink(f"{_PROC}/{name}/fd/{fd}") in inodes:
                    with open(f"{_PROC}/{name}/comm", encoding="utf-8",
                              errors="replace") as handle:
                        return int(name), handle.read().strip()
        except OSError:
            continue
    return None


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
            # "pid (comm) state ppid pgrp ..."
            fields = _read_stat(int(entry.name))
            if fields is None:
                continue
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


#: :func:`environ_value`'s question asked of every process at once, in the POSIX shell, for a
#: watcher that outlives this interpreter (:mod:`sss_emulator.core.guardian`): ``marked
#: NAME=VALUE...`` prints the pid of each process whose environment holds one of the entries
#: exactly (``grep -z``: GNU and busybox). Entries must not hold blanks (run markers are hex).
MARKED_PIDS_SH = r"""marked() {
  [ $# -gt 0 ] || return 0
  set -- $(for entry in "$@"; do printf '%s\n' -e "$entry"; done)
  for file in $(grep -lsFxz "$@" /proc/[0-9]*/environ 2>/dev/null); do
    file=${file#/proc/}
    echo "${file%/environ}"
  done
}
"""
