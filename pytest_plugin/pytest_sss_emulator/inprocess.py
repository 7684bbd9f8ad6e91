"""Running a Python script inside the test process, dressed up as the server's subprocess.

The point of in-process mode is what a subprocess hides from a test: ``fp`` (pytest-subprocess)
can fake the programs the script starts, ``monkeypatch`` reaches the modules it imports,
coverage measures it and a debugger can step into it. The price is that the process is shared:
everything this module changes for the run (argv, cwd, environment, ``sys.path``, standard
streams, signal timer, warning filters, logging handlers) is saved first and restored in
``finally``; what it cannot restore is listed in ``docs/testing.md``.

:func:`run_inprocess` has :func:`sss_emulator.core.runner.run_process`'s signature, so an
:class:`~sss_emulator.core.emulator.Emulator` can use it as its process runner.
"""

from __future__ import annotations

import ctypes
import io
import logging
import os
import runpy
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sss_emulator.core.runner import ProcessResult, StreamSink
from sss_emulator.errors import SetupError

__all__ = ("InProcessTimeout", "is_python_script", "run_inprocess")

logger = logging.getLogger("pytest_sss_emulator.inprocess")


class InProcessTimeout(BaseException):
    """Raised inside the script when its time is up (a ``BaseException`` so few handlers eat it)."""


