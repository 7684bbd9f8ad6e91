"""``<<regex>>`` name patterns, matched in time linear in the name, without backtracking.

Why not ``re``: a backtracking engine needs exponential time for ``(a+)+$`` or ``(a|aa)*c``
and polynomial time for ``.*a.*a.*a.*b`` against a long name, and ``re`` holds the GIL while it
does, so one such query froze the whole stand-in, not only its store. Why not a check for
"nested quantifiers": ``(a|aa)*`` nests none, and the polynomial cases nest none either.

What is done instead: the pattern is parsed by ``re``'s own parser (so the syntax, the flags
and the meaning of every character class stay exactly Python's, which tests check against
``re``), compiled to a Thompson NFA, and run as a DFA built lazily per query: after the first
names, a name costs one dictionary step per character. Whether a pattern *matches somewhere*
does not depend on greedy or lazy quantifiers, so the answer is the one ``re.search`` gives.

Features that are not regular, for which a backtracking engine is needed, are refused with a
:class:`RegexRefused` naming them: backreferences (``\\1``, ``(?P=name)``), look-ahead and
look-behind, conditionals ``(?(1)…)``, atomic groups and possessive quantifiers. So is a pattern
whose automaton would have more than :data:`decisions.REGEX_MAX_STATES` states (``{m,n}``
counts are expanded, and nested counts multiply).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from sss_emulator import decisions

__all__ = ["NameRegex", "RegexRefused", "compile_name_regex"]

_parser: Any = importlib.import_module("re._parser")
"""``re``'s own parser (internal, but the one ``re.compile`` uses: one syntax, not two)."""
_MAXREPEAT: int = importlib.import_module("re._constants").MAXREPEAT

_CHAR, _SPLIT, _ASSERT, _MATCH = range(4)
# Zero-width assertions, after the MULTILINE flag has been applied as re's compiler does.
_BEGIN, _BEGIN_LINE, _END, _END_LINE, _END_STRING, _BOUNDARY, _NON_BOUNDARY = range(7)
_AT_KINDS = {
    "AT_BEGINNING": (_BEGIN, _BEGIN_LINE), "AT_BEGINNING_STRING": (_BEGIN, _BEGIN),
    "AT_END": (_END, _END_LINE), "AT_END_STRING": (_END_STRING, _END_STRING),
    "AT_BOUNDARY": (_BOUNDARY, _BOUNDARY), "AT_NON_BOUNDARY": (_NON_BOUNDARY, _NON_BOUNDARY),
}  # fmt: skip
_CATEGORIES = {
    "CATEGORY_DIGIT": r"\d", "CATEGORY_NOT_DIGIT": r"\D", "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S", "CATEGORY_WORD": r"\w", "CATEGORY_NOT_WORD": r"\W",
}  # fmt: skip
_REFUSED = {
    "GROUPREF": "a backreference (\\1, (?P=name))",
    "GROUPREF_EXISTS": "a conditional group ((?(1)…|…))",
    "ASSERT": "a look-ahead or look-behind ((?=…), (?<=…))",
    "ASSERT_NOT": "a negative look-ahead or look-behind ((?!…), (?<!…))",
    "ATOMIC_GROUP": "an atomic group ((?>…))",
    "POSSESSIVE_REPEAT": "a possessive quantifier (*+, ++, ?+)",
}
_LEAF_FLAGS = re.IGNORECASE | re.ASCII | re.DOTALL
"""The flags that change what one character matches (MULTILINE is applied to assertions)."""
_WORD = re.compile(r"\w").fullmatch
_ASCII_WORD = re.compile(r"\w", re.ASCII).fullmatch
# \b and \B on an empty string: re's own answer (3.14 changed \B), not an assumption.
_EMPTY_BOUNDARY = re.search(r"\b", "") is not None
_EMPTY_NON_BOUNDARY = re.search(r"\B", "") is not None

