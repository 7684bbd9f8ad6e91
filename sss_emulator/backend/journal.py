"""All or nothing for one write of the stand-in's store: in memory, on disk, in its SQLite file.

A write changes the store's dictionaries and indexes, runs SQL on the SQLite file and writes
file copies under ``file_root``; it ends with the SQLite commit. Anything may fail on the way
(the SQLite file deleted while serving, a full disk), and a failed write must change nothing:
the server answers an error and stores nothing, so a script must not see a refused entity in
the next query. So every change to memory and every file written records how to take it back
(:meth:`WriteJournal.on_undo`), and the SQLite transaction is rolled back. Removing files is
not undoable, so it waits until the commit succeeded (:meth:`WriteJournal.after_commit`).
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from pathlib import Path

__all__ = ["StoreWriteError", "WriteJournal", "failure_text"]

_log = logging.getLogger("sss_emulator.backend.journal")


class StoreWriteError(RuntimeError):
    """A write the store could not make durable; the store is exactly as it was before it.

    The message is one line for the ``<Error>`` the stand-in answers with: what failed, that
    nothing was stored, and what to do.
    """


class WriteJournal:
    """How to take back one write's changes (newest first), and what to do once it is durable."""

    __slots__ = ("_after", "_undo")

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []
        self._after: list[Callable[[], None]] = []

    @property
    def dirty(self) -> bool:
        """Whether the write changed anything (else there is nothing to commit)."""
        return bool(self._undo or self._after)

    def on_undo(self, step: Callable[[], None]) -> None:
        """Record how to take back the change just made."""
        self._undo.append(step)

    def after_commit(self, action: Callable[[], None]) -> None:
        """Do this once the write is durable (it cannot be taken back: removing a file)."""
        self._after.append(action)

    def undo(self) -> None:
        """Take back every recorded change, newest first. A step that fails (rewriting a file
        on a full disk) is logged and the others still run, so memory is always restored."""
        for step in reversed(self._undo):
            try:
                step()
            except Exception:  # memory steps cannot fail; a file step may (a full disk)
                _log.exception("could not take back one change of a failed write")
        self._undo.clear()
        self._after.clear()

    def committed(self) -> None:
        """Run what waited for the commit; a failure here only leaves a stale file copy."""
        for action in self._after:
            try:
                action()
            except OSError as exc:
                _log.warning("after a write: %s", exc)
        self._undo.clear()
        self._after.clear()


def write_file_undoably(journal: WriteJournal | None, target: Path, data: bytes) -> None:
    """Write ``target``; the journal can put back what was there before (or remove it)."""
    before = target.read_bytes() if target.is_file() else None
    if journal is not None:
        journal.on_undo(lambda: _put_back(target, before))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def _put_back(target: Path, before: bytes | None) -> None:
    if before is None:
        target.unlink(missing_ok=True)
    else:
        target.write_bytes(before)


def failure_text(exc: BaseException, database: Path | None) -> str:
    """One line for a write that failed underneath: what, that nothing was stored, what to do."""
    detail = " ".join(str(exc).split()) or type(exc).__name__
    if database is not None and not database.exists():
        return (f"The stand-in could not write its database file {database} ({detail}): the "
                "file was deleted or moved while serving. Nothing of this request was stored; "
                "restart the server to write a new database file.")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        what = "disk is full"
    elif "full" in detail.lower() or "disk i/o" in detail.lower():
        what = "disk is full or failing"
    else:
        what = "write failed"
    where = f"its database file {database}" if database is not None else "its file store"
    return (f"The stand-in could not write {where} ({detail}): the {what}. Nothing of this "
            "request was stored; free disk space and send it again.")
