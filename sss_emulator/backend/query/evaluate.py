"""Evaluate a parsed query over the store, as set operations on entity ids.

Each condition narrows a candidate set. Equality on a property and the target's name use the
store's indexes, so a selective query over many records costs about as much as a trivial request;
ranges scan the distinct stored values, and ``LIKE``, units, ``IS NULL``, transaction filters
and nested filters scan the remaining candidates (``AND`` runs the cheap, selective parts first).

Values compare as :mod:`sss_emulator.backend.values` describes: numbers as numbers (converted
between SI prefixes of one unit), DATETIME values as intervals. ``ANY VERSION OF`` evaluates the
query once more for each generation of older versions (see :func:`evaluate_versions`).

Every evaluation runs against a :class:`Deadline` (:data:`decisions.QUERY_TIME_LIMIT_S`): the
caller holds the store's lock meanwhile, and no request may hold it for long. ``<<regex>>``
names are matched in linear time (:mod:`~sss_emulator.backend.query.regex`), and a caller can
match them against a copy of the names before it takes the lock (:meth:`QueryRun.prematch`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from functools import lru_cache
from typing import Protocol, TypeVar

from sss_emulator import decisions
from sss_emulator.backend import datetimes
from sss_emulator.backend.model import Entity, Role, is_reference_datatype
from sss_emulator.backend.query.lexer import unescape_glob
from sss_emulator.backend.query.parser import (
    And,
    Condition,
    NamePattern,
    Not,
    Or,
    PropertyCondition,
    Query,
    QueryRefused,
    QuerySyntaxError,
    ReferencedBy,
    References,
    StoredAt,
    Target,
    TransactionFilter,
)
from sss_emulator.backend.query.regex import RegexRefused, compile_name_regex
from sss_emulator.backend.store import EntityStore, postings
from sss_emulator.backend.values import (
    Key,
    Wanted,
    compare_key,
    typed_key,
    unit_factor,
    wanted,
)
from sss_emulator.wire import parse_id

__all__ = [
    "Deadline",
    "QueryRun",
    "QueryStore",
    "QueryTooSlow",
    "UnsupportedQuery",
    "evaluate",
    "evaluate_versions",
    "matches_name",
]

_ROLES_OF: dict[str | None, tuple[Role, ...]] = {
    # A File is a Record with a file, so FIND RECORD includes files (U).
    None: ("Record", "File"),
    "RECORD": ("Record", "File"),
    "RECORDTYPE": ("RecordType",),
    "PROPERTY": ("Property",),
    "FILE": ("File",),
    "ENTITY": ("Record", "RecordType", "Property", "File"),
}
_SELF = frozenset({"name", "id", "description"})


class UnsupportedQuery(QuerySyntaxError):
    """A query that parses but asks for something the stand-in cannot answer faithfully."""


class QueryTooSlow(QueryRefused):
    """A query still running at its deadline: refused, so that it holds nothing for long."""


class Deadline:
    """When one query's evaluation is stopped: :data:`decisions.QUERY_TIME_LIMIT_S` after it
    started (read when the deadline is made, so a test can lower it)."""

    def __init__(self, query_text: str = "", seconds: float | None = None) -> None:
        self.seconds = decisions.QUERY_TIME_LIMIT_S if seconds is None else seconds
        self.at = time.monotonic() + self.seconds
        self.query_text = query_text

    def check(self) -> None:
        """Raise :class:`QueryTooSlow` once the deadline has passed."""
        if time.monotonic() > self.at:
            raise QueryTooSlow(
                self.query_text,
                f"the query ran longer than {self.seconds:g} s and was stopped, so that it "
                "cannot hold up other requests; make it more selective (a name or a parent "
                "before the filters, a more specific <<regex>>)",
            )


class QueryRun:
    """What one query's evaluation keeps: its deadline, and for each ``<<regex>>`` a matcher
    (with its own DFA cache) and the names already decided.

    Example::

        run = QueryRun(parsed)
        with store.lock:
            names = store.name_keys()
        run.prematch(names)              # the regex work, outside the lock
        with store.lock:
            ids = evaluate(parsed, store, run=run)
    """

    _CHECK_EVERY = 256
    """Names decided between two looks at the clock (each name is linear, short ones cheap)."""

    def __init__(self, query: Query | None = None, deadline: Deadline | None = None) -> None:
        text = query.text if query is not None else ""
        self.deadline = deadline if deadline is not None else Deadline(text)
        self._text = text
        self._regexes: dict[str, tuple[Callable[[str], bool], dict[str, bool]]] = {}
        self._decided = 0
        if query is not None:
            for pattern in _regex_patterns(query):
                self._regex(pattern)

    @property
    def has_regex(self) -> bool:
        """Whether the query has a ``<<regex>>`` (whether :meth:`prematch` is worth a copy)."""
        return bool(self._regexes)

    def _regex(self, pattern: str) -> tuple[Callable[[str], bool], dict[str, bool]]:
        found = self._regexes.get(pattern)
        if found is None:
            try:
                regex = compile_name_regex(pattern)
            except RegexRefused as err:  # the parser refuses these first; a built Query may not
                raise QueryRefused(self._text, str(err)) from err
            found = self._regexes[pattern] = (regex.matcher(self.deadline.check).search, {})
        return found

    def name_test(self, pattern: str) -> Callable[[str], bool]:
        """Whether a (lower-cased) name matches ``<<pattern>>``, decided once per name."""
        search, verdicts = self._regex(pattern)

        def test(name: str) -> bool:
            verdict = verdicts.get(name)
            if verdict is None:
                self._decided += 1
                if self._decided % self._CHECK_EVERY == 0:
                    self.deadline.check()
                verdict = verdicts[name] = search(name)
            return verdict

        return test

    def prematch(self, names: Iterable[str]) -> None:
        """Decide every regex for these names now: called with a copy of the store's names
        before the lock is taken, it leaves only names written since then for under the lock."""
        for pattern in list(self._regexes):
            test = self.name_test(pattern)
            for name in names:
                test(name)


def _regex_patterns(query: Query) -> list[str]:
    """Every ``<<regex>>`` of a query: its target's name and those of reference filters."""
    found: list[str] = []

    def pattern(name: NamePattern | None) -> None:
        if name is not None and name.regex and name.text not in found:
            found.append(name.text)

    def walk(condition: Condition | None) -> None:
        if isinstance(condition, And | Or):
            for item in condition.items:
                walk(item)
        elif isinstance(condition, Not):
            walk(condition.item)
        elif isinstance(condition, References | ReferencedBy):
            pattern(condition.target)
            walk(condition.sub)
        elif isinstance(condition, PropertyCondition):
            walk(condition.sub)

    pattern(query.target.name)
    walk(query.filter)
    return found


