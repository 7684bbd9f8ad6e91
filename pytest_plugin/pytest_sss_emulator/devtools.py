"""The plugin's side of the script author's tools: a debugger that waits, per session or test.

``--sss-debug-wait[=PORT]`` (or ini ``sss_debug_wait``, or ``@pytest.mark.sss(debug_wait=PORT)``
for one test) runs each Python script of the test under debugpy and waits for a debugger before
it starts; the attach address is printed past pytest's output capture. Coverage needs no
option: :mod:`sss_emulator.devtools.coverage` follows ``pytest --cov`` by itself.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from sss_emulator.devtools.debug import (
    DebugRunner,
    attach_instructions,
    parse_debug_wait,
    require_debugpy,
)
from sss_emulator.errors import EmulatorError

from .settings import PluginConfigError

__all__ = ("add_debug_options", "debug_runner")


def add_debug_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("sss-emulator")
    group.addoption("--sss-debug-wait", dest="sss_debug_wait", nargs="?", const="default",
                    default=None, metavar="PORT",
                    help="run Python scripts under debugpy on 127.0.0.1:PORT (default 5678) and "
                         "wait for a debugger to attach before each starts")
    parser.addini("sss_debug_wait", default="",
                  help="port (or 'default') to debug every Python script on (sss-emulator)")


def _setting(config: pytest.Config, marker: Any) -> tuple[Any, str]:
    if marker is not None:
        return marker, "@pytest.mark.sss(debug_wait=...)"
    if config.option.sss_debug_wait is not None:
        return config.option.sss_debug_wait, "--sss-debug-wait"
    return str(config.getini("sss_debug_wait") or "").strip() or None, "ini sss_debug_wait"


def debug_runner(config: pytest.Config, marker: Any = None) -> DebugRunner | None:
    """The debug runner a test's emulator uses, or None when nobody asked for one."""
    value, where = _setting(config, marker)
    try:
        parsed = parse_debug_wait(value, where)
        if parsed is None:
            return None
        require_debugpy()
    except EmulatorError as exc:
        raise PluginConfigError(f"{where}: {exc.message}") from None

    def on_listening(host: str, port: int) -> None:
        line = "\n" + attach_instructions(host, port, "the script") + "\n"
        capture = config.pluginmanager.getplugin("capturemanager")
        if capture is None:
            sys.stderr.write(line)
            return
        with capture.global_and_fixture_disabled():
            sys.stderr.write(line)
            sys.stderr.flush()

    return DebugRunner(parsed[0], on_listening=on_listening)
