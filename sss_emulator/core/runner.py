"""Running one process the way the server does: argv list, no shell, own process group
(and no controlling terminal).

stdout and stderr are read with one selector in the calling thread, captured separately and in
full, and can also be streamed live (text mode of the CLI). On timeout or interruption the whole
process group gets SIGTERM, then SIGKILL after a grace period, so a shell script's background
children die with it. Should this process die first (SIGKILL included), its guardian
(:mod:`sss_emulator.core.guardian`) does the same for every run still in flight.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sss_emulator import decisions
from sss_emulator.core import guardian, reaper
from sss_emulator.core.processes import group_alive
from sss_emulator.logs import Logger

__all__ = ("ProcessResult", "RunCancelled", "StreamSink", "run_process", "stop_group")

logger = Logger("sss_emulator.core.runner")

#: Receives each chunk of a stream as it arrives (for live output).
StreamSink = Callable[[bytes], None]


class RunCancelled(Exception):
    """The caller's ``cancel`` event was set; the process group was stopped (watch mode)."""


@dataclass(frozen=True)
class ProcessResult:
    """What a finished (or killed) process left behind."""

    returncode: int | None  # None when it was killed for the timeout
    stdout: bytes
    stderr: bytes
    duration_s: float
    timed_out: bool


def stop_group(proc: subprocess.Popen[bytes], grace_s: float = decisions.KILL_GRACE_S) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``grace_s``."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        logger.debug("sent %s to process group %s", sig.name, proc.pid)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if proc.poll() is not None and not group_alive(proc.pid):
                return
            time.sleep(0.02)


_new_session: bool | None = None


def _needs_new_session() -> bool:
    """Whether the script needs a session of its own, not just a process group (its pgid is
    its pid either way, which is what :func:`stop_group` needs).

    A new *session* also cuts it off from our controlling terminal, so it cannot read or write
    ``/dev/tty``, as on the server (a daemon). That is only needed while we have a terminal:
    without one, a new process group is the same for the script, and much cheaper where the
    kernel gives every session a scheduling group of its own (autogroup, on by default on
    desktop Linux): about 2 ms per run, as much as running a shell script takes.
    """
    global _new_session
    if _new_session is None:
        try:
            fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
        except OSError:  # no controlling terminal (CI, services, editors, pytest-xdist)
            _new_session = False
        else:
            os.close(fd)
            _new_session = True
    return _new_session


def _exit_code(returncode: int) -> int:
    return decisions.exit_code_for_signal(-returncode) if returncode < 0 else returncode


#: Output of one stream kept in memory while a script runs; beyond it, the rest goes to an
#: unnamed temporary file (nothing to clean up, nothing a watcher sees) and is read back once at
#: the end, so a 200 MB stdout costs its size once, not a growing buffer plus its copy.
CAPTURE_IN_MEMORY = 8 * 1024 * 1024