class QueryStore(Protocol):
    """What the evaluator reads of a store (:class:`EntityStore`, or a view of old versions)."""

    query_cache: dict[object, frozenset[int]]

    def get(self, entity_id: int) -> Entity | None: ...

    def ids_with_role(self, role: Role) -> AbstractSet[int]: ...

    def match_names(self, matches: Callable[[str], bool]) -> set[int]: ...

    def find_by_name(self, name: str) -> list[Entity]: ...

    def descendants(self, entity_id: int) -> frozenset[int]: ...

    def ids_with_property(self, name: str) -> AbstractSet[int]: ...

    def ids_with_property_value(self, name: str, keys: Iterable[Key]) -> set[int]: ...

    def values_of(self, name: str) -> Mapping[Key, AbstractSet[int] | int]: ...

    def referenced_by(self, entity_id: int) -> AbstractSet[int]: ...

    def name_of(self, entity_id: int | None) -> str | None: ...

    def versions_of(self, entity_id: int) -> list[Entity]: ...


Me = tuple[str, str] | None
"""``(username, realm)`` of the caller, for ``… BY ME``."""


def evaluate(
    query: Query, store: QueryStore, *, me: Me = None, run: QueryRun | None = None
) -> list[int]:
    """Ids of the (current) entities a FIND/COUNT/SELECT query returns, ascending.

    ``run`` carries the deadline and regex verdicts (a fresh one if None); past the deadline
    this raises :class:`QueryTooSlow`."""
    return sorted(_Evaluator(query, store, me, run or QueryRun(query)).run())


