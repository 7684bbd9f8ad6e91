"""``sss-emulate``: run a server-side script as the server would, from a terminal.

The command maps its options onto one :meth:`Emulator.run` call and prints the outcome; the
script's stdout goes to stdout, its stderr and all of our own messages to stderr. Exit status is
the script's own; 125 means the script did not run (the call was refused, the command line is
wrong, or the run could not be set up; never 2, which is a script's own), 124 a timeout, 130 an
interrupt.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from sss_emulator.cli.devtools import devtool_options, normalise_debug_wait
from sss_emulator.cli.execute import (
    EXIT_INTERRUPTED,
    Stopped,
    execute,
    refusal_format,
    stop_signals_interrupt,
)
from sss_emulator.cli.options import (
    RUN_CONTEXT,
    WATCH_OPTIONS,
    collect_options,
    configure_logging,
    run_options,
    setting_options,
    watch_options,
)
from sss_emulator.cli.usage import ScriptArgument, ScriptCommand, check_no_unknown_options
from sss_emulator.config import resolve_settings
from sss_emulator.core.reaper import become_subreaper
from sss_emulator.core.render import render_json
from sss_emulator.errors import EXIT_NOT_RUN, BadRequestForm, EmulatorError
from sss_emulator.invocation import RunInvocation
from sss_emulator.terminal import printable, say

__all__ = ("EXIT_INTERRUPTED", "execute", "main", "run_cli")


# --- click front end ----------------------------------------------------------------------------


class _DefaultRunGroup(click.Group):
    """``sss-emulate SCRIPT …`` means ``sss-emulate run SCRIPT …``; with ``--format json`` even a
    command line click cannot parse answers with one JSON document."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        if args is None:
            # The program itself (not a test's CliRunner): this process owns every child it
            # has, so it adopts the orphans of runs (setsid daemons) to stop them with their
            # run (Linux; see core.reaper).
            become_subreaper()
        try:
            result = super().main(argv, prog_name, complete_var, False, **extra)
        except click.UsageError as error:
            if _json_requested(argv):
                refusal = BadRequestForm(f"{error.format_message()} (see sss-emulate --help)")
                sys.stdout.write(render_json(
                    code=None, call=None, stdout="", stderr="", argv=(), shared_dir=None,
                    shared_files=(), timed_out=False, duration_s=None, error=refusal) + "\n")
            _show(error)
            sys.exit(EXIT_NOT_RUN)  # never 2: that is a script's own (see errors.py)
        except click.ClickException as error:
            _show(error)
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h",
                                                                      "--version"):
            args = ["run", *args]
        return super().parse_args(ctx, normalise_debug_wait(args))


def _show(error: click.ClickException) -> None:
    """click's own error line, with what it quotes (a file name, an option, a message of
    ours) shown :func:`printable`."""
    error.message = printable(error.message)  # type: ignore[misc]  # Final in click only
    error.show()


def _json_requested(argv: Sequence[str]) -> bool:
    typed = None
    for index, arg in enumerate(argv):
        if arg.startswith("--format="):
            typed = arg.partition("=")[2]
        elif arg == "--format" and index + 1 < len(argv):
            typed = argv[index + 1]
    return refusal_format(typed, Path.cwd()) == "json"


