"""Issue 20, point 6: odd bytes get a 4xx with the server's error document, on a real socket.

A NUL in ``/Entity/<id>`` or ``/User/<realm>/<name>`` met lxml's ValueError while the answer
was written (werkzeug's HTML 500 page), a NUL in a script argument met ``Popen``'s (a 500), and
a shared file named ``a\\r\\nSet-Cookie: …`` met werkzeug's header check (a 500; without that
check, a header of the script's choosing).
"""

from __future__ import annotations

import http.client
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from lxml import etree
from server_helpers import ADMIN_PW

from sss_emulator.httpd import ServerHandle, running_server
from sss_emulator.serve.app import ServerApp


@pytest.fixture
def live(app: ServerApp) -> Iterator[ServerHandle]:
    with running_server(app) as handle:
        yield handle


@dataclass
class _Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def _request(live: ServerHandle, method: str, target: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> _Answer:
    """A raw request: http.client sends the target as given (urllib would quote it)."""
    connection = http.client.HTTPConnection(urlsplit(live.url).netloc, timeout=30)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return _Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def _cookie(live: ServerHandle) -> dict[str, str]:
    response = _request(live, "POST", "/login", f"username=admin&password={ADMIN_PW}".encode(),
                        {"Content-Type": "application/x-www-form-urlencoded"})
    return {"Cookie": str(response.headers["Set-Cookie"]).split(";", 1)[0]}


def _refused(response: _Answer) -> str:
    """The description of the one <Error> of a 4xx XML error document."""
    assert 400 <= response.status < 500, response.body
    assert response.headers["Content-Type"] == "text/xml; charset=UTF-8"
    errors = etree.fromstring(response.body).findall("Error")
    assert len(errors) == 1
    return str(errors[0].get("description"))


@pytest.mark.parametrize("target", ["/Entity/%00", "/Entity/1%00", "/Entity/1&%00x",
                                    "/User/PAM/a%00b", "/User/%00", "/UserRoles/PAM/%01",
                                    "/FileSystem/a%00b", "/Entity/?query=FIND%00",
                                    "/Entity/?query=FIND%20x&P=0L1%1F", "/%00", "/Info%00"])
def test_a_nul_in_a_stand_in_path_or_query_is_a_400_document(live: ServerHandle,
                                                              target: str) -> None:
    assert "U+00" in _refused(_request(live, "GET", target, headers=_cookie(live)))


@pytest.mark.parametrize("body", [
    b"call=echo.sh&-p0=a%00b",
    b"call=echo.sh&-Oopt=a%00b",
    b"call=echo.sh&-O%00=x",
    b"call=echo.sh&-p0=ok&-p1=%00",
])
def test_a_nul_in_a_script_argument_is_a_400_document(live: ServerHandle, app: ServerApp,
                                                       bin_dir: Path, body: bytes) -> None:
    script = bin_dir / "echo.sh"
    script.write_text('#!/bin/sh\necho "$@"\n')
    script.chmod(0o755)
    headers = {**_cookie(live), "Content-Type": "application/x-www-form-urlencoded"}
    assert "NUL byte" in _refused(_request(live, "POST", "/scripting", body, headers))
    assert app.history.recent() == []  # nothing ran


def test_a_shared_file_named_with_cr_lf_is_a_400_and_injects_no_header(
        live: ServerHandle, bin_dir: Path) -> None:
    script = bin_dir / "crlf.sh"
    script.write_text('#!/bin/sh\nprintf x > "$SHARED_DIR/a\r\nSet-Cookie: pwned=1"\n'
                      'basename "$SHARED_DIR"\n')
    script.chmod(0o755)
    cookie = _cookie(live)
    answer = _request(live, "POST", "/scripting", b"call=crlf.sh",
                      {**cookie, "Content-Type": "application/x-www-form-urlencoded"})
    folder = etree.fromstring(answer.body).findtext("script/stdout", "").strip()
    assert folder
    name = quote("a\r\nSet-Cookie: pwned=1")
    response = _request(live, "GET", f"/Shared/{folder}/{name}", headers=cookie)
    assert "control character" in _refused(response)
    assert "pwned" not in str(response.headers)


def test_a_nul_in_a_replayed_call_file_is_one_line(tmp_path: Path, bin_dir: Path) -> None:
    """The CLI: a call file's argument with a NUL (YAML "\\0") is refused before the script
    starts, with one line and no traceback."""
    script = bin_dir / "echo.sh"
    script.write_text('#!/bin/sh\necho "$@" > ran.txt\n')
    script.chmod(0o755)
    call_file = tmp_path / "sss_nul.yaml"
    call_file.write_text('call: echo.sh\npositionals:\n- "a\\0b"\n')
    result = subprocess.run([sys.executable, "-m", "sss_emulator", "replay", "--bin-dir",
                             str(bin_dir), str(call_file)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "holdsaNULbyte" in "".join(output.split()).replace("↪", ""), output  # wrapped
    assert not list(tmp_path.rglob("ran.txt"))
