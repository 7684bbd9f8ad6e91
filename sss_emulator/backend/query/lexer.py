"""Split a LinkAhead query into tokens, keeping what escapes mean.

Quoted strings (``'…'`` or ``"…"``) may contain backslash escapes. Inside names and values ``*``
is a wildcard, and ``\\*`` a literal star (pylib's ``get_entity_by(name=…)`` sends names escaped
so: ``FIND ENTITY WITH name='a\\*b'``). A token therefore keeps two forms: ``text``, the
unescaped characters, and ``glob``, the pattern form where a literal ``*`` or ``\\`` stays
escaped and a bare ``*`` is a wildcard. ``<<regex>>`` is one ``REGEX`` token (``\\>>`` escapes
its end). ``DOESN'T``, ``ISN'T``, ``HASN'T`` … are words, not the start of a quoted string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["OPERATORS", "QuerySyntaxError", "Token", "TokenKind", "tokenize", "unescape_glob"]

TokenKind = Literal["WORD", "STRING", "REGEX", "OP", "LPAREN", "RPAREN", "COMMA"]

OPERATORS = ("!=", "<=", ">=", "=", "<", ">")
_SPECIAL = set("'\"(),=!<>")
_CONTRACTIONS = frozenset({"DOESN", "ISN", "HASN", "WASN", "HAVEN", "AREN", "WEREN"})


class QuerySyntaxError(ValueError):
    """A query outside the supported language; the message names the offending part."""

    status: int | None = None
    """An HTTP status to answer with instead of the usual query error (400: too deep)."""

    def __init__(self, query: str, detail: str, position: int | None = None) -> None:
        where = "" if position is None else f" at position {position}"
        super().__init__(
            f"Unsupported or malformed query{where}: {detail} (query: {query!r}). "
            "The sss-emulator stand-in understands the LinkAhead query language except for "
            "the forms docs/backend.md lists as refused."
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
    glob: str = ""
    """The pattern form (see the module docstring); empty for operators and brackets."""

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "WORD" else ""


def unescape_glob(glob: str) -> str:
    """The literal text of a pattern form (``a\\*b`` -> ``a*b``)."""
    out: list[str] = []
    i = 0
    while i < len(glob):
        if glob[i] == "\\" and i + 1 < len(glob):
            i += 1
        out.append(glob[i])
        i += 1
    return "".join(out)


def _pattern_char(char: str, escaped: bool) -> str:
    """One character in pattern form: an escaped ``*`` or ``\\`` stays escaped."""
    if escaped and char in "*\\":
        return "\\" + char
    if not escaped and char == "\\":
        return "\\\\"
    return char


def tokenize(text: str) -> list[Token]:
    """Split a query into tokens (see the module docstring)."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "'\"":
            i = _quoted(text, i, tokens)
        elif text.startswith("<<", i):
            i = _regex(text, i, tokens)
        elif char in "(),":
            kind: TokenKind = {"(": "LPAREN", ")": "RPAREN", ",": "COMMA"}[char]  # type: ignore[assignment]
            tokens.append(Token(kind, char, i))
            i += 1
        elif text.startswith("->", i):
            tokens.append(Token("OP", "->", i))
            i += 2
        elif char in "=!<>":
            op = next((o for o in OPERATORS if text.startswith(o, i)), None)
            if op is None:
                raise QuerySyntaxError(text, f"unexpected character {char!r}", i)
            tokens.append(Token("OP", op, i))
            i += len(op)
        else:
            i = _word(text, i, tokens)
    return tokens


def _quoted(text: str, start: int, tokens: list[Token]) -> int:
    quote, i, n = text[start], start + 1, len(text)
    chars: list[str] = []
    glob: list[str] = []
    while i < n and text[i] != quote:
        escaped = text[i] == "\\" and i + 1 < n
        if escaped:
            i += 1
        chars.append(text[i])
        glob.append(_pattern_char(text[i], escaped))
        i += 1
    if i >= n:
        raise QuerySyntaxError(
            text, f"unterminated quoted string starting {text[start : start + 20]!r}", start
        )
    tokens.append(Token("STRING", "".join(chars), start, "".join(glob)))
    return i + 1


def _regex(text: str, start: int, tokens: list[Token]) -> int:
    i, n = start + 2, len(text)
    chars: list[str] = []
    while i < n and not text.startswith(">>", i):
        if text.startswith("\\>>", i):
            chars.append(">>")
            i += 3
            continue
        chars.append(text[i])
        i += 1
    if i >= n:
        raise QuerySyntaxError(text, "unterminated regular expression (<<…>>)", start)
    pattern = "".join(chars)
    tokens.append(Token("REGEX", pattern, start, pattern))
    return i + 2


def _word(text: str, start: int, tokens: list[Token]) -> int:
    i, n = start, len(text)
    chars: list[str] = []
    glob: list[str] = []
    while i < n and not text[i].isspace():
        char = text[i]
        if char == "'" and "".join(chars).upper() in _CONTRACTIONS:
            chars.append(char)  # DOESN'T: a word, not a quoted string
            glob.append(char)
            i += 1
            continue
        if char in _SPECIAL or text.startswith("->", i):
            break
        escaped = char == "\\" and i + 1 < n
        if escaped:
            i += 1
            char = text[i]
        chars.append(char)
        glob.append(_pattern_char(char, escaped))
        i += 1
    tokens.append(Token("WORD", "".join(chars), start, "".join(glob)))
    return i
