"""A real server's password: where it is read from, and where it would travel in clear.

Every front end that logs in to a user's own LinkAhead server (``compare``, ``run
--server-url``) or forwards logins to it (``record``) uses this module, so that they refuse and
warn alike:

* A password file must be private, as ssh demands of a private key: a regular file that
  other users may read or write (``chmod`` bits in ``077``) is refused in one line, before it
  is read. A pipe or device (``--password-file <(pass show srv)``, ``/dev/stdin``) is taken as
  it is: nothing of it rests on disk for others to read.
* A plain ``http://`` URL sends the password (and then every session token) unencrypted:
  one warning line, unless the host is this machine (a loopback address or ``localhost``),
  where no network carries it.

No I/O beyond reading the file (and a prompt, for :func:`server_password`).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from urllib.parse import urlsplit

from sss_emulator.errors import ConfigError
from sss_emulator.wire import is_loopback

__all__ = ("PASSWORD_ENV", "cleartext_warning", "read_password_file", "server_password")

#: Where a password may come from besides a prompt and a password file.
PASSWORD_ENV = "SSS_PASSWORD"


def read_password_file(path: str | os.PathLike[str], option: str = "--password-file") -> str:
    """The password in ``path`` (one trailing line end dropped).

    :class:`ConfigError` (one line, naming the fix) when it cannot be read, or when it is a
    regular file other users may read or write.
    """
    shown = os.fspath(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ConfigError(f"Cannot read {option} {shown}: {exc.strerror or exc}.") from None
    if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077:
        mode = stat.S_IMODE(info.st_mode)
        raise ConfigError(f"{option} {shown} is open to other users (mode {mode:04o}), so the "
                          f"password is not private; refused: run chmod 600 {shown}.")
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"Cannot read {option} {shown}: {reason or exc}.") from None


def cleartext_warning(url: str, what: str = "the password and every session token") -> str | None:
    """One line when ``url`` is plain http to another machine: ``what`` crosses the network
    unencrypted. None for https and for this machine (loopback, ``localhost``)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or is_loopback(parts.hostname or ""):
        return None
    return (f"warning: {url} is plain http: {what} cross the network unencrypted; use "
            "https:// (with --cacert for a self-signed certificate).")


def server_password(username: str, url: str, *, password_file: str | None = None,
                    interactive: bool | None = None) -> str:
    """``password_file``, else ``SSS_PASSWORD``, else a prompt; never the command line.

    :class:`ConfigError` when none is available (no file, no variable, no terminal).
    """
    if password_file:
        return read_password_file(password_file)
    if os.environ.get(PASSWORD_ENV) is not None:
        return os.environ[PASSWORD_ENV]
    if interactive is None:
        interactive = sys.stdin.isatty()
    if not interactive:
        raise ConfigError(f"No password for {username} on {url}: use --password-file, set "
                          f"{PASSWORD_ENV}, or run in a terminal to be asked.")
    import getpass

    return getpass.getpass(f"Password of {username} on {url}: ", stream=sys.stderr)
