"""Text an attacker may choose, made safe to print on a terminal.

A leaf: :mod:`sss_emulator.terminal` (our lines), :mod:`sss_emulator.logs` (log records) and the
front ends all show names, calls and requests through :func:`printable`.
"""

from __future__ import annotations

__all__ = ("json_text", "printable")


def _escape(code: int) -> str:
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


#: What a terminal would act on instead of showing: the C0 controls but newline and tab (ESC
#: starts colour, cursor and title sequences, CR overwrites the line), DEL, the C1 controls
#: (U+009B is a one-character CSI on some terminals), and the bidirectional overrides and
#: isolates, which reorder what is shown ("Trojan Source").
_UNPRINTABLE = {code: _escape(code)
                for code in (*range(0x00, 0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F,
                             *range(0x202A, 0x202F), *range(0x2066, 0x206A))
                if code not in (0x09, 0x0A)}
#: The same, for a name that must stay on one line (a test's name): newline and tab too.
_UNPRINTABLE_LINE = {**_UNPRINTABLE, 0x09: _escape(0x09), 0x0A: _escape(0x0A)}


def printable(text: str, *, one_line: bool = False) -> str:
    """``text`` with every character a terminal would act on shown as an escape (``\\x1b``).

    A file name, a call, a header or a line of a script's source is text an attacker may
    choose: printed raw, ``evil\\x1b]0;title\\x07.sh`` retitles the user's terminal, and worse
    sequences rewrite what is on the screen or answer back into its input. Every message of
    ours that carries such text goes through here (:func:`say` does it for its lines); the
    script's own stdout and stderr do not: the user asked to see those as they are.
    ``one_line`` escapes newline and tab too, for a name that must not forge another line.
    """
    return text.translate(_UNPRINTABLE_LINE if one_line else _UNPRINTABLE)


#: What ``json.dumps(..., ensure_ascii=False)`` leaves raw that a terminal acts on: DEL, the
#: C1 controls and the bidirectional marks (it escapes the C0 controls itself).
_JSON_RAW = {code: f"\\u{code:04x}" for code in _UNPRINTABLE if code >= 0x7F}


def json_text(document: str) -> str:
    """A JSON document (``ensure_ascii=False``) with DEL, C1 controls and bidirectional marks
    written as ``\\uXXXX`` escapes: the same JSON to a parser, nothing a terminal acts on when
    the document is printed. These characters can stand only inside strings, where the escape
    means the same character."""
    return document.translate(_JSON_RAW)
