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
from collections.abc import Iterable

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
#: validity, salt (captured), and the quote that opens the checksum.
_HEAD = re.compile(
    _OPEN + _SEP + _Q + r"[SO]" + _Q + _SEP
    + _Q + r".{0,256}?" + _Q + _SEP + _Q + r".{0,256}?" + _Q + _SEP
    + _OPEN + r".{0,2048}?" + _CLOSE + _SEP + _OPEN + r".{0,2048}?" + _CLOSE + _SEP
    + _NUMBER + _SEP + _NUMBER + _SEP
    + _Q + r"(.{1,128}?)" + _Q + _SEP + _Q,
    re.IGNORECASE | re.DOTALL)
#: After the checksum: its closing quote, a one-time token's two numbers, the closing bracket.
_TAIL = re.compile(_Q + r"(?:" + _SEP + _NUMBER + r"){0,2}" + _SEP + _CLOSE, re.IGNORECASE)
#: How far before a checksum its token may start (roles and permissions included).
_WINDOW = 8192


def _checksums_in(text: str) -> set[str]:
    found: set[str] = set()
    for match in _HEX_RUN.finditer(text):
        run = match.group()
        if len(run) == 130 and match.start() > 0 and text[match.start() - 1] == "%":
            run = run[2:]  # %22<checksum>: the quote's "22" is hex, too
        found.add(run)
    return found


def _token_around(text: str, at: int, checksum: str) -> tuple[int, int, str | None]:
    """The span of the token whose checksum is at ``at``, and its salt; just the checksum
    (and no salt) when the text before it does not read as a token's head."""
    end = at + len(checksum)
    window_start = max(0, at - _WINDOW)
    starts = list(_START.finditer(text, window_start, at))
    for start in reversed(starts):  # the nearest head first
        head = _HEAD.fullmatch(text, start.start(), at)
        if head is None:
            continue
        tail = _TAIL.match(text, end)
        return start.start(), tail.end() if tail else end, head.group(1)
    return at, end, None


def token_parts(texts: Iterable[str]) -> tuple[str, ...]:
    """The checksums and salts of every token printed in ``texts``, in any form above."""
    parts: dict[str, None] = {}
    for text in texts:
        for checksum in sorted(_checksums_in(text)):
            parts[checksum] = None
            position = text.find(checksum)
            while position >= 0:
                _, _, salt = _token_around(text, position, checksum)
                if salt:
                    parts[salt] = None
                position = text.find(checksum, position + len(checksum))
    return tuple(parts)


def redact_printed_tokens(text: str, parts: Iterable[str] = ()) -> str:
    """``text`` with every printed token (and any known checksum or salt) → ``<TOKEN>``.

    ``parts`` are checksums and salts learned from other texts of the same run
    (:func:`token_parts`): a salt printed alone in stderr goes too.

    >>> tok = '["S","PAM","ann",[],[],1,2,"ABCDEFGH-12",' + '"' + "ab" * 64 + '"]'
    >>> import json; redact_printed_tokens("got " + str(json.loads(tok)) + " ok")
    'got <TOKEN> ok'
    """
    checksums = {*_checksums_in(text), *(p for p in parts if _CHECKSUM.match(p))}
    others = [p for p in parts if p not in checksums]
    for checksum in sorted(checksums, key=len, reverse=True):
        position = text.find(checksum)
        while position >= 0:
            start, end, _ = _token_around(text, position, checksum)
            text = text[:start] + TOKEN + text[end:]
            position = text.find(checksum, start + len(TOKEN))
    for part in sorted(others, key=len, reverse=True):
        if len(part) >= 6:
            text = text.replace(part, TOKEN)
    return text
