"""Evaluate a parsed query over the store, as set operations on entity ids.

Each condition narrows a candidate set. Equality on a property and the target's name use the
store's indexes, so a selective query over many records costs about as much as a trivial request;
only ``!=``, ``<``/``>``, ``LIKE`` and nested filters scan the remaining candidates.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from functools import lru_cache
from typing import Any

from sss_emulator.backend.model import Entity, is_reference_datatype
from sss_emulator.backend.query.parser import (
    And,
    Condition,
    NamePattern,
    Not,
    Or,
    PropertyCondition,
    Query,
    ReferencedBy,
    References,
    StoredAt,
    Target,
)
from sss_emulator.backend.store import EntityStore, value_key

__all__ = ["evaluate", "matches_name"]

_ROLES_OF = {
    # A File is a Record with a file, so FIND RECORD includes files (U).
    None: ("Record", "File"),
    "RECORD": ("Record", "File"),
    "RECORDTYPE": ("RecordType",),
    "PROPERTY": ("Property",),
    "FILE": ("File",),
    "ENTITY": ("Record", "RecordType", "Property", "File"),
}


def evaluate(query: Query, store: EntityStore) -> list[int]:
    """Ids of the entities a FIND/COUNT/SELECT query returns, ascending."""
    with store.lock:
        candidates = _target_ids(query.target, store)
        if query.filter is not None:
            candidates = _eval(query.filter, candidates, store)
        return sorted(candidates)


@lru_cache(maxsize=256)
def _pattern(text: str) -> re.Pattern[str]:
    """``*`` wildcards, case-insensitive, whole string (the server's LIKE and name matching, U)."""
    return re.compile(
        ".*".join(re.escape(part) for part in text.split("*")), re.IGNORECASE | re.DOTALL
    )


def matches_name(pattern: NamePattern, store: EntityStore) -> set[int]:
    """Entities whose own name (or id, for a number) matches the pattern."""
    if pattern.has_wildcard:
        regex = _pattern(pattern.text)
        found = {
            i for name, ids in store.names_index().items() if regex.fullmatch(name) for i in ids
        }
    else:
        found = {e.id for e in store.find_by_name(pattern.text) if e.id is not None}
    if pattern.text.isdigit() and store.get(int(pattern.text)) is not None:
        found.add(int(pattern.text))
    return found


def _target_ids(target: Target, store: EntityStore) -> AbstractSet[int]:
    name = target.name.text if target.name else None
    key = ("target", target.role, name)
    cached = store.query_cache.get(key)
    if cached is not None:
        return cached
    roles = _ROLES_OF[target.role]
    if target.name is None:
        result: set[int] = set()
        for role in roles:
            result |= store.ids_with_role(role)  # type: ignore[arg-type]
    else:
        related: set[int] = set()
        for entity_id in matches_name(target.name, store):
            related |= store.descendants(entity_id)
        result = {i for i in related if (e := store.get(i)) is not None and e.role in roles}
    if len(store.query_cache) > 512:
        store.query_cache.clear()
    frozen = frozenset(result)
    store.query_cache[key] = frozen
    return frozen


def _eval(condition: Condition, candidates: AbstractSet[int], store: EntityStore) -> set[int]:
    """The subset of ``candidates`` (never mutated: it may be a cached set) that matches."""
    if not candidates:
        return set()
    if isinstance(condition, And):
        current: AbstractSet[int] = candidates
        for item in sorted(condition.items, key=_cost):
            current = _eval(item, current, store)
        return set(current)
    if isinstance(condition, Or):
        result: set[int] = set()
        for item in condition.items:
            result |= _eval(item, candidates, store)
        return result
    if isinstance(condition, Not):
        return set(candidates) - _eval(condition.item, candidates, store)
    if isinstance(condition, PropertyCondition):
        return _eval_property(condition, candidates, store)
    if isinstance(condition, References):
        targets = _referenced_targets(condition.target, condition.sub, store)
        found: set[int] = set()
        for target_id in targets:
            found |= store.referenced_by(target_id)
        return _intersect(found, candidates)
    if isinstance(condition, ReferencedBy):
        referrers = _referenced_targets(condition.target, condition.sub, store)
        pointed = {int(v) for r in referrers for v in _reference_values(store.get(r))}
        return _intersect(pointed, candidates)
    if isinstance(condition, StoredAt):
        wanted = "/" + condition.path.lstrip("/")
        regex = _pattern(wanted)
        return {
            i
            for i in candidates
            if (e := store.get(i)) is not None and e.path is not None and regex.fullmatch(e.path)
        }
    raise TypeError(f"unknown condition {condition!r}")


_RANGE_OPS = frozenset({"<", "<=", ">", ">=", "!="})
"""Operators whose answer depends only on the stored value, so distinct values can be scanned."""


def _intersect(small: AbstractSet[int], large: AbstractSet[int]) -> set[int]:
    """Iterate the smaller set only: index hits are tiny, candidate sets can be all records."""
    if len(small) > len(large):
        small, large = large, small
    return {i for i in small if i in large}


def _cost(condition: Condition) -> int:
    """Cheap, selective conditions first, so later ones scan fewer candidates."""
    if (
        isinstance(condition, PropertyCondition)
        and condition.op == "="
        and "*" not in (condition.value or "")
    ):
        return 0
    if isinstance(condition, PropertyCondition) and condition.op is None and condition.sub is None:
        return 1
    return 2


def _referenced_targets(
    pattern: NamePattern, sub: Condition | None, store: EntityStore
) -> set[int]:
    related: set[int] = set()
    for entity_id in matches_name(pattern, store):
        related |= store.descendants(entity_id)
    return _eval(sub, related, store) if sub is not None else related


def _eval_property(
    cond: PropertyCondition, candidates: AbstractSet[int], store: EntityStore
) -> set[int]:
    prop = cond.prop.lower()
    if prop in ("name", "id", "description") and cond.sub is None and cond.op is not None:
        return _eval_self(prop, cond, candidates, store)
    if cond.op == "=" and cond.value is not None and "*" not in cond.value:
        found = _intersect(store.ids_with_property_value(cond.prop, cond.value), candidates)
        for target in _names_as_ids(cond.value, store):
            found |= _intersect(store.ids_with_property_value(cond.prop, str(target)), candidates)
        return found
    if cond.op in _RANGE_OPS and cond.value is not None:
        raw = store.raw_values_of(cond.prop)
        if len(raw) <= len(candidates):  # no more distinct values than candidates: use them
            matches = _comparator(cond.op, cond.value)
            found = set()
            for value, ids in raw.items():
                if matches(value):
                    found |= ids
            return _intersect(found, candidates)
    having = _intersect(store.ids_with_property(cond.prop), candidates)
    if cond.sub is not None:
        return _eval_nested(cond, having, store)
    if cond.op is None:
        return having
    assert cond.value is not None
    return {i for i in having if _any_value_matches(store.get(i), prop, cond, store)}


def _eval_self(
    prop: str, cond: PropertyCondition, candidates: AbstractSet[int], store: EntityStore
) -> set[int]:
    assert cond.value is not None and cond.op is not None
    if prop == "id":
        return {i for i in candidates if _compare(str(i), cond.op, cond.value)}
    if prop == "name" and cond.op == "=" and "*" not in cond.value:
        return _intersect(matches_name(NamePattern(cond.value), store), candidates)
    op = "LIKE" if cond.op == "=" and prop == "name" else cond.op
    found: set[int] = set()
    for i in candidates:
        entity = store.get(i)
        text = None if entity is None else (entity.name if prop == "name" else entity.description)
        if text is not None and _compare(text, op, cond.value):
            found.add(i)
    return found


def _eval_nested(cond: PropertyCondition, having: set[int], store: EntityStore) -> set[int]:
    assert cond.sub is not None
    pointed: dict[int, set[int]] = {}
    for entity_id in having:
        for value in _reference_values(store.get(entity_id), cond.prop.lower()):
            pointed.setdefault(int(value), set()).add(entity_id)
    passing = _eval(cond.sub, set(pointed), store)
    return {e for target in passing for e in pointed[target]}


def _names_as_ids(value: str, store: EntityStore) -> Iterable[int]:
    """``WITH p=B`` also matches a reference to the entity named B."""
    if value.lstrip("-").isdigit():
        return ()
    return [e.id for e in store.find_by_name(value) if e.id is not None]


def _reference_values(entity: Entity | None, prop: str | None = None) -> list[str]:
    if entity is None:
        return []
    out: list[str] = []
    for p in entity.properties:
        if (prop is None or (p.name or "").lower() == prop) and is_reference_datatype(p.datatype):
            values = p.value if isinstance(p.value, list) else [p.value]
            out.extend(v for v in values if v is not None and v.isdigit())
    return out


def _any_value_matches(
    entity: Entity | None, prop: str, cond: PropertyCondition, store: EntityStore
) -> bool:
    if entity is None:
        return False
    assert cond.op is not None and cond.value is not None
    for p in entity.properties:
        if (p.name or "").lower() != prop:
            continue
        values = p.value if isinstance(p.value, list) else [p.value]
        reference = is_reference_datatype(p.datatype)
        for value in values:
            if value is None:
                continue
            if _compare(value, cond.op, cond.value):
                return True
            if reference and value.isdigit():
                name = store.name_of(int(value))
                if (
                    name is not None
                    and cond.op in ("=", "LIKE")
                    and _compare(name, "LIKE", cond.value)
                ):
                    return True
    return False


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@lru_cache(maxsize=1024)
def _comparator(op: str, wanted: str) -> Callable[[str], bool]:
    """``stored -> bool`` for one operator and wanted value; numbers compare as numbers,
    everything else as text (ISO dates sort as text)."""
    if op == "LIKE" or (op == "=" and "*" in wanted):
        pattern = _pattern(wanted)
        return lambda stored: pattern.fullmatch(stored) is not None
    if op not in _ORDER:
        raise ValueError(f"unknown operator {op!r}")
    compare = _ORDER[op]
    kind, key = value_key(wanted)

    def matches(stored: str) -> bool:
        stored_kind, stored_key = value_key(stored)
        if stored_kind != kind:
            return bool(compare(stored, wanted))
        return bool(compare(stored_key, key))

    return matches


def _compare(stored: str, op: str, wanted: str) -> bool:
    """One comparison (see :func:`_comparator`)."""
    return _comparator(op, wanted)(stored)