def evaluate_versions(
    query: Query, store: EntityStore, *, me: Me = None, run: QueryRun | None = None
) -> list[Entity]:
    """``FIND ANY VERSION OF …``: every version (current or older) that matches, by id and then
    oldest first. Older versions are evaluated as if they were current, one generation at a
    time (every entity's first older version, then the second …), against the others' heads."""
    run = run or QueryRun(query)
    with store.lock:
        matched: list[tuple[int, int, Entity]] = []
        for entity_id in evaluate(query, store, me=me, run=run):
            head = store.get(entity_id)
            if head is not None:
                matched.append((entity_id, _seq(head), head))
        histories = {i: store.versions_of(i)[:-1] for i in store.updated_ids()}
        generation = 0
        while True:
            overlay = {i: h[generation] for i, h in histories.items() if len(h) > generation}
            if not overlay:
                break
            run.deadline.check()
            view = _VersionView(store, overlay)
            for entity_id in _Evaluator(query, view, me, run).run():
                if entity_id in overlay:
                    matched.append((entity_id, _seq(overlay[entity_id]), overlay[entity_id]))
            generation += 1
        return [entity for _i, _s, entity in sorted(matched, key=lambda m: (m[0], m[1]))]


def _seq(entity: Entity) -> int:
    return entity.version.seq if entity.version is not None else 0


# ----------------------------------------------------------------------------- patterns
class GlobMatcher:
    """A pattern form: ``*`` any text (for paths: within one ``/`` segment), ``**`` anything
    (paths only), ``\\*`` a literal star; case-insensitive (U), whole string.

    Matched in time linear in the text, never by backtracking: a regex such as
    ``.*a.*a.*a.*b`` needs polynomial time on a long name, and ``LIKE "*a*a*a*a*b"`` held the
    store's lock for minutes. Without segments, the literal parts between stars are found left to
    right, each at its first place after the previous one (the leftmost place is always the best
    one); a path pattern is simulated as a small automaton, one character at a time.
    """

    __slots__ = ("_parts", "_tokens")

    def __init__(self, glob: str, *, path: bool = False) -> None:
        tokens: list[tuple[str, str]] = []  # ("c", char) | ("*", "") | ("*", "/") | ("**", "")
        i = 0
        while i < len(glob):
            char = glob[i]
            if char == "\\" and i + 1 < len(glob):
                tokens.append(("c", glob[i + 1].lower()))
                i += 2
            elif char == "*" and path and glob.startswith("**", i):
                tokens.append(("**", ""))
                i += 2
            elif char == "*":
                tokens.append(("*", "/" if path else ""))
                i += 1
            else:
                tokens.append(("c", char.lower()))
                i += 1
        self._tokens = tokens
        self._parts: list[str] | None = None
        if not path:  # literal parts between stars: the fast, find-based form
            parts = [""]
            for kind, char in tokens:
                if kind == "c":
                    parts[-1] += char
                else:
                    parts.append("")
            self._parts = parts

    def fullmatch(self, text: str) -> bool:
        """Whether the whole of ``text`` matches."""
        text = text.lower()
        if self._parts is not None:
            return _match_parts(self._parts, text)
        return _match_tokens(self._tokens, text)


def _match_parts(parts: list[str], text: str) -> bool:
    if len(parts) == 1:
        return text == parts[0]
    first, last = parts[0], parts[-1]
    end = len(text) - len(last)
    if end < len(first) or not text.startswith(first) or not text.endswith(last):
        return False
    position = len(first)
    for part in parts[1:-1]:
        if part:
            found = text.find(part, position, end)
            if found < 0:
                return False
            position = found + len(part)
    return True


