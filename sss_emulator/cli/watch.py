"""``sss-emulate watch``: the click front end of watch mode (:mod:`sss_emulator.watch`)."""

from __future__ import annotations

import sys
from typing import Any

import click

from sss_emulator.cli.devtools import devtool_options
from sss_emulator.cli.options import (
    RUN_CONTEXT,
    collect_options,
    configure_logging,
    run_options,
    watch_options,
)
from sss_emulator.cli.usage import ScriptCommand, check_no_unknown_options
from sss_emulator.invocation import RunInvocation

__all__ = ("watch_command",)


# --- the ``watch`` command --------------------------------------------------------------------


@click.command("watch", cls=ScriptCommand, context_settings=RUN_CONTEXT)
@run_options
@watch_options
@devtool_options
@click.option("--debug", is_flag=True, help="Log what the emulator does, with tracebacks.")
def watch_command(script: str, script_args: tuple[str, ...], debug: bool, **kwargs: Any) -> None:
    """Run SCRIPT now and again whenever it or what it reads changes.

    \b
    Watched: the script and its folder (or the bin dirs), @path uploads, the home skeleton,
    the profile, users and authtoken files, pyproject.toml, and every --watch-path.
    Ignored: HOME, SHARED_DIR, the work and shared roots, __pycache__, .git, editor swap files.
    Enter reruns, q + Enter or Ctrl+C quits.

    \b
    Example:
      sss-emulate watch sample_scripts/print_file.bash -p0 @examples/data/data.json
    """
    configure_logging(debug)
    check_no_unknown_options(click.get_current_context(), script, script_args)
    invocation = RunInvocation(script=script, script_args=tuple(script_args),
                               options=collect_options(kwargs))
    from sss_emulator.watch.loop import watch_invocation  # watchdog only when watching

    sys.exit(watch_invocation(invocation))