_DFA_STATES = 4096
"""Cached DFA states per query; past this the cache starts over (each name stays linear)."""
_CHUNK = 4096
"""Characters of one name matched between two looks at the query's deadline."""
_ACCEPT = -1

Info = tuple[bool, bool, bool] | None
"""What assertions need to know of a character: (is ``\\n``, is ``\\w``, is ASCII ``\\w``);
None before the first or after the last character."""


class RegexRefused(ValueError):
    """A pattern the linear matcher will not run; the message says what and why."""


def _info(char: str) -> tuple[bool, bool, bool]:
    return char == "\n", _WORD(char) is not None, _ASCII_WORD(char) is not None


def _holds(kind: int, ascii_only: bool, before: Info, after: Info, last: bool) -> bool:
    """Whether a zero-width assertion holds between ``before`` and ``after``; ``last``: the
    character after is the string's last one (``$`` also matches before a final newline)."""
    if kind == _BEGIN:
        return before is None
    if kind == _BEGIN_LINE:
        return before is None or before[0]
    if kind == _END_STRING:
        return after is None
    if kind == _END:
        return after is None or (after[0] and last)
    if kind == _END_LINE:
        return after is None or after[0]
    if before is None and after is None:  # the empty string
        return _EMPTY_BOUNDARY if kind == _BOUNDARY else _EMPTY_NON_BOUNDARY
    word = 2 if ascii_only else 1
    differs = (before is not None and before[word]) != (after is not None and after[word])
    return differs if kind == _BOUNDARY else not differs


def _no_char(char: str) -> None:
    """The character test of an instruction that reads no character (never called)."""


