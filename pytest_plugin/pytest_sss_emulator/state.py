"""The plugin's per-session state, kept apart so that hooks and collected items share it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sss_emulator.config import Settings

from .devtools import debug_runner
from .pytest_emulator import PytestEmulator, RunLog
from .settings import PluginConfigError, emulator_kwargs, resolve_base

__all__ = ("STATE", "PluginState")


class PluginState:
    """Per-session state: the resolved base settings and the current test's run log."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.log = RunLog()
        self._base: Settings | None = None
        self._error: PluginConfigError | None = None

    def base(self) -> Settings:
        """The session settings, resolved on first use (and their error, every time after)."""
        if self._error is not None:
            raise self._error
        if self._base is None:
            try:
                self._base = resolve_base(self.config)
            except PluginConfigError as exc:
                self._error = exc
                raise
        return self._base

    def build(self, root: Path, overrides: dict[str, Any], where: str, relative_to: Path,
              **passthrough: Any) -> PytestEmulator:
        """An emulator with its work and shared roots below ``root``."""
        overrides = dict(overrides)
        debug = debug_runner(self.config, overrides.pop("debug_wait", None))
        kwargs, mode = emulator_kwargs(self.base(), overrides, where, relative_to)
        kwargs.update(passthrough)
        emulator = PytestEmulator(mode=mode, log=self.log, work_root=root / "work",
                                  shared_root=root / "shared", **kwargs)
        emulator.debug_runner = debug
        return emulator


STATE = pytest.StashKey[PluginState]()