def _shebang(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            first = handle.readline(256)
    except OSError:
        return b""
    return first if first.startswith(b"#!") else b""


def is_python_script(path: Path) -> bool:
    """A file whose shebang line names a Python interpreter (what the server would exec)."""
    return b"python" in _shebang(path)


class _KeptBytesIO(io.BytesIO):
    """A capture buffer that survives the script closing ``sys.stdout``."""

    def close(self) -> None:  # the value must still be readable afterwards
        pass


def _capture_stream() -> io.TextIOWrapper:
    return io.TextIOWrapper(_KeptBytesIO(), encoding="utf-8", errors="strict",
                            line_buffering=False, write_through=True, newline=None)


def _captured_bytes(stream: io.TextIOWrapper) -> bytes:
    with suppress(ValueError):  # closed by the script: its buffer is still ours
        stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue()


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    saved = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(saved)


@contextmanager
def _interpreter_state(argv: Sequence[str], script: Path) -> Iterator[None]:
    """argv, ``sys.path[0]`` (the script's folder, as ``python script`` sets it) and stdin."""
    saved_argv, saved_path, saved_stdin = sys.argv, list(sys.path), sys.stdin
    sys.argv = list(argv)
    sys.path.insert(0, str(script.resolve().parent))
    devnull = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - closed in finally
    sys.stdin = devnull
    try:
        yield
    finally:
        sys.argv, sys.stdin = saved_argv, saved_stdin
        sys.path[:] = saved_path
        devnull.close()


@contextmanager
def _script_modules(folder: Path) -> Iterator[None]:
    """Forget modules the script imported from its own folder, so an edit is seen next run."""
    before = set(sys.modules)
    try:
        yield
    finally:
        root = str(folder.resolve())
        for name in set(sys.modules) - before:
            origin = getattr(sys.modules.get(name), "__file__", None) or ""
            if origin.startswith(root + os.sep):
                del sys.modules[name]


def _loggers() -> list[logging.Logger]:
    registered = logging.Logger.manager.loggerDict.values()
    found = [lg for lg in registered if isinstance(lg, logging.Logger)]
    return [logging.getLogger(), *found]


@contextmanager
def _logging_state() -> Iterator[None]:
    """Handlers a script adds (e.g. caosadvancedtools' logging setup) go when the run ends."""
    saved = {id(lg): (list(lg.handlers), lg.level, lg.propagate, lg.disabled) for lg in _loggers()}
    disable = logging.root.manager.disable
    try:
        yield
    finally:
        logging.disable(disable)
        for lg in _loggers():
            handlers, level, propagate, disabled = saved.get(id(lg), ([], logging.NOTSET, True,
                                                                     False))
            for handler in lg.handlers:
                if handler not in handlers:
                    handler.close()
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate, lg.disabled = propagate, disabled


@contextmanager
def _python_warning_defaults() -> Iterator[None]:
    """The warning filters a fresh ``python`` has, instead of pytest's, printed to stderr."""
    with warnings.catch_warnings():
        warnings.resetwarnings()
        for category in (ResourceWarning, ImportWarning, PendingDeprecationWarning,
                         DeprecationWarning):
            warnings.filterwarnings("ignore", category=category)
        warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
        warnings.showwarning = _show_warning
        yield


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


@contextmanager
def _deadline(timeout: float | None) -> Iterator[None]:
    """Raise :class:`InProcessTimeout` in this thread after ``timeout`` seconds.

    The main thread uses ``SIGALRM`` (it interrupts ``time.sleep`` and blocking reads); any
    other thread gets an asynchronous exception, which only lands between bytecodes.
    """
    if not timeout:
        yield
        return
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        def on_alarm(signum: int, frame: Any) -> None:
            raise InProcessTimeout
        previous = signal.signal(signal.SIGALRM, on_alarm)
        prev_delay, prev_interval = signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            if prev_delay:
                signal.setitimer(signal.ITIMER_REAL, prev_delay, prev_interval)
        return
    target = threading.get_ident()
    done = threading.Event()

    def watch() -> None:
        if not done.wait(timeout):
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target),
                                                       ctypes.py_object(InProcessTimeout))
    watcher = threading.Thread(target=watch, daemon=True, name="sss-inprocess-timeout")
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def _exit_status(exc: SystemExit) -> int:
    """What ``python`` makes of ``sys.exit(x)``: None → 0, int → itself, else print it, 1."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def run_inprocess(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float | None,
    on_stdout: StreamSink | None = None,
    on_stderr: StreamSink | None = None,
    **_ignored: Any,
) -> ProcessResult:
    """Run the Python script ``argv[0]`` with ``runpy`` as if the server had started it.

    Its exit code comes from ``SystemExit`` (an uncaught exception prints the traceback to the
    captured stderr and gives 1, as ``python`` does); a script still running after ``timeout``
    is interrupted and reported as timed out. Output is captured at ``sys.stdout``/``sys.stderr``
    level and handed to the sinks once the script ends. ``KeyboardInterrupt`` is passed on.
    """
    script = Path(argv[0])
    if not _shebang(script):
        raise SetupError(
            f"Cannot start {script}: it has no shebang line, so the server could not run it "
            "either; add '#!/usr/bin/env python3' as its first line."
        )
    if not is_python_script(script):
        raise SetupError(
            f"{script} is not a Python script, so it cannot run in-process; run it with "
            "mode='subprocess' (@pytest.mark.sss(mode='subprocess') or --sss-mode=subprocess)."
        )
    out, err = _capture_stream(), _capture_stream()
    saved_streams = sys.stdout, sys.stderr
    code: int | None = 0
    timed_out = False
    started = time.monotonic()
    with (_environment(env), _working_directory(cwd), _interpreter_state(argv, script),
          _script_modules(script.parent), _logging_state()):
        sys.stdout, sys.stderr = out, err
        try:
            with _python_warning_defaults(), _deadline(timeout):
                runpy.run_path(str(script), run_name="__main__")
        except SystemExit as exc:
            code = _exit_status(exc)
        except InProcessTimeout:
            code, timed_out = None, True
        except KeyboardInterrupt:
            raise
        except BaseException:
            traceback.print_exc(file=err)
            code = 1
        finally:
            for stream in (out, err):
                with suppress(ValueError):
                    stream.flush()
            sys.stdout, sys.stderr = saved_streams
    duration = time.monotonic() - started
    stdout, stderr = _captured_bytes(out), _captured_bytes(err)
    for sink, data in ((on_stdout, stdout), (on_stderr, stderr)):
        if sink is not None and data:
            sink(data)
    return ProcessResult(returncode=code, stdout=stdout, stderr=stderr, duration_s=duration,
                         timed_out=timed_out)
