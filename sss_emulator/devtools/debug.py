"""A debugger that waits: run a Python script under debugpy, started only once an IDE attached.

:class:`DebugRunner` is a :class:`~sss_emulator.core.hooks.ProcessRunner`. It starts
``debug_wrapper.py`` with this interpreter, learns over an inherited pipe when debugpy listens
(``on_listening`` tells the user where to attach) and when a client finished attaching, and only
then starts the run's clock: the timeout does not tick while it waits, and a cancel (watch mode
rerun, Ctrl+C, ``serve``'s client going away) stops the wait. ``attach_timeout`` bounds the wait
itself (``serve`` gives it the run's timeout, so a request nobody attaches to ends). The port
is never probed by connecting to it: a bare connect can break debugpy's session for the real
client.

What the script sees is a direct run's: its path as ``argv[0]``, its folder as ``sys.path[0]``,
the server's arguments, HOME, SHARED_DIR. Coverage is switched off for it (a tracer and the
debugger do not mix: coverage would record nothing and debugpy would warn).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from sss_emulator import decisions
from sss_emulator.core import guardian, reaper
from sss_emulator.core.processes import group_alive
from sss_emulator.core.runner import ProcessResult, RunCancelled, StreamSink, stop_group
from sss_emulator.devtools import is_python_script, shebang
from sss_emulator.devtools.coverage import strip_coverage_env
from sss_emulator.errors import BadRequestForm, ConfigError, SetupError

__all__ = ("DEBUG_WAIT_HEADER", "DEFAULT_PORT", "DebugRunner", "attach_instructions",
           "parse_debug_wait", "require_debugpy")

logger = logging.getLogger("sss_emulator.devtools.debug")

#: debugpy's and VS Code's customary port.
DEFAULT_PORT = 5678
#: The header the browser page's "wait for a debugger" field sends with ``POST /scripting``.
DEBUG_WAIT_HEADER = "X-SSS-Debug-Wait"
#: Where debugpy listens: never beyond this machine.
HOST = "127.0.0.1"
#: Seconds for the wrapper to import debugpy and listen before we give up.
LISTEN_TIMEOUT_S = 30.0
WRAPPER = Path(__file__).with_name("debug_wrapper.py")
MISSING_MESSAGE = ("--debug-wait needs debugpy: pip install 'sss-emulator[debug]' "
                   "(or pip install debugpy)")

#: Called with (host, port) once the script waits for a debugger.
ListeningSink = Callable[[str, int], None]


def parse_debug_wait(value: object, where: str = "--debug-wait") -> tuple[int, bool] | None:
    """``--debug-wait`` values: true/``""``/``default`` (port 5678), PORT, ``once``, ``once:PORT``
    → (port, once); false/None/``off`` → None."""
    if value is None or value is False:
        return None
    text = "" if value is True else str(value).strip().lower()
    if text in ("off", "false", "no", "none"):
        return None
    once = False
    if text == "once" or text.startswith("once:"):
        once, text = True, text[5:]
    if text in ("", "default", "true", "yes", "on"):
        return DEFAULT_PORT, once
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise ConfigError(f"{where} {value!r}: give a port (e.g. --debug-wait=5678), 0 for any "
                          "free port, or 'once' / 'once:PORT' to wait on the first run only")
    return int(text), once


def require_debugpy() -> None:
    """One line instead of a traceback when debugpy is not installed."""
    if importlib.util.find_spec("debugpy") is None:
        raise SetupError(MISSING_MESSAGE)


def attach_instructions(host: str, port: int, script: str) -> str:
    """What to tell the user while the script waits."""
    return (f"debug: {script} waits for a debugger on {host}:{port}; attach with VS Code "
            f"('Attach to sss-emulator script', docs/debugging.md) or any DAP client — the "
            "script starts once it is attached")


class DebugRunner:
    """Runs Python scripts under debugpy, waiting for a client first; refuses other scripts."""

    def __init__(self, port: int = DEFAULT_PORT, *,
                 on_listening: ListeningSink | None = None,
                 listen_timeout: float = LISTEN_TIMEOUT_S,
                 attach_timeout: float | None = None) -> None:
        self.port = port
        self.on_listening = on_listening
        self.listen_timeout = listen_timeout
        #: Seconds to wait for a debugger to attach (None: until attached or cancelled).
        self.attach_timeout = attach_timeout
        #: The (host, port) of the last run's listener (port 0 asks for a free one).
        self.address: tuple[str, int] | None = None

    def __call__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        timeout: float | None,
        on_stdout: StreamSink | None = None,
        on_stderr: StreamSink | None = None,
        cancel: threading.Event | None = None,
    ) -> ProcessResult:
        script = Path(argv[0])
        if not is_python_script(script):
            line = shebang(script).decode(errors="replace")
            what = f"starts with {line!r}" if line else "has no shebang line"
            raise BadRequestForm(f"--debug-wait works for Python scripts only; {script.name} "
                                 f"{what}. Run it without --debug-wait.")
        require_debugpy()
        status_r, status_w = os.pipe()
        child_env = strip_coverage_env(env)
        child_env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
        marker = reaper.new_marker()  # a waiting debugger ends with the emulator too
        child_env[reaper.RUN_MARKER_ENV] = marker
        guardian.watch(marker)
        try:
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-X", "frozen_modules=off", str(WRAPPER), str(status_w),
                     HOST, str(self.port), str(script), *argv[1:]],
                    cwd=cwd, env=child_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, start_new_session=True, pass_fds=(status_w,),
                )
            finally:
                os.close(status_w)
            guardian.group(marker, proc.pid)
            return _Session(self, proc, status_r, {1: on_stdout, 2: on_stderr}).run(timeout,
                                                                                     cancel)
        finally:
            reaper.reap_run(marker)  # setsid daemons, adopted as orphans (a CLI process)
            guardian.release(marker)


class _Session:
    """One debugged process: read its status pipe and output, then watch its clock."""

    def __init__(self, runner: DebugRunner, proc: subprocess.Popen[bytes], status: int,
                 sinks: dict[int, StreamSink | None]) -> None:
        self.runner, self.proc, self.sinks = runner, proc, sinks
        self.buffers: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
        self.status_text = b""
        self.selector = selectors.DefaultSelector()
        assert proc.stdout is not None and proc.stderr is not None
        for key, stream in ((1, proc.stdout), (2, proc.stderr)):
            os.set_blocking(stream.fileno(), False)
            self.selector.register(stream, selectors.EVENT_READ, key)
        self.status = status
        self.selector.register(status, selectors.EVENT_READ, 0)

    def _read(self, wait: float | None) -> None:
        for key, _ in self.selector.select(wait):
            chunk = os.read(key.fd, 65536)
            if not chunk:
                self.selector.unregister(key.fileobj)
                continue
            if key.data == 0:
                self.status_text += chunk
                continue
            self.buffers[key.data].extend(chunk)
            sink = self.sinks.get(key.data)
            if sink is not None:
                sink(chunk)

    def _status_lines(self) -> list[str]:
        return self.status_text.decode(errors="replace").splitlines()

    def _status_open(self) -> bool:
        return any(k.data == 0 for k in self.selector.get_map().values())

    def _wait_for(self, word: str, deadline: float | None,
                  cancel: threading.Event | None, late: str = "") -> bool:
        """Read until the status pipe says ``word``; False if it closed without it, and a
        :class:`SetupError` saying ``late`` once ``deadline`` passed."""
        while not any(line.startswith(word) for line in self._status_lines()):
            if not self._status_open():
                return False
            if cancel is not None and cancel.is_set():
                raise RunCancelled(f"process group {self.proc.pid} stopped while waiting for a "
                                   "debugger")
            if deadline is not None and time.monotonic() >= deadline:
                raise SetupError(late)
            self._read(0.1)
        return True

    def _failure(self) -> SetupError:
        self.proc.wait()
        self._drain()
        stderr = self.buffers[2].decode(errors="replace").strip().splitlines()
        why = stderr[-1] if stderr else f"it exited with {self.proc.returncode}"
        return SetupError(f"Cannot start the script under the debugger: {why}")

    def _drain(self) -> None:
        end = time.monotonic() + 5
        while any(k.data != 0 for k in self.selector.get_map().values()) \
                and time.monotonic() < end:
            self._read(0.05)

    def run(self, timeout: float | None, cancel: threading.Event | None) -> ProcessResult:
        try:
            runner = self.runner
            if not self._wait_for("LISTENING", time.monotonic() + runner.listen_timeout, cancel,
                                  f"debugpy did not start listening within "
                                  f"{runner.listen_timeout:g} s"):
                raise self._failure()
            _, host, port = next(line for line in self._status_lines()
                                 if line.startswith("LISTENING")).split()
            self.runner.address = (host, int(port))
            if self.runner.on_listening is not None:
                self.runner.on_listening(host, int(port))
            limit = runner.attach_timeout
            if not self._wait_for("ATTACHED", None if limit is None else time.monotonic() + limit,
                                  cancel, f"No debugger attached within {limit or 0:g} s (the "
                                  "run's timeout), so the script did not run; attach sooner or "
                                  "raise --timeout."):
                raise self._failure()
            return self._run_script(timeout, cancel)
        except BaseException:
            stop_group(self.proc, grace_s=0.5)
            raise
        finally:
            self.selector.close()
            with contextlib.suppress(OSError):
                os.close(self.status)
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()

    def _run_script(self, timeout: float | None, cancel: threading.Event | None
                    ) -> ProcessResult:
        """The script runs now: its clock starts here, not when the wrapper started."""
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        timed_out = False
        while self.proc.poll() is None:
            if cancel is not None and cancel.is_set():
                raise RunCancelled(f"process group {self.proc.pid} stopped on request")
            if deadline is not None and time.monotonic() >= deadline:
                timed_out = True
                stop_group(self.proc)
                break
            self._read(0.05)
        self._drain()
        returncode = self.proc.wait()
        if decisions.KILL_LEFTOVER_CHILDREN and group_alive(self.proc.pid):
            stop_group(self.proc, grace_s=0.5)  # as a run without the debugger
        if returncode < 0:
            returncode = decisions.exit_code_for_signal(-returncode)
        return ProcessResult(returncode=None if timed_out else returncode,
                             stdout=bytes(self.buffers[1]), stderr=bytes(self.buffers[2]),
                             duration_s=time.monotonic() - started, timed_out=timed_out)
