"""The server's memory of recent runs, for a browser page and for tests to look at.

Bounded (oldest first out) and thread-safe: requests run concurrently and each adds one record.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sss_emulator.core.outcome import RunOutcome

__all__ = ("RunHistory", "RunRecord")


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
    stdout_text: str
    stderr_text: str
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

    @classmethod
    def from_outcome(cls, srid: str, outcome: RunOutcome) -> RunRecord:
        return cls(
            srid=srid,
            call=outcome.call,
            user=outcome.identity.name,
            roles=tuple(outcome.identity.roles),
            code=outcome.code,
            timed_out=outcome.timed_out,
            duration_s=outcome.duration_s,
            stdout_text=outcome.stdout_text,
            stderr_text=outcome.stderr_text,
            shared_files=tuple((name, outcome.shared_link(name))
                               for name in outcome.shared_files),
            timestamp=time.time(),
            script=outcome.script_call,
            mails=tuple(dict(m) for m in outcome.mails),
            ignored_fields=outcome.ignored_fields,
        )


class RunHistory(Mapping[str, RunRecord]):
    """``srid → RunRecord`` of the last ``size`` runs, oldest first when iterated."""

    def __init__(self, size: int = 200) -> None:
        self.size = max(1, size)
        self._records: OrderedDict[str, RunRecord] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, record: RunRecord) -> None:
        with self._lock:
            self._records[record.srid] = record
            while len(self._records) > self.size:
                self._records.popitem(last=False)

    def recent(self, limit: int | None = None) -> list[RunRecord]:
        """The newest records first."""
        with self._lock:
            records = list(reversed(self._records.values()))
        return records if limit is None else records[:limit]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def __getitem__(self, srid: str) -> RunRecord:
        with self._lock:
            return self._records[srid]

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._records))

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)
