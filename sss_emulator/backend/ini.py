"""Point a user's ``.pylinkahead.ini`` at the stand-in (or a real server) without breaking it.

pylib validates the ini against a schema when it is imported (``schema-pycaosdb-ini.yml``): an
unknown section or key makes ``import linkahead`` fail. So this only sets keys the schema knows,
and removes the ones that would make pylib talk TLS or log in to our plain local services.
"""

from __future__ import annotations

import configparser
import io

__all__ = ["patch_pylinkahead_ini"]

_HEADER = "# Patched by sss-emulator: connection and mail settings point at local stand-ins.\n"

# Settings pylib would use to reach the real services; meaningless or harmful locally.
_CONNECTION_TLS_KEYS = ("cacert", "ssl_insecure", "ssl_version")
_EMAIL_REMOTE_KEYS = (
    "smtp_username",
    "smtp_password",
    "smtp_tls",
    "smtp_starttls",
    "smtp_tls_verify",
    "smtp_tls_check_hostname",
    "smtp_tls_cacert",
)


def patch_pylinkahead_ini(
    existing_text: str | None,
    url: str,
    *,
    cacert: str | None = None,
    sendmail: str | None = None,
    smtp: tuple[str, int] | None = None,
) -> str:
    """Return the ini text with the connection (and mail) settings replaced.

    Args:
        existing_text: the user's ini, or None when there is none.
        url: the server URL for ``[Connection] url``.
        cacert: for an https URL, the CA file to trust (``[Connection] cacert``).
        sendmail: the program for ``[Misc] sendmail`` (caosadvancedtools <= 0.16).
        smtp: ``(host, port)`` for ``[Email] smtp_server``/``smtp_port`` (pylib's ``send_email``).

    Raises:
        ValueError: the existing text is not an ini file (e.g. a duplicate key).

    Example::

        text = patch_pylinkahead_ini(None, "http://127.0.0.1:40123")
    """
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]  # keep the user's spelling
    if existing_text:
        try:
            parser.read_string(existing_text)
        except configparser.Error as err:
            raise ValueError(
                f"The existing .pylinkahead.ini does not parse (pylib would fail on it too): {err}"
            ) from err
    connection = _section(parser, "Connection")
    connection["url"] = url
    is_http = url.lower().startswith("http://")
    if is_http:
        for key in _CONNECTION_TLS_KEYS:
            connection.pop(key, None)
    elif cacert is not None:
        connection["cacert"] = cacert
        connection.pop("ssl_insecure", None)
    if sendmail is not None:
        _section(parser, "Misc")["sendmail"] = sendmail
    if smtp is not None:
        email = _section(parser, "Email")
        for key in _EMAIL_REMOTE_KEYS:
            email.pop(key, None)
        email["smtp_server"], email["smtp_port"] = smtp[0], str(smtp[1])
    out = io.StringIO()
    out.write(_HEADER)
    parser.write(out)
    return out.getvalue()


def _section(parser: configparser.ConfigParser, name: str) -> configparser.SectionProxy:
    if not parser.has_section(name):
        parser.add_section(name)
    return parser[name]
