"""Property values as the server compares them: numbers as numbers, dates as intervals.

A stored value is indexed by a *key*: ``("n", 1.5)`` for a number (so ``1`` equals ``1.0``),
``("b", "true")`` for a boolean, ``("d", lo, hi)`` for a DATETIME (its interval, so ``…Z`` equals
``…+00:00``), ``("s", text)`` for anything else. A query value is parsed once into
:class:`Wanted`, and :func:`compare_key` applies one operator.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sss_emulator.backend import datetimes
from sss_emulator.backend.model import list_element_datatype

__all__ = ["Key", "Wanted", "compare_key", "typed_key", "unit_factor", "value_key", "wanted"]

Key = tuple[Any, ...]

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def value_key(value: str) -> Key:
    """Normalise one value without knowing its datatype: numbers, booleans, else text."""
    lower = value.lower()
    if lower in ("true", "false"):
        return ("b", lower)
    try:
        number = float(value)
    except ValueError:
        return ("s", value)
    if math.isnan(number):
        return ("s", value)
    return ("n", number)


def is_datetime(datatype: str | None) -> bool:
    """``DATETIME`` or ``LIST<DATETIME>``."""
    if datatype is None:
        return False
    return (list_element_datatype(datatype) or datatype).upper() == "DATETIME"


def typed_key(value: str, datatype: str | None) -> Key:
    """The index key of a stored value of a property with this datatype."""
    if is_datetime(datatype):
        interval = datetimes.parse_datetime(value)
        if interval is not None:
            return ("d", interval.lo, interval.hi)
        return ("s", value)
    return value_key(value)


@dataclass(frozen=True)
class Wanted:
    """A query value, parsed every way a stored value might compare with it."""

    text: str
    number: float | None
    boolean: str | None
    interval: datetimes.Interval | None

    def keys(self) -> list[Key]:
        """Index keys an equal stored value may have."""
        out = [value_key(self.text)]
        if self.interval is not None:
            out.append(("d", self.interval.lo, self.interval.hi))
        return out

    def scaled(self, factor: float) -> Wanted:
        """The same value expressed in another unit (``factor`` times the number)."""
        if self.number is None or factor == 1:
            return self
        return Wanted(self.text, self.number * factor, None, None)


@lru_cache(maxsize=1024)
def wanted(text: str) -> Wanted:
    """Parse a query value once."""
    kind, key = value_key(text)
    return Wanted(
        text,
        key if kind == "n" else None,
        key if kind == "b" else None,
        datetimes.parse_datetime(text),
    )


def compare_key(key: Key, op: str, want: Wanted) -> bool:
    """Whether a stored value (by its key) satisfies ``stored op wanted``."""
    kind = key[0]
    if kind == "d":
        if want.interval is None:
            return op in ("!=", "NOT IN")
        return datetimes.compare(datetimes.Interval(key[1], key[2]), op, want.interval)
    if op in ("IN", "NOT IN"):
        return op == "NOT IN"
    if kind == "n":
        if want.number is None:
            return op == "!=" or (op in _ORDER and _ORDER[op](_number_text(key[1]), want.text))
        return _ORDER[op](key[1], want.number)
    if kind == "b":
        if want.boolean is None or op not in ("=", "!="):
            return op == "!="
        return _ORDER[op](key[1], want.boolean)
    return _ORDER[op](key[1], want.text)


def _number_text(number: float) -> str:
    return str(int(number)) if number.is_integer() else repr(number)


_PREFIXES = {
    "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "h": 1e2, "da": 1e1,
    "d": 1e-1, "c": 1e-2, "m": 1e-3, "µ": 1e-6, "u": 1e-6, "n": 1e-9, "p": 1e-12,
}  # fmt: skip


@lru_cache(maxsize=256)
def unit_factor(stored: str, query: str) -> float | None:
    """How many ``stored`` units one ``query`` unit is (``m`` vs ``km``: 1000), when both are
    the same unit with an SI prefix; None when converting would need more (``°C`` vs ``K``)."""
    if stored == query:
        return 1.0
    for s_prefix, s_base in _splits(stored):
        for q_prefix, q_base in _splits(query):
            if s_base == q_base and s_base:
                return _PREFIXES[q_prefix] / _PREFIXES[s_prefix]
    return None


def _splits(unit: str) -> list[tuple[str, str]]:
    """Ways to read a unit as prefix + base, the unprefixed reading first (``m`` is metre)."""
    out = [("", unit)]
    for prefix in sorted(_PREFIXES, key=len, reverse=True):
        if prefix and unit.startswith(prefix) and len(unit) > len(prefix):
            out.append((prefix, unit[len(prefix) :]))
    return out