def _match_tokens(tokens: list[tuple[str, str]], text: str) -> bool:
    """The set of pattern positions reachable after each character (no backtracking)."""
    size = len(tokens)

    def closure(states: set[int]) -> set[int]:
        out: set[int] = set()
        stack = list(states)
        while stack:
            state = stack.pop()
            if state in out:
                continue
            out.add(state)
            if state < size and tokens[state][0] != "c":
                stack.append(state + 1)  # a star may match nothing
        return out

    states = closure({0})
    for char in text:
        following: set[int] = set()
        for state in states:
            if state == size:
                continue
            kind, value = tokens[state]
            if kind == "c":
                if value == char:
                    following.add(state + 1)
            elif char != value or kind == "**":  # "*" in a path stops at "/"
                following.add(state)
        if not following:
            return False
        states = closure(following)
    return size in states


@lru_cache(maxsize=512)
def _glob_regex(glob: str, *, path: bool = False) -> GlobMatcher:
    """The cached matcher of a pattern form (see :class:`GlobMatcher`)."""
    return GlobMatcher(glob, path=path)


def matches_name(
    pattern: NamePattern, store: QueryStore, run: QueryRun | None = None
) -> set[int]:
    """Entities whose own name (or id, for a number) matches the pattern; a ``<<regex>>`` is
    searched in linear time, under ``run``'s deadline."""
    if pattern.regex:
        return store.match_names((run or QueryRun()).name_test(pattern.text))
    if pattern.has_wildcard:
        glob = _glob_regex(pattern.text)
        return store.match_names(glob.fullmatch)
    literal = pattern.literal
    found = {e.id for e in store.find_by_name(literal) if e.id is not None}
    number = parse_id(literal)
    if number is not None and number >= 0 and store.get(number) is not None:
        found.add(number)
    return found


# ----------------------------------------------------------------------------- evaluation
_RANGE_OPS = frozenset({"<", "<=", ">", ">=", "!=", "IN", "NOT IN"})
"""Operators whose answer depends only on the stored value, so distinct values can be scanned."""


def _intersect(small: AbstractSet[int], large: AbstractSet[int]) -> set[int]:
    """Iterate the smaller set only: index hits are tiny, candidate sets can be all records."""
    if len(small) > len(large):
        small, large = large, small
    return {i for i in small if i in large}


def _cost(condition: Condition) -> int:
    """Cheap, selective conditions first, so later ones scan fewer candidates."""
    if isinstance(condition, PropertyCondition):
        if condition.op == "=" and condition.unit is None and "*" not in (condition.value or ""):
            return 0
        if condition.op is None and condition.sub is None:
            return 1
    if isinstance(condition, StoredAt | TransactionFilter):
        return 3
    return 2


