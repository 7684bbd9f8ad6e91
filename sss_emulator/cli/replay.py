"""``sss-emulate replay``: run a recorded call file, or a ``call`` string from a log, locally.

``replay FILE`` compares each case with its recorded answer (exit 0 all equal, 1 a
difference, 2 unusable input); ``replay --call "…"`` runs the call like ``sss-emulate run``
and exits as ``run`` does.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from sss_emulator.cli.options import collect_options, configure_logging, setting_options
from sss_emulator.errors import EXIT_NOT_RUN
from sss_emulator.escapes import json_text
from sss_emulator.terminal import printable

__all__ = ("REPLAY_SCHEMA", "replay_command")

#: The ``schema`` of ``replay FILE --format json``.
REPLAY_SCHEMA = "sss-emulator/replay/v1"


def _fail(fmt: str, message: str, kind: str = "UsageError") -> NoReturn:
    if fmt == "json":
        click.echo(json.dumps({"schema": REPLAY_SCHEMA, "equal": None, "reports": [],
                               "error": {"type": kind, "message": message}}))
    click.echo(printable(f"sss-emulate replay: error: {message}"), err=True)
    sys.exit(EXIT_NOT_RUN)


@click.command("replay")
@click.argument("call_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--call", "call_text", metavar="CALL",
              help="Run this call string (as a ScriptingResponse or a server log shows it) "
                   "instead of a file.")
@click.option("--upload", "uploads", multiple=True, type=click.Path(dir_okay=False,
                                                                     path_type=Path),
              help="With --call: the file behind a .upload_files/<name> argument "
                   "(repeatable).")
@click.option("--case", "cases", multiple=True, metavar="NAME",
              help="With FILE: replay only this case (repeatable).")
@setting_options
@click.option("--user", default=None, help="With --call: run as this user (default: admin).")
@click.option("--role", "roles", multiple=True, help="With --call: a role of the user.")
@click.option("--rules", "rules_file", type=click.Path(dir_okay=False, path_type=str),
              help="More normalisation: a file of 'REGEX => REPLACEMENT' lines.")
@click.option("--format", "format", type=click.Choice(["text", "json", "xml"]), default=None,
              help="text or json (with --call also xml, as run). [SSS_FORMAT]")
@click.option("--debug", is_flag=True, help="Show the traceback of an internal error.")
def replay_command(call_file: Path | None, call_text: str | None, uploads: tuple[Path, ...],
                   cases: tuple[str, ...], rules_file: str | None, format: str | None,
                   debug: bool, **kwargs: Any) -> None:
    """Run a recorded call FILE locally and diff it against the recorded answer, or run
    --call "minimal.bash --option2=x Positional0" as the server would.

    \b
    Examples:
      sss-emulate replay recorded/sss_0001_minimal.bash.yaml --bin-dir scripts
      sss-emulate replay --bin-dir scripts --call "minimal.bash --option2=x Positional0"
      sss-emulate replay --bin-dir scripts --call "print_file.bash .upload_files/data.json" \\
          --upload examples/data/data.json
    """
    configure_logging(debug)
    fmt = format or os.environ.get("SSS_FORMAT") or "text"
    if (call_file is None) == (call_text is None):
        _fail("text" if fmt == "xml" else fmt,
              "give either a call FILE or --call 'CALL STRING' (one of them).")
    if call_text is not None:
        _replay_call(call_text, uploads, kwargs, fmt, debug)
    assert call_file is not None
    if fmt not in ("text", "json"):
        _fail("text", "replay FILE prints text or json; --format xml is for --call.")
    _replay_file(call_file, cases, rules_file, kwargs, fmt, debug)


def _replay_call(call_text: str, uploads: tuple[Path, ...], kwargs: dict[str, Any], fmt: str,
                 debug: bool) -> None:
    from sss_emulator.cli.execute import execute
    from sss_emulator.errors import EmulatorError
    from sss_emulator.fidelity.replay import call_to_script_args, parse_call
    from sss_emulator.invocation import RunInvocation

    try:
        parsed = parse_call(call_text)
        args = call_to_script_args(parsed, uploads)
    except EmulatorError as error:
        _fail("text" if fmt == "xml" else fmt, error.message, type(error).__name__)
    for note in parsed.notes:
        click.echo(printable(f"sss-emulate: note: {note}"), err=True)
    options = collect_options({**kwargs, "format": fmt})
    sys.exit(execute(RunInvocation(parsed.call, args, options), debug=debug))


def _replay_file(call_file: Path, cases: tuple[str, ...], rules_file: str | None,
                 kwargs: dict[str, Any], fmt: str, debug: bool) -> None:
    from sss_emulator.cli.compare import report_width
    from sss_emulator.config import resolve_settings
    from sss_emulator.errors import EmulatorError
    from sss_emulator.fidelity.normalise import load_rules
    from sss_emulator.fidelity.replay import replay_file

    if kwargs.get("user") or kwargs.get("roles"):
        _fail(fmt, "--user and --role apply to --call; a call file says who runs each case.")
    settings_kwargs = {k: v for k, v in kwargs.items() if k not in ("user", "roles")}
    try:
        settings = resolve_settings(collect_options(settings_kwargs))
        rules = load_rules(Path(rules_file)) if rules_file else ()
        reports = replay_file(call_file.absolute(), settings, cases=cases, rules=rules)
    except EmulatorError as error:
        _fail(fmt, error.message, type(error).__name__)
    except Exception as exc:
        if debug:
            raise
        _fail(fmt, f"internal error: {type(exc).__name__}: {exc}; rerun with --debug for the "
                   "traceback and report it.", "InternalError")
    equal = all(report.equal for report in reports)
    if fmt == "json":
        click.echo(json_text(json.dumps({"schema": REPLAY_SCHEMA, "equal": equal,
                                         "reports": [r.to_dict() for r in reports],
                                         "error": None}, ensure_ascii=False)))
    else:
        click.echo(printable("\n\n".join(report.to_text(report_width()) for report in reports)))
    sys.exit(0 if equal else 1)