class _Program:
    """A Thompson NFA in parallel lists, built back to front (each piece knows what follows)."""

    def __init__(self, pattern: str, limit: int) -> None:
        self.pattern = pattern
        self.limit = limit
        self.op: list[int] = []
        self.next: list[int] = []
        self.other: list[int] = []
        """SPLIT: the second branch; ASSERT: the assertion kind."""
        self.test: list[Callable[[str], object]] = []
        self.ascii_only: list[bool] = []
        self._leaves: dict[tuple[str, int], Callable[[str], object]] = {}

    def add(self, op: int, next_pc: int, other: int = -1,
            test: Callable[[str], object] = _no_char, ascii_only: bool = False) -> int:
        if len(self.op) >= self.limit:
            raise RegexRefused(
                f"the regular expression <<{self.pattern}>> needs more than {self.limit} "
                "states (counts such as {1000} are expanded, and nested ones multiply); "
                "the stand-in refuses it rather than spend unbounded time"
            )
        self.op.append(op)
        self.next.append(next_pc)
        self.other.append(other)
        self.test.append(test)
        self.ascii_only.append(ascii_only)
        return len(self.op) - 1

    def sequence(self, items: Any, flags: int, cont: int) -> int:
        for op, av in reversed(list(items)):
            cont = self.node(str(op), av, flags, cont)
        return cont

    def node(self, op: str, av: Any, flags: int, cont: int) -> int:
        if op in _REFUSED:
            raise RegexRefused(
                f"the regular expression <<{self.pattern}>> uses {_REFUSED[op]}, which needs "
                "a backtracking matcher; the stand-in matches <<…>> in time linear in the name "
                "and refuses backreferences, look-around, conditionals, atomic groups and "
                "possessive quantifiers"
            )
        if op in ("LITERAL", "NOT_LITERAL", "ANY", "IN"):
            return self.add(_CHAR, cont, test=self.leaf(op, av, flags))
        if op == "AT":
            plain, multiline = _AT_KINDS[str(av)]
            kind = multiline if flags & re.MULTILINE else plain
            return self.add(_ASSERT, cont, kind, ascii_only=bool(flags & re.ASCII))
        if op == "SUBPATTERN":
            _group, add_flags, del_flags, items = av
            return self.sequence(items, (flags | add_flags) & ~del_flags, cont)
        if op == "BRANCH":
            _unused, alternatives = av
            starts = [self.sequence(items, flags, cont) for items in alternatives]
            start = starts[-1]
            for other in reversed(starts[:-1]):
                start = self.add(_SPLIT, other, start)
            return start
        if op in ("MAX_REPEAT", "MIN_REPEAT"):  # greedy or lazy: the same set of matches
            low, high, items = av
            return self.repeat(items, int(low), int(high), flags, cont)
        raise RegexRefused(  # not produced by re's parser today; refused rather than guessed
            f"the regular expression <<{self.pattern}>> uses {op}, which the stand-in "
            "does not match"
        )

    def repeat(self, items: Any, low: int, high: int, flags: int, cont: int) -> int:
        probe = len(self.op)
        if self.sequence(items, flags, cont) == cont and len(self.op) == probe:
            return cont  # an empty body: any number of it is nothing
        if high == _MAXREPEAT:
            loop = self.add(_SPLIT, -1, cont)  # body again, or go on
            self.next[loop] = self.sequence(items, flags, loop)
            tail = loop
        else:
            tail = cont
            for _ in range(high - low):  # x{0,k} = (x(x(x)?)?)?
                tail = self.add(_SPLIT, self.sequence(items, flags, tail), cont)
        for _ in range(low):
            tail = self.sequence(items, flags, tail)
        return tail

    def leaf(self, op: str, av: Any, flags: int) -> Callable[[str], object]:
        """What one character must be, as a one-character pattern ``re`` itself matches (so
        case folding, ``\\w`` and ``.`` mean exactly what they mean in ``re``)."""
        if op == "LITERAL":
            source = _char(av)
        elif op == "NOT_LITERAL":
            source = f"[^{_char(av)}]"
        elif op == "ANY":
            source = "."
        else:
            parts: list[str] = []
            for item_op, item in av:
                kind = str(item_op)
                if kind == "NEGATE":
                    parts.insert(0, "^")
                elif kind == "LITERAL":
                    parts.append(_char(item))
                elif kind == "RANGE":
                    parts.append(f"{_char(item[0])}-{_char(item[1])}")
                elif kind == "CATEGORY" and str(item) in _CATEGORIES:
                    parts.append(_CATEGORIES[str(item)])
                else:
                    raise RegexRefused(
                        f"the regular expression <<{self.pattern}>> uses {kind} in a "
                        "character class, which the stand-in does not match"
                    )
            source = "[" + "".join(parts) + "]"
        key = (source, flags & _LEAF_FLAGS)
        test = self._leaves.get(key)
        if test is None:
            test = self._leaves[key] = re.compile(source, flags & _LEAF_FLAGS).fullmatch
        return test


def _char(code: int) -> str:
    return f"\\U{code:08x}"


class NameRegex:
    """A compiled ``<<regex>>``: :meth:`matcher` gives a matcher for one query.

    Example::

        matcher = compile_name_regex("(a+)+$").matcher()
        matcher.search("a" * 100_000 + "b")   # True, in linear time
    """

    def __init__(self, pattern: str, flags: int) -> None:
        try:
            parsed = _parser.parse(pattern, flags)
        except (re.error, OverflowError) as err:
            raise RegexRefused(f"the regular expression <<{pattern}>> is invalid: {err}") from err
        program = _Program(pattern, decisions.REGEX_MAX_STATES)
        match = program.add(_MATCH, -1)
        self.start = program.sequence(parsed, parsed.state.flags, match)
        self.program = program

    def matcher(self, check: Callable[[], None] | None = None) -> _Matcher:
        """A matcher with its own DFA cache: one per query, so threads share nothing that
        changes. ``check`` (a deadline that may raise) is called every few thousand characters
        and whenever a new DFA transition is built, which is where a large automaton costs."""
        return _Matcher(self, check)


