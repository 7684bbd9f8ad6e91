"""The options of the commands that run scripts, declared once for ``run``, ``watch`` and ``serve``.

Each option only collects what was typed; :mod:`sss_emulator.config` decides what wins and
parses every value (an option's type only checks it early, with that same parser, so that click
can point at the option).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from sss_emulator.cli.execute import configure_logging
from sss_emulator.cli.usage import ScriptArgument
from sss_emulator.config import SETTINGS

__all__ = ("RUN_CONTEXT", "WATCH_OPTIONS", "SettingValue", "collect_options", "configure_logging",
           "run_options", "setting_options", "watch_options", "world_options")


if TYPE_CHECKING:  # generic only since click 8.2; the project supports 8.1
    _ParamType = click.ParamType[Any, Any]
else:
    _ParamType = click.ParamType


class SettingValue(_ParamType):
    """An option value checked by the settings engine's parser and passed on as typed.

    The value is not converted here: ``--timeout off`` must reach the engine as given (converted
    it would be ``None``, "not given"), where the same parser reads it again beside ``SSS_*``
    and ``[tool.sss-emulator]``. ``item=True`` for a repeatable option: each value is one entry
    of the setting's list (``--env 'A=x y'`` is one variable, not shell words).
    """

    def __init__(self, setting: str, *, item: bool = False) -> None:
        self.setting = setting
        self.item = item
        self.name = setting

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        try:
            SETTINGS[self.setting].parse([value] if self.item else value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        return value


def setting_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options shared by every command that runs scripts."""
    decorators = [
        click.option("--profile", type=click.Path(path_type=str),
                     help="A LinkAhead profile directory to read bin dirs, home and "
                          "authtoken.yaml from. [SSS_PROFILE]"),
        click.option("--bin-dir", "bin_dirs", multiple=True, type=click.Path(path_type=str),
                     help="A folder of scripts (repeatable; searched in order). [SSS_BIN_DIRS]"),
        click.option("--home", type=click.Path(path_type=str),
                     help="The HOME skeleton copied for every run (holds .pylinkahead.ini). "
                          "[SSS_HOME]"),
        click.option("--shared-root", type=click.Path(path_type=str),
                     help="Where SHARED_DIR folders are created and kept. [SSS_SHARED_ROOT]"),
        click.option("--work-root", type=click.Path(path_type=str),
                     help="Where per-run working directories are created. [SSS_WORK_ROOT]"),
        click.option("--timeout", type=SettingValue("timeout"), default=None, metavar="SECONDS",
                     help="Seconds before the script's process group is killed (0, none or off: "
                          "no limit). [SSS_TIMEOUT]"),
        click.option("--env", "env", multiple=True, metavar="KEY=VALUE",
                     type=SettingValue("env", item=True),
                     help="Add a variable to the script's environment (repeatable). [SSS_ENV]"),
        click.option("--users", type=click.Path(path_type=str),
                     help="YAML file of users, passwords, roles and role permissions. "
                          "[SSS_USERS]"),
        click.option("--authtoken-config", type=click.Path(path_type=str),
                     help="The server's AUTHTOKEN_CONFIG (purpose tokens). "
                          "[SSS_AUTHTOKEN_CONFIG]"),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def world_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Where the server is and what the script sees of its container (docs/mounts.md)."""
    decorators = [
        click.option("--server-address", type=SettingValue("server_address"), default=None,
                     metavar="URL|ini",
                     help="Also serve the stand-in where scripts expect the server, e.g. "
                          "https://127.0.0.1:10443 (TLS, self-signed; the run's ini trusts "
                          "it); ini: the home skeleton ini's [Connection] url. "
                          "[SSS_SERVER_ADDRESS]"),
        click.option("--mounts/--no-mounts", "mounts", default=None,
                     help="Run each script in a mount namespace (bubblewrap) with the "
                          "profile's extroot and the stand-in's files at the server's paths. "
                          "[SSS_MOUNTS]"),
        click.option("--extroot", type=click.Path(path_type=str), default=None,
                     help="Host folder the script sees at the extroot path (default: the "
                          "profile's compose mount). [SSS_EXTROOT]"),
        click.option("--extroot-path", type=SettingValue("extroot_path"), default=None,
                     metavar="PATH",
                     help="The extroot inside the server (default /opt/caosdb/mnt/extroot). "
                          "[SSS_EXTROOT_PATH]"),
        click.option("--caosroot-path", type=SettingValue("caosroot_path"), default=None,
                     metavar="PATH",
                     help="The file store inside the server (default /opt/caosdb/mnt/caosroot;"
                          " /linkahead/files for new images). [SSS_CAOSROOT_PATH]"),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def collect_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The options that were typed, as typed (``--no-stand-in`` is ``False``, and kept)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()
            if v is not None and v != ()}


#: Settings for ``run``/``watch`` that click accepts as extra arguments, not as options.
RUN_CONTEXT = {"ignore_unknown_options": True, "allow_interspersed_args": True}


def run_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """SCRIPT, its arguments and every option of ``run`` (shared with ``watch``)."""
    decorators: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        click.argument("script", type=ScriptArgument()),
        click.argument("script_args", nargs=-1, type=ScriptArgument()),
        setting_options,
        click.option("--format", "format", type=str, default=None, metavar="[text|json|xml]",
                     help="text (live output, summary on stderr), json (one document) or xml "
                          "(the server's response). [SSS_FORMAT]"),
        click.option("--keep", is_flag=True, default=None,
                     help="Keep the working directory and print where it is. [SSS_KEEP]"),
        click.option("--user", default=None,
                     help="Run as this user (default: admin). [SSS_USER]"),
        click.option("--role", "roles", multiple=True,
                     help="A role of the user (repeatable; default: the users file's or "
                          "administration). [SSS_ROLES]"),
        click.option("--anonymous", is_flag=True, default=None,
                     help="Call as the anonymous user (no token unless a purpose entry "
                          "matches). [SSS_ANONYMOUS]"),
        click.option("--auth-token", default=None,
                     help="Pass this token to the script instead of generating one. "
                          "[SSS_AUTH_TOKEN]"),
        click.option("--data", "data", multiple=True, type=click.Path(path_type=str),
                     help="Seed the LinkAhead stand-in with this file: server XML, a "
                          "caosadvancedtools model.yml or a YAML/JSON list of records "
                          "(repeatable). [SSS_DATA]"),
        click.option("--stand-in/--no-stand-in", "stand_in", default=None,
                     help="Point the script's .pylinkahead.ini at an embedded LinkAhead "
                          "stand-in (default on). [SSS_STAND_IN]"),
        click.option("--server-url", default=None,
                     help="Point the script at this real LinkAhead server instead; log in with "
                          "--username and SSS_PASSWORD (or a prompt). [SSS_SERVER_URL]"),
        click.option("--username", default=None,
                     help="The user to log in as on --server-url. [SSS_USERNAME]"),
        click.option("--cacert", type=click.Path(path_type=str), default=None,
                     help="CA certificate of --server-url. [SSS_CACERT]"),
        world_options,
        click.option("--attach", "attach", multiple=True, metavar="PATH",
                     help="Upload a file into .upload_files/ without passing it as an argument "
                          "(as the web UI sends the files a form.json names; repeatable)."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


#: Names of the watch-mode options, as they appear in ``RunInvocation.options``.
WATCH_OPTIONS = ("postpone", "debounce_ms", "clear", "ignore", "watch_paths", "poll")


def watch_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options of watch mode (``run --watch`` and ``watch``); see docs/watch.md."""
    decorators = [
        click.option("--postpone", is_flag=True, default=None,
                     help="Watch mode: wait for the first change instead of running at once."),
        click.option("--debounce-ms", type=SettingValue("debounce_ms"), default=None,
                     metavar="MS",
                     help="Watch mode: quiet time after a change before rerunning (default "
                          "200). [SSS_DEBOUNCE_MS]"),
        click.option("--clear", is_flag=True, default=None,
                     help="Watch mode: clear the screen before each run."),
        click.option("--ignore", "ignore", multiple=True, metavar="PATTERN",
                     help="Watch mode: ignore changes to paths matching this glob "
                          "(repeatable)."),
        click.option("--watch-path", "watch_paths", multiple=True, metavar="PATH",
                     help="Watch mode: also watch this file or folder (repeatable)."),
        click.option("--poll", is_flag=True, default=None,
                     help="Watch mode: poll for changes (file systems without inotify). "
                          "[SSS_POLL]"),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func
