"""How a run is shown in a terminal: live output, the document of ``--format``, and our lines.

``sss-emulate`` and watch mode print runs the same way; both call these functions. Everything
of our own goes to stderr, prefixed ``sss-emulate:``; stdout carries only the script's output or
the one document asked for.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO, TextIO

from sss_emulator.core.outcome import RunOutcome
from sss_emulator.core.render import ResponseMeta, render_error_xml, render_json
from sss_emulator.core.runner import StreamSink
from sss_emulator.core.tokens import Identity
from sss_emulator.errors import EmulatorError
from sss_emulator.escapes import printable

__all__ = ("live_sinks", "outcome_summary", "printable", "say", "write_outcome",
           "write_refusal")


#: Watch mode writes from two threads (the loop and the run): our lines and the script's live
#: output go out under one lock, so that no line of ours lands inside another line.
_LOCK = threading.RLock()


class _Terminal:
    """Stands for "a terminal": stdout and stderr that are both ttys show on one screen."""


_TERMINAL = _Terminal()
#: Streams whose last write did not end a line (the script's output may stop mid-line).
_mid_line: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _line_key(stream: Any) -> Any:
    try:
        return _TERMINAL if stream.isatty() else stream
    except (AttributeError, ValueError):  # closed, or no isatty
        return stream


def _set_mid_line(stream: Any, value: bool) -> None:
    # a stream that cannot be weakly referenced: nothing to remember
    with contextlib.suppress(TypeError):
        _mid_line[_line_key(stream)] = value


def _is_mid_line(stream: Any) -> bool:
    try:
        return _mid_line.get(_line_key(stream), False)
    except TypeError:
        return False


def say(stream: TextIO, message: str) -> None:
    """One line of our own on stderr, whole and flushed, starting on a line of its own.

    ``print`` writes the text and the newline separately, so two threads printing at once could
    share a line; here the line is one write under :data:`_LOCK`, after a newline if the
    script's output stopped mid-line.
    """
    with _LOCK:
        start = "\n" if _is_mid_line(stream) else ""
        stream.write(f"{start}sss-emulate: {printable(message)}\n")
        stream.flush()
        _set_mid_line(stream, False)


class _TextSink:
    """Lets a text stream without a binary buffer (click's test runner) receive raw chunks."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, chunk: bytes) -> None:
        self._stream.write(chunk.decode("utf-8", errors="replace"))

    def flush(self) -> None:
        self._stream.flush()


def _copy_to(stream: BinaryIO | _TextSink, shown_on: Any) -> Callable[[bytes], None]:
    """A sink copying chunks to ``stream``, remembering whether ``shown_on`` is mid-line."""

    closed: list[bool] = []

    def sink(chunk: bytes) -> None:
        with _LOCK:
            if closed:
                return
            try:
                stream.write(chunk)
                stream.flush()
            except BrokenPipeError:  # the reader went away (``| head``): the run goes on
                closed.append(True)
                _quiet(stream)
                return
            except OSError as exc:  # a full disk, a revoked terminal: say so once, go on
                closed.append(True)
                _quiet(stream)
                with contextlib.suppress(OSError, ValueError):
                    sys.stderr.write(f"sss-emulate: the script's output can no longer be shown "
                                     f"({exc.strerror or exc}); the run goes on.\n")
                return
            if chunk:
                _set_mid_line(shown_on, not chunk.endswith(b"\n"))

    return sink


def _quiet(stream: Any) -> None:
    """Send what is left for a closed pipe nowhere, so later writes and the flush at exit do
    not fail (click does the same for its own output)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def live_sinks(fmt: str, out: BinaryIO, err: TextIO
               ) -> tuple[StreamSink | None, StreamSink | None]:
    """In text format the script's stdout and stderr are copied through as they come."""
    if fmt != "text":
        return None, None
    err_bytes: BinaryIO | _TextSink = getattr(err, "buffer", None) or _TextSink(err)
    return _copy_to(out, out), _copy_to(err_bytes, err)


def outcome_summary(outcome: RunOutcome) -> str:
    """``exit 0 · 0.012s · shared: output.json · server calls: 2 · mails: 1``."""
    state = "timed out" if outcome.timed_out else f"exit {outcome.code}"
    parts = [state, f"{outcome.duration_s:.3f}s"]
    if outcome.shared_files:
        parts.append("shared: " + ", ".join(outcome.shared_files))
    if outcome.server_calls:
        parts.append(f"server calls: {len(outcome.server_calls)}")
    changed = {kind: len(items) for kind, items in outcome.changes.items() if items}
    if changed:
        parts.append("changes: " + ", ".join(f"{n} {kind}" for kind, n in changed.items()))
    if outcome.mails:
        parts.append(f"mails: {len(outcome.mails)}")
    return " · ".join(parts)


def write_outcome(outcome: RunOutcome, fmt: str, out: BinaryIO, err: TextIO,
                  shown_notes: Sequence[str] = ()) -> None:
    """The document of ``--format json|xml`` on stdout, then the error and kept-dir lines
    (with the run's notes, less ``shown_notes`` already printed before the run)."""
    if fmt == "json":
        out.write(outcome.to_json().encode() + b"\n")
    elif fmt == "xml":
        document = outcome.to_xml()
        out.write(document if document.endswith(b"\n") else document + b"\n")
    out.flush()
    if outcome.error is not None:
        say(err, f"error: {outcome.error.message}")
    if outcome.kept:
        say(err, f"kept working directory {outcome.workdir}")
        for note in outcome.notes:
            if note not in shown_notes:
                say(err, f"note: {note}")


def write_refusal(error: EmulatorError, fmt: str, identity: Identity | None, out: BinaryIO,
                  err: TextIO) -> None:
    """A refused call: the same documents as a run (JSON with ``error``, the server's XML
    error), and one line that says what was wrong."""
    document: bytes | None = None
    if fmt == "json":
        document = render_json(code=None, call=None, stdout="", stderr="", argv=(),
                               shared_dir=None, shared_files=(), timed_out=False,
                               duration_s=None, error=error).encode()
    elif fmt == "xml":
        document = render_error_xml(error.http_status, error.message,
                                    ResponseMeta(identity=identity))
    if document is not None:
        out.write(document if document.endswith(b"\n") else document + b"\n")
        out.flush()
    say(err, f"error: {error.message}")
