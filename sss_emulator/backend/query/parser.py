"""LinkAhead's query language: a recursive-descent parser producing the AST the evaluator runs.

Grammar (keywords case-insensitive; ``[]`` optional, ``*`` repeated, ``|`` alternatives)::

    query      := (FIND | COUNT | SELECT selector ("," selector)* FROM)
                  [ANY VERSION OF] target [filter]
    selector   := "*" | name ("." name)*                      (SELECT a.b.c, SELECT *)
    target     := [role] [name | <<regex>> | "." | name "." prop [op value]]
    role       := RECORD | RECORDTYPE | PROPERTY | FILE | ENTITY   (plurals accepted)
    filter     := or
    or         := and (OR and)*
    and        := unary (AND unary)*
    unary      := NOT unary | "(" or ")"
                | (WITH | WHERE) [A|AN] [PROPERTY] predicate
                | (WITH | WHERE) THE (GREATEST | SMALLEST) prop
                | [WHICH] HAS [NOT] [A|AN] [PROPERTY] predicate
                | [WHICH] (HASN'T | DOESN'T HAVE | DOES NOT HAVE) [A|AN] [PROPERTY] predicate
                | [WHICH] [DOES NOT | DOESN'T] REFERENCE[S] [A|AN] ref [nested]  |  "->" ref
                | [WHICH] IS [NOT] REFERENCED BY [A|AN] ref [AS [A|AN] prop] [nested]
                | [WHICH] [IS] STORED AT value
                | [WHICH] [WAS | HAS BEEN | IS] (INSERTED | CREATED | UPDATED)
                      [BY (ME | SOMEONE ELSE [BUT ME] | user)]
                      [(ON | IN | AT | SINCE | BEFORE | AFTER) datetime | TODAY]
                | predicate
    predicate  := NOT predicate | "(" or ")" | prop ("." prop)* comparison
    comparison := op value [unit] | LIKE value | [NOT] IN value | IS [NOT] NULL
                | "->" ref [nested] | nested | (nothing: the property exists)
    nested     := WITH … | WHERE … | WHICH …   (a filter on the referenced entity, any depth)
    op         := "=" | "!=" | "<" | "<=" | ">" | ">="

``a.b.c = 1`` in a filter is ``a WITH b WITH c = 1``. A query nested deeper than
:data:`MAX_DEPTH` levels is refused (a 4xx with a message, never a crash of the stand-in).
Anything else raises :class:`QuerySyntaxError` naming the token and its position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from sss_emulator import decisions
from sss_emulator.backend.query.lexer import (
    OPERATORS,
    QuerySyntaxError,
    Token,
    tokenize,
    unescape_glob,
)
from sss_emulator.backend.query.regex import RegexRefused, compile_name_regex

__all__ = [
    "MAX_DEPTH",
    "And",
    "Condition",
    "NamePattern",
    "Not",
    "Or",
    "PropertyCondition",
    "Query",
    "QueryRefused",
    "QuerySyntaxError",
    "ReferencedBy",
    "References",
    "StoredAt",
    "Target",
    "TransactionFilter",
    "parse_query",
]

RoleName = Literal["RECORD", "RECORDTYPE", "PROPERTY", "FILE", "ENTITY"]

MAX_DEPTH = 64
"""Deepest nesting of parentheses, NOT and sub-filters a query may have."""

_ROLE_WORDS: dict[str, RoleName] = {
    "RECORD": "RECORD", "RECORDS": "RECORD",
    "RECORDTYPE": "RECORDTYPE", "RECORDTYPES": "RECORDTYPE",
    "PROPERTY": "PROPERTY", "PROPERTIES": "PROPERTY",
    "FILE": "FILE", "FILES": "FILE",
    "ENTITY": "ENTITY", "ENTITIES": "ENTITY",
}  # fmt: skip
_STRUCTURE_WORDS = frozenset(
    {"WITH", "WHERE", "WHICH", "HAS", "HASN'T", "DOES", "DOESN'T", "AND", "OR", "NOT",
     "REFERENCES", "IS"}
)  # fmt: skip
"""Words that end a name or start a filter; anything else may name an entity or property
(a property called ``updated`` works in ``WITH updated > 2020``)."""
_FILTER_WORDS = frozenset(
    {"WITH", "WHERE", "WHICH", "HAS", "HASN'T", "DOES", "DOESN'T", "AND", "OR", "NOT",
     "REFERENCES", "REFERENCE", "IS", "WAS", "STORED", "INSERTED", "CREATED", "UPDATED"}
)  # fmt: skip
_TIME_WORDS = frozenset({"ON", "IN", "AT", "SINCE", "BEFORE", "AFTER", "TODAY"})
_NUMBER_WITH_UNIT = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)([^\W\d_].*|[°%µ].*)$")
_UNIT = re.compile(r"^(?:[^\W\d_]|[°%µ])\S*$")


@dataclass(frozen=True)
class NamePattern:
    """An entity name as written, in pattern form: ``*`` is a wildcard, ``\\*`` a literal star.

    ``regex`` marks a ``<<…>>`` regular expression instead.
    """

    text: str
    regex: bool = False

    @property
    def has_wildcard(self) -> bool:
        return not self.regex and _has_wildcard(self.text)

    @property
    def literal(self) -> str:
        """The name without escapes (for exact lookups)."""
        return self.text if self.regex else unescape_glob(self.text)


@dataclass(frozen=True)
class Target:
    """What a query is about: a role (None = the implicit RECORD) and an optional name."""

    role: RoleName | None
    name: NamePattern | None


@dataclass(frozen=True)
class PropertyCondition:
    """A filter on a property ``prop`` (``name``/``id``/``description`` mean the entity itself).

    ``op`` is None (the property exists, or ``sub`` filters what it references), one of
    ``= != < <= > >=``, ``LIKE``, ``IN``, ``NOT IN``, ``IS NULL``, ``IS NOT NULL``, ``->``
    (its value references an entity matching ``sub``, a :class:`References`), ``GREATEST`` or
    ``SMALLEST``
    (``WITH THE GREATEST p``). ``value`` is in pattern form.
    """

    prop: str
    op: str | None = None
    value: str | None = None
    sub: Condition | None = None
    unit: str | None = None


@dataclass(frozen=True)
class References:
    """``WHICH REFERENCES x``: some reference value points at an entity matching ``x``."""

    target: NamePattern
    sub: Condition | None = None


@dataclass(frozen=True)
class ReferencedBy:
    """``WHICH IS REFERENCED BY x``: an entity matching ``x`` points at this one."""

    target: NamePattern
    sub: Condition | None = None
    prop: str | None = None
    """``… AS A prop``: only references through this property count."""


@dataclass(frozen=True)
class StoredAt:
    """``WHICH IS STORED AT path``: ``*`` does not cross ``/``, ``**`` does (pattern form)."""

    path: str


@dataclass(frozen=True)
class TransactionFilter:
    """``WHICH WAS INSERTED BY ME SINCE 2024``: who wrote a version, and when.

    ``kind``: INSERTED (the first version; CREATED is a synonym) or UPDATED (a later one).
    ``who``: None (anybody), ``ME``, ``SOMEONE ELSE``, ``SOMEONE ELSE BUT ME`` or a user name
    pattern. ``when``: None, or (ON|IN|AT|SINCE|BEFORE|AFTER|TODAY, datetime text).
    """

    kind: Literal["INSERTED", "UPDATED"]
    who: str | None = None
    who_is_keyword: bool = False
    when: tuple[str, str] | None = None


@dataclass(frozen=True)
class And:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = (
    PropertyCondition | References | ReferencedBy | StoredAt | TransactionFilter | And | Or | Not
)


@dataclass(frozen=True)
class Query:
    """A parsed query; ``selectors`` are SELECT's property paths (``("*",)`` for ``SELECT *``)."""

    verb: Literal["FIND", "COUNT", "SELECT"]
    target: Target
    filter: Condition | None
    selectors: tuple[tuple[str, ...], ...] = ()
    text: str = ""
    any_version: bool = field(default=False)


