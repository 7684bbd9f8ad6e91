"""Issue 20, point 7, on serve: a chunked body (no Content-Length) is refused once it passes
its limit, with 413 and the error document, and one under the limit works as any other.

The stand-in's own test (tests/backend/test_backend_refusals.py) measures its memory; here the
login, which answered a chunked body past its limit with "wrong user name or password" (werkzeug
stopped reading and parsed an empty form), and the stand-in mounted in serve.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest
from http_support import MIB, send_chunked_until_answered
from lxml import etree
from server_helpers import ADMIN_PW

from sss_emulator import decisions
from sss_emulator.httpd import ServerHandle, running_server
from sss_emulator.serve.app import ServerApp
from sss_emulator.serve.form import FormLimits

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def live(make_app_for: Callable[..., ServerApp]) -> Iterator[ServerHandle]:
    app = make_app_for(config={"limits": FormLimits(max_field=MIB)})
    with running_server(app) as handle:
        yield handle


def _description(body: bytes) -> str:
    errors = etree.fromstring(body).findall("Error")
    assert len(errors) == 1, body
    return str(errors[0].get("description"))


def test_a_chunked_login_past_the_limit_is_413(live: ServerHandle) -> None:
    attempt = send_chunked_until_answered(live.url, "/login", FORM,
                                          b"username=admin&password=" + b"x" * MIB, 64 * MIB)
    assert attempt.status == 413, attempt.body
    assert "larger than" in _description(attempt.body)
    assert attempt.sent <= MIB + 16 * MIB


def test_a_chunked_login_under_the_limit_logs_in(live: ServerHandle) -> None:
    body = f"username=admin&password={quote(ADMIN_PW)}".encode()
    attempt = send_chunked_until_answered(live.url, "/login", FORM, body, 1)
    assert attempt.status == 200, attempt.body
    assert etree.fromstring(attempt.body).find("UserInfo").get("username") == "admin"


def test_a_chunked_body_to_the_mounted_stand_in_is_413_at_its_limit(
        live: ServerHandle) -> None:
    login = send_chunked_until_answered(
        live.url, "/login", FORM, f"username=admin&password={quote(ADMIN_PW)}".encode(), 1)
    cookie = login.head_value("Set-Cookie").split(";", 1)[0]
    attempt = send_chunked_until_answered(
        live.url, "/Entity", {"Cookie": cookie, "Content-Type": "text/xml"},
        b"<Garbage>" + b"x" * (MIB - 9), 512 * MIB)
    assert attempt.status == 413, attempt.body
    limit = decisions.MAX_STANDIN_XML_BYTES
    assert limit < attempt.sent <= limit + 16 * MIB


def test_an_anonymous_chunked_body_to_the_administration_api_is_refused_unread(
        make_app_for: Callable[..., ServerApp]) -> None:
    """``serve --anonymous``: an anonymous caller's endless body to the stand-in's ``/Role`` is
    answered 403 while it is still arriving (it was read to its end first: serve grew by
    ~180 MB for 150 MiB), so only what the socket buffers held went out."""
    with running_server(make_app_for(anonymous=True)) as handle:
        chunk = b"role_name=x&role_description=" + b"x" * MIB
        attempt = send_chunked_until_answered(handle.url, "/Role", FORM, chunk, 48 * MIB)
    assert attempt.status == 403, attempt.body
    assert _description(attempt.body) == "You are not permitted to insert a role."
    assert attempt.sent <= 16 * MIB, attempt.sent / MIB
