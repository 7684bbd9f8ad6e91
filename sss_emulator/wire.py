"""What travels between a LinkAhead server and its clients, written once for the whole emulator:
the ``SessionToken`` cookie, the context-root rule for paths, and the ``UserInfo`` element.

The scripting server, the stand-in and the core all speak these; keeping one copy keeps them
agreeing with each other (and with pylib, which parses ``^SessionToken=([^;]*);``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from sss_emulator import decisions

if TYPE_CHECKING:
    from lxml import etree

__all__ = (
    "COOKIE_NAME",
    "below_context_root",
    "context_root_prefix",
    "is_loopback",
    "normalize_context_root",
    "not_in_xml",
    "parse_id",
    "session_cookie_header",
    "session_token_from_set_cookie",
    "token_from_cookie_header",
    "user_info_element",
    "xml_safe",
)

#: The cookie LinkAhead uses for sessions.
COOKIE_NAME = "SessionToken"

_COOKIE = re.compile(r"(?:^|[;,]\s*)SessionToken=([^;]*)")
#: Escapes inside a quoted cookie value (``\054`` for a comma), as Python's cookie writers make.
_QUOTED_ESCAPE = re.compile(r"\\(?:([0-3][0-7]{2})|(.))")


def token_from_cookie_header(header: str | None) -> str | None:
    """The url-unquoted ``SessionToken`` of a ``Cookie`` header, or ``None``.

    Read by hand rather than with a cookie parser: pylib and the docs' curl examples send the
    token's JSON (quotes, commas, brackets) url-quoted or even raw, which strict parsers drop.
    """
    if not header:
        return None
    match = _COOKIE.search(header)
    if match is None:
        return None
    value = match.group(1).strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':  # an RFC 2109 quoted string
        value = _QUOTED_ESCAPE.sub(_unescape, value[1:-1])
    return unquote(value) or None


def not_in_xml(*texts: str) -> str | None:
    """The first character of ``texts`` that no XML document can carry, else ``None``.

    Every answer of the server is an XML document that tends to name what was asked for (a
    path, an id, a query); such a character must be refused up front (with a 4xx), not meet
    lxml's ``ValueError`` while the answer is written (a 500).
    """
    for text in texts:
        found = _illegal_xml().search(text)
        if found is not None:
            return found.group()
    return None


#: An id as the server reads one: ASCII digits with an optional minus sign, nothing else.
_ID = re.compile(r"-?[0-9]+", re.ASCII)


def parse_id(text: str) -> int | None:
    """The id ``text`` spells, or ``None`` when it is no id (then it is a name).

    Why not ``str.isdigit()`` and ``int()``: Python calls ``²`` and Arabic-Indic or fullwidth
    digits digits too; ``int("²")`` raises (a 500) and ``int("٣")`` is 3, so a name would be
    read as another entity's id. The server (Java, whose ``\\d`` is ASCII) reads ``-?[0-9]+``
    only, so every place request text becomes an id asks this one function.
    """
    return int(text) if _ID.fullmatch(text) else None


def _unescape(match: re.Match[str]) -> str:
    octal, char = match.groups()
    return chr(int(octal, 8)) if octal else char


def session_cookie_header(token: str | None, path: str = "/", *, secure: bool = False) -> str:
    """A ``Set-Cookie`` value pylib accepts: ``SessionToken=<url-quoted>;`` (the ``;`` matters).

    ``None`` clears the cookie (logout). ``secure`` (under TLS) keeps browsers from ever
    sending the cookie over plain http.
    """
    flags = "; Secure" if secure else ""
    if token is None:
        return f"{COOKIE_NAME}=; Path={path}; Max-Age=0; HttpOnly{flags}"
    return f"{COOKIE_NAME}={quote(token, safe='')}; Path={path}; HttpOnly; SameSite=Lax{flags}"


def session_token_from_set_cookie(headers: Iterable[str]) -> str | None:
    """The token a server's ``Set-Cookie`` headers hand out (a login answer), or ``None``."""
    import http.cookies  # only a login to a real server needs it

    for header in headers:
        cookie: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
        try:
            cookie.load(header)
        except http.cookies.CookieError:
            continue
        if COOKIE_NAME in cookie and cookie[COOKIE_NAME].value:
            return unquote(cookie[COOKIE_NAME].value)
    return None


def normalize_context_root(context_root: str | None) -> str:
    """``"/linkahead/"`` → ``"linkahead"``; no context root is ``""``."""
    return (context_root or "").strip("/")


def context_root_prefix(context_root: str | None) -> str:
    """The path prefix of a context root: ``"/linkahead"``, or ``""`` for none."""
    root = normalize_context_root(context_root)
    return f"/{root}" if root else ""


def below_context_root(path: str, context_root: str | None) -> str | None:
    """``path`` relative to the context root (``"/"`` at least), or ``None`` when outside it."""
    prefix = context_root_prefix(context_root)
    if not prefix:
        return path or "/"
    if path == prefix or path.startswith(prefix + "/"):
        return path[len(prefix):] or "/"
    return None


def user_info_element(name: str, realm: str, roles: Iterable[str]) -> etree._Element:
    """``<UserInfo username realm><Roles><Role>…``, which pylib's ``UserInfo`` reads."""
    from lxml import etree  # here, not above: the cookie and path rules need no XML

    info = etree.Element("UserInfo", username=name, realm=realm)
    roles_element = etree.SubElement(info, "Roles")
    for role in roles:
        etree.SubElement(roles_element, "Role").text = role
    return info


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only: ``localhost`` (and ``*.localhost``),
    127.0.0.0/8, ``::1`` or ``::ffff:127.x.y.z`` (brackets and a final dot allowed). Servers
    bound there check the ``Host`` of requests (:mod:`sss_emulator.httpd`), and ``serve`` warns
    when bound anywhere else."""
    import ipaddress

    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: browsers keep it local
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # [::ffff:127.0.0.1]
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


@functools.cache
def _illegal_xml() -> re.Pattern[str]:
    """Characters XML 1.0 cannot carry (the C0 controls but tab, LF and CR, lone surrogates,
    U+FFFE, U+FFFF); compiled on first use (about 7 ms: the class spans all of Unicode), so a
    run shown as text or JSON, and a stand-in no script reached, do not pay for it."""
    # XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
    return re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """Replace characters XML 1.0 cannot carry (NUL, ESC of colour codes, …): every XML answer
    (the scripting result, the stand-in's error texts naming what a request sent) passes them
    through this."""
    return _illegal_xml().sub(decisions.XML_REPLACEMENT_CHAR, text)
