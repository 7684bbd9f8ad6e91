"""Command-line mistakes click cannot see in ``run`` and ``watch``, said the way click says them.

Those commands pass unknown options through to the script (``-p0``, ``-Oname=…``), so a mistyped
option of ours (``--tmeout 5``) would otherwise become the script's name or a script argument
and fail later with a misleading message.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

import click

__all__ = ("check_no_unknown_options",)

_POSITIONAL = re.compile(r"-p\d+\Z")


def _option_names(command: click.Command) -> list[str]:
    names = ["--help", "-h"]
    for param in command.params:
        if isinstance(param, click.Option):
            names += [*param.opts, *param.secondary_opts]
    return names


def _awaits_value(token: str) -> bool:
    """``-p0`` and ``-Oname`` take the next argument as their value."""
    return bool(_POSITIONAL.match(token)) or (token.startswith("-O") and "=" not in token)


def _unknown(token: str) -> bool:
    if not token.startswith("-") or token == "-":
        return False
    name = token.partition("=")[0]
    return not (_POSITIONAL.match(name) or re.match(r"-p\d+=", token) or token.startswith("-O"))


def check_no_unknown_options(ctx: click.Context, script: str,
                             script_args: Sequence[str]) -> None:
    """Raise a usage error (exit 2) for a word that looks like an option of ours but is none.

    Values after ``-pN``/``-Oname`` are the script's and may look like anything.
    """
    tokens = [script, *script_args]
    skip = False
    for token in tokens:
        if skip:
            skip = False
            continue
        if _unknown(token):
            name = token.partition("=")[0]
            close = difflib.get_close_matches(name, _option_names(ctx.command), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else (
                "; script arguments are -p0 VALUE or -Oname=VALUE")
            raise click.UsageError(f"no such option {name}{hint}", ctx)
        skip = _awaits_value(token)
