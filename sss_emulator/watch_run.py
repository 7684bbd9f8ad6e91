"""One run of watch mode, in its own thread so that the main loop can stop it.

Whatever the run does (refused, crashed, killed by a change) ends here as lines on stderr and,
for ``--format json``/``xml``, one document on stdout; nothing propagates to the watcher.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, BinaryIO, TextIO

from .cli import Prepared, _error_document, _TextSink, _write_bytes
from .errors import EmulatorError
from .outcome import RunOutcome
from .runner import RunCancelled

__all__ = ("WatchedRun", "say", "summary")

logger = logging.getLogger("sss_emulator.watch_run")


def say(stream: TextIO, message: str) -> None:
    """One line of our own on stderr, flushed (runs and the loop write from two threads)."""
    print(f"sss-emulate: {message}", file=stream, flush=True)


def summary(number: int, outcome: RunOutcome) -> str:
    """The line after each run: what it returned, how long it took, what it shared."""
    state = "timed out" if outcome.timed_out else f"exit {outcome.code}"
    parts = [f"run {number} done", state, f"{outcome.duration_s:.3f}s"]
    if outcome.shared_files:
        parts.append("shared: " + ", ".join(outcome.shared_files))
    return " · ".join(parts)


class WatchedRun:
    """One run of the call in its own thread, so that the main loop can cancel it."""

    def __init__(self, number: int, prepared: Prepared | EmulatorError, fmt: str,
                 out: BinaryIO, err: TextIO) -> None:
        self.number, self.prepared, self.fmt, self.out, self.err = number, prepared, fmt, out, err
        self.cancel = threading.Event()
        self.thread = threading.Thread(target=self._main, name=f"sss-run-{number}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop the script's process group (if it still runs) and wait for the cleanup."""
        self.cancel.set()
        self.thread.join()

    def _main(self) -> None:
        started = time.monotonic()
        try:
            if isinstance(self.prepared, EmulatorError):
                raise self.prepared
            self._finish(self._run(self.prepared))
        except RunCancelled:
            say(self.err, f"run {self.number} stopped after {time.monotonic() - started:.3f}s "
                           "(its process group was killed)")
        except EmulatorError as error:
            self._refused(error, time.monotonic() - started)
        except Exception as exc:  # a broken run must never take the watcher down
            logger.debug("run %s failed", self.number, exc_info=True)
            say(self.err, f"error: run {self.number} failed: {exc}; still watching "
                           "(--debug shows the traceback)")

    def _run(self, prepared: Prepared) -> RunOutcome:
        live = prepared.fmt == "text"
        sink: Any = getattr(self.err, "buffer", None) or _TextSink(self.err)
        try:
            return prepared.emulator.run(
                prepared.request, identity=prepared.identity, auth_token=prepared.auth_token,
                on_stdout=_write_bytes(self.out) if live else None,
                on_stderr=_write_bytes(sink) if live else None, cancel=self.cancel,
            )
        finally:  # each run prepares its own emulator: stop what its hooks started
            close = getattr(prepared.emulator, "close", None)
            if callable(close):
                close()

    def _finish(self, outcome: RunOutcome) -> None:
        if self.fmt == "json":
            self.out.write(outcome.to_json().encode() + b"\n")
        elif self.fmt == "xml":
            document = outcome.to_xml()
            self.out.write(document if document.endswith(b"\n") else document + b"\n")
        self.out.flush()
        if outcome.error is not None:
            say(self.err, f"error: {outcome.error.message}")
        say(self.err, summary(self.number, outcome))
        if outcome.kept:
            say(self.err, f"kept working directory {outcome.workdir}")

    def _refused(self, error: EmulatorError, duration_s: float) -> None:
        identity = None if isinstance(self.prepared, EmulatorError) else self.prepared.identity
        document = _error_document(self.fmt, error, identity)
        if document is not None:
            self.out.write(document.encode() + (b"" if document.endswith("\n") else b"\n"))
            self.out.flush()
        say(self.err, f"error: {error.message}")
        say(self.err, f"run {self.number} done · refused (exit {error.exit_code}) · "
                       f"{duration_s:.3f}s · still watching")
