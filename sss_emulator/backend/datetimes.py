"""DATETIME values as the server treats them: intervals in time, not text.

A value (stored, or written in a query) may be *semi-complete*: ``2020``, ``2020-05``,
``2020-05-17``, ``2020-05-17T10``, ``2020-05-17T10:30``. Each stands for the interval it covers
(``2020`` is all of 2020), from an inclusive lower bound to an exclusive upper bound, as LinkAhead's
query-language docs describe ("``date IN 2019`` … any day within the year 2019"). A value with
seconds (optionally a fraction of up to nine digits) is one instant. ``T`` or a space separates
date and time; ``Z`` or an offset (``+02:00``, ``+0200``, ``+02``) gives the zone, and a value
without one is in the server's zone (the stand-in's: the zone ``Info`` reports).

Both bounds are nanoseconds since the epoch (UTC), so values written in different zones or with
different precision compare correctly. The comparison rules are in :func:`compare`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

from sss_emulator import decisions

__all__ = ["Interval", "compare", "parse_datetime"]

_DATETIME = re.compile(
    r"""^(?P<y>\d{4})
    (?:-(?P<m>\d{2})
      (?:-(?P<d>\d{2})
        (?:[T ](?P<H>\d{2})
          (?::(?P<M>\d{2})
            (?::(?P<S>\d{2})(?:\.(?P<f>\d{1,9}))?)?
          )?
          (?P<z>Z|[+-]\d{2}(?::?\d{2})?)?
        )?
      )?
    )?$""",
    re.VERBOSE,
)
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Interval:
    """``[lo, hi)`` in nanoseconds since the epoch, UTC; an instant has ``hi == lo + 1``."""

    lo: int
    hi: int


@lru_cache(maxsize=4096)
def parse_datetime(text: str) -> Interval | None:
    """The interval a DATETIME value stands for, or None when it is no date (``"yesterday"``)."""
    match = _DATETIME.match(text.strip())
    if match is None:
        return None
    parts = match.groupdict()
    zone = _zone(parts["z"])
    try:
        start = datetime(
            int(parts["y"]),
            int(parts["m"] or 1),
            int(parts["d"] or 1),
            int(parts["H"] or 0),
            int(parts["M"] or 0),
            int(parts["S"] or 0),
            tzinfo=zone,
        )
        end = _end(start, parts)
    except (ValueError, OverflowError):  # month 13, Feb 30, year 9999 + 1 …
        return None
    fraction = int((parts["f"] or "0").ljust(9, "0"))
    lo = _ns(start) + fraction
    hi = lo + 1 if end is None else _ns(end)
    return Interval(lo, hi)


def compare(stored: Interval, op: str, wanted: Interval) -> bool:
    """One comparison of a stored value against a query value (see docs/backend.md).

    ``=`` means the same interval (``date = 2019`` finds values stored as ``2019``, not
    ``2019-05-03``); ``IN`` means contained (``2019-05-03 IN 2019``); ``<``/``>`` mean entirely
    before/after; ``<=``/``>=`` mean not extending past the other's end/start.
    """
    if op == "=":
        return stored == wanted
    if op == "!=":
        return stored != wanted
    if op == "IN":
        return stored.lo >= wanted.lo and stored.hi <= wanted.hi
    if op == "NOT IN":
        return not (stored.lo >= wanted.lo and stored.hi <= wanted.hi)
    if op == "<":
        return stored.hi <= wanted.lo
    if op == ">":
        return stored.lo >= wanted.hi
    if op == "<=":
        return stored.hi <= wanted.hi
    if op == ">=":
        return stored.lo >= wanted.lo
    raise ValueError(f"unknown operator {op!r}")


def now_interval() -> Interval:
    """The current instant."""
    now = datetime.now(UTC)
    lo = _ns(now) + now.microsecond * 1000
    return Interval(lo, lo + 1)


def today_interval() -> Interval:
    """Today in the server's zone, for ``… TODAY`` transaction filters."""
    today = datetime.now().astimezone().date().isoformat()
    interval = parse_datetime(today)
    assert interval is not None
    return interval


def _zone(raw: str | None) -> timezone | None:
    if raw is None:
        return None if decisions.NAIVE_DATETIME_IS_LOCAL else UTC
    if raw == "Z":
        return UTC
    sign = -1 if raw[0] == "-" else 1
    digits = raw[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _end(start: datetime, parts: dict[str, str | None]) -> datetime | None:
    """The exclusive end of a semi-complete value, or None for an instant (seconds given)."""
    if parts["S"] is not None:
        return None
    if parts["M"] is not None:
        return start + timedelta(minutes=1)
    if parts["H"] is not None:
        return start + timedelta(hours=1)
    if parts["d"] is not None:
        return start + timedelta(days=1)
    if parts["m"] is not None:
        year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        return start.replace(year=year, month=month)
    return start.replace(year=start.year + 1)


def _ns(moment: datetime) -> int:
    """Whole seconds since the epoch in ns (a naive moment is local time, like ``astimezone``)."""
    aware = moment if moment.tzinfo is not None else moment.astimezone()
    return int(aware.replace(microsecond=0).timestamp()) * _NS
