"""The knobs of watch mode, resolved like every other setting: CLI > SSS_* > pyproject.

``--postpone`` and ``--clear`` are command-line only; ``--debounce-ms`` and ``--poll`` have the
twins ``SSS_DEBOUNCE_MS``/``debounce-ms`` and ``SSS_POLL``/``poll`` (see :data:`config.SETTINGS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sss_emulator.config import Resolved, resolve_values
from sss_emulator.invocation import RunInvocation

__all__ = ("DEFAULT_DEBOUNCE_MS", "WatchConfig")

#: Quiet time before a rerun. An editor's save is a burst of events a few milliseconds long;
#: the loop also waits while a changed file is still open for writing or not yet back (vim's
#: backup rename), so a short quiet time still gives one run per save (watchexec: 50 ms).
DEFAULT_DEBOUNCE_MS = 50
_DEFAULTS: dict[str, Any] = {"debounce_ms": DEFAULT_DEBOUNCE_MS, "poll": False}


def _watch_settings(invocation: RunInvocation) -> dict[str, Resolved]:
    """``poll`` and ``debounce_ms`` from the one engine.

    A broken ``pyproject.toml`` does not stop watch mode from starting: every run reports it
    (prepare() reads it anew), and the save that fixes it is picked up. A bad option or
    variable is still an error.
    """
    return resolve_values(tuple(_DEFAULTS), invocation.options, cwd=invocation.cwd,
                          defaults=_DEFAULTS, skip_broken_pyproject=True)


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
        resolved = _watch_settings(invocation)
        return cls(
            postpone=bool(invocation.options.get("postpone")),
            debounce_s=resolved["debounce_ms"].value / 1000,
            clear=bool(invocation.options.get("clear")),
            poll=bool(resolved["poll"].value),
        )
