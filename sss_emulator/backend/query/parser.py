"""The supported subset of LinkAhead's query language: tokenizer, recursive-descent parser, AST.

Grammar (keywords case-insensitive; ``[]`` optional, ``*`` repeated)::

    query      := FIND target [filter] | COUNT target [filter]
                | SELECT selector ("," selector)* FROM target [filter]
    target     := [role] [name | "." | name "." prop [op value]]
    role       := RECORD | RECORDTYPE | PROPERTY | FILE | ENTITY   (plurals accepted)
    filter     := or
    or         := and (OR and)*
    and        := unary (AND unary)*
    unary      := NOT unary | "(" or ")" | intro predicate | predicate
    intro      := WITH [A|AN] [PROPERTY] | [WHICH] HAS [A|AN] [PROPERTY]
                | [WHICH] HAS NOT [A|AN] [PROPERTY]              (negates)
                | [WHICH] DOES NOT HAVE [A|AN] [PROPERTY]        (negates)
                | [WHICH] REFERENCES [A|AN] refname [nested]
                | [WHICH] IS REFERENCED BY [A|AN] refname [nested]
                | [WHICH] IS STORED AT value
    predicate  := "(" or ")" | NOT predicate | prop [op value | LIKE value | nested]
    nested     := WITH … | WHICH HAS …     (one level: the referenced entity's own filter)
    op         := "=" | "!=" | "<" | "<=" | ">" | ">="

Anything else raises :class:`QuerySyntaxError` naming the token and its position, so the caller
can answer with an ``<Error>`` instead of a silently wrong result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "And",
    "Condition",
    "NamePattern",
    "Not",
    "Or",
    "PropertyCondition",
    "Query",
    "QuerySyntaxError",
    "ReferencedBy",
    "References",
    "StoredAt",
    "Target",
    "Token",
    "parse_query",
    "tokenize",
]

TokenKind = Literal["WORD", "STRING", "OP", "LPAREN", "RPAREN", "COMMA"]
RoleName = Literal["RECORD", "RECORDTYPE", "PROPERTY", "FILE", "ENTITY"]

_ROLE_WORDS: dict[str, RoleName] = {
    "RECORD": "RECORD", "RECORDS": "RECORD",
    "RECORDTYPE": "RECORDTYPE", "RECORDTYPES": "RECORDTYPE",
    "PROPERTY": "PROPERTY", "PROPERTIES": "PROPERTY",
    "FILE": "FILE", "FILES": "FILE",
    "ENTITY": "ENTITY", "ENTITIES": "ENTITY",
}  # fmt: skip
_FILTER_WORDS = frozenset(
    {"WITH", "WHICH", "HAS", "DOES", "AND", "OR", "NOT", "REFERENCES", "IS", "WHERE"}
)
_OPERATORS = ("!=", "<=", ">=", "=", "<", ">")
_SPECIAL = set("'\"(),=!<>")

_UNSUPPORTED_HINTS = {
    "IN": "the IN operator",
    "SINCE": "time filters (SINCE)",
    "BEFORE": "time filters (BEFORE)",
    "AFTER": "time filters (AFTER)",
    "TODAY": "time filters (TODAY)",
    "INSERTED": "transaction filters (INSERTED BY/AT)",
    "UPDATED": "transaction filters (UPDATED BY/AT)",
    "CREATED": "transaction filters (CREATED BY)",
    "ANY": "version queries (ANY VERSION OF)",
    "NULL": "NULL comparisons",
    "WHERE": "WHERE clauses",
    "->": "the '->' reference shorthand",
}


class QuerySyntaxError(ValueError):
    """A query outside the supported subset; the message names the offending part."""

    def __init__(self, query: str, detail: str, position: int | None = None) -> None:
        where = "" if position is None else f" at position {position}"
        super().__init__(
            f"Unsupported or malformed query{where}: {detail} (query: {query!r}). "
            "The sss-emulator stand-in understands a subset of the LinkAhead query language; "
            "see 'Scripts that talk back to the server' in its docs."
        )
        self.query = query
        self.detail = detail
        self.position = position


@dataclass(frozen=True)
class Token:
    """One lexical unit; ``pos`` is its offset in the query, for error messages."""

    kind: TokenKind
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "WORD" else ""


@dataclass(frozen=True)
class NamePattern:
    """An entity name as written; ``*`` is a wildcard."""

    text: str

    @property
    def has_wildcard(self) -> bool:
        return "*" in self.text


@dataclass(frozen=True)
class Target:
    """What a query is about: a role (None = the implicit RECORD) and an optional name."""

    role: RoleName | None
    name: NamePattern | None


@dataclass(frozen=True)
class PropertyCondition:
    """``p``, ``p op v``, ``p LIKE v`` or ``p WITH …`` (``name``/``id`` mean the entity itself)."""

    prop: str
    op: str | None = None
    value: str | None = None
    sub: Condition | None = None


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


@dataclass(frozen=True)
class StoredAt:
    """``WHICH IS STORED AT path`` (files; ``*`` wildcards)."""

    path: str


@dataclass(frozen=True)
class And:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = PropertyCondition | References | ReferencedBy | StoredAt | And | Or | Not


@dataclass(frozen=True)
class Query:
    """A parsed query."""

    verb: Literal["FIND", "COUNT", "SELECT"]
    target: Target
    filter: Condition | None
    selectors: tuple[str, ...] = ()
    text: str = ""


def tokenize(text: str) -> list[Token]:
    """Split a query into tokens; quoted strings keep their content, backslash escapes."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "'\"":
            start, i, chars = i, i + 1, []
            while i < n and text[i] != char:
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(text[i])
                i += 1
            if i >= n:
                raise QuerySyntaxError(
                    text, f"unterminated quoted string starting {text[start : start + 20]!r}", start
                )
            tokens.append(Token("STRING", "".join(chars), start))
            i += 1
        elif char in "(),":
            kind: TokenKind = {"(": "LPAREN", ")": "RPAREN", ",": "COMMA"}[char]  # type: ignore[assignment]
            tokens.append(Token(kind, char, i))
            i += 1
        elif text.startswith("->", i):
            tokens.append(Token("OP", "->", i))  # LQL's reference shorthand: only to refuse it
            i += 2
        elif char in "=!<>":
            op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
            if op is None:
                raise QuerySyntaxError(text, f"unexpected character {char!r}", i)
            tokens.append(Token("OP", op, i))
            i += len(op)
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in _SPECIAL:
                if text.startswith("->", i):
                    break
                i += 1
            tokens.append(Token("WORD", text[start:i], start))
    return tokens


