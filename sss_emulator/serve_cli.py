"""``sss-emulate serve``: the scripting API on localhost, for browsers, pylib and curl.

Only maps options onto :func:`~sss_emulator.server.make_app` and
:func:`~sss_emulator.serving.serve`; what the server answers is decided there and in the core.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from . import _decisions
from .cli import collect_options, configure_logging, setting_options
from .config import MISSING, Settings, load_profile, resolve_settings
from .emulator import Emulator
from .errors import EmulatorError
from .server import ServerApp, ServerConfig, make_app
from .server_form import FormLimits
from .serving import TlsFiles, make_self_signed_cert, serve
from .sessions import ADMIN_PASSWORD_ENV
from .workspace import default_root

__all__ = ("build_app", "serve_command")

logger = logging.getLogger("sss_emulator.serve_cli")

_SETTINGS = ("profile", "bin_dirs", "home", "shared_root", "work_root", "timeout", "env",
             "users", "authtoken_config", "anonymous", "data")
_STATIC_PARTS = ("caosdb-webui", "src", "ext", "html")


def build_app(options: dict[str, Any], *, cwd: Path | None = None,
              tls: TlsFiles | None = None) -> tuple[ServerApp, Settings]:
    """Resolve the settings of ``serve`` and build the app (no socket yet)."""
    cli = {name: options.get(name, MISSING) for name in _SETTINGS}
    settings = resolve_settings(cli, cwd=cwd)
    if not settings.bin_dirs:
        raise click.UsageError("No bin dir configured; pass --bin-dir DIR or --profile PATH.")
    profile_path = settings.values.get("profile")
    static_dir: Path | None = None
    if profile_path:
        folder = load_profile(Path(profile_path)).server_dir.joinpath(*_STATIC_PARTS)
        static_dir = folder if folder.is_dir() else None
    context_root = options.get("context_root")
    # stand_in=False: this server *is* the LinkAhead server scripts call back (it mounts the
    # stand-in itself), so runs need no private one of their own.
    emulator = Emulator.from_settings(
        settings,
        stand_in=False,
        anonymous=bool(settings.values.get("anonymous")),
        context_root=settings.context_root if context_root is None else context_root,
    )
    max_body = options.get("max_body_mib")
    limits = FormLimits(max_body=int(max_body * 1024 * 1024) if max_body is not None
                        else _decisions.MAX_REQUEST_BODY_BYTES)
    data = tuple(Path(p) for p in settings.values.get("data") or ())
    db = Path(options["db"]).absolute() if options.get("db") else None
    app = make_app(ServerConfig(emulator, users=settings.users, static_dir=static_dir,
                                limits=limits, cacert=tls.cert if tls else None,
                                data_files=data, sqlite_path=db))
    if data or db:
        try:
            available = app.load_backend()
        except Exception as exc:  # the data file's own error names the file and line
            raise click.ClickException(str(exc)) from exc
        if not available:
            raise click.ClickException("--data and --db need the LinkAhead stand-in "
                                       "(sss_emulator.backend), which is not installed.")
    return app, settings


def _banner(app: ServerApp, url: str, settings: Settings, tls: TlsFiles | None) -> list[str]:
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
    if tls is not None:
        lines.append(f"TLS certificate: {tls.cert} (pylib: cacert={tls.cert}; curl: --cacert "
                     f"{tls.cert})")
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
@click.option("--host", default="127.0.0.1", show_default=True, envvar="SSS_HOST",
              help="Address to listen on. [SSS_HOST]")
@click.option("--port", type=click.IntRange(0, 65535), default=10443, show_default=True,
              envvar="SSS_PORT", help="Port to listen on; 0 picks a free one. [SSS_PORT]")
@click.option("--context-root", default=None, envvar="SSS_CONTEXT_ROOT",
              help="Path prefix of every resource, as the server's CONTEXT_ROOT (default: the "
                   "profile's). [SSS_CONTEXT_ROOT]")
@click.option("--tls", is_flag=True,
              help="Speak https with a generated self-signed certificate (its path is printed).")
@click.option("--anonymous", is_flag=True, default=None,
              help="Let callers without a session run scripts their role 'anonymous' may "
                   "(the server's AUTH_OPTIONAL). [SSS_ANONYMOUS]")
@click.option("--max-body", "max_body_mib", type=click.FloatRange(min=0), default=None,
              help="Largest request body in MiB (default 4096); larger answers 413.")
@click.option("--data", "data", multiple=True, type=click.Path(path_type=str),
              help="A data model or records file the stand-in starts with (repeatable). "
                   "[SSS_DATA]")
@click.option("--db", type=click.Path(path_type=str), default=None, envvar="SSS_DB",
              help="Keep the stand-in's entities in this SQLite file across restarts. [SSS_DB]")
@click.option("--quiet", is_flag=True, help="Do not log one line per request.")
@click.option("--debug", is_flag=True, help="Log what the emulator does, with tracebacks.")
def serve_command(host: str, port: int, tls: bool, quiet: bool, debug: bool,
                  **kwargs: Any) -> None:
    """Serve the scripting API (POST /scripting, /login, /Shared/…) on HOST:PORT.

    \b
    Examples:
      sss-emulate serve --profile examples/profile
      sss-emulate serve --bin-dir sample_scripts --port 0 --anonymous
      curl -F call=minimal.bash -F -p0=Positional0 http://127.0.0.1:10443/scripting \\
           -H 'Cookie: SessionToken=…'
    """
    configure_logging(debug)
    if not quiet:
        logging.getLogger("werkzeug").setLevel(logging.INFO)
    tls_files = make_self_signed_cert(default_root("tls"), host) if tls else None
    try:
        app, settings = build_app(collect_options(kwargs), tls=tls_files)
    except EmulatorError as error:
        raise click.ClickException(error.message) from error
    for note in settings.notes:
        click.echo(f"sss-emulate: note: {note}", err=True)

    def ready(url: str) -> None:
        for line in _banner(app, url, settings, tls_files):
            click.echo(line, err=True)
        sys.stderr.flush()

    sys.exit(serve(app, host, port, tls=tls_files, quiet=quiet, on_ready=ready))
