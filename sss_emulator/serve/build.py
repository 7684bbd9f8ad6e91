"""The settings of ``serve`` → a ready :class:`~sss_emulator.serve.app.ServerApp` (no socket).

Shared by ``sss-emulate serve`` and the pytest plugin's ``sss_server`` fixture, so both resolve
settings with the one engine of :mod:`sss_emulator.config`.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sss_emulator import decisions
from sss_emulator.config import Settings, resolve_settings
from sss_emulator.connect.address import AddressListener
from sss_emulator.connect.world import FileRoot
from sss_emulator.core.hooks import ProcessRunner
from sss_emulator.core.runner import run_process
from sss_emulator.devtools.coverage import project_runner
from sss_emulator.errors import BadRequestForm, ConfigError, EmulatorError
from sss_emulator.httpd import TlsFiles
from sss_emulator.invocation import Emulator
from sss_emulator.invocation.emulator import world_of
from sss_emulator.serve.app import ServerApp, ServerConfig, make_app
from sss_emulator.serve.form import FormLimits
from sss_emulator.terminal import say

__all__ = ("build_app", "serve_settings")

#: Settings of ``serve`` beyond those of every run (each with its SSS_* twin and pyproject key).
_SERVE_NAMES = ("anonymous", "data", "host", "port", "context_root", "db", "coverage",
                "server_address", "mounts", "extroot", "extroot_path", "caosroot_path",
                "allowed_hosts")
_STATIC_PARTS = ("caosdb-webui", "src", "ext", "html")


def _runner(settings: Settings) -> ProcessRunner:
    """``--coverage``: every run from the page or a client adds to the project's .coverage."""
    if not settings.values.get("coverage"):
        return run_process
    return project_runner(run_process, report=lambda line: say(sys.stderr, line))


def serve_settings(options: Mapping[str, Any], *, cwd: Path | None = None,
                   defaults: Mapping[str, Any] | None = None) -> Settings:
    """The settings of ``serve``: ``options`` > SSS_* > pyproject > profile > ``defaults``."""
    return resolve_settings(options, cwd=cwd, names=_SERVE_NAMES, defaults=defaults)


def build_app(options: Mapping[str, Any], *, cwd: Path | None = None,
              tls: TlsFiles | None = None,
              settings: Settings | None = None) -> tuple[ServerApp, Settings]:
    """Build the app of ``serve`` (no socket yet) from ``settings``, resolved if not given."""
    if settings is None:
        settings = serve_settings(options, cwd=cwd)
    if not settings.bin_dirs:
        raise BadRequestForm("No bin dir configured; pass --bin-dir DIR or --profile PATH.")
    static_dir: Path | None = None
    if settings.profile is not None:
        folder = settings.profile.server_dir.joinpath(*_STATIC_PARTS)
        static_dir = folder if folder.is_dir() else None
    context_root = settings.values.get("context_root")
    # stand_in=False: this server *is* the LinkAhead server scripts call back (it mounts the
    # stand-in itself), so runs need no private one of their own.
    emulator = Emulator.from_settings(
        settings,
        runner=_runner(settings),
        stand_in=False,
        anonymous=bool(settings.values.get("anonymous")),
        context_root=settings.context_root if context_root is None else context_root,
        world=None,  # the server's address and mounts are this server's own: see below
    )
    world = world_of(settings)
    listener: AddressListener | None = None
    file_root: Path | None = None
    if world is not None:
        settings = dataclasses.replace(settings, notes=(*settings.notes, *world.notes))
        if world.address is not None:
            listener = AddressListener(world.address, lambda: app)
        if world.mounts_on:
            holder = FileRoot()
            emulator.hooks.append(holder)
            file_root = holder.path
        emulator.runner = world.runner(emulator.runner, file_root,
                                       listener.cert if listener else None)
    max_body = options.get("max_body_mib")
    max_parts = options.get("max_form_parts")
    limits = FormLimits(max_body=int(max_body * 1024 * 1024) if max_body is not None
                        else decisions.MAX_REQUEST_BODY_BYTES,
                        max_parts=int(max_parts) if max_parts is not None
                        else decisions.MAX_FORM_PARTS)
    data = tuple(Path(p) for p in settings.values.get("data") or ())
    db = settings.values.get("db")
    app = make_app(ServerConfig(emulator, users=settings.users, static_dir=static_dir,
                                limits=limits, cacert=tls.cert if tls else None,
                                data_files=data, sqlite_path=db, file_root=file_root,
                                address_listener=listener,
                                allow_debug_wait=bool(options.get("allow_debug_wait"))))
    if data or db:
        try:
            available = app.load_backend()
        except EmulatorError:
            raise
        except Exception as exc:  # the data file's own error names the file and line
            raise ConfigError(str(exc)) from exc
        if not available:
            raise ConfigError("--data and --db need the LinkAhead stand-in "
                              "(sss_emulator.backend), which is not installed.")
    return app, settings