def parse_query(text: str) -> Query:
    """Parse one query string into a :class:`Query`, or raise :class:`QuerySyntaxError`."""
    return _Parser(text).query()


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


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
        hint = _UNSUPPORTED_HINTS.get(token.upper or token.text)
        if hint:
            return self.error(f"{hint}: not supported ('{token.text}')", token)
        return self.error(f"{wanted}, got '{token.text}'", token)

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
        selectors: tuple[str, ...] = ()
        if verb == "SELECT":
            selectors = self.selectors()
        target, shortcut = self.target()
        condition = self.or_() if self.peek() is not None else None
        if shortcut is not None:
            condition = shortcut if condition is None else And((shortcut, condition))
        if self.peek() is not None:
            raise self.unexpected("expected AND, OR or the end of the query")
        return Query(verb, target, condition, selectors, self.text)  # type: ignore[arg-type]

    def selectors(self) -> tuple[str, ...]:
        names: list[str] = []
        while True:
            token = self.advance()
            if token.kind not in ("WORD", "STRING") or token.upper == "FROM":
                raise self.error(f"expected a property name to SELECT, got '{token.text}'", token)
            if token.kind == "WORD" and "." in token.text:
                raise self.error(
                    f"selecting a property path ('{token.text}') is not supported", token
                )
            if token.text == "*":
                raise self.error("SELECT * is not supported; name the properties", token)
            names.append(token.text)
            if not self.peek() or self.peek().kind != "COMMA":  # type: ignore[union-attr]
                break
            self.advance()
        self.expect("FROM")
        return tuple(names)

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
            return Target(role, NamePattern(token.text)), None
        if token.kind != "WORD" or token.upper in _FILTER_WORDS:
            return Target(role, None), None
        if token.upper == "ANY" and self.peek_word("VERSION", offset=1):
            raise self.unexpected("expected an entity name")
        self.i += 1
        if token.text == ".":
            return Target(role, None), None
        if "." in token.text and not _is_number(token.text):
            name, prop = token.text.split(".", 1)
            if not prop or "." in prop:
                raise self.error(f"the property path '{token.text}' is not supported", token)
            return Target(role, NamePattern(name) if name else None), self.comparison(prop)
        return Target(role, NamePattern(token.text)), None

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
        if self.accept("NOT"):
            return Not(self.unary())
        if self.peek() is not None and self.peek().kind == "LPAREN":  # type: ignore[union-attr]
            return self.group()
        if self.accept("WITH"):
            self.accept("A", "AN")
            self.accept("PROPERTY")
            return self.predicate()
        which = self.accept("WHICH")
        if self.accept("HAS"):
            negate = self.accept("NOT")
            self.accept("A", "AN")
            self.accept("PROPERTY")
            condition = self.predicate()
            return Not(condition) if negate else condition
        if self.accept("DOES"):
            self.expect("NOT")
            self.expect("HAVE")
            self.accept("A", "AN")
            self.accept("PROPERTY")
            return Not(self.predicate())
        if self.accept("REFERENCES"):
            self.accept("A", "AN")
            return References(self.ref_name(), self.nested())
        if self.accept("IS"):
            if self.accept("REFERENCED"):
                self.expect("BY")
                self.accept("A", "AN")
                return ReferencedBy(self.ref_name(), self.nested())
            if self.accept("STORED"):
                self.expect("AT")
                return StoredAt(self.value())
            raise self.unexpected("expected REFERENCED BY or STORED AT after IS")
        if which:
            raise self.unexpected("expected HAS, REFERENCES or IS after WHICH")
        if self.accept("STORED"):
            self.expect("AT")
            return StoredAt(self.value())
        return self.predicate()

    def group(self) -> Condition:
        self.advance()
        condition = self.or_()
        token = self.peek()
        if token is None or token.kind != "RPAREN":
            raise self.unexpected("expected ')'")
        self.advance()
        return condition

    def predicate(self) -> Condition:
        if self.accept("NOT"):
            return Not(self.predicate())
        token = self.peek()
        if token is not None and token.kind == "LPAREN":
            return self.group()
        if (
            token is None
            or token.kind not in ("WORD", "STRING")
            or (token.kind == "WORD" and token.upper in _FILTER_WORDS)
        ):
            raise self.unexpected("expected a property name")
        self.i += 1
        if token.kind == "WORD" and "." in token.text and not _is_number(token.text):
            raise self.error(f"the property path '{token.text}' is not supported", token)
        return self.comparison(token.text)

    def comparison(self, prop: str) -> PropertyCondition:
        token = self.peek()
        if token is not None and token.kind == "OP" and token.text in _OPERATORS:
            self.i += 1
            return PropertyCondition(prop, token.text, self.value())
        if self.accept("LIKE"):
            return PropertyCondition(prop, "LIKE", self.value())
        return PropertyCondition(prop, None, None, self.nested())

    def nested(self) -> Condition | None:
        if not (
            self.peek_word("WITH") or (self.peek_word("WHICH") and self.peek_word("HAS", offset=1))
        ):
            return None
        if self.depth >= 1:
            raise self.error(
                "filters nested more than one level deep are not supported", self.peek()
            )
        self.depth += 1
        try:
            return self.unary()
        finally:
            self.depth -= 1

    def ref_name(self) -> NamePattern:
        token = self.peek()
        if (
            token is None
            or token.kind not in ("WORD", "STRING")
            or (token.kind == "WORD" and token.upper in _FILTER_WORDS)
        ):
            raise self.unexpected("expected the name or id of the referenced entity")
        self.i += 1
        return NamePattern(token.text)

    def value(self) -> str:
        token = self.peek()
        if token is None or token.kind not in ("WORD", "STRING"):
            raise self.unexpected("expected a value")
        self.i += 1
        return token.text
