"""The server's memory of recent runs, for a browser page and for tests to look at.

Bounded (oldest first out) and thread-safe: requests run concurrently and each adds one record.
Bounded in bytes too: a run's output beyond :data:`SPOOL_THRESHOLD` bytes is kept in a file of
the history's spool folder, not in memory, and the oldest runs are forgotten (files and all)
once the spooled outputs pass ``max_spool_bytes``. So 200 runs that each printed 200 MB cost
a few MiB of memory, not 40 GB.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sss_emulator.core.outcome import RunOutcome
from sss_emulator.core.roots import owned_dir

__all__ = ("SPOOL_THRESHOLD", "RunHistory", "RunRecord", "StoredOutput")

#: Output up to this many bytes per stream stays in memory; more goes to a spool file.
SPOOL_THRESHOLD = 64 * 1024
#: Default bound of all spooled output of one history.
MAX_SPOOL_BYTES = 512 * 1024**2


@dataclass(frozen=True)
class StoredOutput:
    """One output stream of a run: in memory when small, else in a spool file."""

    size: int
    """Its length in bytes."""
    data: bytes | None = None
    path: Path | None = None

    @classmethod
    def keep(cls, data: bytes, spool_dir: Path | None, name: str) -> StoredOutput:
        if len(data) <= SPOOL_THRESHOLD or spool_dir is None:
            return cls(len(data), data=data)
        spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = spool_dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        return cls(len(data), path=path)

    @property
    def spooled(self) -> int:
        """Bytes this output keeps on disk."""
        return self.size if self.path is not None else 0

    def head(self, limit: int | None = None) -> bytes:
        """The first ``limit`` bytes (all of them for ``None``); empty once the file is gone."""
        if self.data is not None:
            return self.data if limit is None else self.data[:limit]
        assert self.path is not None
        try:
            with self.path.open("rb") as file:
                return file.read() if limit is None else file.read(limit)
        except OSError:
            return b""

    def text(self, limit: int | None = None) -> str:
        return self.head(limit).decode("utf-8", errors="replace")

    def discard(self) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()


@dataclass(frozen=True)
class RunRecord:
    """One finished run as the server answered it (``code`` is ``None`` after a timeout)."""

    srid: str
    call: str
    user: str
    roles: tuple[str, ...]
    code: int | None
    timed_out: bool
    duration_s: float
    stdout: StoredOutput
    stderr: StoredOutput
    shared_files: tuple[tuple[str, str], ...]
    """``(name, download link)`` of every file the script left in its SHARED_DIR."""
    timestamp: float
    """Seconds since the epoch when the run finished."""
    script: str = ""
    """The call path alone (``call`` continues with the arguments)."""
    mails: tuple[dict[str, Any], ...] = ()
    """Mails the script sent while it ran (captured, never delivered)."""
    ignored_fields: tuple[str, ...] = ()
    """Form fields the server dropped (neither call, -pN nor -O<name>)."""

    @property
    def stdout_text(self) -> str:
        """The whole stdout (read from the spool file when it was large)."""
        return self.stdout.text()

    @property
    def stderr_text(self) -> str:
        return self.stderr.text()

    @classmethod
    def from_outcome(cls, srid: str, outcome: RunOutcome,
                     spool_dir: Path | None = None) -> RunRecord:
        return cls(
            srid=srid,
            call=outcome.call,
            user=outcome.identity.name,
            roles=tuple(outcome.identity.roles),
            code=outcome.code,
            timed_out=outcome.timed_out,
            duration_s=outcome.duration_s,
            stdout=StoredOutput.keep(outcome.stdout_bytes, spool_dir, f"{srid}.stdout"),
            stderr=StoredOutput.keep(outcome.stderr_bytes, spool_dir, f"{srid}.stderr"),
            shared_files=tuple((name, outcome.shared_link(name))
                               for name in outcome.shared_files),
            timestamp=time.time(),
            script=outcome.script_call,
            mails=tuple(dict(m) for m in outcome.mails),
            ignored_fields=outcome.ignored_fields,
        )

    @property
    def spooled(self) -> int:
        return self.stdout.spooled + self.stderr.spooled

    def discard(self) -> None:
        """Remove the record's spool files."""
        self.stdout.discard()
        self.stderr.discard()


class RunHistory(Mapping[str, RunRecord]):
    """``srid → RunRecord`` of the last ``size`` runs, oldest first when iterated.

    ``spool_dir`` (made on first use, removed by :meth:`clear` and :meth:`close`) receives large
    outputs, which may hold what users' scripts printed: ``serve`` gives a folder named for its
    process in its work root; by default it is a private one below the owned scratch root
    (:func:`~sss_emulator.core.roots.owned_dir`). Either way the next start removes it should
    this process be killed before :meth:`close`. ``max_spool_bytes`` bounds them all together.
    """

    def __init__(self, size: int = 200, *, spool_dir: Path | None = None,
                 max_spool_bytes: int = MAX_SPOOL_BYTES) -> None:
        self.size = max(1, size)
        self.max_spool_bytes = max_spool_bytes
        self._spool_dir = spool_dir
        self._records: OrderedDict[str, RunRecord] = OrderedDict()
        self._spooled = 0
        self._lock = threading.Lock()

    @property
    def spool_dir(self) -> Path:
        """Where outputs beyond :data:`SPOOL_THRESHOLD` go."""
        with self._lock:
            if self._spool_dir is None:
                self._spool_dir = owned_dir("history")
            return self._spool_dir

    @property
    def spooled_bytes(self) -> int:
        """Bytes of output the history keeps on disk now."""
        with self._lock:
            return self._spooled

    def record(self, srid: str, outcome: RunOutcome) -> RunRecord:
        """Add the run ``outcome`` (large outputs spooled) and return its record."""
        record = RunRecord.from_outcome(srid, outcome, self.spool_dir)
        self.add(record)
        return record

    def add(self, record: RunRecord) -> None:
        dropped: list[RunRecord] = []
        with self._lock:
            self._records[record.srid] = record
            self._spooled += record.spooled
            while len(self._records) > self.size or (
                self._spooled > self.max_spool_bytes and len(self._records) > 1
            ):
                _, old = self._records.popitem(last=False)
                self._spooled -= old.spooled
                dropped.append(old)
        for old in dropped:
            old.discard()

    def recent(self, limit: int | None = None) -> list[RunRecord]:
        """The newest records first."""
        with self._lock:
            records = list(reversed(self._records.values()))
        return records if limit is None else records[:limit]

    def clear(self) -> None:
        """Forget every run and remove the spool folder."""
        with self._lock:
            records = list(self._records.values())
            self._records.clear()
            self._spooled = 0
            spool_dir = self._spool_dir
        for record in records:
            record.discard()
        if spool_dir is not None:
            shutil.rmtree(spool_dir, ignore_errors=True)

    def close(self) -> None:
        """Remove the spool folder (the server stops); spooled outputs read empty after."""
        with self._lock:
            self._spooled = 0
            spool_dir = self._spool_dir
        if spool_dir is not None:
            shutil.rmtree(spool_dir, ignore_errors=True)

    def __getitem__(self, srid: str) -> RunRecord:
        with self._lock:
            return self._records[srid]

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._records))

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)
