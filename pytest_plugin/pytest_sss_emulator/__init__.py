"""pytest plugin for LinkAhead server-side scripts (registered as ``sss_emulator``).

Installing sss-emulator registers it through the ``pytest11`` entry point; tests then use the
``sss`` fixture, the ``@pytest.mark.sss(...)`` marker and ``sss_*.yaml`` call files. See
``docs/testing.md``.
"""

from __future__ import annotations

from .inprocess import is_python_script, run_inprocess
from .parity import ParityError, compare_outcomes
from .pytest_emulator import PytestEmulator, RunLog
from .settings import DEFAULT_TIMEOUT_S, MODES, PluginConfigError

__all__ = (
    "DEFAULT_TIMEOUT_S",
    "MODES",
    "ParityError",
    "PluginConfigError",
    "PytestEmulator",
    "RunLog",
    "compare_outcomes",
    "is_python_script",
    "run_inprocess",
)
