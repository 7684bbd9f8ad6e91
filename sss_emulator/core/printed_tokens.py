"""An auth token recognised by its content, in whatever form a script printed it.

A script gets its token as a compact JSON array (contract §5)::

    ["S","PAM","admin",["administration"],[],1592995200000,604800000,"3ZZ4…-VQ","197d…(128 hex)"]

and may print it as it likes: ``json.dumps(tok)`` (quotes escaped), ``urllib.parse.quote(tok)``
(``%5B%22S%22%2C…``), ``json.dumps(json.loads(tok))`` (spaces), ``print(json.loads(tok))`` (a
Python list, single quotes) or ``json.dumps(…, indent=1)`` (one field a line). Whoever writes a
run's output to disk (``record``'s call files, snapshots) often does not know the token (the
server minted it), so the exact text cannot be searched for. What every form keeps is the
checksum: 128 hex digits, an HMAC-SHA512, the part that makes a token worth anything. Each
checksum found is widened to the token around it when the text before it reads as a token's
head (type, realm, user, roles, permissions, two numbers, the salt), and the salt learned there
is redacted wherever else it appears.

Any run of 128 or more hex digits is taken for a checksum: a SHA-512 digest a script prints is
redacted too (the price of never missing a token). Not recognised: a token re-encoded beyond
these forms (base64, split into pieces printed apart, reversed); see docs/compare.md.

Pure: text in, text out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

__all__ = ("TOKEN", "redact_printed_tokens", "token_parts")

TOKEN = "<TOKEN>"

#: A run of hex digits long enough to be a token's checksum (SHA-512: 128 digits).
_HEX_RUN = re.compile(r"[0-9a-fA-F]{128,}")
_CHECKSUM = re.compile(r"[0-9a-fA-F]{128,}\Z")
#: A quote as printed: plain, JSON-escaped (once or more), single, URL-quoted, HTML-escaped.
_Q = r"(?:\\*\"|'|%22|%27|&quot;|&#34;|&#39;)"
#: Between two fields: blanks and line ends (also JSON-escaped), commas, URL-quoted either.
_SEP = r"(?:\s|\\[nrt]|,|%2C|%20|%0A|%0D|\+)*"
_OPEN = r"(?:\[|%5B)"
_CLOSE = r"(?:\]|%5D)"
_NUMBER = r"-?\d+"
#: Where a token starts: ``["S"``, ``['O'``, ``[\"S\"``, ``%5B%22S%22`` …
_START = re.compile(_OPEN + _SEP + _Q + r"[SO]" + _Q, re.IGNORECASE)
#: A token's head up to its checksum: type, realm, user, [roles], [permissions], issued,
#: validity, salt (captured), and the quote that opens the checksum. Roles and permissions
#: hold no bracket (else backtracking over many ``[]`` grows fast; such a token keeps its head
#: and loses only its checksum).
_HEAD = re.compile(
    _OPEN + _SEP + _Q + r"[SO]" + _Q + _SEP
    + _Q + r".{0,256}?" + _Q + _SEP + _Q + r".{0,256}?" + _Q + _SEP
    + _OPEN + r"[^\[\]]{0,2048}?" + _CLOSE + _SEP + _OPEN + r"[^\[\]]{0,2048}?" + _CLOSE + _SEP
    + _NUMBER + _SEP + _NUMBER + _SEP
    + _Q + r"(.{1,128}?)" + _Q + _SEP + _Q,
    re.IGNORECASE | re.DOTALL)
#: After the checksum: its closing quote, a one-time token's two numbers, the closing bracket.
_TAIL = re.compile(_Q + r"(?:" + _SEP + _NUMBER + r"){0,2}" + _SEP + _CLOSE, re.IGNORECASE)
#: How far before a checksum its token may start (roles and permissions included), and how
#: many token starts before it are tried.
_WINDOW = 8192
_TRIED_STARTS = 16


def _checksums(text: str) -> Iterator[tuple[int, int]]:
    """Where each checksum-like run of hex digits is, in one pass: ``(start, end)``."""
    for match in _HEX_RUN.finditer(text):
        start = match.start()
        if match.end() - start == 130 and start > 0 and text[start - 1] == "%":
            start += 2  # %22<checksum>: the quote's "22" is hex, too
        yield start, match.end()


def _starts_before(text: str, at: int) -> Iterator[int]:
    """Positions of ``[`` or ``%5B`` in the window before ``at``, nearest first."""
    low = max(0, at - _WINDOW)
    plain, quoted = text.rfind("[", low, at), _rfind_quoted_open(text, low, at)
    while plain >= 0 or quoted >= 0:
        if plain >= quoted:
            yield plain
            plain = text.rfind("[", low, plain)
        else:
            yield quoted
            quoted = _rfind_quoted_open(text, low, quoted)


def _rfind_quoted_open(text: str, low: int, high: int) -> int:
    return max(text.rfind("%5B", low, high), text.rfind("%5b", low, high))


def _token_around(text: str, at: int, end: int) -> tuple[int, int, str | None]:
    """The span of the token whose checksum is ``text[at:end]``, and its salt; just the
    checksum (and no salt) when the text before it does not read as a token's head."""
    for tried, position in enumerate(_starts_before(text, at)):
        if tried == _TRIED_STARTS:
            break
        if _START.match(text, position, at) is None:
            continue
        head = _HEAD.fullmatch(text, position, at)
        if head is None:
            continue
        tail = _TAIL.match(text, end)
        return position, tail.end() if tail else end, head.group(1)
    return at, end, None


def token_parts(texts: Iterable[str]) -> tuple[str, ...]:
    """The checksums and salts of every token printed in ``texts``, in any form above."""
    parts: dict[str, None] = {}
    for text in texts:
        for at, end in _checksums(text):
            parts[text[at:end]] = None
            salt = _token_around(text, at, end)[2]
            if salt:
                parts[salt] = None
    return tuple(parts)


def redact_printed_tokens(text: str, parts: Iterable[str] = ()) -> str:
    """``text`` with every printed token (and any known checksum or salt) → ``<TOKEN>``.

    ``parts`` are checksums and salts learned from other texts of the same run
    (:func:`token_parts`): a salt printed alone in stderr goes too. One pass over the text.

    >>> tok = '["S","PAM","ann",[],[],1,2,"ABCDEFGH-12",' + '"' + "ab" * 64 + '"]'
    >>> import json; redact_printed_tokens("got " + str(json.loads(tok)) + " ok")
    'got <TOKEN> ok'
    """
    pieces: list[str] = []
    done = 0
    for at, end in _checksums(text):
        if at < done:
            continue
        start, stop, _ = _token_around(text, at, end)
        start = max(start, done)
        pieces += [text[done:start], TOKEN]
        done = stop
    text = "".join([*pieces, text[done:]]) if pieces else text
    # known checksums are hex runs, found above; what is left are salts printed alone
    others = sorted({p for p in parts if len(p) >= 6 and not _CHECKSUM.match(p)},
                    key=len, reverse=True)
    if others:
        text = re.sub("|".join(map(re.escape, others)), TOKEN, text)
    return text
