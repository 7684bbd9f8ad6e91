"""``sss-emulate``: run a server-side script as the server would, from a terminal.

The command maps its options onto one :meth:`Emulator.run` call and prints the outcome; the
script's stdout goes to stdout, its stderr and all of our own messages to stderr. Exit status is
the script's own; 2 means the call was refused or the command line is wrong, 124 a timeout, 125
that the run could not be set up, 130 an interrupt.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import click

from ._decisions import DEFAULT_ADMIN_ROLE, DEFAULT_REALM, DEFAULT_USER
from .call import CallRequest, request_from_form
from .cli_args import attachments, parse_script_args
from .config import MISSING, Settings, resolve_settings
from .emulator import Emulator
from .errors import BadRequestForm, ConfigError, EmulatorError, ScriptNotFound, SetupError
from .outcome import RunOutcome
from .render import render_json
from .report import live_sinks, outcome_summary, say, write_outcome, write_refusal
from .scripts import call_for_path
from .standin import RealServerHook, login_to_server
from .tokens import ANONYMOUS, Identity

__all__ = ("EXIT_INTERRUPTED", "RunInvocation", "collect_options", "configure_logging", "execute",
           "main", "prepare", "run_options", "setting_options", "watch_options")

EXIT_INTERRUPTED = 130
FORMATS = ("text", "json", "xml")

#: Options of ``run`` that are settings (resolved CLI > SSS_* > pyproject > default).
_SETTING_OPTIONS = ("profile", "bin_dirs", "home", "shared_root", "work_root", "timeout", "env",
                    "users", "authtoken_config", "format", "keep", "user", "roles", "anonymous",
                    "auth_token", "data", "stand_in", "server_url", "username", "cacert")


@dataclass(frozen=True)
class RunInvocation:
    """One ``sss-emulate SCRIPT …`` as typed; re-prepared on every run in watch mode."""

    script: str
    script_args: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    cwd: Path = field(default_factory=Path.cwd)


@dataclass(frozen=True)
class Prepared:
    """An invocation resolved against settings, profile and files."""

    emulator: Emulator
    request: CallRequest
    identity: Identity
    auth_token: str | None
    fmt: str
    keep: bool
    settings: Settings


def _bin_dirs_for(script: str, settings: Settings, cwd: Path) -> tuple[tuple[Path, ...], str]:
    """Apply "a path's own folder is the bin dir" when no bin dir is configured."""
    path = (cwd / script).absolute()
    if not settings.bin_dirs_configured:
        if not path.is_file():
            raise ScriptNotFound(
                f"Script {script!r} not found: with no bin dir configured, SCRIPT must be a path "
                "to the script file (or configure --bin-dir / --profile)."
            )
        return (path.parent,), path.name
    if path.is_file():
        candidates = [*settings.bin_dirs, *(b.resolve() for b in settings.bin_dirs)]
        call = call_for_path(path, candidates) or call_for_path(path.resolve(), candidates)
        if call is None:
            dirs = ", ".join(str(b) for b in settings.bin_dirs)
            raise ScriptNotFound(
                f"Script {script!r} lies outside the configured bin dirs ({dirs}); the server "
                "would not find it. Move it into a bin dir or add its folder with --bin-dir."
            )
        return settings.bin_dirs, call
    return settings.bin_dirs, script


def prepare(invocation: RunInvocation) -> Prepared:
    """Resolve settings, the script and its arguments; read every file anew."""
    options = invocation.options
    cli = {name: options.get(name, MISSING) for name in _SETTING_OPTIONS}
    settings = resolve_settings(cli, cwd=invocation.cwd)
    values = settings.values
    fmt = values.get("format") or "text"
    if fmt not in FORMATS:
        raise ConfigError(f"Unknown format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    bin_dirs, call = _bin_dirs_for(invocation.script, settings, invocation.cwd)
    fields = [("call", call), *parse_script_args(invocation.script_args, invocation.cwd),
              *attachments(invocation.options.get("attach", ()), invocation.cwd)]
    request = request_from_form(fields)
    anonymous = bool(values.get("anonymous"))
    identity = ANONYMOUS if anonymous else _identity(settings, values.get("user"),
                                                      tuple(values.get("roles") or ()))
    auth_token = values.get("auth_token") or None
    server_url = values.get("server_url")
    connection: dict[str, Any] = {"stand_in": values.get("stand_in") is not False,
                                  "data_files": tuple(values.get("data") or ())}
    if server_url:
        auth_token = _log_in(server_url, values.get("username"), values.get("cacert"))
        cacert = str(values["cacert"]) if values.get("cacert") else None
        connection = {"stand_in": False,
                      "hooks": [RealServerHook(server_url, auth_token, cacert=cacert)]}
    emulator = Emulator.from_settings(
        settings, bin_dirs=bin_dirs, anonymous=anonymous, keep=bool(values.get("keep")),
        **connection,
    )
    return Prepared(emulator, request, identity, auth_token, fmt, bool(values.get("keep")),
                    settings)


def _log_in(url: str, username: str | None, cacert: Any) -> str:
    """A session token of the real server, for ``--server-url``."""
    if not username:
        raise ConfigError("--server-url needs --username (or SSS_USERNAME) to log in with.")
    password = os.environ.get("SSS_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            raise ConfigError("No password for --server-url: set SSS_PASSWORD or run in a "
                              "terminal to be asked.")
        password = click.prompt(f"Password of {username} on {url}", hide_input=True,
                                err=True)
    return login_to_server(url, username, password, cacert=str(cacert) if cacert else None)


def _identity(settings: Settings, user: str | None, roles: tuple[str, ...]) -> Identity:
    """``--user``/``--role``: roles default to the users file's, or administration for admin."""
    if not user:
        return Identity(DEFAULT_USER, DEFAULT_REALM, roles or (DEFAULT_ADMIN_ROLE,))
    entry = settings.users.users.get(user)
    return Identity(user, entry.realm if entry else DEFAULT_REALM,
                    roles or (entry.roles if entry else ()))


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
    return _exit_code(outcome)


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
        return super().parse_args(ctx, args)