class _Evaluator:
    def __init__(self, query: Query, store: QueryStore, me: Me, run: QueryRun) -> None:
        self.query = query
        self.store = store
        self.me = me
        self.run_state = run

    def fail(self, detail: str) -> UnsupportedQuery:
        return UnsupportedQuery(self.query.text, detail)

    def run(self) -> set[int]:
        self.run_state.deadline.check()
        candidates = self.target_ids(self.query.target)
        if self.query.filter is None:
            return set(candidates)
        return self.eval(self.query.filter, candidates)

    def target_ids(self, target: Target) -> AbstractSet[int]:
        name = target.name
        key = ("target", target.role, name)
        cached = self.store.query_cache.get(key)
        if cached is not None:
            return cached
        roles = _ROLES_OF[target.role]
        result: set[int] = set()
        if name is None:
            for role in roles:
                result |= self.store.ids_with_role(role)
        else:
            related: set[int] = set()
            for entity_id in matches_name(name, self.store, self.run_state):
                related |= self.store.descendants(entity_id)
            result = {
                i for i in related if (e := self.store.get(i)) is not None and e.role in roles
            }
        if len(self.store.query_cache) > 512:
            self.store.query_cache.clear()
        frozen = frozenset(result)
        self.store.query_cache[key] = frozen
        return frozen

    def eval(self, condition: Condition, candidates: AbstractSet[int]) -> set[int]:
        """The subset of ``candidates`` (never mutated: it may be cached) that matches."""
        self.run_state.deadline.check()
        if not candidates:
            return set()
        if isinstance(condition, And):
            current: AbstractSet[int] = candidates
            for item in sorted(condition.items, key=_cost):
                current = self.eval(item, current)
            return set(current)
        if isinstance(condition, Or):
            result: set[int] = set()
            for item in condition.items:
                result |= self.eval(item, candidates)
            return result
        if isinstance(condition, Not):
            return set(candidates) - self.eval(condition.item, candidates)
        if isinstance(condition, PropertyCondition):
            return self.eval_property(condition, candidates)
        if isinstance(condition, References):
            found: set[int] = set()
            for target_id in self.referenced_targets(condition.target, condition.sub):
                found |= self.store.referenced_by(target_id)
            return _intersect(found, candidates)
        if isinstance(condition, ReferencedBy):
            referrers = self.referenced_targets(condition.target, condition.sub)
            via = condition.prop.lower() if condition.prop else None
            pointed = {
                v for r in referrers for v in _reference_values(self.store.get(r), via)
            }
            return _intersect(pointed, candidates)
        if isinstance(condition, StoredAt):
            regex = _glob_regex("/" + condition.path.lstrip("/"), path=True)
            return {
                i
                for i in candidates
                if (e := self.store.get(i)) is not None
                and e.path is not None
                and regex.fullmatch(e.path)
            }
        if isinstance(condition, TransactionFilter):
            return self.eval_transaction(condition, candidates)
        raise TypeError(f"unknown condition {condition!r}")

    def referenced_targets(self, pattern: NamePattern, sub: Condition | None) -> set[int]:
        related: set[int] = set()
        for entity_id in matches_name(pattern, self.store, self.run_state):
            related |= self.store.descendants(entity_id)
        return self.eval(sub, related) if sub is not None else related

    # -- properties
    def eval_property(self, cond: PropertyCondition, candidates: AbstractSet[int]) -> set[int]:
        prop = cond.prop.lower()
        if prop in _SELF and cond.sub is None and cond.op not in (None, "->"):
            return self.eval_self(prop, cond, candidates)
        in_op = cond.op in ("IN", "NOT IN") and cond.value is not None
        if in_op and wanted(_literal(cond.value or "")).interval is None:
            raise self.fail(
                f"{cond.op} compares dates ('date IN 2019'); '{cond.value}' is no date"
            )
        having = _intersect(self.store.ids_with_property(cond.prop), candidates)
        if cond.op is None:
            if cond.sub is None:
                return having
            return self.eval_nested(cond, having)
        if cond.op == "->":
            assert isinstance(cond.sub, References)
            targets = self.referenced_targets(cond.sub.target, cond.sub.sub)
            return {
                i
                for i in having
                if any(v in targets for v in _reference_values(self.store.get(i), prop))
            }
        if cond.op in ("GREATEST", "SMALLEST"):
            return self.eval_extreme(cond, having)
        if cond.op in ("IS NULL", "IS NOT NULL"):
            with_value = {i for i in having if _has_value(self.store.get(i), prop)}
            if cond.op == "IS NOT NULL":
                return with_value
            if decisions.NULL_NEEDS_PROPERTY:
                return having - with_value
            return set(candidates) - with_value
        assert cond.value is not None
        literal = _literal(cond.value)
        if cond.unit is None and cond.op == "=" and not _has_wildcard(cond.value):
            want = wanted(literal)
            found = _intersect(self.store.ids_with_property_value(cond.prop, want.keys()), having)
            for target in _names_as_ids(literal, self.store):
                found |= _intersect(
                    self.store.ids_with_property_value(cond.prop, [("n", float(target))]), having
                )
            return found
        if cond.unit is None and cond.op in _RANGE_OPS:
            values = self.store.values_of(cond.prop)
            if len(values) <= len(having):  # no more distinct values than candidates: use them
                want = wanted(literal)
                found = set()
                for key, ids in values.items():
                    if compare_key(key, cond.op, want):
                        found |= postings(ids)
                return _intersect(found, having)
        return {i for i in having if self.any_value_matches(self.store.get(i), prop, cond)}

    def eval_extreme(self, cond: PropertyCondition, having: set[int]) -> set[int]:
        """``WITH THE GREATEST p``: the candidates holding the largest (smallest) value."""
        best: dict[int, Key] = {}
        kinds: set[str] = set()
        prop = cond.prop.lower()
        for entity_id in having:
            entity = self.store.get(entity_id)
            for p in entity.properties if entity is not None else ():
                if (p.name or "").lower() != prop:
                    continue
                for value in p.value if isinstance(p.value, list) else [p.value]:
                    if value is None:
                        continue
                    key = typed_key(value, p.datatype)
                    kinds.add(key[0])
                    current = best.get(entity_id)
                    better = current is None or (
                        key > current if cond.op == "GREATEST" else key < current
                    )
                    if better:
                        best[entity_id] = key
        if len(kinds) > 1:
            raise self.fail(f"THE {cond.op} {cond.prop}: the values are of mixed kinds")
        if not best:
            return set()
        top = max(best.values()) if cond.op == "GREATEST" else min(best.values())
        return {i for i, key in best.items() if key == top}

    def eval_self(
        self, prop: str, cond: PropertyCondition, candidates: AbstractSet[int]
    ) -> set[int]:
        assert cond.op is not None
        if cond.op in ("IS NULL", "IS NOT NULL"):
            null = cond.op == "IS NULL"
            return {i for i in candidates if (_self_value(self.store.get(i), prop) is None) == null}
        assert cond.value is not None
        if prop == "name" and cond.op == "=" and not _has_wildcard(cond.value):
            return _intersect(matches_name(NamePattern(cond.value), self.store), candidates)
        op = "LIKE" if cond.op == "=" and _has_wildcard(cond.value) else cond.op
        found: set[int] = set()
        for i in candidates:
            text = _self_value(self.store.get(i), prop)
            if text is not None and _compare(text, None, op, cond.value):
                found.add(i)
        return found

    def eval_nested(self, cond: PropertyCondition, having: set[int]) -> set[int]:
        assert cond.sub is not None
        pointed: dict[int, set[int]] = {}
        for entity_id in having:
            for value in _reference_values(self.store.get(entity_id), cond.prop.lower()):
                pointed.setdefault(value, set()).add(entity_id)
        passing = self.eval(cond.sub, set(pointed))
        return {e for target in passing for e in pointed[target]}

    def any_value_matches(self, entity: Entity | None, prop: str, cond: PropertyCondition) -> bool:
        if entity is None:
            return False
        assert cond.op is not None and cond.value is not None
        for p in entity.properties:
            if (p.name or "").lower() != prop:
                continue
            factor = 1.0
            if cond.unit is not None and p.unit is not None:
                converted = unit_factor(p.unit, cond.unit)
                if converted is None:
                    raise self.fail(
                        f"comparing a value in '{cond.unit}' with '{p.name}' stored in "
                        f"'{p.unit}' needs a unit conversion the stand-in does not emulate "
                        "(only SI prefixes of one unit are converted)"
                    )
                factor = converted
            values = p.value if isinstance(p.value, list) else [p.value]
            reference = is_reference_datatype(p.datatype)
            for value in values:
                if value is None:
                    continue
                if _compare(value, p.datatype, cond.op, cond.value, factor):
                    return True
                target = parse_id(value) if reference else None
                if target is not None and target >= 0 and cond.op in ("=", "LIKE"):
                    name = self.store.name_of(target)
                    if name is not None and _compare(name, None, "LIKE", cond.value):
                        return True
        return False

    # -- transactions
    def eval_transaction(
        self, cond: TransactionFilter, candidates: AbstractSet[int]
    ) -> set[int]:
        if cond.who in ("ME", "SOMEONE ELSE BUT ME", "SOMEONE ELSE") and self.me is None:
            raise self.fail("'BY ME' needs an authenticated caller")
        when = None
        if cond.when is not None:
            op, text = cond.when
            interval = (
                datetimes.today_interval() if op == "TODAY" else datetimes.parse_datetime(text)
            )
            if interval is None:
                raise self.fail(f"'{text}' after {op} is no date")
            when = (op, interval)
        found: set[int] = set()
        for entity_id in candidates:
            chain = self.store.versions_of(entity_id)
            head = self.store.get(entity_id)
            if head is not None and chain and head is not chain[-1]:  # an older version's view
                chain = [e for e in chain if _seq(e) <= _seq(head)]
            if cond.kind == "INSERTED":
                versions = chain[:1]
            else:
                versions = chain[1:] if decisions.INSERT_IS_NO_UPDATE else chain
            if any(self.version_matches(e, cond, when) for e in versions):
                found.add(entity_id)
        return found

    def version_matches(
        self,
        entity: Entity,
        cond: TransactionFilter,
        when: tuple[str, datetimes.Interval] | None,
    ) -> bool:
        version = entity.version
        if version is None:
            return False
        author = (version.username, version.realm)
        if cond.who == "ME" and author != self.me:
            return False
        if cond.who in ("SOMEONE ELSE", "SOMEONE ELSE BUT ME") and author == self.me:
            return False
        named = cond.who is not None and not cond.who_is_keyword
        if named and not _glob_regex(cond.who or "").fullmatch(version.username):
            return False
        if when is None:
            return True
        op, interval = when
        instant = datetimes.Interval(version.date_ns, version.date_ns + 1)
        if op in ("ON", "IN", "AT", "TODAY"):
            return datetimes.compare(instant, "IN", interval)
        if op == "SINCE":
            return instant.lo >= interval.lo
        if op == "BEFORE":
            return instant.hi <= interval.lo
        return instant.lo >= interval.hi  # AFTER


