"""The ``sss_server`` fixture: a real scripting server on 127.0.0.1, one per test.

Works either way it is registered: imported by the plugin module
(``from .server_fixtures import sss_server, sss_server_options``) or listed in
``pytest_plugins = ["pytest_sss_emulator.server_fixtures"]`` (or ``-p`` on the command line).

Example::

    def test_minimal(sss_server):
        sss_server.configure_pylib()                  # the real linkahead client, logged in
        from linkahead.utils.server_side_scripting import run_server_side_script
        assert run_server_side_script("minimal.bash", "x").code == 0

Override ``sss_server_options`` to choose settings (the names of ``sss-emulate serve``'s
options: ``bin_dirs``, ``profile``, ``users``, ``anonymous``, ``timeout``, ``context_root``, …);
by default they come from ``[tool.sss-emulator]`` and ``SSS_*`` as for the command line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = ("LiveServer", "sss_server", "sss_server_options")


@dataclass
class LiveServer:
    """A running server: its URL, the app (history, sessions) and helpers for clients."""

    url: str
    """``http://127.0.0.1:PORT`` plus the context root, no trailing slash."""
    app: Any
    """The :class:`sss_emulator.serve.app.ServerApp`; ``app.history`` holds the recent runs."""
    admin_password: str | None
    """The password of the default ``admin`` (``None`` when a users file names the users)."""
    pylib_configured: bool = False

    @property
    def history(self) -> Any:
        return self.app.history

    def login(self, username: str = "admin", password: str | None = None) -> str:
        """A session token for ``username`` (the value of the ``SessionToken`` cookie)."""
        result = self.app.sessions.login(username, self._password(username, password))
        if result is None:
            raise AssertionError(f"login of {username!r} failed: wrong user name or password")
        token: str = result.token
        return token

    def configure_pylib(self, username: str = "admin", password: str | None = None,
                        **kwargs: Any) -> None:
        """Point the real ``linkahead`` client at this server, logging in as ``username``."""
        from linkahead.connection.connection import configure_connection

        configure_connection(  # type: ignore[no-untyped-call]  # pylib has no annotations
            url=self.url, username=username, password=self._password(username, password),
            password_method="plain", **kwargs)
        self.pylib_configured = True

    def _password(self, username: str, password: str | None) -> str:
        if password is not None:
            return password
        entry = self.app.users.users.get(username)
        if entry is None or entry.password is None:
            raise AssertionError(f"no password known for {username!r}; pass password=…")
        return str(entry.password)


@pytest.fixture
def sss_server_options() -> dict[str, Any]:
    """Settings of the ``sss_server`` fixture; override it in a conftest to change them."""
    return {}


@pytest.fixture
def sss_server(sss_server_options: dict[str, Any], tmp_path_factory: pytest.TempPathFactory,
               request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """A scripting server on an ephemeral port for one test, stopped and cleaned up after."""
    from click import UsageError

    from sss_emulator.connect.mounts import MountingRunner
    from sss_emulator.core.runner import run_process
    from sss_emulator.devtools.coverage import session_runner
    from sss_emulator.errors import EmulatorError
    from sss_emulator.httpd import running_server
    from sss_emulator.serve.build import build_app

    base = tmp_path_factory.mktemp("sss-server")
    options = {"work_root": str(base / "work"), "shared_root": str(base / "shared"),
               **sss_server_options}
    try:
        app, settings = build_app(options, cwd=Path(request.config.rootpath))
    except (UsageError, EmulatorError) as exc:
        message = getattr(exc, "message", None) or str(exc)
        pytest.fail(f"sss_server: {message} (set it in sss_server_options)", pytrace=False)
    listener = app.config.address_listener
    if listener is not None:  # where scripts expect the server (server_address)
        try:
            listener.start()
        except EmulatorError as exc:
            app.close()
            pytest.fail(f"sss_server: {exc.message}", pytrace=False)
    runner = app.emulator.runner
    if runner is run_process or isinstance(runner, MountingRunner):
        app.emulator.runner = session_runner(runner)  # pytest --cov measures the server's runs
    allowed = settings.values.get("allowed_hosts") or ()
    with running_server(app, "127.0.0.1", 0, allowed_hosts=allowed) as handle:
        url = app.base_uri() if app.public_url else handle.url
        live = LiveServer(url=url, app=app,
                          admin_password=app.generated_password or _admin_password(app))
        try:
            yield live
        finally:
            if live.pylib_configured:
                _reset_pylib()


def _reset_pylib() -> None:
    """Point pylib back at what its ini files say, so no later test talks to a dead port."""
    from linkahead.connection.connection import configure_connection

    with contextlib.suppress(Exception):  # no url in any ini: pylib stays unusable, as before
        configure_connection()  # type: ignore[no-untyped-call]  # pylib has no annotations


def _admin_password(app: Any) -> str | None:
    entry = app.users.users.get("admin")
    return None if entry is None else entry.password
