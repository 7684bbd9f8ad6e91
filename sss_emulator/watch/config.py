"""The knobs of watch mode, resolved like every other setting: CLI > SSS_* > pyproject.

``--postpone`` and ``--clear`` are command-line only; ``--debounce-ms`` and ``--poll`` have the
twins ``SSS_DEBOUNCE_MS``/``debounce-ms`` and ``SSS_POLL``/``poll`` (see :data:`config.SETTINGS`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from sss_emulator.config import settings as config
from sss_emulator.errors import ConfigError, EmulatorError
from sss_emulator.invocation import RunInvocation

__all__ = ("DEFAULT_DEBOUNCE_MS", "WatchConfig")

DEFAULT_DEBOUNCE_MS = 200


def _setting(name: str, invocation: RunInvocation, default: Any) -> Any:
    """One watch setting, with the same precedence as every other: CLI > SSS_* > pyproject."""
    try:
        table, path = config.load_pyproject_table(invocation.cwd)
    except EmulatorError:  # prepare() reports a broken pyproject.toml on every run
        table, path = {}, None
    return config.resolve(
        name, invocation.options.get(name, config.MISSING), os.environ, table,
        f"{path} [tool.sss-emulator]" if path else "", path.parent if path else invocation.cwd,
        invocation.cwd, default,
    ).value


@dataclass(frozen=True)
class WatchConfig:
    """The watch-mode knobs of one invocation (``--postpone``, ``--debounce-ms``, …)."""

    postpone: bool = False
    debounce_s: float = DEFAULT_DEBOUNCE_MS / 1000
    clear: bool = False
    poll: bool = False

    @classmethod
    def from_invocation(cls, invocation: RunInvocation) -> WatchConfig:
        """Read the options; ``poll`` and ``debounce_ms`` also from SSS_* and pyproject."""
        debounce_ms = _setting("debounce_ms", invocation, DEFAULT_DEBOUNCE_MS)
        if debounce_ms < 0:
            raise ConfigError(f"debounce {debounce_ms} ms must not be negative")
        return cls(
            postpone=bool(invocation.options.get("postpone")),
            debounce_s=debounce_ms / 1000,
            clear=bool(invocation.options.get("clear")),
            poll=bool(_setting("poll", invocation, False)),
        )
