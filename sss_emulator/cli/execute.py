"""One run from the command line: prepare it, run it with live output, print its outcome.

Used by ``run`` and by ``replay --call``; watch mode has its own loop around the same steps.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO, TextIO

from sss_emulator.config import FORMATS, resolve_values
from sss_emulator.core.outcome import RunOutcome
from sss_emulator.core.tokens import Identity
from sss_emulator.core.workspace import kept_workdir
from sss_emulator.errors import EmulatorError, ScriptNotFound, SetupError
from sss_emulator.invocation import Prepared, RunInvocation, prepare
from sss_emulator.logs import configure as configure_logging
from sss_emulator.terminal import (
    live_sinks,
    outcome_summary,
    printable,
    say,
    write_outcome,
    write_refusal,
)

__all__ = ("EXIT_INTERRUPTED", "STOP_SIGNALS", "Stopped", "configure_logging", "execute",
           "refusal_format", "stop_signals_interrupt")

EXIT_INTERRUPTED = 130


#: Signals that stop the CLI the way Ctrl+C does: the script's process group is stopped and
#: its working directory and uploads removed (editors, ``timeout`` and CI cancellation send
#: these, not SIGINT).
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: unwinds like Ctrl+C, so every cleanup on the way runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """While a run (or doctor's trial run) is going on, turn SIGTERM and SIGHUP into
    :class:`Stopped`, so they clean up as Ctrl+C does instead of ending the process at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise Stopped(signum)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _exit_code(outcome: RunOutcome) -> int:
    if outcome.timed_out or outcome.code is None:
        return 124
    return outcome.code


def execute(
    invocation: RunInvocation,
    *,
    stdout: BinaryIO | None = None,
    stderr: TextIO | None = None,
    debug: bool = False,
) -> int:
    """Prepare and run one invocation, print its outcome, return the exit status.

    A failure of the emulator itself (a bug, not a refused call) is one line and exit 125, or
    its traceback with ``debug``.
    """
    # A closed stdout/stderr (``>&-``) leaves the interpreter without the stream: the run goes
    # on, and what it would show goes nowhere.
    out = stdout or (sys.stdout.buffer if sys.stdout is not None else _nowhere("wb"))
    err = stderr or (sys.stderr if sys.stderr is not None else _nowhere("w"))
    try:
        with stop_signals_interrupt():
            return _execute(invocation, out, err, debug)
    except Stopped as stop:  # a signal between two runs' steps, after the handler returned
        say(err, f"stopped by {stop.name}; {_left_behind(stop)}")
        return 128 + stop.signum


def _with_hint(error: ScriptNotFound, invocation: RunInvocation,
               prepared: Prepared | None) -> ScriptNotFound:
    """The refusal of a SCRIPT that names nothing, with what the user probably meant."""
    if (invocation.cwd / invocation.script).is_file():
        return error  # a file outside the bin dirs: the message already says what to do
    from sss_emulator.cli.hints import COMMANDS, script_not_found  # difflib: only for this

    bin_dirs = prepared.emulator.bin_dirs if prepared is not None else None
    try:
        hint = script_not_found(invocation.script, invocation.cwd, bin_dirs, COMMANDS)
    except Exception:  # a hint is a courtesy: the refusal itself is still said
        return error
    return error if hint is None else ScriptNotFound(hint)


def _left_behind(interrupt: KeyboardInterrupt) -> str:
    """What an interrupted run left: nothing, or (``--keep``) its working directory."""
    kept = kept_workdir(interrupt)
    if kept is not None:
        return f"the script was stopped; kept working directory {kept}"
    return "the script was stopped and its directory removed."


def _nowhere(mode: str) -> Any:
    return open(os.devnull, mode)


def _execute(invocation: RunInvocation, out: BinaryIO, err: TextIO, debug: bool) -> int:
    fmt: str | None = None
    identity: Identity | None = None
    prepared: Prepared | None = None
    try:
        prepared = prepare(invocation)
        fmt, identity = prepared.fmt, prepared.identity
        for note in prepared.settings.notes:
            say(err, f"note: {note}")
        on_stdout, on_stderr = live_sinks(fmt, out, err)
        with prepared.emulator:
            outcome = prepared.emulator.run(
                prepared.request,
                identity=prepared.identity,
                auth_token=prepared.auth_token,
                on_stdout=on_stdout,
                on_stderr=on_stderr,
            )
    except EmulatorError as error:
        if isinstance(error, ScriptNotFound):
            error = _with_hint(error, invocation, prepared)
        write_refusal(error, fmt or refusal_format(invocation.options.get("format"),
                                                   invocation.cwd), identity, out, err)
        return error.exit_code
    except Stopped as stop:
        say(err, f"stopped by {stop.name}; {_left_behind(stop)}")
        return 128 + stop.signum
    except KeyboardInterrupt as interrupt:
        say(err, f"interrupted; {_left_behind(interrupt)}")
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        say(err, f"internal error: {type(exc).__name__}: {exc}; rerun with --debug for the "
                 "traceback and report it.")
        return SetupError.exit_code
    write_outcome(outcome, fmt, out, err, shown_notes=prepared.settings.notes)
    if fmt == "text":
        if outcome.code:  # a failed run: does the script lack --auth-token? (hints: only now)
            from sss_emulator.cli.hints import refused_token

            fix = refused_token(outcome.stderr_bytes)
            if fix is not None:
                say(err, f"note: {fix}")
        say(err, outcome_summary(outcome))
    code = _exit_code(outcome)
    if prepared.snapshot is None:
        return code
    from sss_emulator.devtools.snapshots import report_snapshot  # only with --snapshot

    if not report_snapshot(
            prepared.snapshot, outcome, lambda line: print(printable(line), file=err, flush=True)):
        return code or 1  # a differing snapshot fails an otherwise good run
    return code


def refusal_format(typed: str | None, cwd: Path) -> str:
    """The format to refuse in when the settings could not be read as a whole.

    The one engine decides (``--format`` > ``SSS_FORMAT`` > pyproject), as for a run; if even
    that fails (the format or pyproject.toml is what is broken), the typed format if valid, else
    text. Only called on the error path, so a run reads its settings once.
    """
    try:
        return str(resolve_values(("format",), {"format": typed}, cwd=cwd)["format"].value
                   or "text")
    except EmulatorError:
        return typed if typed in FORMATS else "text"