# ----------------------------------------------------------------------------- helpers
def _literal(glob: str) -> str:
    return unescape_glob(glob)


def _has_wildcard(glob: str) -> bool:
    return NamePattern(glob).has_wildcard


def _self_value(entity: Entity | None, prop: str) -> str | None:
    if entity is None:
        return None
    if prop == "id":
        return str(entity.id)
    return entity.name if prop == "name" else entity.description


def _has_value(entity: Entity | None, prop: str) -> bool:
    if entity is None:
        return False
    for p in entity.properties:
        if (p.name or "").lower() == prop:
            values = p.value if isinstance(p.value, list) else [p.value]
            if any(v is not None for v in values):
                return True
    return False


def _names_as_ids(value: str, store: QueryStore) -> Iterable[int]:
    """``WITH p=B`` also matches a reference to the entity named B."""
    if parse_id(value) is not None:
        return ()
    return [e.id for e in store.find_by_name(value) if e.id is not None]


def _reference_values(entity: Entity | None, prop: str | None = None) -> list[int]:
    """The ids the entity's reference properties (named ``prop``, or all) point at."""
    if entity is None:
        return []
    out: list[int] = []
    for p in entity.properties:
        if (prop is None or (p.name or "").lower() == prop) and is_reference_datatype(p.datatype):
            values = p.value if isinstance(p.value, list) else [p.value]
            out.extend(i for v in values if v is not None and (i := parse_id(v)) is not None
                       and i >= 0)
    return out


