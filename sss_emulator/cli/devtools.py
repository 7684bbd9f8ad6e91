"""The options of the script author's tools on ``run`` and ``watch``: --coverage, --debug-wait,
--snapshot.

``--debug-wait`` takes an optional value (``--debug-wait``, ``--debug-wait=5678``,
``--debug-wait once``); click cannot tell an optional value from the SCRIPT that follows, so
:func:`normalise_debug_wait` rewrites the command line into ``--debug-wait=VALUE`` first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import click

__all__ = ("devtool_options", "normalise_debug_wait")

_VALUE = re.compile(r"\A(?:\d+|once(?::\d+)?|off)\Z")


def normalise_debug_wait(args: Sequence[str]) -> list[str]:
    """``--debug-wait [PORT|once|once:PORT]`` → ``--debug-wait=VALUE`` (``default`` if none)."""
    from sss_emulator.cli.words import awaits_value

    out: list[str] = []
    index = 0
    awaited = False  # the word after -pN / -Oname is the script's, whatever it looks like
    while index < len(args):
        arg = args[index]
        if arg == "--":
            out.extend(args[index:])
            break
        if awaited:
            awaited = False
            out.append(arg)
            index += 1
            continue
        awaited = awaits_value(arg)
        if arg == "--debug-wait":
            following = args[index + 1] if index + 1 < len(args) else ""
            if _VALUE.match(following):
                out.append(f"--debug-wait={following}")
                index += 2
                continue
            out.append("--debug-wait=default")
        else:
            out.append(arg)
        index += 1
    return out


def devtool_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--coverage, --debug-wait, --snapshot (docs/cli.md, docs/debugging.md)."""
    decorators = [
        click.option("--coverage", "coverage", is_flag=True, default=None,
                     help="Measure Python scripts with coverage.py and add each run to the "
                          "project's .coverage (then: coverage report). [SSS_COVERAGE]"),
        click.option("--debug-wait", "debug_wait", default=None, metavar="[PORT|once]",
                     help="Start a Python script under debugpy on 127.0.0.1:PORT (default "
                          "5678) and wait until a debugger attaches; in watch mode every run "
                          "waits, or only the first with 'once'. [SSS_DEBUG_WAIT]"),
        click.option("--snapshot", "snapshot", type=click.Path(path_type=str), default=None,
                     metavar="DIR",
                     help="Compare stdout, stderr, the response and SHARED_DIR with the golden "
                          "files in DIR (exit 1 and a diff when they differ)."),
        click.option("--update-snapshot", "update_snapshot", is_flag=True, default=None,
                     help="Write the run into --snapshot DIR instead of comparing."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func
