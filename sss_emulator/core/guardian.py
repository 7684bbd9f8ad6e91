"""Nothing a run starts outlives the emulator that started it, however the emulator ends.

The runner stops a script's process group when the run ends, and the CLI's reaper catches the
``setsid`` daemons it leaves (:mod:`sss_emulator.core.reaper`). Neither happens when the
emulator itself is killed (``timeout -s KILL``, the OOM killer, a closed IDE): its scripts ran
on until a later start swept their folders (:mod:`sss_emulator.core.roots`). So each emulator
process has one *guardian*: a small POSIX shell started on the first run, in a session of its
own (a signal to the emulator's process group, as ``timeout`` sends, does not reach it),
reading the one end of a pipe whose other end only the emulator holds (close-on-exec: no script
inherits it). The emulator writes to the pipe when a run starts (its marker, then its process
group) and when it is over. However the emulator ends, the kernel closes its end, the guardian
reads end-of-file, and stops what the runs still in flight left: their process groups and every
process carrying one of their markers in its environment (a daemon that called ``setsid``),
with SIGTERM, then SIGKILL after :data:`~sss_emulator.decisions.KILL_GRACE_S` as the runner
does. After a normal end no run is in flight and the guardian just exits.

Why this design and not another:

* ``PR_SET_PDEATHSIG`` set in the script fires when the *thread* that forked it ends (``serve``
  and watch mode start scripts from threads), and it reaches the script alone, not its children
  or daemons.
* One guardian per emulator process, not per run: ``Emulator.run`` in a long-lived process (a
  test session, ``serve``) pays for it once; it is a shell (about as cheap to start as the
  script itself, no interpreter), started once the first script runs, so its start overlaps
  the script's. A pipe's end-of-file does not depend on which thread wrote, nor on how the
  writer died.
* A process forked from the emulator without ``exec`` forgets the inherited pipe (its own runs
  get a guardian of their own), so it cannot keep its parent's guardian waiting.

The sweep of dead owners' folders stays as the second line (a guardian someone killed, a
system without ``/bin/sh``). Where the guardian cannot be started the runs go on as before.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

from sss_emulator import decisions
from sss_emulator.core import processes
from sss_emulator.core.reaper import RUN_MARKER_ENV
from sss_emulator.logs import Logger

__all__ = ("GUARDIAN_NAME", "group", "release", "watch")

logger = Logger("sss_emulator.core.guardian")

#: The guardian's ``argv[0]`` (what ``ps`` shows).
GUARDIAN_NAME = "sss-emulator-guardian"
_SHELL = "/bin/sh"

#: The guardian. Lines on stdin: ``+ MARKER`` (a run is about to start), ``= MARKER PGID`` (its
#: process group), ``- MARKER`` (the run is over, its processes stopped). ``$live`` holds the
#: runs in flight as `` MARKER:PGID `` words. At end-of-file: SIGTERM to their groups and to the
#: processes marked with their markers, up to ``$2`` tenths of a second for them to end, then
#: SIGKILL until none is left (a dying daemon's children are found in the next round).
_WATCH_SH = r"""
cd / || exit 1
live=' '
while read -r op marker pgid; do
  case $marker in ''|*[!0-9a-f]*) continue ;; esac
  case $op in
    +) case $live in *" $marker:"*) ;; *) live="$live$marker:0 " ;; esac ;;
    =) case $pgid in ''|*[!0-9]*) continue ;; esac
       case $live in
         *" $marker:0 "*) live="${live%%" $marker:0 "*} $marker:$pgid ${live#*" $marker:0 "}" ;;
       esac ;;
    -) case $live in
         *" $marker:"*) live="${live%%" $marker:"*} ${live#*" $marker:"*" "}" ;;
       esac ;;
  esac
done
[ "$live" = ' ' ] && exit 0
groups=
entries=
for run in $live; do
  [ "${run#*:}" = 0 ] || groups="$groups ${run#*:}"
  entries="$entries $1=${run%%:*}"
done
send() {
  hit=1
  for pgid in $groups; do kill -s "$1" -- "-$pgid" 2>/dev/null && hit=0; done
  for pid in $(marked $entries); do
    kill -s "$1" -- "-$pid" 2>/dev/null
    kill -s "$1" "$pid" 2>/dev/null && hit=0
  done
  return $hit
}
if send TERM; then
  tick=0
  while [ $tick -lt "$2" ] && send 0; do sleep 0.1; tick=$((tick + 1)); done
fi
round=0
while [ $round -lt 20 ] && send KILL; do sleep 0.05; round=$((round + 1)); done
"""
_SCRIPT = processes.MARKED_PIDS_SH + _WATCH_SH


class _Guardian:
    """This process's end of the pipe, and whether the guardian reading it was started."""

    __slots__ = ("fd", "owner", "pid", "read_fd")

    def __init__(self, fd: int, read_fd: int) -> None:
        self.fd = fd
        self.read_fd: int | None = read_fd  # until the guardian holds it
        self.owner = os.getpid()
        self.pid: int | None = None


_lock = threading.Lock()
_current: list[_Guardian] = []
#: Runs in flight: marker -> process group (0 until known), written again to a new guardian.
_live: dict[str, int] = {}
_state = {"failed": False, "fork_hook": False}


