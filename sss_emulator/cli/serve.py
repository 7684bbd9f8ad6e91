"""``sss-emulate serve``: the scripting API on localhost, for browsers, pylib and curl.

Only maps options onto :func:`~sss_emulator.serve.app.make_app` and
:func:`~sss_emulator.httpd.serve`; what the server answers is decided there and in the core.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

import click

from sss_emulator.cli.options import (
    SettingValue,
    collect_options,
    configure_logging,
    setting_options,
    world_options,
)
from sss_emulator.config import Settings
from sss_emulator.core.roots import private_dir, private_root, sweep_dead_runs
from sss_emulator.errors import EmulatorError, SetupError
from sss_emulator.terminal import printable
from sss_emulator.wire import is_loopback

if TYPE_CHECKING:
    from sss_emulator.httpd import TlsFiles
    from sss_emulator.serve.app import ServerApp

__all__ = ("serve_command",)

logger = logging.getLogger("sss_emulator.cli.serve")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 10443
#: Said at start by ``serve --allow-debug-wait``: what the switch gives away.
DEBUG_WAIT_WARNING = (
    "Warning: --allow-debug-wait: every caller who may run a script (anonymous ones too with "
    "--anonymous) may make it wait for a debugger on 127.0.0.1, and any local process that "
    "attaches to it can run code as you.")


#: What a ``serve`` reachable from other machines lets them do.
SERVE_RISK = ("Anyone who can reach it can try passwords and run what their login (or "
              "--anonymous) allows, with your files.")


def exposure_warning(host: str, url: str, risk: str = SERVE_RISK) -> str | None:
    """The warning for a ``--host`` other machines can reach, naming where it really listens
    and what ``risk`` that is (``serve``'s, or ``record``'s)."""
    if is_loopback(host):
        return None
    import socket  # only for this warning: the CLI's start-up does not pay for it

    port = url.rsplit(":", 1)[-1]
    where = (f"every network interface of this machine ({host}:{port}; others reach it as "
             f"http{'s' if url.startswith('https') else ''}://{socket.gethostname()}:{port})"
             if host in ("", "0.0.0.0", "::") else f"{host}:{port}")
    return (f"Warning: listening on {where}, not only on this machine. {risk} Use --host "
            "127.0.0.1 unless you mean this.")


def _banner(app: ServerApp, url: str, settings: Settings, tls: TlsFiles | None,
            host: str = DEFAULT_HOST) -> list[str]:
    from sss_emulator.serve.logins import ADMIN_PASSWORD_ENV

    dirs = ", ".join(str(d) for d in app.emulator.bin_dirs)
    root = f"/{app.context_root}" if app.context_root else ""
    if app.generated_password is not None:
        users = f"admin/{app.generated_password}"
    elif settings.users.users:
        users = f"{', '.join(app.users.users)} from {settings.values['users']}"
    else:
        users = f"admin/${ADMIN_PASSWORD_ENV}"
    anonymous = "on" if app.emulator.anonymous_allowed else "off"
    lines = [f"Serving scripts from {dirs} on {url}{root} (users: {users}; "
             f"anonymous: {anonymous})"]
    warning = exposure_warning(host, url)
    if warning is not None:
        lines.insert(0, warning)
    if app.config.allow_debug_wait:
        lines.insert(0, DEBUG_WAIT_WARNING)
    if tls is not None:
        lines.append(f"TLS certificate: {tls.cert} (pylib: cacert={tls.cert}; curl: --cacert "
                     f"{tls.cert})")
    listener = app.config.address_listener
    if listener is not None:
        trust = f" (their ini trusts {listener.cert})" if listener.cert else ""
        lines.append(f"Scripts find the server at {listener.address.base}{trust}")
    if app.generated_password is not None:
        lines.append(f"Log in as admin with password {app.generated_password} (set "
                     f"{ADMIN_PASSWORD_ENV} to choose it).")
    if app.config.static_dir is not None:
        lines.append(f"Static pages: {url}{root}/webinterface/html/<name>.html")
    lines.append(f"Try the scripts in a browser: {url}{root}/")
    lines.append("Press Ctrl+C to stop.")
    return lines


@click.command("serve")
@setting_options
@click.option("--host", default=None, type=SettingValue("host"), metavar="ADDRESS",
              help=f"Address to listen on. [SSS_HOST; default: {DEFAULT_HOST}]")
@click.option("--port", default=None, type=SettingValue("port"), metavar="PORT",
              help=f"Port to listen on; 0 picks a free one. [SSS_PORT; default: {DEFAULT_PORT}]")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              type=SettingValue("allowed_hosts", item=True),
              help="Also answer requests addressed to this name (repeatable; * for any). On "
                   "127.0.0.1 only localhost, 127.x and [::1] are answered, so that a web page "
                   "cannot rebind its name to this machine. [SSS_ALLOWED_HOSTS]")
@click.option("--context-root", default=None, type=SettingValue("context_root"), metavar="PATH",
              help="Path prefix of every resource, as the server's CONTEXT_ROOT (default: the "
                   "profile's). [SSS_CONTEXT_ROOT]")
@world_options
@click.option("--tls", is_flag=True,
              help="Speak https with a generated self-signed certificate (its path is printed).")
@click.option("--anonymous", is_flag=True, default=None,
              help="Let callers without a session run scripts their role 'anonymous' may "
                   "(the server's AUTH_OPTIONAL). [SSS_ANONYMOUS]")
@click.option("--max-body", "max_body_mib", type=click.FloatRange(min=0), default=None,
              help="Largest request body in MiB (default 4096); larger answers 413.")
@click.option("--max-form-parts", "max_form_parts", type=click.IntRange(min=1), default=None,
              help="Most fields and files in one request (default 1000); more answers 413.")
@click.option("--data", "data", multiple=True, type=click.Path(path_type=str),
              help="A data model or records file the stand-in starts with (repeatable). "
                   "[SSS_DATA]")
@click.option("--db", type=click.Path(path_type=str), default=None,
              help="Keep the stand-in's entities in this SQLite file across restarts. [SSS_DB]")
@click.option("--coverage", "coverage", is_flag=True, default=None,
              help="Measure Python scripts with coverage.py; each run is added to the "
                   "project's .coverage. [SSS_COVERAGE]")
@click.option("--allow-debug-wait", "allow_debug_wait", is_flag=True, default=None,
              help="Let every caller who may run a script ask for a debugger (the page's "
                   "'wait for a debugger' field); without it only the administration role "
                   "may. Any local process can attach to such a debugger and run code as you.")
@click.option("--quiet", is_flag=True, help="Do not log one line per request.")
@click.option("--debug", is_flag=True, help="Log what the emulator does, with tracebacks.")
def serve_command(tls: bool, quiet: bool, debug: bool, **kwargs: Any) -> None:
    """Serve the scripting API (POST /scripting, /login, /Shared/…) on HOST:PORT.

    \b
    Examples:
      sss-emulate serve --profile examples/profile
      sss-emulate serve --bin-dir sample_scripts --port 0 --anonymous
      curl -F call=minimal.bash -F -p0=Positional0 http://127.0.0.1:10443/scripting \\
           -H 'Cookie: SessionToken=…'
    """
    # The HTTP server and werkzeug are imported only when serving.
    from sss_emulator.httpd import make_self_signed_cert, serve
    from sss_emulator.serve.build import build_app, serve_settings

    configure_logging(debug)
    if not quiet:
        logging.getLogger("werkzeug").setLevel(logging.INFO)
    options = collect_options(kwargs)
    try:
        settings = serve_settings(options, defaults={"host": DEFAULT_HOST, "port": DEFAULT_PORT})
        host, port = settings.values["host"], settings.values["port"]
        # checked: a folder another user prepared must not hand us their key
        tls_files = make_self_signed_cert(private_root("tls"), host) if tls else None
        app, settings = build_app(options, tls=tls_files, settings=settings)
        # what a SIGKILLed server left in this work root (runs, uploads, its history's spooled
        # outputs) goes now, not at the first run; a planted work root is refused before
        # anything listens
        sweep_dead_runs(private_dir(app.emulator.work_root))
    except EmulatorError as error:
        if not isinstance(error, SetupError):  # a bad setting: a usage error
            raise click.UsageError(error.message) from error
        raise click.ClickException(error.message) from error
    for note in settings.notes:
        click.echo(printable(f"sss-emulate: note: {note}"), err=True)
    listener = app.config.address_listener
    if listener is not None:
        same = listener.address.port == port and listener.address.bind_host in (host, "0.0.0.0")
        if same:  # this server is at the address itself: it speaks the address's scheme
            tls_files = listener.tls
        else:
            try:
                listener.start()
            except EmulatorError as error:
                raise click.ClickException(error.message) from error

    def ready(url: str) -> None:
        for line in _banner(app, url, settings, tls_files, host):
            click.echo(printable(line), err=True)
        sys.stderr.flush()

    allowed = settings.values.get("allowed_hosts") or ()
    sys.exit(serve(app, host, port, tls=tls_files, quiet=quiet, on_ready=ready,
                   allowed_hosts=allowed))
