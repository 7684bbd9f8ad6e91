"""Which words of a command line are the script's and which are ours, without click.

A script's arguments are ``-pN VALUE``, ``-pN=VALUE`` and ``-Oname=VALUE`` (or ``-Oname VALUE``),
as the server's form fields are named; the value a word awaits is the script's whatever it looks
like (``-p0 --keep`` gives the script ``--keep``). :func:`read_plain_line` reads a ``run`` line
made of those and the common options of ours (:data:`PLAIN_OPTIONS`) as click reads it, so that
such a line runs without importing click (``tests/core/test_cli_program.py`` checks both agree).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ("PLAIN_OPTIONS", "awaits_value", "is_positional", "is_script_option",
           "read_plain_line")

_POSITIONAL = re.compile(r"-p[0-9]+\Z")
_SCRIPT_OPTION = re.compile(r"-p[0-9]+(=|\Z)|-O")
#: Options of ours a plain line may hold: their name in ``RunInvocation.options``, and whether
#: they take a value (``multiple``: collected in order) or are a flag.
PLAIN_OPTIONS = {"--bin-dir": ("bin_dirs", "multiple"), "--home": ("home", "value"),
                 "--profile": ("profile", "value"), "--format": ("format", "value"),
                 "--timeout": ("timeout", "value"), "--keep": ("keep", "flag")}


def is_positional(token: str) -> bool:
    """``-pN`` exactly (its value is the next word)."""
    return bool(_POSITIONAL.match(token))


def is_script_option(token: str) -> bool:
    """``-pN``, ``-pN=VALUE`` and ``-O...``: the script's, never an option of ours."""
    return bool(_SCRIPT_OPTION.match(token))


def awaits_value(token: str) -> bool:
    """``-p0`` and ``-Oname`` take the next word as their value."""
    return is_positional(token) or (token.startswith("-O") and "=" not in token)


def read_plain_line(argv: Sequence[str]) -> tuple[str, tuple[str, ...], dict[str, Any]] | None:
    """SCRIPT, its arguments and the options of ours, or None for any line that needs click:
    another option, a value of ours that is empty or looks like an option, ``--``."""
    words: list[str] = []
    options: dict[str, Any] = {}
    ours: str | None = None  # an option of ours waiting for its value
    awaiting = False  # a script's -pN / -Oname waiting for its value
    for arg in argv:
        if awaiting:
            words.append(arg)
            awaiting = False
            continue
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if ours is not None:
            name, eq, value, ours = ours, "=", arg, None
            if arg.startswith("-"):
                return None
        if name in PLAIN_OPTIONS:
            dest, kind = PLAIN_OPTIONS[name]
            if kind == "flag" and not eq:
                options[dest] = True
            elif kind != "flag" and not eq:
                ours = name
            elif kind == "flag" or not value:
                return None
            else:
                options[dest] = (*options.get(dest, ()), value) if kind == "multiple" else value
        elif words and is_script_option(arg):
            words.append(arg)
            awaiting = awaits_value(arg)
        elif arg.startswith("-"):
            return None
        else:
            words.append(arg)
    if ours is not None or not words:
        return None
    return words[0], tuple(words[1:]), options
