"""``sss-emulate``: run a server-side script as the server would, from a terminal.

The command maps its options onto one :meth:`Emulator.run` call and prints the outcome; the
script's stdout goes to stdout, its stderr and all of our own messages to stderr. Exit status is
the script's own; 2 means the call was refused or the command line is wrong, 124 a timeout, 125
that the run could not be set up, 130 an interrupt.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import click

from sss_emulator.cli.devtools import devtool_options, normalise_debug_wait
from sss_emulator.cli.options import (
    RUN_CONTEXT,
    WATCH_OPTIONS,
    collect_options,
    configure_logging,
    run_options,
    setting_options,
    watch_options,
)
from sss_emulator.config import resolve_settings
from sss_emulator.core.outcome import RunOutcome
from sss_emulator.core.render import render_json
from sss_emulator.core.tokens import Identity
from sss_emulator.devtools.snapshots import report_snapshot
from sss_emulator.errors import BadRequestForm, EmulatorError, SetupError
from sss_emulator.invocation import RunInvocation, prepare
from sss_emulator.terminal import live_sinks, outcome_summary, say, write_outcome, write_refusal

__all__ = ("EXIT_INTERRUPTED", "execute", "main", "run_cli")

EXIT_INTERRUPTED = 130


def _exit_code(outcome: RunOutcome) -> int:
    if outcome.timed_out or outcome.code is None:
        return 124
    return outcome.code


def execute(
    invocation: RunInvocation,
    *,
    stdout: BinaryIO | None = None,
    stderr: TextIO | None = None,
    debug: bool = False,
) -> int:
    """Prepare and run one invocation, print its outcome, return the exit status.

    A failure of the emulator itself (a bug, not a refused call) is one line and exit 125, or
    its traceback with ``debug``.
    """
    out = stdout or sys.stdout.buffer
    err = stderr or sys.stderr
    fmt = str(invocation.options.get("format") or os.environ.get("SSS_FORMAT") or "text")
    identity: Identity | None = None
    try:
        prepared = prepare(invocation)
        fmt, identity = prepared.fmt, prepared.identity
        for note in prepared.settings.notes:
            say(err, f"note: {note}")
        on_stdout, on_stderr = live_sinks(fmt, out, err)
        with prepared.emulator:
            outcome = prepared.emulator.run(
                prepared.request,
                identity=prepared.identity,
                auth_token=prepared.auth_token,
                on_stdout=on_stdout,
                on_stderr=on_stderr,
            )
    except EmulatorError as error:
        write_refusal(error, fmt, identity, out, err)
        return error.exit_code
    except KeyboardInterrupt:
        say(err, "interrupted; the script was stopped and its directory removed.")
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        say(err, f"internal error: {type(exc).__name__}: {exc}; rerun with --debug for the "
                 "traceback and report it.")
        return SetupError.exit_code
    write_outcome(outcome, fmt, out, err, shown_notes=prepared.settings.notes)
    if fmt == "text":
        say(err, outcome_summary(outcome))
    code = _exit_code(outcome)
    if prepared.snapshot is not None and not report_snapshot(
            prepared.snapshot, outcome, lambda line: print(line, file=err, flush=True)):
        return code or 1  # a differing snapshot fails an otherwise good run
    return code


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
        try:
            result = super().main(argv, prog_name, complete_var, False, **extra)
        except click.UsageError as error:
            if _json_requested(argv):
                refusal = BadRequestForm(f"{error.format_message()} (see sss-emulate --help)")
                sys.stdout.write(render_json(
                    code=None, call=None, stdout="", stderr="", argv=(), shared_dir=None,
                    shared_files=(), timed_out=False, duration_s=None, error=refusal) + "\n")
            error.show()
            sys.exit(error.exit_code)
        except click.ClickException as error:
            error.show()
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


def _json_requested(argv: Sequence[str]) -> bool:
    for index, arg in enumerate(argv):
        if arg == "--format=json" or (arg == "--format" and argv[index + 1:index + 2] == ["json"]):
            return True
    return os.environ.get("SSS_FORMAT") == "json"


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

    A VALUE of @path uploads that file (it arrives as .upload_files/<name>).
    """


@main.command("run", context_settings=RUN_CONTEXT)
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
        raise click.ClickException(error.message) from error
    if not settings.bin_dirs:
        raise click.ClickException("No bin dir configured; pass --bin-dir or --profile.")
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
        click.echo(f"{row['call']:<40} {row['permission']}{flag}")


@main.command("doctor")
@click.argument("script")
@setting_options
@click.option("--no-run", is_flag=True,
              help="Do not run the script to check it accepts --auth-token=.")
@click.option("--format", "format", type=click.Choice(["text", "json"]), default="text",
              help="text, or one JSON document (schema sss-emulator/doctor/v1).")
def doctor_command(script: str, no_run: bool, format: str, **kwargs: Any) -> None:
    """Check that SCRIPT is deployable, and print the permission an admin must grant.

    Each check is ok, warn or fail with what it saw; exit 1 when one fails.
    """
    from sss_emulator.cli.doctor import Check, diagnose, report_document

    try:
        settings = resolve_settings(collect_options(kwargs))
        checks = diagnose(script, settings, Path.cwd(), run=not no_run)
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
        click.echo(f"[{marks[check.status]}] {check.title}: {check.detail}")
        if check.evidence:
            click.echo(f"       seen: {check.evidence}")
    sys.exit(1 if failed else 0)


def _add_commands() -> None:
    """``serve`` and ``watch`` are declared in their own modules; their features load lazily."""
    from sss_emulator.cli.serve import serve_command
    from sss_emulator.cli.watch import watch_command

    main.add_command(serve_command)
    main.add_command(watch_command)


_add_commands()


def run_cli(argv: Sequence[str]) -> int:
    """Run the command line in-process and return its exit status (for tests and tools)."""
    try:
        main.main(args=list(argv), prog_name="sss-emulate", standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    return 0
