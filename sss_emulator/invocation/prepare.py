"""One invocation as a user typed it (CLI, watch mode), resolved into a ready emulator and call.

No click here: the command line maps its options onto :class:`RunInvocation`, watch mode
re-prepares the same invocation before every run, and both get a :class:`Prepared` back.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sss_emulator.config import FORMATS, Settings, identity_for, resolve_settings
from sss_emulator.core.call import CallRequest, request_from_form
from sss_emulator.core.hooks import ProcessRunner
from sss_emulator.core.runner import run_process
from sss_emulator.core.scripts import call_for_path
from sss_emulator.core.tokens import Identity
from sss_emulator.errors import ConfigError, ScriptNotFound
from sss_emulator.invocation.emulator import Emulator, world_of
from sss_emulator.invocation.script_args import attachments, parse_script_args
from sss_emulator.terminal import say

if TYPE_CHECKING:
    from sss_emulator.devtools.snapshots import Snapshots

# A feature is imported by the run that uses it (--server-url, --debug-wait, --coverage,
# --snapshot), not by every run.

__all__ = ("FORMATS", "Prepared", "RunInvocation", "devtools_runner", "prepare")

#: Settings of ``run`` that have no option of their own in every front end calling prepare().
_RUN_NAMES = ("format", "keep", "user", "roles", "anonymous", "auth_token", "data", "stand_in",
              "server_url", "username", "cacert", "coverage", "debug_wait", "server_address",
              "mounts", "extroot", "extroot_path", "caosroot_path")


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
    #: ``--snapshot DIR``: the golden files this run is compared with (or written to).
    snapshot: Snapshots | None = None


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


def prepare(invocation: RunInvocation, *, local_only: bool = False) -> Prepared:
    """Resolve settings, the script and its arguments; read every file anew.

    ``local_only`` ignores ``--server-url`` (and ``SSS_SERVER_URL``): ``compare`` runs the call
    on that server itself, and the local run's callbacks stay with the stand-in.
    """
    settings = resolve_settings(invocation.options, cwd=invocation.cwd, names=_RUN_NAMES)
    world = world_of(settings)
    if world is not None:  # its notes are shown before the run, with the settings' own
        settings = dataclasses.replace(settings, notes=(*settings.notes, *world.notes))
    values = settings.values
    fmt = values.get("format") or "text"
    bin_dirs, call = _bin_dirs_for(invocation.script, settings, invocation.cwd)
    fields = [("call", call), *parse_script_args(invocation.script_args, invocation.cwd),
              *attachments(invocation.options.get("attach", ()), invocation.cwd)]
    request = request_from_form(fields)
    anonymous = bool(values.get("anonymous"))
    identity = identity_for(settings.users, values.get("user"), values.get("roles") or (),
                            anonymous=anonymous)
    auth_token = values.get("auth_token") or None
    server_url = None if local_only else values.get("server_url")
    connection: dict[str, Any] = {"stand_in": values.get("stand_in") is not False,
                                  "data_files": tuple(values.get("data") or ())}
    if world is not None and world.mounts_on and values.get("debug_wait"):
        raise ConfigError("--debug-wait does not go with --mounts: the debugger starts the "
                          "script itself, outside the mount namespace (drop one of them).")
    if world is not None and world.address is not None and (
            server_url or not connection["stand_in"]):
        raise ConfigError("--server-address puts the stand-in at the server's address; it does "
                          "not go with --server-url or --no-stand-in (drop one of them).")
    if server_url:
        from sss_emulator.connect.real_server import RealServerHook

        auth_token = _log_in(server_url, values.get("username"), values.get("cacert"))
        cacert = str(values["cacert"]) if values.get("cacert") else None
        connection = {"stand_in": False,
                      "hooks": [RealServerHook(server_url, auth_token, cacert=cacert)]}
    emulator = Emulator.from_settings(
        settings, bin_dirs=bin_dirs, anonymous=anonymous, keep=bool(values.get("keep")),
        runner=devtools_runner(values, call), world=world, **connection,
    )
    return Prepared(emulator, request, identity, auth_token, fmt, bool(values.get("keep")),
                    settings, _snapshot(invocation.options, invocation.cwd))


def _snapshot(options: Mapping[str, Any], cwd: Path) -> Snapshots | None:
    if not options.get("snapshot"):
        if options.get("update_snapshot"):
            raise ConfigError("--update-snapshot needs --snapshot DIR (where to write it).")
        return None
    from sss_emulator.devtools.snapshots import Snapshots

    return Snapshots((cwd / str(options["snapshot"])).absolute(),
                     update=bool(options.get("update_snapshot")),
                     replacements=[(str(cwd.absolute()), "<CWD>")],
                     update_hint="--update-snapshot")


def devtools_runner(values: Mapping[str, Any], call: str) -> ProcessRunner:
    """The process runner of ``--debug-wait`` / ``--coverage``, else the server's own.

    Debugging wins over coverage: a tracer under the debugger records nothing (and debugpy
    warns), so a debugged run is not measured.
    """
    if values.get("debug_wait") is not None:
        from sss_emulator.devtools.debug import parse_debug_wait

        debug = parse_debug_wait(values.get("debug_wait"))
    else:
        debug = None
    if debug is not None:
        from sss_emulator.devtools.debug import DebugRunner, attach_instructions, require_debugpy

        require_debugpy()
        if values.get("coverage"):
            say(sys.stderr, "note: --coverage is off for a run under --debug-wait (a tracer "
                            "and the debugger do not mix)")
        return DebugRunner(debug[0], on_listening=lambda host, port: say(
            sys.stderr, attach_instructions(host, port, call)))
    if values.get("coverage"):
        from sss_emulator.devtools.coverage import project_runner

        return project_runner(run_process, report=lambda line: say(sys.stderr, line))
    return run_process


def _log_in(url: str, username: str | None, cacert: Any) -> str:
    """A session token of the real server, for ``--server-url``."""
    from sss_emulator.connect.credentials import cleartext_warning
    from sss_emulator.connect.real_server import login_to_server

    if not username:
        raise ConfigError("--server-url needs --username (or SSS_USERNAME) to log in with.")
    warning = cleartext_warning(url)
    if warning is not None:
        say(sys.stderr, warning)
    password = os.environ.get("SSS_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            raise ConfigError("No password for --server-url: set SSS_PASSWORD or run in a "
                              "terminal to be asked.")
        import getpass

        password = getpass.getpass(f"Password of {username} on {url}: ", stream=sys.stderr)
    return login_to_server(url, username, password, cacert=str(cacert) if cacert else None)

