"""DNS rebinding: a server on loopback answers only requests addressed to this machine.

A page on ``evil.example`` that rebinds its name to 127.0.0.1 reaches a local server as its own
origin (the ``Origin`` check passes); what gives it away is ``Host: evil.example``. These tests
drive the check with werkzeug's test client, over real sockets (``serve``'s app, the stand-in
of a run, the ``serve`` command) and through the settings engine (``--allowed-host``).
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from server_helpers import ADMIN_PW
from werkzeug.test import Client

from sss_emulator import decisions
from sss_emulator.errors import ConfigError
from sss_emulator.httpd import HostCheck, _guarded, bind, host_allowed, running_server
from sss_emulator.serve.app import ServerApp


def _raw_get(port: int, path: str, host: str | None, *,
             body: bytes | None = None) -> tuple[int, bytes]:
    """A request over a real socket with exactly this ``Host`` header (None: none at all)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest("POST" if body is not None else "GET", path, skip_host=True)
        if host is not None:
            connection.putheader("Host", host)
        if body is not None:
            connection.putheader("Content-Type", "application/x-www-form-urlencoded")
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("header", "allowed", "ok"),
    [
        ("localhost", (), True),
        ("localhost:10443", (), True),
        ("LocalHost.:1", (), True),
        ("127.0.0.1:10443", (), True),
        ("127.8.9.10", (), True),
        ("[::1]:10443", (), True),
        ("[::ffff:127.0.0.1]:10443", (), True),  # IPv4-mapped loopback
        ("app.localhost:10443", (), True),  # RFC 6761: browsers resolve it to this machine
        ("[::ffff:10.0.0.1]", (), False),
        ("localhost.example", (), False),
        (None, (), True),  # HTTP/1.0 without Host: no browser
        ("evil.example", (), False),
        ("evil.example:10443", (), False),
        ("127.0.0.1.evil.example", (), False),
        ("localhost.evil.example", (), False),
        ("0.0.0.0:10443", (), False),
        ("myhost:10443", ("myhost",), True),
        ("MyHost", ("myhost",), True),
        ("[fe80::1]:10443", ("[fe80::1]",), True),
        ("other:10443", ("myhost",), False),
        ("anything.example", ("*",), True),
    ],
)
def test_which_hosts_are_allowed(header: str | None, allowed: tuple[str, ...],
                                 ok: bool) -> None:
    assert host_allowed(header, allowed) is ok


def test_the_check_with_werkzeugs_test_client(app: ServerApp) -> None:
    """The serve app behind the check: a rebound name gets 421 and one line saying how to
    allow it; localhost and 127.0.0.1 reach the app (401 at login with a wrong password)."""
    client = Client(HostCheck(app))
    refused = client.post("/login", data={"username": "admin", "password": ADMIN_PW},
                          headers={"Host": "evil.example:10443",
                                   "Origin": "http://evil.example:10443"})
    assert refused.status_code == decisions.FOREIGN_HOST_STATUS == 421
    assert refused.content_type.startswith("text/plain")
    line = refused.get_data(as_text=True)
    assert line.count("\n") == 1
    assert "Refused a request for host 'evil.example'" in line
    assert "--allowed-host evil.example" in line
    assert "SessionToken" not in refused.headers.get("Set-Cookie", "")
    for host in ("localhost:10443", "127.0.0.1:10443", "[::1]:10443"):
        answer = client.post("/login", data={"username": "admin", "password": ADMIN_PW},
                             headers={"Host": host})
        assert answer.status_code == 200, host
        assert "SessionToken=" in answer.headers["Set-Cookie"]


def test_a_real_socket_request_for_a_rebound_name_is_refused(
    make_app_for: Callable[..., ServerApp],
) -> None:
    """Even with --anonymous on, a request over the socket with ``Host: evil.example`` runs
    nothing; the same request for 127.0.0.1 runs the script."""
    app = make_app_for(anonymous=True)
    form = b"call=minimal.bash&-p0=x"
    with running_server(app, port=0) as handle:
        status, body = _raw_get(handle.port, "/scripting", f"evil.example:{handle.port}",
                                body=form)
        assert status == 421
        assert b"--allowed-host evil.example" in body
        assert len(app.history) == 0
        status, body = _raw_get(handle.port, "/scripting", f"127.0.0.1:{handle.port}", body=form)
        assert status == 200 and b'<script code="0">' in body
        assert _raw_get(handle.port, "/Info", f"localhost:{handle.port}")[0] != 421