class _Capture:
    """One stream's bytes: a buffer, spilled to an unnamed temporary file when it grows."""

    __slots__ = ("_buffer", "_file", "size")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._file: BinaryIO | None = None
        self.size = 0

    def extend(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self._file is None and len(self._buffer) + len(chunk) <= CAPTURE_IN_MEMORY:
            self._buffer.extend(chunk)
            return
        if self._file is None:
            import tempfile  # only for a large output: a plain run need not load it

            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in value()/close()
            self._file.write(self._buffer)
            self._buffer = bytearray()
        self._file.write(chunk)

    def value(self) -> bytes:
        """Everything captured, as one ``bytes`` of exactly its size."""
        if self._file is None:
            return bytes(self._buffer)
        try:
            self._file.seek(0)
            return self._file.read()
        finally:
            self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


#: poll(2) where there is one: for the three descriptors of a run it needs no set-up and tear-down
#: system calls (epoll needs five to eight a run).
_SELECTOR: type[selectors.BaseSelector] = getattr(selectors, "PollSelector",
                                                  selectors.DefaultSelector)


class _Streams:
    """Reads stdout and stderr in the calling thread with one selector, as ``communicate`` does,
    so no thread has to start per run; each chunk also goes to its live sink.

    Where Linux offers a pidfd, the process's exit is one more event of the same selector, so a
    run ends the moment the script does instead of at the next poll. What is still watched is
    counted as events arrive (the runner asks after every wake-up).
    """

    _EXIT = 0

    def __init__(self, proc: subprocess.Popen[bytes], sinks: dict[int, StreamSink | None]):
        assert proc.stdout is not None and proc.stderr is not None
        self.buffers: dict[int, _Capture] = {}
        self.sinks = sinks
        self.selector = _SELECTOR()
        for key, stream in ((1, proc.stdout), (2, proc.stderr)):
            os.set_blocking(stream.fileno(), False)
            self.selector.register(stream, selectors.EVENT_READ, key)
            self.buffers[key] = _Capture()
        #: Streams not at EOF yet.
        self.streams_open = 2
        #: Whether the selector will wake up when the process exits (until it has).
        self.watching_exit = False
        self.pidfd: int | None = None
        with contextlib.suppress(AttributeError, OSError):  # not Linux >= 5.3
            self.pidfd = os.pidfd_open(proc.pid)
            self.selector.register(self.pidfd, selectors.EVENT_READ, self._EXIT)
            self.watching_exit = True

    @property
    def open(self) -> bool:
        return self.streams_open > 0

    def read(self, timeout: float | None) -> None:
        """Read what is there within ``timeout`` seconds (or until the process exits);
        unregister streams at EOF."""
        for key, _ in self.selector.select(timeout):
            if key.data == self._EXIT:
                self.selector.unregister(key.fileobj)
                self.watching_exit = False
                continue
            try:
                chunk = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                self.selector.unregister(key.fileobj)
                self.streams_open -= 1
                continue
            self.buffers[key.data].extend(chunk)
            sink = self.sinks.get(key.data)
            if sink is not None:
                try:
                    sink(chunk)
                except Exception:  # a broken consumer must not lose the capture
                    logger.exception("live output sink failed")
                    self.sinks[key.data] = None

    def drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.streams_open and time.monotonic() < deadline:
            self.read(0.05)

    def close(self) -> None:
        """Stop reading (the captures stay readable until :meth:`_Capture.value`)."""
        for key in list(self.selector.get_map().values()):
            self.selector.unregister(key.fileobj)
        self.selector.close()
        if self.pidfd is not None:
            os.close(self.pidfd)


def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float | None,
    on_stdout: StreamSink | None = None,
    on_stderr: StreamSink | None = None,
    cancel: threading.Event | None = None,
) -> ProcessResult:
    """Run ``argv`` with stdin from ``/dev/null`` and wait for it, at most ``timeout`` seconds.

    Raises ``OSError`` when the program cannot be started and ``KeyboardInterrupt`` after
    stopping the group when interrupted. Setting ``cancel`` (from another thread) stops the
    group the same way and raises :class:`RunCancelled`.
    """
    started = time.monotonic()
    deadline = None if timeout is None else started + timeout
    marker = reaper.new_marker()  # finds what the run leaves behind outside its group
    guardian.watch(marker)  # stopped with this process, however it ends
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**env, reaper.RUN_MARKER_ENV: marker},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
            start_new_session=_needs_new_session(),
            process_group=None if _needs_new_session() else 0,
        )
    except BaseException:
        guardian.release(marker)
        raise
    guardian.group(marker, proc.pid)
    timed_out = False
    reaper.track(proc.pid)
    streams = _Streams(proc, {1: on_stdout, 2: on_stderr})
    try:
        # Until the script exits: read output, watch the clock and the cancel flag. While the
        # pidfd is watched, its event says when the script has exited (then poll() reaps it).
        while streams.watching_exit or proc.poll() is None:
            if cancel is not None and cancel.is_set():
                logger.info("run cancelled: stopping process group %s", proc.pid)
                raise RunCancelled(f"process group {proc.pid} stopped on request")
            if deadline is not None and time.monotonic() >= deadline:
                timed_out = True
                logger.info("timeout after %ss: stopping process group %s", timeout, proc.pid)
                stop_group(proc)
                break
            # Sleep until output, the exit (pidfd) or the deadline; wake up regularly only
            # to look at a cancel flag, or where no pidfd tells of the exit.
            wait: float | None = None if streams.watching_exit and cancel is None else 0.05
            if deadline is not None:
                remaining = max(0.0, deadline - time.monotonic())
                wait = remaining if wait is None else min(wait, remaining)
            if streams.open or streams.watching_exit:
                streams.read(wait)
            elif cancel is None:
                # Output is closed and no pidfd: block in waitpid rather than poll in steps.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=wait)
            else:
                cancel.wait(wait)
        # The script is gone; children it left may still hold the pipes open.
        streams.drain(0.0)
        if decisions.KILL_LEFTOVER_CHILDREN and group_alive(proc.pid):
            stop_group(proc, grace_s=0.5)
        if decisions.KILL_LEFTOVER_CHILDREN:
            reaper.reap_run(marker)  # setsid daemons, adopted as orphans (a CLI process)
        streams.drain(5.0)
    except BaseException:
        stop_group(proc)
        reaper.reap_run(marker)
        streams.drain(1.0)
        for capture in streams.buffers.values():
            capture.close()
        raise
    finally:
        if decisions.KILL_LEFTOVER_CHILDREN or not group_alive(proc.pid):
            guardian.release(marker)
        streams.close()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    returncode = proc.wait()
    reaper.untrack(proc.pid)
    return ProcessResult(
        returncode=None if timed_out else _exit_code(returncode),
        stdout=streams.buffers[1].value(),
        stderr=streams.buffers[2].value(),
        duration_s=time.monotonic() - started,
        timed_out=timed_out,
    )
