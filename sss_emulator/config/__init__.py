"""The one settings engine of every front end: CLI > ``SSS_*`` > ``[tool.sss-emulator]`` >
profile > default, each value returned with its source (see ``docs/configuration.md``)."""

from sss_emulator.config.profile import Profile, load_authtoken_config, load_profile
from sss_emulator.config.settings import (
    MISSING,
    SETTINGS,
    Resolved,
    Settings,
    find_pyproject,
    load_pyproject_table,
    parse_env_option,
    resolve,
    resolve_settings,
)
from sss_emulator.config.users import UserEntry, UsersConfig, load_users

__all__ = (
    "MISSING",
    "SETTINGS",
    "Profile",
    "Resolved",
    "Settings",
    "UserEntry",
    "UsersConfig",
    "find_pyproject",
    "load_authtoken_config",
    "load_profile",
    "load_pyproject_table",
    "load_users",
    "parse_env_option",
    "resolve",
    "resolve_settings",
)
