"""Run LinkAhead server-side scripts locally, exactly as the server would.

>>> from sss_emulator import Emulator                              # doctest: +SKIP
>>> em = Emulator(bin_dirs=["sample_scripts"], timeout=30)         # doctest: +SKIP
>>> em.run_server_side_script("minimal.bash", "pos0").code         # doctest: +SKIP
0
"""

from __future__ import annotations

from .call import CallRequest, Upload, request_from_form
from .config import Profile, Settings, load_profile, resolve_settings
from .emulator import Emulator, RunContext, RunHook
from .errors import (
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
from .outcome import RunOutcome
from .tokens import Identity, TokenAuthority

__all__ = (
    "BadRequestForm",
    "CallRequest",
    "ConfigError",
    "Emulator",
    "EmulatorError",
    "Identity",
    "NotAuthenticated",
    "PermissionDenied",
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