def _compare(
    stored: str, datatype: str | None, op: str, glob: str, factor: float = 1.0
) -> bool:
    """One stored value against a query value (pattern form) with one operator."""
    if op == "LIKE" or (op == "=" and _has_wildcard(glob)):
        return _glob_regex(glob).fullmatch(stored)
    want: Wanted = wanted(_literal(glob)).scaled(factor)
    return compare_key(typed_key(stored, datatype), op, want)


# ----------------------------------------------------------------------------- old versions
_S = TypeVar("_S")


class _Patched(AbstractSet[int]):
    """``base`` without ``removed``, plus ``added`` (ids whose older version is looked at)."""

    def __init__(
        self, base: AbstractSet[int], removed: AbstractSet[int], added: AbstractSet[int]
    ) -> None:
        self.base, self.removed, self.added = base, removed, added

    def __contains__(self, item: object) -> bool:
        return item in self.added or (item in self.base and item not in self.removed)

    def __iter__(self) -> Iterator[int]:
        yield from (i for i in self.base if i not in self.removed)
        yield from self.added

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @classmethod
    def _from_iterable(cls, it: Iterable[_S]) -> frozenset[_S]:
        """What ``|``, ``&`` and ``-`` build (``set() | patched`` lands here through
        ``__ror__``): a plain frozenset, as the base class cannot be made from an iterable."""
        return frozenset(it)


