"""Running one process the way the server does: argv list, no shell, own process group.

Output is read by two threads so that stdout and stderr are captured separately and in full
while they can also be streamed live (text mode of the CLI). On timeout or interruption the whole
process group gets SIGTERM, then SIGKILL after a grace period, so a shell script's background
children die with it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import _decisions

__all__ = ("ProcessResult", "RunCancelled", "StreamSink", "run_process", "stop_group")

logger = logging.getLogger("sss_emulator.runner")

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


def _pump(stream: object, buffer: bytearray, sink: StreamSink | None) -> None:
    fd = stream.fileno()  # type: ignore[attr-defined]
    while chunk := os.read(fd, 65536):
        buffer.extend(chunk)
        if sink is not None:
            try:
                sink(chunk)
            except Exception:  # a broken consumer must not lose the capture
                logger.exception("live output sink failed")
                sink = None


def stop_group(proc: subprocess.Popen[bytes], grace_s: float = _decisions.KILL_GRACE_S) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``grace_s``."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        logger.debug("sent %s to process group %s", sig.name, proc.pid)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if proc.poll() is not None and not _group_alive(proc.pid):
                return
            time.sleep(0.02)


def _group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is left in the group.

    ``killpg(pgid, 0)`` also succeeds for zombies, which pile up where PID 1 does not reap
    orphans (containers); /proc tells them apart.
    """
    proc_root = Path("/proc")
    if not proc_root.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for entry in proc_root.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _wait(proc: subprocess.Popen[bytes], timeout: float | None,
          cancel: threading.Event | None) -> None:
    """``proc.wait(timeout)``, but also ends early with :class:`RunCancelled`."""
    if cancel is None:
        proc.wait(timeout=timeout)
        return
    deadline = None if timeout is None else time.monotonic() + timeout
    while proc.poll() is None:
        if cancel.wait(0.02):
            logger.info("run cancelled: stopping process group %s", proc.pid)
            raise RunCancelled(f"process group {proc.pid} stopped on request")
        if deadline is not None and time.monotonic() >= deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout or 0)


def _exit_code(returncode: int) -> int:
    return _decisions.exit_code_for_signal(-returncode) if returncode < 0 else returncode


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
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        close_fds=True,
    )
    out, err = bytearray(), bytearray()
    pumps = [
        threading.Thread(target=_pump, args=(proc.stdout, out, on_stdout), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, err, on_stderr), daemon=True),
    ]
    timed_out = False
    try:
        for pump in pumps:
            pump.start()
        try:
            _wait(proc, timeout, cancel)
        except subprocess.TimeoutExpired:
            timed_out = True
            logger.info("timeout after %ss: stopping process group %s", timeout, proc.pid)
            stop_group(proc)
        if _decisions.KILL_LEFTOVER_CHILDREN and _group_alive(proc.pid):
            stop_group(proc, grace_s=0.5)
    except BaseException:
        stop_group(proc)
        raise
    finally:
        for pump in pumps:
            pump.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    duration = time.monotonic() - started
    returncode = proc.wait()
    return ProcessResult(
        returncode=None if timed_out else _exit_code(returncode),
        stdout=bytes(out),
        stderr=bytes(err),
        duration_s=duration,
        timed_out=timed_out,
    )