class _Matcher:
    def __init__(self, regex: NameRegex, check: Callable[[], None] | None) -> None:
        self._check = check
        program = regex.program
        self._op, self._next, self._other = program.op, program.next, program.other
        self._test, self._ascii = program.test, program.ascii_only
        self._start = regex.start
        self._reset()

    def _reset(self) -> None:
        self._index: dict[tuple[frozenset[int], Info], int] = {}
        self._kernels: list[tuple[frozenset[int], Info]] = []
        self._rows: list[dict[str, int]] = []
        self._last_rows: list[dict[str, int]] = []
        self._initial = self._state(frozenset(), None)

    def _state(self, kernel: frozenset[int], before: Info) -> int:
        """The id of a DFA state: NFA positions before their closure, plus what precedes."""
        key = (kernel | {self._start}, before)  # a search may start at every position
        found = self._index.get(key)
        if found is not None:
            return found
        if len(self._kernels) >= _DFA_STATES:
            self._reset()  # a pathological automaton: start over, stay linear per character
        self._index[key] = len(self._kernels)
        self._kernels.append(key)
        self._rows.append({})
        self._last_rows.append({})
        return len(self._kernels) - 1

    def _closure(self, kernel: frozenset[int], before: Info, after: Info,
                 last: bool) -> list[int] | None:
        """The character tests reachable without input; None: the pattern has matched."""
        op, nxt, other, ascii_only = self._op, self._next, self._other, self._ascii
        seen: set[int] = set()
        stack = list(kernel)
        tests: list[int] = []
        while stack:
            pc = stack.pop()
            if pc in seen:
                continue
            seen.add(pc)
            kind = op[pc]
            if kind == _CHAR:
                tests.append(pc)
            elif kind == _SPLIT:
                stack.append(other[pc])
                stack.append(nxt[pc])
            elif kind == _ASSERT:
                if _holds(other[pc], ascii_only[pc], before, after, last):
                    stack.append(nxt[pc])
            else:
                return None
        return tests

    def _step(self, state: int, char: str, last: bool) -> int:
        if self._check is not None:
            self._check()
        kernel, before = self._kernels[state]
        after = _info(char)
        tests = self._closure(kernel, before, after, last)
        if tests is None:
            return _ACCEPT
        test, nxt = self._test, self._next
        following = frozenset(nxt[pc] for pc in tests if test[pc](char) is not None)
        generation = self._rows
        target = self._state(following, after)
        if generation is self._rows:  # no reset in between: the row still belongs to state
            (self._last_rows if last else self._rows)[state][char] = target
        return target

    def _accepts_at_end(self, state: int) -> bool:
        kernel, before = self._kernels[state]
        return self._closure(kernel, before, None, False) is None

    def search(self, text: str) -> bool:
        """Whether the pattern matches somewhere in ``text`` (``re.search``'s answer)."""
        check = self._check
        state = self._initial
        last = len(text) - 1
        position = 0
        while position < last:
            stop = min(last, position + _CHUNK)
            rows = self._rows
            for char in text[position:stop]:
                target = rows[state].get(char)
                if target is None:
                    target = self._step(state, char, False)
                    rows = self._rows
                if target < 0:
                    return True
                state = target
            position = stop
            if check is not None and position < last:
                check()
        if last >= 0:
            char = text[last]
            target = self._last_rows[state].get(char)
            if target is None:
                target = self._step(state, char, True)
            if target < 0:
                return True
            state = target
        return self._accepts_at_end(state)


@lru_cache(maxsize=256)
def compile_name_regex(pattern: str) -> NameRegex:
    """The compiled ``<<pattern>>`` (case-insensitive as :data:`decisions.REGEX_CASE_INSENSITIVE`
    decides), or :class:`RegexRefused` saying why it is not run."""
    return NameRegex(pattern, re.IGNORECASE if decisions.REGEX_CASE_INSENSITIVE else 0)