def test_allowed_hosts_and_the_host_asked_for_are_answered(app: ServerApp) -> None:
    with running_server(app, "localhost", 0, allowed_hosts=("myhost",)) as handle:
        for host in ("myhost", f"myhost:{handle.port}", f"localhost:{handle.port}"):
            assert _raw_get(handle.port, "/Info", host)[0] != 421, host
        assert _raw_get(handle.port, "/Info", "evil.example")[0] == 421


def test_the_stand_in_of_a_run_checks_the_host_too(tmp_path: Path) -> None:
    """The stand-in a script calls back is also on 127.0.0.1: a rebound name gets 421
    before any token is looked at, the script's own address reaches it."""
    from sss_emulator.backend import StandIn

    with StandIn(authenticate=lambda token: None, state_dir=tmp_path) as stand_in:
        port = int(stand_in.url.rsplit(":", 1)[1].split("/", 1)[0])
        assert _raw_get(port, "/Info", f"evil.example:{port}")[0] == 421
        assert _raw_get(port, "/Info", f"127.0.0.1:{port}")[0] == 401


def test_only_loopback_binds_are_checked() -> None:
    """On another address every name of the machine is legitimate (serve warns instead)."""

    class Bound:
        def __init__(self, address: str) -> None:
            self.address = address

        def getsockname(self) -> tuple[str, int]:
            return self.address, 1

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return []

    assert _guarded(app, Bound("192.0.2.7"), ()) is app  # type: ignore[arg-type]
    assert _guarded(app, Bound("::"), ()) is app  # type: ignore[arg-type]
    assert _guarded(app, Bound("127.0.0.1"), ("*",)) is app  # type: ignore[arg-type]
    sock = bind("127.0.0.1", 0)
    try:
        assert isinstance(_guarded(app, sock, ()), HostCheck)
    finally:
        sock.close()


def test_allowed_hosts_come_from_the_one_settings_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sss_emulator.serve.build import serve_settings

    (tmp_path / "pyproject.toml").write_text('[tool.sss-emulator]\nallowed-hosts = ["toml"]\n')
    assert serve_settings({}, cwd=tmp_path).values["allowed_hosts"] == ("toml",)
    monkeypatch.setenv("SSS_ALLOWED_HOSTS", "A.example b.example")
    assert serve_settings({}, cwd=tmp_path).values["allowed_hosts"] == \
        ("a.example", "b.example")
    given = serve_settings({"allowed_hosts": ("cli.example",)}, cwd=tmp_path)
    assert given.values["allowed_hosts"] == ("cli.example",)
    monkeypatch.setenv("SSS_ALLOWED_HOSTS", "http://x.example")
    with pytest.raises(ConfigError, match=re.escape(
            "SSS_ALLOWED_HOSTS: allowed host 'http://x.example' must be a host name")):
        serve_settings({}, cwd=tmp_path)


def test_serve_with_allowed_host(samples: Path, tmp_path: Path) -> None:
    """``sss-emulate serve --allowed-host myhost``: myhost and 127.0.0.1 are answered, a
    rebound name is not; a bad value is a usage error."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SSS_")},
           "SSS_ADMIN_PASSWORD": "s3cret"}
    serve = [sys.executable, "-m", "sss_emulator", "serve", "--bin-dir", str(samples),
             "--work-root", str(tmp_path / "work"), "--shared-root", str(tmp_path / "shared")]
    bad = subprocess.run([*serve, "--allowed-host", "myhost:80"], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=60)
    assert bad.returncode == 125
    assert "Invalid value for '--allowed-host': allowed host 'myhost:80'" in bad.stderr
    proc = subprocess.Popen([*serve, "--port", "0", "--quiet", "--allowed-host", "myhost"],
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        match = re.search(r"on http://127\.0\.0\.1:(\d+)", banner)
        assert match, banner
        port = int(match.group(1))
        assert _raw_get(port, "/Info", f"myhost:{port}")[0] != 421
        assert _raw_get(port, "/Info", f"127.0.0.1:{port}")[0] != 421
        status, body = _raw_get(port, "/Info", f"evil.example:{port}")
        assert status == 421 and b"--allowed-host evil.example" in body
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