class _VersionView:
    """The store as it would look if some entities were at an older version (``overlay``)."""

    def __init__(self, store: EntityStore, overlay: dict[int, Entity]) -> None:
        self.base = store
        self.overlay = overlay
        self.ids = frozenset(overlay)
        self.mini = EntityStore.of_versions(overlay.values())
        self.query_cache: dict[object, frozenset[int]] = {}

    def _patch(self, base: AbstractSet[int], mini: AbstractSet[int]) -> AbstractSet[int]:
        return _Patched(base, self.ids, mini)

    def get(self, entity_id: int) -> Entity | None:
        return self.overlay.get(entity_id) or self.base.get(entity_id)

    def ids_with_role(self, role: Role) -> AbstractSet[int]:
        return self._patch(self.base.ids_with_role(role), self.mini.ids_with_role(role))

    def match_names(self, matches: Callable[[str], bool]) -> set[int]:
        return (self.base.match_names(matches) - self.ids) | self.mini.match_names(matches)

    def find_by_name(self, name: str) -> list[Entity]:
        return [e for e in self.base.find_by_name(name) if e.id not in self.ids] + (
            self.mini.find_by_name(name)
        )

    def descendants(self, entity_id: int) -> frozenset[int]:
        seen: set[int] = set()
        todo = [entity_id]
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(
                    self._patch(self.base.children_of(current), self.mini.children_of(current))
                )
        return frozenset(seen)

    def ids_with_property(self, name: str) -> AbstractSet[int]:
        return self._patch(self.base.ids_with_property(name), self.mini.ids_with_property(name))

    def ids_with_property_value(self, name: str, keys: Iterable[Key]) -> set[int]:
        keys = list(keys)
        return (self.base.ids_with_property_value(name, keys) - self.ids) | (
            self.mini.ids_with_property_value(name, keys)
        )

    def values_of(self, name: str) -> Mapping[Key, AbstractSet[int] | int]:
        base, mini = self.base.values_of(name), self.mini.values_of(name)
        merged: dict[Key, AbstractSet[int] | int] = {}
        for key in {*base, *mini}:
            merged[key] = self._patch(postings(base.get(key)), postings(mini.get(key)))
        return merged

    def referenced_by(self, entity_id: int) -> AbstractSet[int]:
        return self._patch(self.base.referenced_by(entity_id), self.mini.referenced_by(entity_id))

    def name_of(self, entity_id: int | None) -> str | None:
        entity = self.get(entity_id) if entity_id is not None else None
        return entity.name if entity is not None else None

    def versions_of(self, entity_id: int) -> list[Entity]:
        return self.base.versions_of(entity_id)
