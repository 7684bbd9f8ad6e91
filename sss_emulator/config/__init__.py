"""The one settings engine of every front end: the front end's own options > ``SSS_*`` >
``[tool.sss-emulator]`` > profile > default, each value parsed by one parser and returned with
its source (see ``docs/configuration.md``).

``values`` says what each setting is and how its value reads; ``layers`` where settings are
written and how one is picked; ``settings`` assembles a run's settings (profile, users and token
files); ``identity`` decides who a call runs as.
"""

from sss_emulator.config.identity import identity_for
from sss_emulator.config.layers import (
    MISSING,
    Layer,
    Resolved,
    check_layer,
    command_line_layer,
    environment_layer,
    find_pyproject,
    load_pyproject_table,
    parse_setting,
    pyproject_layer,
    resolve,
)
from sss_emulator.config.profile import Profile, load_authtoken_config, load_profile
from sss_emulator.config.settings import (
    Settings,
    parse_env_option,
    resolve_settings,
    resolve_values,
    setting_layers,
    with_layer,
)
from sss_emulator.config.users import UserEntry, UsersConfig, load_users
from sss_emulator.config.values import FORMATS, MODES, NO_LIMIT, SETTINGS, SettingSpec

__all__ = (
    "FORMATS",
    "MISSING",
    "MODES",
    "NO_LIMIT",
    "SETTINGS",
    "Layer",
    "Profile",
    "Resolved",
    "SettingSpec",
    "Settings",
    "UserEntry",
    "UsersConfig",
    "check_layer",
    "command_line_layer",
    "environment_layer",
    "find_pyproject",
    "identity_for",
    "load_authtoken_config",
    "load_profile",
    "load_pyproject_table",
    "load_users",
    "parse_env_option",
    "parse_setting",
    "pyproject_layer",
    "resolve",
    "resolve_settings",
    "resolve_values",
    "setting_layers",
    "with_layer",
)
