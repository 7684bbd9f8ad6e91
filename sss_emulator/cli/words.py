"""Which words of a command line are the script's: one rule for click's path and the plain one.

A script's arguments are ``-pN VALUE``, ``-pN=VALUE`` and ``-Oname=VALUE`` (or ``-Oname VALUE``),
as the server's form fields are named; the value a word awaits is the script's whatever it looks
like (``-p0 --keep`` gives the script ``--keep``). Free of click, so that a plain run can use it
without importing click.
"""

from __future__ import annotations

import re

__all__ = ("awaits_value", "is_positional", "is_script_option")

_POSITIONAL = re.compile(r"-p[0-9]+\Z")
_SCRIPT_OPTION = re.compile(r"-p[0-9]+(=|\Z)|-O")


def is_positional(token: str) -> bool:
    """``-pN`` exactly (its value is the next word)."""
    return bool(_POSITIONAL.match(token))


def is_script_option(token: str) -> bool:
    """``-pN``, ``-pN=VALUE`` and ``-O...``: the script's, never an option of ours."""
    return bool(_SCRIPT_OPTION.match(token))


def awaits_value(token: str) -> bool:
    """``-p0`` and ``-Oname`` take the next word as their value."""
    return is_positional(token) or (token.startswith("-O") and "=" not in token)