class QueryRefused(QuerySyntaxError):
    """A query refused for what it would cost, not for its syntax: a client error
    (:data:`decisions.QUERY_LIMIT_STATUS`) whatever the verb, so a COUNT fails loudly too."""

    status = decisions.QUERY_LIMIT_STATUS


class _TooDeep(QueryRefused):
    """Nesting beyond :data:`MAX_DEPTH`."""


def parse_query(text: str) -> Query:
    """Parse one query string into a :class:`Query`, or raise :class:`QuerySyntaxError`."""
    return _Parser(text).query()


def _has_wildcard(glob: str) -> bool:
    i = 0
    while i < len(glob):
        if glob[i] == "\\":
            i += 2
            continue
        if glob[i] == "*":
            return True
        i += 1
    return False


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _split_path(glob: str) -> list[str]:
    """``a.b.c`` -> parts, keeping an escaped ``\\.`` inside a part."""
    parts, current, i = [], [], 0
    while i < len(glob):
        if glob[i] == "\\" and i + 1 < len(glob):
            current.append(glob[i : i + 2])
            i += 2
            continue
        if glob[i] == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(glob[i])
        i += 1
    parts.append("".join(current))
    return parts


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    # -- token helpers
    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def peek_word(self, *words: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token is not None and token.kind == "WORD" and token.upper in words

    def peek_kind(self, *kinds: str) -> bool:
        token = self.peek()
        return token is not None and token.kind in kinds

    def advance(self) -> Token:
        token = self.peek()
        if token is None:
            raise self.error("the query ends too early")
        self.i += 1
        return token

    def accept(self, *words: str) -> bool:
        if self.peek_word(*words):
            self.i += 1
            return True
        return False

    def article(self, *words: str) -> bool:
        """Skip ``A``/``AN``/``PROPERTY`` before a name, but not a property called ``a``
        (``WITH a=1``): only when a name follows."""
        following = self.peek(1)
        if self.peek_word(*words) and following is not None and (
            following.kind in ("STRING", "REGEX", "LPAREN")
            or (following.kind == "WORD" and following.upper not in _STRUCTURE_WORDS)
        ):
            self.i += 1
            return True
        return False

    def accept_sequence(self, *words: str) -> bool:
        if all(self.peek_word(w, offset=k) for k, w in enumerate(words)):
            self.i += len(words)
            return True
        return False

    def expect(self, *words: str) -> None:
        if not self.accept(*words):
            raise self.unexpected(f"expected {' or '.join(words)}")

    def error(self, detail: str, token: Token | None = None) -> QuerySyntaxError:
        pos = token.pos if token is not None else len(self.text)
        return QuerySyntaxError(self.text, detail, pos)

    def unexpected(self, wanted: str) -> QuerySyntaxError:
        token = self.peek()
        if token is None:
            return self.error(f"{wanted}, but the query ends")
        return self.error(f"{wanted}, got '{token.text}'", token)

    def deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            token = self.peek()
            raise _TooDeep(
                self.text,
                f"the query is nested more than {MAX_DEPTH} levels deep",
                token.pos if token is not None else len(self.text),
            )

    # -- grammar
    def query(self) -> Query:
        if not self.tokens:
            raise self.error("the query is empty")
        verb_token = self.advance()
        verb = verb_token.upper
        if verb not in ("FIND", "COUNT", "SELECT"):
            raise self.error(
                f"a query starts with FIND, COUNT or SELECT, not '{verb_token.text}'", verb_token
            )
        selectors: tuple[tuple[str, ...], ...] = ()
        if verb == "SELECT":
            selectors = self.selectors()
        any_version = self.accept_sequence("ANY", "VERSION", "OF")
        target, shortcut = self.target()
        condition = self.or_() if self.peek() is not None else None
        if shortcut is not None:
            condition = shortcut if condition is None else And((shortcut, condition))
        if self.peek() is not None:
            raise self.unexpected("expected AND, OR or the end of the query")
        return Query(verb, target, condition, selectors, self.text, any_version)  # type: ignore[arg-type]

    def selectors(self) -> tuple[tuple[str, ...], ...]:
        paths: list[tuple[str, ...]] = []
        while True:
            token = self.advance()
            if token.kind not in ("WORD", "STRING") or token.upper == "FROM":
                raise self.error(f"expected a property name to SELECT, got '{token.text}'", token)
            if token.kind == "WORD":
                parts = tuple(unescape_glob(p) for p in _split_path(token.glob))
                if any(not p for p in parts):
                    raise self.error(f"the property path '{token.text}' has an empty part", token)
                if len(parts) > MAX_DEPTH:
                    raise _TooDeep(
                        self.text, f"the property path is longer than {MAX_DEPTH} parts", token.pos
                    )
                paths.append(parts)
            else:
                paths.append((token.text,))
            if not self.peek_kind("COMMA"):
                break
            self.advance()
        self.expect("FROM")
        return tuple(paths)

    def target(self) -> tuple[Target, Condition | None]:
        role: RoleName | None = None
        token = self.peek()
        if token is not None and token.kind == "WORD" and token.upper in _ROLE_WORDS:
            # "FIND Record" is the role; a name that merely looks like one must be quoted
            role = _ROLE_WORDS[token.upper]
            self.i += 1
        token = self.peek()
        if token is None:
            return Target(role, None), None
        if token.kind == "STRING":
            self.i += 1
            return Target(role, NamePattern(token.glob)), None
        if token.kind == "REGEX":
            self.i += 1
            return Target(role, self.regex(token)), None
        if token.kind != "WORD" or token.upper in _STRUCTURE_WORDS or self.starts_bare_filter():
            return Target(role, None), None
        self.i += 1
        if token.text == ".":
            return Target(role, None), None
        if "." in token.text and not _is_number(token.text):
            name, *path = _split_path(token.glob)
            return Target(role, NamePattern(name) if name else None), self.path_comparison(
                path, token
            )
        return Target(role, NamePattern(token.glob)), None

    def or_(self) -> Condition:
        items = [self.and_()]
        while self.accept("OR"):
            items.append(self.and_())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self) -> Condition:
        items = [self.unary()]
        while self.accept("AND"):
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Condition:
        self.deeper()
        try:
            return self._unary()
        finally:
            self.depth -= 1

    def _unary(self) -> Condition:
        if self.accept("NOT"):
            return Not(self.unary())
        if self.peek_kind("LPAREN"):
            return self.group()
        if self.peek_kind("OP") and self.peek().text == "->":  # type: ignore[union-attr]
            self.advance()
            return References(self.ref_name(), self.nested())
        if self.accept("WITH", "WHERE"):
            if self.accept_sequence("THE"):
                return self.extreme()
            self.article("A", "AN")
            self.article("PROPERTY")
            return self.predicate()
        which = self.accept("WHICH")
        if self.accept("HAS"):
            if self.accept_sequence("BEEN"):
                return self.transaction()
            negate = self.accept("NOT")
            self.article("A", "AN")
            self.article("PROPERTY")
            condition = self.predicate()
            return Not(condition) if negate else condition
        if self.accept("HASN'T") or self.accept_sequence("DOESN'T", "HAVE") or (
            self.accept_sequence("DOES", "NOT", "HAVE")
        ):
            self.article("A", "AN")
            self.article("PROPERTY")
            return Not(self.predicate())
        if self.accept_sequence("DOESN'T") or self.accept_sequence("DOES", "NOT"):
            self.expect("REFERENCE", "REFERENCES")
            self.article("A", "AN")
            return Not(References(self.ref_name(), self.nested()))
        if self.accept("REFERENCES", "REFERENCE"):
            self.article("A", "AN")
            return References(self.ref_name(), self.nested())
        if self.accept("WAS"):
            return self.transaction()
        if self.accept("IS"):
            negate = self.accept("NOT")
            if self.accept("REFERENCED"):
                self.expect("BY")
                self.article("A", "AN")
                by = self.ref_name()
                via = None
                if self.accept("AS"):
                    self.article("A", "AN")
                    via = self.value_token().text
                referenced = ReferencedBy(by, self.nested(), via)
                return Not(referenced) if negate else referenced
            if not negate and self.accept("STORED"):
                self.expect("AT")
                return StoredAt(self.value_token().glob)
            if not negate and self.peek_word("INSERTED", "CREATED", "UPDATED"):
                return self.transaction()
            raise self.unexpected("expected REFERENCED BY or STORED AT after IS")
        if self.starts_bare_filter():
            if self.accept("STORED"):
                self.expect("AT")
                return StoredAt(self.value_token().glob)
            return self.transaction()
        if which:
            raise self.unexpected("expected HAS, REFERENCES, IS or WAS after WHICH")
        return self.predicate()

    def extreme(self) -> PropertyCondition:
        """``WITH THE GREATEST p`` / ``WITH THE SMALLEST p``."""
        word = self.advance()
        if word.upper not in ("GREATEST", "SMALLEST"):
            raise self.error(f"expected GREATEST or SMALLEST after THE, got '{word.text}'", word)
        token = self.peek()
        if token is None or token.kind not in ("WORD", "STRING"):
            raise self.unexpected("expected a property name")
        self.i += 1
        return PropertyCondition(token.text, word.upper)

    def starts_bare_filter(self) -> bool:
        """``STORED AT …`` or ``INSERTED BY …`` without ``WHICH``; only then, so that
        ``AND updated > 3`` still compares a property called ``updated``."""
        if self.peek_word("STORED"):
            return self.peek_word("AT", offset=1)
        return self.peek_word("INSERTED", "CREATED", "UPDATED") and self.peek_word(
            "BY", *_TIME_WORDS, offset=1
        )

    def group(self) -> Condition:
        self.advance()
        condition = self.or_()
        if not self.peek_kind("RPAREN"):
            raise self.unexpected("expected ')'")
        self.advance()
        return condition

    def predicate(self) -> Condition:
        self.deeper()
        try:
            if self.accept("NOT"):
                return Not(self.predicate())
            if self.peek_kind("LPAREN"):
                return self.group()
            token = self.peek()
            if (
                token is None
                or token.kind not in ("WORD", "STRING")
                or (token.kind == "WORD" and token.upper in _STRUCTURE_WORDS)
            ):
                raise self.unexpected("expected a property name")
            self.i += 1
            if token.kind == "WORD" and "." in token.text and not _is_number(token.text):
                return self.path_comparison(_split_path(token.glob), token)
            return self.comparison(token.text)
        finally:
            self.depth -= 1

    def path_comparison(self, path: list[str], token: Token) -> Condition:
        """``a.b.c op v`` is ``a WITH b WITH c op v``."""
        names = [unescape_glob(p) for p in path]
        if not names or any(not n for n in names):
            raise self.error(f"the property path '{token.text}' has an empty part", token)
        if self.depth + len(names) > MAX_DEPTH:
            raise _TooDeep(
                self.text, f"the property path is longer than {MAX_DEPTH} parts", token.pos
            )
        condition: Condition = self.comparison(names[-1])
        for name in reversed(names[:-1]):
            condition = PropertyCondition(name, None, None, condition)
        return condition

    def comparison(self, prop: str) -> PropertyCondition:
        token = self.peek()
        if token is not None and token.kind == "OP" and token.text in OPERATORS:
            self.i += 1
            value, unit = self.value_with_unit()
            return PropertyCondition(prop, token.text, value, None, unit)
        if token is not None and token.kind == "OP" and token.text == "->":
            self.i += 1
            return PropertyCondition(prop, "->", None, References(self.ref_name(), self.nested()))
        if self.accept("LIKE"):
            return PropertyCondition(prop, "LIKE", self.value_token().glob)
        for words, op in ((("IN",), "IN"), (("NOT", "IN"), "NOT IN")):
            if self.accept_sequence(*words):
                if self.peek_kind("LPAREN"):
                    raise self.error(
                        f"{op} with a list ('{op} (…)') is not supported; compare dates with "
                        f"{op} (date IN 2019) and combine values with OR",
                        self.peek(),
                    )
                return PropertyCondition(prop, op, self.value_token().glob)
        if self.accept_sequence("IS", "NULL"):
            return PropertyCondition(prop, "IS NULL")
        if self.accept_sequence("IS", "NOT", "NULL"):
            return PropertyCondition(prop, "IS NOT NULL")
        return PropertyCondition(prop, None, None, self.nested())

    def nested(self) -> Condition | None:
        if not (
            self.peek_word("WITH", "WHERE")
            or (
                self.peek_word("WHICH")
                and self.peek_word(
                    "HAS", "HASN'T", "IS", "DOES", "DOESN'T", "REFERENCES", "WAS", offset=1
                )
            )
        ):
            return None
        return self.unary()

    def ref_name(self) -> NamePattern:
        token = self.peek()
        if (
            token is None
            or token.kind not in ("WORD", "STRING", "REGEX")
            or (token.kind == "WORD" and token.upper in _STRUCTURE_WORDS)
        ):
            raise self.unexpected("expected the name or id of the referenced entity")
        self.i += 1
        if token.kind == "REGEX":
            return self.regex(token)
        return NamePattern(token.glob)

    def regex(self, token: Token) -> NamePattern:
        try:
            re.compile(token.text)
        except (re.error, OverflowError) as err:
            detail = f"the regular expression <<{token.text}>> is invalid: {err}"
            raise self.error(detail, token) from err
        try:
            compile_name_regex(token.text)  # cached: the evaluator gets the same object
        except RegexRefused as err:
            raise QueryRefused(self.text, str(err), token.pos) from err
        return NamePattern(token.text, regex=True)

    def value_token(self) -> Token:
        token = self.peek()
        if token is None or token.kind not in ("WORD", "STRING"):
            raise self.unexpected("expected a value")
        self.i += 1
        return token

    def value_with_unit(self) -> tuple[str, str | None]:
        token = self.value_token()
        if token.kind == "WORD":
            # a number first: "1.5e7" is 15,000,000, not 1.5 in the unit "e7"
            match = None if _is_number(token.text) else _NUMBER_WITH_UNIT.match(token.text)
            if match:  # "240°C", "2000EUR", "1.5e3EUR"
                return match.group(1), match.group(2)
            unit = self.peek()
            if (
                _is_number(token.text)
                and unit is not None
                and unit.kind == "WORD"
                and _UNIT.match(unit.text)
                and unit.upper not in _FILTER_WORDS
                and unit.upper not in {"ANY", "BY"}
            ):
                self.i += 1
                return token.glob, unit.text
        return token.glob, None

    def transaction(self) -> TransactionFilter:
        word = self.advance()
        if word.upper not in ("INSERTED", "CREATED", "UPDATED"):
            raise self.error(
                f"expected INSERTED, CREATED or UPDATED, got '{word.text}'", word
            )
        kind: Literal["INSERTED", "UPDATED"] = "UPDATED" if word.upper == "UPDATED" else "INSERTED"
        who: str | None = None
        keyword = False
        when: tuple[str, str] | None = None
        while True:
            if who is None and self.accept("BY"):
                who, keyword = self.transactor()
            elif when is None and self.peek_word(*_TIME_WORDS):
                op = self.advance().upper
                when = (op, "") if op == "TODAY" else (op, self.value_token().text)
            else:
                break
        return TransactionFilter(kind, who, keyword, when)

    def transactor(self) -> tuple[str, bool]:
        if self.accept("ME"):
            return "ME", True
        if self.accept("SOMEONE", "SOMEBODY"):
            self.expect("ELSE")
            if self.accept_sequence("BUT", "ME"):
                return "SOMEONE ELSE BUT ME", True
            return "SOMEONE ELSE", True
        return self.value_token().glob, False
