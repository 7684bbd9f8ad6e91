"""One run from the command line: prepare it, run it with live output, print its outcome.

Used by ``run`` and by ``replay --call``; watch mode has its own loop around the same steps.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import BinaryIO, TextIO

from sss_emulator.config import FORMATS, resolve_values
from sss_emulator.core.outcome import RunOutcome
from sss_emulator.core.tokens import Identity
from sss_emulator.devtools.snapshots import report_snapshot
from sss_emulator.errors import EmulatorError, SetupError
from sss_emulator.invocation import RunInvocation, prepare
from sss_emulator.terminal import live_sinks, outcome_summary, say, write_outcome, write_refusal

__all__ = ("EXIT_INTERRUPTED", "execute", "refusal_format")

EXIT_INTERRUPTED = 130


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
    out = stdout or sys.stdout.buffer
    err = stderr or sys.stderr
    fmt: str | None = None
    identity: Identity | None = None
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
        write_refusal(error, fmt or refusal_format(invocation.options.get("format"),
                                                   invocation.cwd), identity, out, err)
        return error.exit_code
    except KeyboardInterrupt:
        say(err, "interrupted; the script was stopped and its directory removed.")
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        say(err, f"internal error: {type(exc).__name__}: {exc}; rerun with --debug for the "
                 "traceback and report it.")
        return SetupError.exit_code
    write_outcome(outcome, fmt, out, err, shown_notes=prepared.settings.notes)
    if fmt == "text":
        say(err, outcome_summary(outcome))
    code = _exit_code(outcome)
    if prepared.snapshot is not None and not report_snapshot(
            prepared.snapshot, outcome, lambda line: print(line, file=err, flush=True)):
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
