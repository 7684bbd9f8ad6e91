"""Issue 20, point 4: another site cannot change anything on the server, on a real socket.

The attacker is a page of another program: another port of 127.0.0.1 (``Sec-Fetch-Site:
same-site``) or 127.0.0.2 / the internet (``cross-site``). Its ``<img src=…/logout
referrerpolicy=no-referrer>`` or its navigation carries neither ``Origin`` nor ``Referer``, but
the browser always adds ``Sec-Fetch-Site``. The headers below are what Chromium sends for those
requests (tests/webpage/test_webpage_browser.py drives a real Chromium through the same
attacks). pylib and curl send none of them and must work unchanged.
"""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import linkahead
import pytest
from linkahead.utils.server_side_scripting import run_server_side_script
from lxml import etree
from server_helpers import ADMIN_PW

from sss_emulator.httpd import ServerHandle, running_server
from sss_emulator.serve.app import ServerApp


@pytest.fixture
def live(app: ServerApp) -> Iterator[ServerHandle]:
    with running_server(app) as handle:
        yield handle


def _send(url: str, method: str = "GET", data: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _session(live: ServerHandle) -> str:
    """A browser's cookie header after logging in on the server's own page."""
    request = urllib.request.Request(f"{live.url}/login", data=(
        f"username=admin&password={ADMIN_PW}").encode(), headers={"Sec-Fetch-Site":
                                                                  "same-origin"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(response.headers["Set-Cookie"]).split(";", 1)[0]


def _error_description(body: bytes) -> str:
    errors = etree.fromstring(body).findall("Error")
    assert len(errors) == 1, body
    return str(errors[0].get("description"))


@pytest.mark.parametrize("fetch_site", ["same-site", "cross-site"])
def test_another_sites_logout_run_login_and_write_are_refused(
        live: ServerHandle, app: ServerApp, fetch_site: str) -> None:
    """The <img> logout (GET, no Origin, no Referer), a form's run and login, a fetch's PUT to
    the stand-in: each is a 403 with the server's error document; the session survives."""
    cookie = _session(live)
    image = {"Cookie": cookie, "Sec-Fetch-Site": fetch_site, "Sec-Fetch-Mode": "no-cors",
             "Sec-Fetch-Dest": "image"}
    status, body = _send(f"{live.url}/logout", headers=image)
    assert status == 403, body
    assert "cross-site GET" in _error_description(body)
    form = {"Cookie": cookie, "Sec-Fetch-Site": fetch_site, "Sec-Fetch-Mode": "navigate",
            "Content-Type": "application/x-www-form-urlencoded"}
    status, body = _send(f"{live.url}/scripting", "POST", b"call=minimal.bash", form)
    assert status == 403 and "Sec-Fetch-Site" in _error_description(body)
    status, _ = _send(f"{live.url}/login", "POST",
                      f"username=admin&password={ADMIN_PW}".encode(), form)
    assert status == 403
    status, _ = _send(f"{live.url}/Entity", "PUT", b"<Request/>",
                      {"Cookie": cookie, "Sec-Fetch-Site": fetch_site})
    assert status == 403
    assert _send(f"{live.url}/Info", headers={"Cookie": cookie})[0] == 200  # still logged in
    assert app.history.recent() == []


def test_own_pages_typed_addresses_pylib_and_curl_keep_working(
        live: ServerHandle, tmp_path: Path) -> None:
    """same-origin (the page) and none (a typed address) pass; pylib's GET logout and curl,
    which send no Sec-Fetch-Site, Origin or Referer, work as before."""
    cookie = _session(live)
    status, _ = _send(f"{live.url}/scripting", "POST", b"call=minimal.bash",
                      {"Cookie": cookie, "Sec-Fetch-Site": "same-origin",
                       "Origin": live.url, "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200
    assert _send(f"{live.url}/logout", headers={"Cookie": cookie, "Sec-Fetch-Site": "none"}
                 )[0] == 200
    assert _send(f"{live.url}/Info", headers={"Cookie": cookie})[0] == 401  # logged out

    linkahead.configure_connection(url=live.url, username="admin", password=ADMIN_PW,
                                   password_method="plain", timeout=30)
    assert run_server_side_script("minimal.bash", "x").code == 0
    connection = linkahead.get_connection()
    token = connection._authenticator.auth_token
    assert _send(f"{live.url}/Info", headers={"Cookie": f"SessionToken={token}"})[0] == 200
    connection._logout()  # GET /logout, no browser headers
    assert _send(f"{live.url}/Info", headers={"Cookie": f"SessionToken={token}"})[0] == 401

    jar = tmp_path / "jar"
    subprocess.run(["curl", "-s", "-c", str(jar), "-d", "username=admin", "-d",
                    f"password={ADMIN_PW}", f"{live.url}/login"], check=True,
                   capture_output=True)
    out = subprocess.run(["curl", "-s", "-b", str(jar), "-F", "call=minimal.bash",
                          f"{live.url}/scripting"], check=True, capture_output=True).stdout
    assert etree.fromstring(out).find("script") is not None, out
