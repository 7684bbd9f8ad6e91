"""Whether a request that changes something was sent by another site: written once for the
scripting server (``serve``, its page and the stand-in mounted in it), the stand-in and the
``record`` proxy.

Why it is needed: every local server shares the browser's cookies for ``127.0.0.1`` (cookies
ignore ports), and a page of any other program — another port on this machine, ``127.0.0.2``, a
site on the internet, a script's own HTML in the page's output frame — can make the browser send
a request to it: an ``<img>`` is a ``GET``, a form a ``POST``, a ``<meta http-equiv=refresh>`` a
navigation. A logout, a login, a run or a write such a page triggers acts as the user.

How a browser's request is told apart, strongest sign first:

1. ``Sec-Fetch-Site`` (every current browser sends it, and no page can set or change it): only
   ``same-origin`` (our own pages) and ``none`` (the user typed the address or chose a bookmark)
   may change anything. ``same-site`` is refused too: it is what another port of the same host
   (``127.0.0.1:8000``) is, which is another program.
2. ``Origin``: must be this server's own ``scheme://host:port`` (``null`` is refused).
3. ``Referer``: its ``scheme://host:port`` must be ours.

A request with none of the three is no browser's cross-site request: browsers send
``Sec-Fetch-Site`` to every address they trust (https, ``localhost``, 127.0.0.0/8, ``[::1]``),
and a page cannot remove it. pylib, curl and scripts send none and keep working unchanged.
What is not covered: a browser talking plain http to a server bound to another address
(``--host 0.0.0.0`` reached as ``http://192.168.1.5:…``) sends no ``Sec-Fetch-Site``, and an
``<img referrerpolicy=no-referrer>`` then carries neither ``Origin`` nor ``Referer``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ("STATE_CHANGING_METHODS", "foreign_site", "own_origin", "refusal")

#: Methods that change something; a request with them from another site is refused.
STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: ``Sec-Fetch-Site`` values that may change state: our own pages, and the user's own typing.
_TRUSTED_FETCH_SITES = frozenset({"same-origin", "none"})


def own_origin(environ: Mapping[str, Any]) -> str:
    """``scheme://host[:port]`` of this server as the request addressed it (its ``Host``)."""
    scheme = str(environ.get("wsgi.url_scheme") or "http")
    host = environ.get("HTTP_HOST")
    if not host:
        host = str(environ.get("SERVER_NAME", ""))
        port = str(environ.get("SERVER_PORT", ""))
        if port and port != {"http": "80", "https": "443"}.get(scheme):
            host = f"{host}:{port}"
    return f"{scheme}://{host}".lower()


def foreign_site(environ: Mapping[str, Any], *, changes_state: bool | None = None
                 ) -> str | None:
    """Where a state-changing request from another site came from (for the refusal), or
    ``None`` when it may go on: it changes nothing, comes from our own pages, or from a client
    that is no browser.

    ``changes_state`` defaults to the method (:data:`STATE_CHANGING_METHODS`); a caller passes
    ``True`` for a route that acts on any method (``logout``).
    """
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    if changes_state is None:
        changes_state = method in STATE_CHANGING_METHODS
    if not changes_state:
        return None
    own = own_origin(environ)
    origin = environ.get("HTTP_ORIGIN")
    referer = environ.get("HTTP_REFERER")
    fetch_site = environ.get("HTTP_SEC_FETCH_SITE")
    if fetch_site is not None:
        value = fetch_site.strip().lower()
        if value in _TRUSTED_FETCH_SITES:
            return None
        where = (origin or "").strip() or _origin_of(referer) or "another page"
        return f"{where} (Sec-Fetch-Site: {value or 'empty'})"
    if origin is not None:
        seen = origin.strip().lower()
        return None if seen == own else (origin.strip() or "null")
    if referer:
        seen = _origin_of(referer)
        return None if seen == own else seen
    return None


def refusal(method: str, foreign: str) -> str:
    """The one line a refused request gets: what was refused, and who may send it."""
    return (f"Refused a cross-site {method} from {foreign}: this server takes requests that "
            "change something only from its own pages and from clients that are no browser "
            "(pylib, curl), so that another site or program cannot act as you.")


def _origin_of(url: str | None) -> str:
    if not url:
        return ""
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme else url.strip().lower()
