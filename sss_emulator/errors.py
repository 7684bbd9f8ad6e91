"""Errors the emulator reports, each knowing how the server and the CLI present it.

The tree::

    EmulatorError                    exit 125, HTTP 400
    ├── BadRequestForm               exit 125, HTTP 400   malformed form, -p gap, bad upload
    ├── ScriptNotFound               exit 125, HTTP 404   not in any bin dir, or escapes one
    ├── ScriptNotExecutable          exit 125, HTTP 400   found, but the executable bit is missing
    ├── NotAuthenticated             exit 125, HTTP 401   anonymous caller, anonymous access off
    ├── PermissionDenied             exit 125, HTTP 403   caller lacks SCRIPTING:EXECUTE:<call>
    ├── RequestTooLarge              exit 125, HTTP 413   body over the configured limit
    ├── UnsupportedMediaType         exit 125, HTTP 415   POST body neither urlencoded nor multipart
    ├── ConfigError                  exit 125, HTTP 500   a broken profile, YAML file or setting
    ├── SetupError                   exit 125, HTTP 500   workspace not prepared, script not started
    └── ScriptTimeout                exit 124, HTTP 500   the script did not finish in time

Adapters turn these into one line on stderr (CLI) or an ``<Error>`` document (server); the
message always names the offending value and, where there is one, the way out.

Every refusal exits :data:`EXIT_NOT_RUN` (125), as ``docker run`` and ``timeout`` report their
own failures, never 2: a script's own argument parser exits 2 (argparse, click), and a CI job
must tell "my script rejected its arguments" from "the emulator did not run it" by the status
alone. A bad command line (click's usage errors) exits 125 too.
"""

from __future__ import annotations

# Only the error classes: call files name them (``expect.error``); EXIT_NOT_RUN is imported
# by name.
__all__ = (
    "BadRequestForm",
    "ConfigError",
    "EmulatorError",
    "NotAuthenticated",
    "PermissionDenied",
    "RequestTooLarge",
    "ScriptNotExecutable",
    "ScriptNotFound",
    "ScriptTimeout",
    "SetupError",
    "UnsupportedMediaType",
)


#: The exit status of everything sss-emulate refuses (a call, a setting, a command line).
EXIT_NOT_RUN = 125


class EmulatorError(Exception):
    """Base of every error the emulator reports instead of running a script."""

    exit_code: int = EXIT_NOT_RUN
    http_status: int = 400

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class BadRequestForm(EmulatorError):
    """The request's fields cannot be turned into a call (the server's 400)."""


class ScriptNotFound(EmulatorError):
    """No bin dir holds the called script, or the call escapes its bin dir (404)."""

    http_status = 404


class ScriptNotExecutable(EmulatorError):
    """The script exists but may not be executed; the fix is ``chmod +x``."""


class NotAuthenticated(EmulatorError):
    """The caller is anonymous and anonymous access is off (401)."""

    http_status = 401


class PermissionDenied(EmulatorError):
    """The caller lacks ``SCRIPTING:EXECUTE:<call>`` (403)."""

    http_status = 403


class RequestTooLarge(EmulatorError):
    """The request body exceeds the configured limit (413)."""

    http_status = 413


class UnsupportedMediaType(EmulatorError):
    """The body is neither urlencoded nor multipart (415)."""

    http_status = 415


class ConfigError(EmulatorError):
    """A configuration file or setting is broken; the message names the file and the fix."""

    http_status = 500


class SetupError(EmulatorError):
    """The run could not be prepared or started (500); nothing of the script ran."""

    exit_code = 125
    http_status = 500


class ScriptTimeout(EmulatorError):
    """The script did not finish in time and was killed with its process group (500)."""

    exit_code = 124
    http_status = 500
