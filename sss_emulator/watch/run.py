"""One run of watch mode, in its own thread so that the main loop can stop it.

Whatever the run does (refused, crashed, killed by a change) ends here as lines on stderr and,
for ``--format json``/``xml``, one document on stdout; nothing propagates to the watcher.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import BinaryIO, TextIO

from sss_emulator.core.outcome import RunOutcome
from sss_emulator.core.runner import RunCancelled
from sss_emulator.devtools.snapshots import report_snapshot
from sss_emulator.errors import EmulatorError
from sss_emulator.invocation import Prepared
from sss_emulator.terminal import (
    live_sinks,
    outcome_summary,
    printable,
    say,
    write_outcome,
    write_refusal,
)

__all__ = ("WatchedRun", "summary")

logger = logging.getLogger("sss_emulator.watch.run")


def summary(number: int, outcome: RunOutcome) -> str:
    """The line after each run: its number, then what a single run's summary says."""
    return f"run {number} done · {outcome_summary(outcome)}"


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
        on_stdout, on_stderr = live_sinks(prepared.fmt, self.out, self.err)
        try:
            return prepared.emulator.run(
                prepared.request, identity=prepared.identity, auth_token=prepared.auth_token,
                on_stdout=on_stdout, on_stderr=on_stderr, cancel=self.cancel,
            )
        finally:  # each run prepares its own emulator: stop what its hooks started
            prepared.emulator.close()

    def _finish(self, outcome: RunOutcome) -> None:
        shown = self.prepared.settings.notes if isinstance(self.prepared, Prepared) else ()
        write_outcome(outcome, self.fmt, self.out, self.err, shown_notes=shown)
        say(self.err, summary(self.number, outcome))
        if isinstance(self.prepared, Prepared) and self.prepared.snapshot is not None:
            report_snapshot(self.prepared.snapshot, outcome,
                            lambda line: print(printable(line), file=self.err, flush=True))

    def _refused(self, error: EmulatorError, duration_s: float) -> None:
        identity = None if isinstance(self.prepared, EmulatorError) else self.prepared.identity
        write_refusal(error, self.fmt, identity, self.out, self.err)
        say(self.err, f"run {self.number} done · refused (exit {error.exit_code}) · "
                       f"{duration_s:.3f}s · still watching")
