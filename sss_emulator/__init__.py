"""Run LinkAhead server-side scripts locally, exactly as the server would.

>>> from sss_emulator import Emulator                              # doctest: +SKIP
>>> em = Emulator(bin_dirs=["sample_scripts"], timeout=30)         # doctest: +SKIP
>>> em.run_server_side_script("minimal.bash", "pos0").code         # doctest: +SKIP
0

The public names are loaded on first use, so ``import sss_emulator`` (and a command that only
runs a bash script) pays for nothing it does not use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sss_emulator.config import Profile, Settings, load_profile, resolve_settings
    from sss_emulator.core.call import CallRequest, Upload, request_from_form
    from sss_emulator.core.hooks import ProcessRunner, RunContext, RunHook
    from sss_emulator.core.outcome import RunOutcome
    from sss_emulator.core.tokens import Identity, TokenAuthority
    from sss_emulator.errors import (
        BadRequestForm,
        ConfigError,
        EmulatorError,
        NotAuthenticated,
        PermissionDenied,
        RequestTooLarge,
        ScriptNotExecutable,
        ScriptNotFound,
        ScriptTimeout,
        SetupError,
        UnsupportedMediaType,
    )
    from sss_emulator.invocation import Emulator

__all__ = (
    "BadRequestForm",
    "CallRequest",
    "ConfigError",
    "Emulator",
    "EmulatorError",
    "Identity",
    "NotAuthenticated",
    "PermissionDenied",
    "ProcessRunner",
    "Profile",
    "RequestTooLarge",
    "RunContext",
    "RunHook",
    "RunOutcome",
    "ScriptNotExecutable",
    "ScriptNotFound",
    "ScriptTimeout",
    "Settings",
    "SetupError",
    "TokenAuthority",
    "UnsupportedMediaType",
    "Upload",
    "load_profile",
    "request_from_form",
    "resolve_settings",
)

#: Where each public name lives.
_HOMES = {
    "CallRequest": "sss_emulator.core.call",
    "Upload": "sss_emulator.core.call",
    "request_from_form": "sss_emulator.core.call",
    "Profile": "sss_emulator.config",
    "Settings": "sss_emulator.config",
    "load_profile": "sss_emulator.config",
    "resolve_settings": "sss_emulator.config",
    "Emulator": "sss_emulator.invocation",
    "ProcessRunner": "sss_emulator.core.hooks",
    "RunContext": "sss_emulator.core.hooks",
    "RunHook": "sss_emulator.core.hooks",
    "RunOutcome": "sss_emulator.core.outcome",
    "Identity": "sss_emulator.core.tokens",
    "TokenAuthority": "sss_emulator.core.tokens",
    **{name: "sss_emulator.errors" for name in (
        "BadRequestForm", "ConfigError", "EmulatorError", "NotAuthenticated", "PermissionDenied",
        "RequestTooLarge", "ScriptNotExecutable", "ScriptNotFound", "ScriptTimeout",
        "SetupError", "UnsupportedMediaType")},
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'sss_emulator' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted((*globals(), *__all__))
