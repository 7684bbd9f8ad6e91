"""``sss-emulate compare``: run one call on your LinkAhead server and locally, show the drift.

Only maps the command line onto :mod:`sss_emulator.fidelity.compare` and prints its report.
Exit status: 0 no difference, 1 a difference, 125 the comparison could not be made (usage error,
login refused, server unreachable, no confirmation).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from sss_emulator.cli.options import RUN_CONTEXT, collect_options, configure_logging, run_options
from sss_emulator.cli.usage import ScriptCommand
from sss_emulator.errors import EXIT_NOT_RUN
from sss_emulator.escapes import json_text
from sss_emulator.terminal import printable

__all__ = ("EXIT_DIFFERENT", "EXIT_EQUAL", "EXIT_UNUSABLE", "compare_command", "read_password",
           "report_width")

EXIT_EQUAL = 0
EXIT_DIFFERENT = 1
EXIT_UNUSABLE = EXIT_NOT_RUN

def _interactive() -> bool:
    """Is there a person at a terminal to ask?"""
    return sys.stdin.isatty()


def report_width() -> int:
    """The terminal's width for side-by-side columns (100 when not a terminal)."""
    return shutil.get_terminal_size((100, 24)).columns


def read_password(password_file: str | None, username: str, url: str) -> str:
    """--password-file (private, or refused), else ``SSS_PASSWORD``, else a prompt; never the
    command line (:mod:`sss_emulator.connect.credentials`).

    Raises :class:`click.UsageError` when none is available.
    """
    from sss_emulator.connect.credentials import server_password
    from sss_emulator.errors import ConfigError

    try:
        return server_password(username, url, password_file=password_file,
                               interactive=_interactive())
    except ConfigError as error:
        raise click.UsageError(error.message) from None


def _fail(fmt: str, message: str, kind: str = "UsageError") -> NoReturn:
    """One line on stderr (and one JSON document with --format json); exit 2."""
    if fmt == "json":
        from sss_emulator.fidelity.report import REPORT_SCHEMA

        click.echo(json.dumps({"schema": REPORT_SCHEMA, "equal": None, "differences": [],
                               "error": {"type": kind, "message": message}}))
    click.echo(printable(f"sss-emulate compare: error: {message}"), err=True)
    sys.exit(EXIT_UNUSABLE)


def _confirm(yes: bool, call: str, url: str, user: str, fmt: str) -> None:
    """compare runs the script on the server for real: say so, and ask unless --yes."""
    if yes:
        return
    if not _interactive():
        _fail(fmt, f"compare runs {call.split(' ', 1)[0]} on {url} for real (whatever it "
                   "writes there stays); add --yes to confirm, there is no terminal to ask.")
    click.echo(printable(f"sss-emulate compare: this runs `{call}` on {url} as {user} for "
                         "real; whatever the script writes there stays written."), err=True)
    if not click.confirm("Run it on the server?", default=False, err=True):
        _fail(fmt, "not confirmed; nothing ran.")


@click.command("compare", cls=ScriptCommand, context_settings=RUN_CONTEXT)
@run_options
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=str),
              help="Read the server password from this file, which only you may read (chmod "
                   "600; else refused); else SSS_PASSWORD, else a prompt; never on the "
                   "command line.")
@click.option("--rules", "rules_file", type=click.Path(dir_okay=False, path_type=str),
              help="More normalisation: a file of 'REGEX => REPLACEMENT' lines.")
@click.option("--yes", is_flag=True,
              help="Do not ask before running the script on the server (needed without a "
                   "terminal).")
@click.option("--debug", is_flag=True, help="Show the traceback of an internal error.")
def compare_command(script: str, script_args: tuple[str, ...], password_file: str | None,
                    rules_file: str | None, yes: bool, debug: bool, **kwargs: Any) -> None:
    """Run SCRIPT on --server-url and locally; show where the two differ.

    The call goes to the server's /scripting API as --user (or --username) and runs locally
    with the same arguments (uploads go to both). Tokens, srid, timestamps, SHARED_DIR names
    and the bin dir's path are normalised before comparing. Exit 0: no difference, 1: a
    difference, 2: no comparison was possible.

    \b
    Example:
      sss-emulate compare --server-url https://linkahead.example.org --user admin \\
          --bin-dir scripts minimal.bash -p0 Positional0 -Ooption2=x
    """
    configure_logging(debug)
    from sss_emulator.errors import EmulatorError
    from sss_emulator.fidelity.compare import plan_compare, run_compare
    from sss_emulator.fidelity.normalise import load_rules
    from sss_emulator.invocation import RunInvocation

    fmt = str(kwargs.get("format") or os.environ.get("SSS_FORMAT") or "text")
    if fmt not in ("text", "json"):
        _fail("text", f"compare prints text or json, not {fmt!r}; use --format text|json.")
    options = collect_options(kwargs)
    try:
        rules = load_rules(Path(rules_file)) if rules_file else ()
        plan = plan_compare(RunInvocation(script, tuple(script_args), options), rules=rules)
        values = plan.prepared.settings.values
        if not plan.server_url:
            raise click.UsageError("compare needs --server-url URL (or SSS_SERVER_URL): the "
                                   "server to compare with.")
        username = values.get("username") or values.get("user")
        if not username:
            raise click.UsageError("compare needs --user NAME (or --username): who to log in "
                                   "as on the server.")
        from sss_emulator.connect.credentials import cleartext_warning

        warning = cleartext_warning(plan.server_url)
        if warning is not None:  # before the question: the user may still say no
            click.echo(printable(f"sss-emulate compare: {warning}"), err=True)
        _confirm(yes, plan.call, plan.server_url, str(username), fmt)
        password = read_password(password_file, str(username), plan.server_url)
        report = run_compare(plan, str(username), password)
    except click.UsageError as error:
        _fail(fmt, error.format_message())
    except EmulatorError as error:
        _fail(fmt, error.message, type(error).__name__)
    except KeyboardInterrupt:
        click.echo("sss-emulate compare: interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        _fail(fmt, f"internal error: {type(exc).__name__}: {exc}; rerun with --debug for the "
                   "traceback and report it.", "InternalError")
    if fmt == "json":
        click.echo(json_text(json.dumps(report.to_dict(), ensure_ascii=False)))
    else:
        click.echo(printable(report.to_text(report_width())))
    sys.exit(EXIT_EQUAL if report.equal else EXIT_DIFFERENT)
