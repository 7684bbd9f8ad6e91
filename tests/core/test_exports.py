"""The public API is what __all__ says, and every name in it exists."""

from __future__ import annotations

import sss_emulator


def test_all_is_sorted_and_importable() -> None:
    """Pinned, sorted public names; each resolves."""
    assert list(sss_emulator.__all__) == sorted(sss_emulator.__all__)
    for name in sss_emulator.__all__:
        assert getattr(sss_emulator, name) is not None


def test_public_names_are_exactly_these() -> None:
    """A change to the public surface must be deliberate."""
    assert set(sss_emulator.__all__) == {
        "BadRequestForm", "CallRequest", "ConfigError", "Emulator", "EmulatorError", "Identity",
        "NotAuthenticated", "PermissionDenied", "ProcessRunner", "Profile", "RequestTooLarge",
        "RunContext", "RunHook", "RunOutcome", "ScriptNotExecutable", "ScriptNotFound",
        "ScriptTimeout", "SetupError", "Settings", "TokenAuthority", "UnsupportedMediaType",
        "Upload", "load_profile", "request_from_form", "resolve_settings",
    }