def _json_requested(argv: Sequence[str]) -> bool:
    for index, arg in enumerate(argv):
        if arg == "--format=json" or (arg == "--format" and argv[index + 1:index + 2] == ["json"]):
            return True
    return os.environ.get("SSS_FORMAT") == "json"


def setting_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options shared by every command that runs scripts."""
    decorators = [
        click.option("--profile", type=click.Path(path_type=str),
                     help="A LinkAhead profile directory to read bin dirs, home and "
                          "authtoken.yaml from. [SSS_PROFILE]"),
        click.option("--bin-dir", "bin_dirs", multiple=True, type=click.Path(path_type=str),
                     help="A folder of scripts (repeatable; searched in order). [SSS_BIN_DIRS]"),
        click.option("--home", type=click.Path(path_type=str),
                     help="The HOME skeleton copied for every run (holds .pylinkahead.ini). "
                          "[SSS_HOME]"),
        click.option("--shared-root", type=click.Path(path_type=str),
                     help="Where SHARED_DIR folders are created and kept. [SSS_SHARED_ROOT]"),
        click.option("--work-root", type=click.Path(path_type=str),
                     help="Where per-run working directories are created. [SSS_WORK_ROOT]"),
        click.option("--timeout", type=float, default=None,
                     help="Seconds before the script's process group is killed. [SSS_TIMEOUT]"),
        click.option("--env", "env", multiple=True, metavar="KEY=VALUE",
                     help="Add a variable to the script's environment (repeatable). [SSS_ENV]"),
        click.option("--users", type=click.Path(path_type=str),
                     help="YAML file of users, passwords, roles and role permissions. "
                          "[SSS_USERS]"),
        click.option("--authtoken-config", type=click.Path(path_type=str),
                     help="The server's AUTHTOKEN_CONFIG (purpose tokens). "
                          "[SSS_AUTHTOKEN_CONFIG]"),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def collect_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    options = {k: v for k, v in kwargs.items() if v not in (None, (), False)}
    if "roles" in options:
        options["roles"] = tuple(options["roles"])
    if "env" in options:
        options["env"] = tuple(_split_env(e) for e in options["env"])
    return options


def _split_env(entry: str) -> tuple[str, str]:
    key, sep, value = entry.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"{entry!r} is not KEY=VALUE", param_hint="--env")
    return key, value


def configure_logging(debug: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="sss-emulate: %(name)s: %(message)s", stream=sys.stderr)


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


#: Settings for ``run``/``watch`` that click accepts as extra arguments, not as options.
RUN_CONTEXT = {"ignore_unknown_options": True, "allow_interspersed_args": True}


def run_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """SCRIPT, its arguments and every option of ``run`` (shared with ``watch``)."""
    decorators: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        click.argument("script"),
        click.argument("script_args", nargs=-1, type=click.UNPROCESSED),
        setting_options,
        click.option("--format", "format", type=str, default=None, metavar="[text|json|xml]",
                     help="text (live output, summary on stderr), json (one document) or xml "
                          "(the server's response). [SSS_FORMAT]"),
        click.option("--keep", is_flag=True, default=None,
                     help="Keep the working directory and print where it is. [SSS_KEEP]"),
        click.option("--user", default=None,
                     help="Run as this user (default: admin). [SSS_USER]"),
        click.option("--role", "roles", multiple=True,
                     help="A role of the user (repeatable; default: the users file's or "
                          "administration). [SSS_ROLES]"),
        click.option("--anonymous", is_flag=True, default=None,
                     help="Call as the anonymous user (no token unless a purpose entry "
                          "matches). [SSS_ANONYMOUS]"),
        click.option("--auth-token", default=None,
                     help="Pass this token to the script instead of generating one. "
                          "[SSS_AUTH_TOKEN]"),
        click.option("--data", "data", multiple=True, type=click.Path(path_type=str),
                     help="Seed the LinkAhead stand-in with this file: server XML, a "
                          "caosadvancedtools model.yml or a YAML/JSON list of records "
                          "(repeatable). [SSS_DATA]"),
        click.option("--stand-in/--no-stand-in", "stand_in", default=None,
                     help="Point the script's .pylinkahead.ini at an embedded LinkAhead "
                          "stand-in (default on). [SSS_STAND_IN]"),
        click.option("--server-url", default=None,
                     help="Point the script at this real LinkAhead server instead; log in with "
                          "--username and SSS_PASSWORD (or a prompt). [SSS_SERVER_URL]"),
        click.option("--username", default=None,
                     help="The user to log in as on --server-url. [SSS_USERNAME]"),
        click.option("--cacert", type=click.Path(path_type=str), default=None,
                     help="CA certificate of --server-url. [SSS_CACERT]"),
        click.option("--attach", "attach", multiple=True, metavar="PATH",
                     help="Upload a file into .upload_files/ without passing it as an argument "
                          "(as the web UI sends the files a form.json names; repeatable)."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


#: Names of the watch-mode options, as they appear in ``RunInvocation.options``.
WATCH_OPTIONS = ("postpone", "debounce_ms", "clear", "ignore", "watch_paths", "poll")


def watch_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options of watch mode (``run --watch`` and ``watch``); see docs/watch.md."""
    decorators = [
        click.option("--postpone", is_flag=True, default=None,
                     help="Watch mode: wait for the first change instead of running at once."),
        click.option("--debounce-ms", type=click.IntRange(min=1), default=None,
                     help="Watch mode: quiet time after a change before rerunning (default "
                          "200). [SSS_DEBOUNCE_MS]"),
        click.option("--clear", is_flag=True, default=None,
                     help="Watch mode: clear the screen before each run."),
        click.option("--ignore", "ignore", multiple=True, metavar="PATTERN",
                     help="Watch mode: ignore changes to paths matching this glob "
                          "(repeatable)."),
        click.option("--watch-path", "watch_paths", multiple=True, metavar="PATH",
                     help="Watch mode: also watch this file or folder (repeatable)."),
        click.option("--poll", is_flag=True, default=None,
                     help="Watch mode: poll for changes (file systems without inotify). "
                          "[SSS_POLL]"),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


@main.command("run", context_settings=RUN_CONTEXT)
@run_options
@click.option("--watch", is_flag=True, help="Rerun whenever the script or its inputs change.")
@watch_options
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
        from .watch import watch_invocation

        sys.exit(watch_invocation(invocation))
    sys.exit(execute(invocation, debug=debug))


@main.command("list")
@setting_options
@click.option("--format", "format", type=click.Choice(["text", "json"]), default="text")
def list_command(format: str, **kwargs: Any) -> None:
    """List the scripts in the bin dirs with the permission each needs."""
    from .permissions import permission_for
    from .scripts import ResolvedScript, iter_scripts

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
def doctor_command(script: str, no_run: bool, **kwargs: Any) -> None:
    """Check that SCRIPT is deployable, and print the permission an admin must grant."""
    from .doctor import diagnose

    try:
        settings = resolve_settings(collect_options(kwargs))
        checks = diagnose(script, settings, Path.cwd(), run=not no_run)
    except EmulatorError as error:
        raise click.ClickException(error.message) from error
    failed = False
    for check in checks:
        mark = "ok  " if check.ok else ("warn" if check.warning else "FAIL")
        failed |= not check.ok and not check.warning
        click.echo(f"[{mark}] {check.title}: {check.detail}")
    sys.exit(1 if failed else 0)


def _load_extra_commands() -> None:
    """Commands that live in their own modules (``serve``, ``watch``), when present."""
    import importlib

    for module_name, attr in (("sss_emulator.serve_cli", "serve_command"),
                              ("sss_emulator.watch", "watch_command")):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        command = getattr(module, attr, None)
        if command is not None:
            main.add_command(command)


_load_extra_commands()


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