@click.group(cls=_DefaultRunGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sss-emulator")
def main() -> None:
    """Run LinkAhead server-side scripts locally, exactly as the server would.

    \b
    sss-emulate SCRIPT [-pN VALUE]... [-Oname=VALUE]...   run one script (the default command)
    sss-emulate watch SCRIPT ...                         rerun it when its files change
    sss-emulate serve                                    the /scripting HTTP API and a page
    sss-emulate list                                     scripts in the bin dirs
    sss-emulate doctor SCRIPT                            is it deployable?
    sss-emulate compare --server-url URL SCRIPT ...      local run vs your server's
    sss-emulate record --server-url URL                  turn real calls into call files
    sss-emulate replay FILE | --call "CALL"              rerun a recorded call locally
    sss-emulate pull --server-url URL QUERY... -o F      your model and data -> a seed

    A VALUE of @path uploads that file (it arrives as .upload_files/<name>).
    """


@main.command("run", cls=ScriptCommand, context_settings=RUN_CONTEXT)
@run_options
@click.option("--watch", is_flag=True, help="Rerun whenever the script or its inputs change.")
@watch_options
@devtool_options
@click.option("--debug", is_flag=True,
              help="Log what the emulator does; show the traceback of an internal error.")
def run_command(script: str, script_args: tuple[str, ...], watch: bool, debug: bool,
                **kwargs: Any) -> None:
    """Run SCRIPT (a call relative to a bin dir, or a path to a file in one).

    \b
    Examples:
      sss-emulate sample_scripts/minimal.bash -p0 Positional0 -Ooption2=some-value
      sss-emulate sample_scripts/print_file.bash -p0 @examples/data/data.json
      sss-emulate --profile my-profile administration/diagnostics.py --format json
    """
    configure_logging(debug)
    check_no_unknown_options(click.get_current_context(), script, script_args)
    invocation = RunInvocation(script=script, script_args=tuple(script_args),
                               options=collect_options(kwargs))
    given = [name for name in WATCH_OPTIONS if name in invocation.options]
    if given and not watch:
        flag = "--" + given[0].replace("_", "-").replace("watch-paths", "watch-path")
        raise click.UsageError(f"{flag} only applies in watch mode; add --watch.")
    if watch:
        from sss_emulator.watch.loop import watch_invocation  # watchdog only when watching

        sys.exit(watch_invocation(invocation))
    sys.exit(execute(invocation, debug=debug))


def _fail(error: EmulatorError) -> NoReturn:
    """End a command as ``run`` ends a refused call: one ``sss-emulate: error:`` line and the
    error's exit status (2 for a bad command line or setting)."""
    say(sys.stderr, f"error: {error.message}")
    sys.exit(error.exit_code)


@main.command("list")
@setting_options
@click.option("--format", "format", type=click.Choice(["text", "json"]), default="text")
def list_command(format: str, **kwargs: Any) -> None:
    """List the scripts in the bin dirs with the permission each needs."""
    from sss_emulator.core.permissions import permission_for
    from sss_emulator.core.scripts import ResolvedScript, iter_scripts

    try:
        settings = resolve_settings(collect_options(kwargs))
    except EmulatorError as error:
        _fail(error)
    if not settings.bin_dirs:
        _fail(BadRequestForm("No bin dir configured; pass --bin-dir or --profile (or set "
                             "SSS_BIN_DIRS)."))
    rows = []
    for item in iter_scripts(settings.bin_dirs):
        if isinstance(item, ResolvedScript):
            rows.append({"call": item.call, "path": str(item.path), "executable": True,
                         "permission": permission_for(item.call)})
        else:
            call, path = item
            rows.append({"call": call, "path": str(path), "executable": False,
                         "permission": permission_for(call)})
    if format == "json":
        click.echo(json.dumps({"schema": "sss-emulator/list/v1", "scripts": rows}))
        return
    for row in rows:
        flag = "" if row["executable"] else "  (not executable: chmod +x)"
        click.echo(printable(f"{row['call']:<40} {row['permission']}{flag}", one_line=True))


@main.command("doctor", cls=ScriptCommand, context_settings=RUN_CONTEXT)
@click.argument("script", type=ScriptArgument())
@click.argument("script_args", nargs=-1, type=ScriptArgument())
@setting_options
@click.option("--no-run", is_flag=True,
              help="Do not run the script to check it accepts --auth-token=.")
@click.option("--format", "format", type=click.Choice(["text", "json"]), default="text",
              help="text, or one JSON document (schema sss-emulator/doctor/v1).")
def doctor_command(script: str, script_args: tuple[str, ...], no_run: bool, format: str,
                   **kwargs: Any) -> None:
    """Check that SCRIPT is deployable, and print the permission an admin must grant.

    Each check is ok, warn or fail with what it saw; exit 1 when one fails. Give the script's
    arguments (-p0 VALUE, -Oname=VALUE) when it needs some: the trial run passes them after
    --auth-token=…, as the server does.
    """
    from sss_emulator.cli.doctor import Check, diagnose, report_document

    check_no_unknown_options(click.get_current_context(), script, script_args)
    try:
        settings = resolve_settings(collect_options(kwargs))
    except EmulatorError as error:  # a bad command line or setting: as everywhere, exit 2
        if format == "json":
            check = Check("settings", "settings", "fail", error.message)
            click.echo(json.dumps(report_document(script, [check])))
            sys.exit(error.exit_code)
        _fail(error)
    try:
        with stop_signals_interrupt():  # TERM/HUP stop the trial run and remove its folder
            checks = diagnose(script, settings, Path.cwd(), run=not no_run,
                              arguments=script_args)
    except Stopped as stop:
        say(sys.stderr, f"stopped by {stop.name}; the trial run was stopped and its folder "
                        "removed.")
        sys.exit(128 + stop.signum)
    except EmulatorError as error:
        checks = [Check("settings", "settings", "fail", error.message)]
    except Exception as exc:  # doctor reports, it never crashes
        checks = [Check("doctor", "doctor", "fail", f"internal error: {type(exc).__name__}: "
                        f"{exc}; please report it")]
    failed = any(check.status == "fail" for check in checks)
    if format == "json":
        click.echo(json.dumps(report_document(script, checks)))
        sys.exit(1 if failed else 0)
    marks = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
    for check in checks:
        # one line each: a file name with a newline must not forge a check
        click.echo(printable(f"[{marks[check.status]}] {check.title}: {check.detail}",
                             one_line=True))
        if check.evidence:
            click.echo(printable(f"       seen: {check.evidence}", one_line=True))
    sys.exit(1 if failed else 0)


def _add_commands() -> None:
    """``serve``, ``watch``, ``compare``, ``record`` and ``replay`` are declared in their own
    modules; their features load lazily."""
    from sss_emulator.cli.compare import compare_command
    from sss_emulator.cli.pull import pull_command
    from sss_emulator.cli.record import record_command
    from sss_emulator.cli.replay import replay_command
    from sss_emulator.cli.serve import serve_command
    from sss_emulator.cli.watch import watch_command

    main.add_command(serve_command)
    main.add_command(watch_command)
    main.add_command(compare_command)
    main.add_command(record_command)
    main.add_command(replay_command)
    main.add_command(pull_command)


_add_commands()


def run_cli(argv: Sequence[str]) -> int:
    """Run the command line in-process and return its exit status (for tests and tools)."""
    try:
        main.main(args=list(argv), prog_name="sss-emulate", standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    except click.UsageError as exc:
        exc.show()
        return EXIT_NOT_RUN
    except click.ClickException as exc:
        _show(exc)
        return exc.exit_code
    return 0
