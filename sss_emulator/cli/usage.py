"""Command-line mistakes click cannot see in ``run`` and ``watch``, said the way click says them.

Those commands pass unknown options through to the script (``-p0``, ``-Oname=…``), so a mistyped
option of ours (``--tmeout 5``) would otherwise become the script's name or a script argument
and fail later with a misleading message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from sss_emulator.cli.words import awaits_value, is_script_option

__all__ = ("ScriptArgument", "ScriptCommand", "check_no_unknown_options")

#: What a script's word is wrapped in while click parses the command line: click reads an
#: unknown ``-Ochannel=1`` as the short options ``-O -c -h ...`` (so ``h`` asked for help), and
#: the value after ``-p0`` as an option of ours when it looks like one (``-p0 --keep``).
_WRAPPED = "\x00script-word\x00"


def _wrap_script_words(args: Sequence[str], takes_value: frozenset[str] = frozenset()) -> list[str]:
    """The script's words (``-pN``/``-O...`` and the value each awaits) hidden from click's
    option parser; the value of an option of ours (``--user -p0``: a user named ``-p0``) and
    everything after ``--`` are left to click."""
    wrapped: list[str] = []
    awaiting = ours = False
    for index, token in enumerate(args):
        if ours:
            wrapped.append(token)
            ours = False
        elif awaiting or is_script_option(token):
            wrapped.append(_WRAPPED + token)
            awaiting = not awaiting and awaits_value(token)
        elif token == "--":
            wrapped.extend(args[index:])
            break
        else:
            wrapped.append(token)
            ours = token in takes_value
    return wrapped


class ScriptCommand(click.Command):
    """A command whose extra words are a script's arguments, as the server will receive them."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value = frozenset(
            name for param in self.get_params(ctx) if isinstance(param, click.Option)
            and not param.is_flag and not param.count and param.nargs > 0
            for name in param.opts if name.startswith("--"))
        return super().parse_args(ctx, _wrap_script_words(args, takes_value))


if TYPE_CHECKING:  # generic only since click 8.2; the project supports 8.1
    _ParamType = click.ParamType[Any, Any]
else:
    _ParamType = click.ParamType


class ScriptArgument(_ParamType):
    """SCRIPT and its arguments as typed (unwrapped after click's parsing)."""

    name = "script_argument"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        return value.removeprefix(_WRAPPED) if isinstance(value, str) else value


def _option_names(command: click.Command) -> list[str]:
    names = ["--help", "-h"]
    for param in command.params:
        if isinstance(param, click.Option):
            names += [*param.opts, *param.secondary_opts]
    return names


def _unknown(token: str) -> bool:
    if not token.startswith("-") or token == "-":
        return False
    return not is_script_option(token)


def check_no_unknown_options(ctx: click.Context, script: str,
                             script_args: Sequence[str]) -> None:
    """Raise a usage error (exit 2) for a word that looks like an option of ours but is none.

    Values after ``-pN``/``-Oname`` are the script's and may look like anything.
    """
    tokens = [script, *script_args]
    skip = False
    for index, token in enumerate(tokens):
        if skip:
            skip = False
            continue
        if _unknown(token):
            # only for a mistake: a plain command line need not load difflib
            from sss_emulator.cli.hints import unknown_option

            name, eq, value = token.partition("=")
            names = _option_names(ctx.command)
            if name in names:  # ours, but after "--": the script's, which takes no such word
                raise click.UsageError(f"{name} after -- is not an option of sss-emulate; "
                                       "script arguments are -p0 VALUE or -Oname=VALUE", ctx)
            raise click.UsageError(unknown_option(name, value if eq else None, names,
                                                  after_script=index > 0), ctx)
        skip = awaits_value(token)
