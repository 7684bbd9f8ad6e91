"""Hooks and fixtures of the sss-emulator pytest plugin (entry point ``sss_emulator``).

Fixtures: ``sss`` (alias ``sss_emulator``), an emulator whose directories live under the
test's ``tmp_path``, configured by ``@pytest.mark.sss(...)`` over the session settings; and
``sss_factory`` (session scope) to build emulators with other settings; ``sss_backend`` (from
:mod:`.backend_fixtures`), the LinkAhead stand-in the scripts call back; ``sss_server`` (from
:mod:`.server_fixtures`), a live scripting server for tests that use pylib. Call files
``sss_*.yaml``/``sss_*.toml`` are collected as tests. A failing test's report gets a section
with every run it made.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from sss_emulator.callfile import is_call_file

from .backend_fixtures import sss_backend
from .devtools import add_debug_options
from .items import CALL_FAILED, CallFile
from .pytest_emulator import PytestEmulator
from .server_fixtures import sss_server, sss_server_options
from .settings import (
    MARKER_KEYS,
    MODES,
    PluginConfigError,
    check_command_line,
    sss_variables,
)
from .snapshots import add_snapshot_options, sss_snapshot
from .state import STATE, PluginState

__all__ = (
    "STATE",
    "PluginState",
    "SssFactory",
    "pytest_addoption",
    "pytest_collect_file",
    "pytest_configure",
    "pytest_report_header",
    "pytest_runtest_makereport",
    "pytest_runtest_setup",
    "sss",
    "sss_backend",
    "sss_emulator",
    "sss_factory",
    "sss_server",
    "sss_server_options",
    "sss_snapshot",
)

logger = logging.getLogger("pytest_sss_emulator.plugin")

#: Extra keyword arguments ``sss_factory(...)`` passes straight to the emulator.
_PASSTHROUGH = ("hooks", "authority", "purposes", "keep", "context_root", "realm", "stand_in",
                "data_files")

_MARKER_HELP = (
    "sss(user=None, roles=None, timeout=None, mode=None, bin_dirs=None, anonymous=None, "
    "env=None, home=None, users=None, debug_wait=None, server_address=None, mounts=None, "
    "extroot=None, extroot_path=None, caosroot_path=None): settings of the `sss` fixture for "
    "this test (sss-emulator); they override the command line and the ini file."
)


# --- hooks ---------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sss-emulator", "LinkAhead server-side scripts (sss-emulator)")
    group.addoption("--sss-bin-dir", action="append", dest="sss_bin_dirs", default=[],
                    metavar="DIR", help="folder of server-side scripts (repeatable); "
                    "overrides ini sss_bin_dirs")
    group.addoption("--sss-home", dest="sss_home", metavar="DIR",
                    help="home skeleton copied into every run's HOME")
    group.addoption("--sss-profile", dest="sss_profile", metavar="PATH",
                    help="LinkAhead profile to take bin dirs, home and tokens from")
    group.addoption("--sss-users", dest="sss_users", metavar="FILE",
                    help="users file (users, roles, role permissions)")
    group.addoption("--sss-timeout", dest="sss_timeout", metavar="SECONDS",
                    help="seconds a script may run before its test fails (default 60; 0, none "
                    "or off: no limit)")
    group.addoption("--sss-mode", dest="sss_mode", choices=MODES,
                    help="run scripts as subprocesses (default), in the test process, or both "
                    "and compare")
    group.addoption("--sss-server-address", dest="sss_server_address", metavar="URL",
                    help="also serve the stand-in where scripts expect the server, e.g. "
                    "https://127.0.0.1:10443 (docs/mounts.md)")
    group.addoption("--sss-mounts", action="store_true", dest="sss_mounts", default=False,
                    help="run scripts in a mount namespace with the server's extroot and file "
                    "store paths (bubblewrap)")
    group.addoption("--sss-extroot", dest="sss_extroot", metavar="DIR",
                    help="folder scripts see at the server's extroot path")
    group.addoption("--sss-keep", action="store_true", dest="sss_keep", default=False,
                    help="keep the working directories of failed tests and show where")
    # "args", not "paths": the settings engine places them (relative to the ini file, ~ expanded)
    parser.addini("sss_bin_dirs", type="args", default=[],
                  help="folders of server-side scripts (relative to the ini file)")
    parser.addini("sss_home", default="", help="home skeleton folder (sss-emulator)")
    parser.addini("sss_profile", default="", help="LinkAhead profile (sss-emulator)")
    parser.addini("sss_users", default="", help="users file (sss-emulator)")
    parser.addini("sss_timeout", default="", help="script timeout in seconds (sss-emulator)")
    parser.addini("sss_mode", default="", help="subprocess, inprocess or both (sss-emulator)")
    parser.addini("sss_server_address", default="",
                  help="where scripts expect the server, e.g. https://127.0.0.1:10443")
    parser.addini("sss_mounts", default="", help="true: the server's mounts (sss-emulator)")
    parser.addini("sss_extroot", default="", help="the extroot folder (sss-emulator)")
    add_debug_options(parser)
    add_snapshot_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER_HELP)
    try:
        check_command_line(config)
    except PluginConfigError as exc:
        raise pytest.UsageError(exc.message) from None
    config.stash[STATE] = PluginState(config)


def pytest_report_header(config: pytest.Config) -> str | None:
    """Say which ``SSS_*`` variables are set: they are settings of this run too."""
    names = sss_variables()
    if not names:
        return None
    return (f"sss-emulator: {', '.join(names)} set in the environment (below --sss-* and the "
            "ini file, above [tool.sss-emulator])")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> CallFile | None:
    if is_call_file(file_path):
        return CallFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    state = item.config.stash.get(STATE, None)
    if state is not None:
        state.log.reset()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    state = item.config.stash.get(STATE, None)
    if state is None:
        return report
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
        if report.failed and state.log.entries:
            report.sections.append(("sss-emulator runs", state.log.report()))
    elif report.when == "teardown" and not item.stash.get(CALL_FAILED, False):
        state.log.remove_kept()
    return report


# --- fixtures ------------------------------------------------------------------------------------


def _marker_overrides(item: pytest.Item) -> dict[str, Any]:
    """The ``sss`` markers of a test, the closest (function over class over module) winning."""
    merged: dict[str, Any] = {}
    for mark in reversed(list(item.iter_markers("sss"))):
        if mark.args:
            raise PluginConfigError(
                f"@pytest.mark.sss on {item.nodeid}: takes keyword arguments only "
                f"({', '.join(MARKER_KEYS)}), got {mark.args!r}"
            )
        merged.update(mark.kwargs)
    return merged


class SssFactory:
    """Builds emulators with settings of their own; each gets fresh directories.

    ``sss_factory(user="alice", roles=["team"], mode="inprocess")`` takes the marker's keywords
    plus ``hooks``, ``authority``, ``purposes``, ``keep``, ``context_root`` and ``realm``.
    """

    def __init__(self, state: PluginState, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._state = state
        self._tmp = tmp_path_factory
        self._built: list[PytestEmulator] = []

    def __call__(self, **overrides: Any) -> PytestEmulator:
        passthrough = {k: overrides.pop(k) for k in _PASSTHROUGH if k in overrides}
        try:
            emulator = self._state.build(self._tmp.mktemp("sss"), overrides, "sss_factory(...)",
                                         self._state.config.invocation_params.dir,
                                         **passthrough)
        except PluginConfigError as exc:
            raise PluginConfigError(exc.message).with_traceback(None) from None
        self._built.append(emulator)
        return emulator

    def close(self) -> None:
        """Stop what the emulators' hooks started (servers); called at the end of the session."""
        while self._built:
            _close(self._built.pop())


def _close(emulator: PytestEmulator) -> None:
    close = getattr(emulator, "close", None)  # hooks such as a LinkAhead stand-in own servers
    if close is not None:
        close()


@pytest.fixture(scope="session")
def sss_factory(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[SssFactory]:
    """Build emulators with other settings than the session's: ``sss_factory(user=...)``."""
    factory = SssFactory(request.config.stash[STATE], tmp_path_factory)
    yield factory
    factory.close()


@pytest.fixture
def sss(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PytestEmulator]:
    """An emulator for this test: dirs under ``tmp_path``, settings from ``@pytest.mark.sss``."""
    state = request.config.stash[STATE]
    try:
        emulator = state.build(tmp_path / "sss", _marker_overrides(request.node),
                               f"@pytest.mark.sss on {request.node.nodeid}", request.path.parent)
    except PluginConfigError as exc:
        problem = exc.message
    else:
        problem = ""
    if problem:
        pytest.fail(problem, pytrace=False)
    yield emulator
    _close(emulator)


@pytest.fixture
def sss_emulator(sss: PytestEmulator) -> PytestEmulator:
    """The descriptive name of :func:`sss`."""
    return sss