def _forget_after_fork() -> None:
    """In a child forked without ``exec``: let go of the parent's pipe, so that the parent's
    guardian still sees the end when the parent dies; this process's runs get their own. The
    lock is made anew: another thread of the parent may have held it at the fork."""
    global _lock
    _lock = threading.Lock()
    _forget()


def _forget() -> None:
    for guardian in _current:
        for fd in (guardian.fd, guardian.read_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
    _current.clear()
    _live.clear()


def _pipe() -> _Guardian | None:
    """This process's guardian pipe (made on first use, again after a fork), or None."""
    if _current and _current[0].owner == os.getpid():
        return _current[0]
    if _state["failed"]:
        return None
    if _current:  # forked without the hook (it runs only for os.fork)
        _forget()
    try:
        read_fd, write_fd = os.pipe()  # both close-on-exec: no script inherits them
    except OSError as exc:
        logger.debug("no guardian (pipe: %s): scripts may outlive a killed emulator", exc)
        _state["failed"] = True
        return None
    if read_fd <= 2:  # stdin was closed: dup2 onto the same number would keep close-on-exec
        import fcntl

        moved = fcntl.fcntl(read_fd, fcntl.F_DUPFD_CLOEXEC, 3)
        os.close(read_fd)
        read_fd = moved
    os.set_blocking(write_fd, False)  # a stuck guardian must never stall a run
    if not _state["fork_hook"]:
        os.register_at_fork(after_in_child=_forget_after_fork)
        _state["fork_hook"] = True
    guardian = _Guardian(write_fd, read_fd)
    _current[:] = [guardian]
    for marker, pgid in _live.items():  # runs in flight while a killed guardian was replaced
        _write(guardian, f"+ {marker}\n" + (f"= {marker} {pgid}\n" if pgid else ""))
    return guardian


def _write(guardian: _Guardian, line: str) -> bool:
    try:
        os.write(guardian.fd, line.encode("ascii"))
    except BlockingIOError:  # thousands of lines unread: the guardian is stuck
        logger.debug("guardian pipe full; dropped %r", line)
    except OSError as exc:  # the guardian is gone (killed): the next run starts another
        logger.debug("guardian gone (%s); starting another with the next run", exc)
        _drop(guardian)
        return False
    return True


def _drop(guardian: _Guardian) -> None:
    for fd in (guardian.fd, guardian.read_fd):
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
    if guardian.pid is not None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(guardian.pid, os.WNOHANG)
    _current.clear()


def _send(line: str) -> None:
    guardian = _pipe()
    if guardian is not None:
        _write(guardian, line)


def watch(marker: str) -> None:
    """A run marked ``marker`` (:func:`sss_emulator.core.reaper.new_marker`, hex) is about to
    start: from now on its processes are stopped should this process die."""
    with _lock:
        _send(f"+ {marker}\n")
        _live[marker] = 0


def group(marker: str, pgid: int) -> None:
    """The run ``marker`` started as process group ``pgid``; starts the guardian on the first
    run (after the script, so that its start overlaps the script's)."""
    with _lock:
        _live[marker] = pgid
        guardian = _pipe()
        if guardian is None:
            return
        if guardian.pid is None and not _start(guardian):
            return
        _write(guardian, f"= {marker} {pgid}\n")


def release(marker: str) -> None:
    """The run ``marker`` is over and what it started is stopped (or meant to live on)."""
    with _lock:
        if _live.pop(marker, None) is not None:
            _send(f"- {marker}\n")


def _start(guardian: _Guardian) -> bool:
    """Start the guardian on the pipe's read end (called with the lock held)."""
    read_fd = guardian.read_fd
    assert read_fd is not None
    devnull = None
    try:
        devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        pid = _spawn(read_fd, devnull)
    except (OSError, NotImplementedError, AttributeError) as exc:
        logger.debug("no guardian (%s): scripts may outlive a killed emulator", exc)
        _state["failed"] = True
        _drop(guardian)
        return False
    finally:
        if devnull is not None:
            os.close(devnull)
    os.close(read_fd)
    guardian.read_fd = None
    guardian.pid = pid
    return True


def _spawn(read_fd: int, devnull: int) -> int:
    """``posix_spawn`` (no fork of this interpreter) the shell with the pipe as its stdin.

    Its own session: not in the emulator's process group (``timeout`` signals that whole group)
    and no terminal (Ctrl+C must not end it before the emulator); a process group of its own
    where the C library cannot make a session. Signals the emulator ignores are reset; stdout
    and stderr go nowhere (a caller reading the emulator's output to its end must not wait for
    the guardian).
    """
    ticks = str(max(1, round(decisions.KILL_GRACE_S * 10)))
    argv = [GUARDIAN_NAME, "-c", _SCRIPT, GUARDIAN_NAME, RUN_MARKER_ENV, ticks]
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
    actions = [(os.POSIX_SPAWN_DUP2, read_fd, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
               (os.POSIX_SPAWN_DUP2, devnull, 2)]
    reset = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE)
    try:
        return os.posix_spawn(_SHELL, argv, env, file_actions=actions, setsid=True,
                              setsigdef=reset)
    except NotImplementedError:
        return os.posix_spawn(_SHELL, argv, env, file_actions=actions, setpgroup=0,
                              setsigdef=reset)
