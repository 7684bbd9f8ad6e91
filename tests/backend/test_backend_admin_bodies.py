"""Issue 20, point 7, for the administration API (``User``, ``Role``, ``UserRoles``,
``PermissionRules``) on a real socket.

Its bodies were read whole into memory before the permission check: an anonymous caller's
chunked 150 MiB body to ``/Role`` was read to its end (serve grew by ~180 MB) and only then
answered 403; an administrator's XML body over the 64 MiB limit was cut at the limit without a
word and answered 400 (the cut XML did not parse) instead of 413. Now a caller who may not do
what they ask is refused before the body is read, and a body past the limit is refused with
413 as soon as it passes it, as the entity writes are.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from backend_helpers import ADMIN_TOKEN, BACKEND_TOKEN, BOB_TOKEN, backend_authenticate
from http_support import MIB, send_chunked_until_answered
from lxml import etree

from sss_emulator import decisions
from sss_emulator.backend import BackendServer, EntityStore, make_backend_app

FORM = "application/x-www-form-urlencoded"
XML = "text/xml"
#: What the socket buffers between the client and the stand-in may hold besides what the
#: stand-in read (the chunked-body tests of the entity writes allow the same).
_BUFFERS = 16 * MIB


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    """One stand-in for the module, anonymous callers allowed (the server's AUTH_OPTIONAL)."""
    app = make_backend_app(EntityStore(), authenticate=backend_authenticate, anonymous=True)
    with BackendServer(app) as server:
        yield server.url


def _headers(token: str | None, content_type: str) -> dict[str, str]:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Cookie"] = f"SessionToken={quote(token, safe='')}"
    return headers


def _description(body: bytes) -> str:
    errors = etree.fromstring(body).findall("Error")
    assert len(errors) == 1, body
    return str(errors[0].get("description"))


@pytest.mark.parametrize(("token", "method", "path", "content_type"), [
    (None, "POST", "/Role", FORM),                                  # anonymous
    (None, "POST", "/User", FORM),
    (BOB_TOKEN, "PUT", "/Role/administration", FORM),               # a guest
    (BOB_TOKEN, "PUT", "/PermissionRules/administration", XML),
    (BOB_TOKEN, "PUT", "/UserRoles/PAM/admin", XML),
    (BACKEND_TOKEN, "PUT", "/User/PAM/admin", FORM),                # a data manager
], ids=["anonymous-role", "anonymous-user", "guest-role", "guest-rules", "guest-user-roles",
        "data-manager-user"])
def test_a_caller_without_the_permission_is_refused_before_the_body_is_read(
        url: str, token: str | None, method: str, path: str, content_type: str) -> None:
    """403 while the body is still arriving: the stand-in read none of it (what went out
    before the answer is what the socket buffers held), however much more would come."""
    chunk = (b"role_name=x&role_description=" if content_type == FORM else b"<Garbage>")
    chunk += b"x" * (MIB - len(chunk))
    attempt = send_chunked_until_answered(url, path, _headers(token, content_type),
                                          chunk, 48 * MIB, method)
    assert attempt.status == 403, attempt.body
    assert _description(attempt.body)
    assert attempt.sent <= _BUFFERS, f"{attempt.sent / MIB:.0f} MiB read before the 403"


@pytest.mark.parametrize(("method", "path", "content_type", "chunk"), [
    ("PUT", "/PermissionRules/administration", XML, b"<PermissionRules>" + b" " * MIB),
    ("POST", "/Role", FORM, b"role_name=huge&role_description=" + b"x" * MIB),
], ids=["xml", "form"])
def test_an_administrators_body_past_the_limit_is_413_once_past_it(
        url: str, method: str, path: str, content_type: str, chunk: bytes) -> None:
    """Not cut at the limit and parsed (a 400 for broken XML), not read to its end: 413 once
    a little more than the limit went out, and nothing changed."""
    attempt = send_chunked_until_answered(url, path, _headers(ADMIN_TOKEN, content_type),
                                          chunk, 256 * MIB, method)
    assert attempt.status == 413, attempt.body
    assert "larger than the stand-in accepts" in _description(attempt.body)
    limit = decisions.MAX_STANDIN_XML_BYTES
    assert limit < attempt.sent <= limit + _BUFFERS, attempt.sent / MIB


@pytest.mark.parametrize(("token", "status"), [(ADMIN_TOKEN, 413), (BOB_TOKEN, 403)],
                         ids=["administrator", "guest"])
def test_a_declared_length_past_the_limit_is_refused_unread(url: str, token: str,
                                                             status: int) -> None:
    """A ``Content-Length`` over the XML limit (but under the 256 MiB of all bodies): 413 for
    the administrator, 403 for a guest, both before the body is read (it was read up to the
    limit, cut there and answered 400 for the broken XML)."""
    limit = decisions.MAX_STANDIN_XML_BYTES
    attempt = send_chunked_until_answered(
        url, "/PermissionRules/administration", _headers(token, XML),
        b"<PermissionRules>" + b" " * (MIB - 17), limit + 8 * MIB, "PUT", declared=True)
    assert attempt.status == status, attempt.body
    assert attempt.sent <= _BUFFERS, attempt.sent / MIB


def test_an_administrators_chunked_body_under_the_limit_works(url: str) -> None:
    """The bounded path reads a chunked form or XML body as any other."""
    admin_form = _headers(ADMIN_TOKEN, FORM)
    made = send_chunked_until_answered(url, "/Role", admin_form,
                                       b"role_name=chunky&role_description=made+in+chunks", 1)
    assert made.status == 200, made.body
    assert etree.fromstring(made.body).find("Role").get("description") == "made in chunks"
    rules = b'<PermissionRules><Grant permission="TRANSACTION:*"/></PermissionRules>'
    put = send_chunked_until_answered(url, "/PermissionRules/chunky", _headers(ADMIN_TOKEN, XML),
                                      rules, 1, "PUT")
    assert put.status == 200, put.body
    assert [g.get("permission") for g in etree.fromstring(put.body).iter("Grant")] == \
        ["TRANSACTION:*"]

