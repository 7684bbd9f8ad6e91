"""``sss-emulate record``: a transparent proxy whose /scripting calls become call files that
``replay`` and the pytest plugin pass."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import linkahead
import pytest
from click.testing import CliRunner
from fidelity_helpers import ALICE_PASSWORD, PASSWORD, Server
from linkahead.exceptions import HTTPForbiddenError
from linkahead.utils.server_side_scripting import run_server_side_script
from terminal_support import Terminal, raw_controls

from sss_emulator.callfile import load_call_file
from sss_emulator.cli.commands import main
from sss_emulator.fidelity.record import RecordingProxy
from sss_emulator.fidelity.recording import CallFileWriter
from sss_emulator.httpd import ServerHandle, running_server


@pytest.fixture
def recorder(tmp_path: Path, server: Server, site: Path, samples: Path
             ) -> Iterator[tuple[ServerHandle, RecordingProxy]]:
    """A recording proxy in front of the module's server, writing to tmp_path/recorded."""
    writer = CallFileWriter(tmp_path / "recorded", upstream=server.url,
                            bin_dirs=[site / "bin", samples])
    proxy = RecordingProxy(server.url, writer, timeout=60)
    with running_server(proxy) as handle:
        yield handle, proxy


def _pylib(url: str, user: str = "admin", password: str = PASSWORD) -> None:
    linkahead.configure_connection(url=url, password_method="plain", username=user,
                                   password=password, timeout=60)


def _replay(path: Path, site: Path, home: str, env: dict[str, str]) -> Any:
    return CliRunner().invoke(main, ["replay", str(path), "--home", str(site / f"home-{home}")],
                              env=env, catch_exceptions=False)


def _browser_post(url: str, parts: list[tuple[str, bytes | str, str | None]], cookie: str
                  ) -> tuple[int, bytes]:
    """POST multipart exactly as the page's FormData does: parts in order, files named."""
    boundary = "----WebKitFormBoundary" + uuid.uuid4().hex[:16]
    chunks = []
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"\r\nContent-Type: application/octet-stream'
        data = value.encode() if isinstance(value, str) else value
        chunks.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
                      + data + b"\r\n")
    body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}", "Cookie": cookie})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, response.read()


def _browser_login(base: str, user: str, password: str) -> str:
    """Log in as the page does (urlencoded form); return the Cookie header to send back."""
    data = urllib.parse.urlencode({"username": user, "password": password}).encode()
    with urllib.request.urlopen(urllib.request.Request(base + "/login", data=data),
                                timeout=30) as response:
        set_cookie = response.headers["Set-Cookie"]
    return set_cookie.split(";", 1)[0]


def test_pylib_and_browser_calls_become_call_files_that_replay_and_pytest_pass(
        recorder: tuple[ServerHandle, RecordingProxy], site: Path, tmp_path: Path,
        fidelity_env: dict[str, str], pytester: pytest.Pytester, examples: Path) -> None:
    """The acceptance path of issue 14: record through pylib and the browser page's form
    posts, then the files pass replay and the plugin, and fail where the skeleton differs."""
    handle, proxy = recorder
    _pylib(handle.url)
    response = run_server_side_script("greet.sh", "Positional0", option2="x")
    assert response.code == 0 and "server skeleton" in response.stdout
    uploaded = run_server_side_script("print_file.bash",
                                      files={"-p0": str(examples / "data" / "data.json")})
    assert uploaded.stdout == (examples / "data" / "data.json").read_text()
    cookie = _browser_login(handle.url, "admin", PASSWORD)
    form = json.dumps({"csvfile": "table.csv"})
    status, answer = _browser_post(handle.url + "/scripting", [
        ("call", "form.sh", None), ("-p0", form, "form.json"),
        ("csvfile", (examples / "data" / "table.csv").read_bytes(), "table.csv")], cookie)
    assert status == 200 and b"table.csv" in answer
    _pylib(handle.url, "alice", ALICE_PASSWORD)
    with pytest.raises(HTTPForbiddenError):
        run_server_side_script("minimal.bash")

    assert [p.name for p in proxy.recorded] == [
        "sss_0001_greet.sh.yaml", "sss_0002_print_file.bash.yaml", "sss_0003_form.sh.yaml",
        "sss_0004_minimal.bash.yaml"]
    greet, printed, form_call, refused = (load_call_file(p)[0] for p in proxy.recorded)
    assert (greet.call, greet.options, greet.positionals) == ("greet.sh", (("option2", "x"),),
                                                               ("Positional0",))
    assert greet.expect["stdout_exact"].startswith("hello from the server skeleton\n")
    assert greet.expect["shared_files"] == {"out.txt": "report for Positional0\n"}
    assert printed.positionals == (None,) and printed.uploads[0][0] == "-p0"
    assert printed.uploads[0][1].read_bytes() == (examples / "data" / "data.json").read_bytes()
    assert {name for name, _ in form_call.uploads} == {"-p0", "csvfile"}
    assert refused.expect == {"error": "PermissionDenied"}
    assert refused.settings["user"] == "alice" and refused.settings["roles"] == ["team"]

    for path in proxy.recorded:
        result = _replay(path, site, "server", fidelity_env)
        assert result.exit_code == 0, result.output
    differs = _replay(proxy.recorded[0], site, "local", fidelity_env)
    assert differs.exit_code == 1 and "1 difference: stdout." in differs.stdout

    runs = pytester.runpytest(str(proxy.recorded[0].parent), "-p", "no:cacheprovider",
                              "--sss-home", str(site / "home-server"),
                              "--sss-users", str(site / "users.yaml"))
    runs.assert_outcomes(passed=4)
    wrong = pytester.runpytest(str(proxy.recorded[0].parent), "-p", "no:cacheprovider",
                               "--sss-home", str(site / "home-local"),
                               "--sss-users", str(site / "users.yaml"))
    wrong.assert_outcomes(passed=3, failed=1)
    wrong.stdout.fnmatch_lines(["*-hello from the server skeleton", "*+hello from the local "
                                                                    "skeleton"])


def test_nothing_secret_is_stored(recorder: tuple[ServerHandle, RecordingProxy], site: Path
                                  ) -> None:
    """No password, no session token (minimal.bash prints its own), no cookie in any file."""
    handle, proxy = recorder
    _pylib(handle.url)
    run_server_side_script("minimal.bash", "Positional0")
    token = linkahead.get_connection()._authenticator.auth_token  # type: ignore[attr-defined]
    assert token
    stored = "".join(p.read_text() for p in proxy.recorded[0].parent.rglob("*") if p.is_file())
    assert PASSWORD not in stored
    assert token not in stored and urllib.parse.quote(token, safe="") not in stored
    assert "SessionToken" not in stored and "Cookie" not in stored
    case = load_call_file(proxy.recorded[0])[0]
    assert case.expect["stdout_exact"] == ("<BIN_DIR>/minimal.bash --auth-token=<TOKEN> "
                                           "Positional0\n")


def test_the_command_prints_where_to_point_clients(site: Path, server: Server, tmp_path: Path
                                                   ) -> None:
    """`record --port 0` starts, names the proxy's URL and the out folder, and stops cleanly."""

    process = subprocess.Popen(
        [sys.executable, "-m", "sss_emulator", "record", "--server-url", server.url, "--port",
         "0", "--out", str(tmp_path / "out"), "--quiet"],
        stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        lines = [process.stderr.readline() for _ in range(3)]
        assert lines[0].startswith(f"Recording calls to {server.url} into {tmp_path / 'out'}")
        proxy_url = re.search(r"at (http://\S+?)/? instead", lines[1])
        assert proxy_url, lines
        _pylib(proxy_url.group(1))
        assert run_server_side_script("greet.sh", "a").code == 0
    finally:
        process.terminate()
        _, err = process.communicate(timeout=20)
    assert "1 call recorded" in err
    assert [p.name for p in (tmp_path / "out").glob("*.yaml")] == ["sss_0001_greet.sh.yaml"]


def test_a_hostile_call_is_shown_escaped_on_the_terminal(server: Server, tmp_path: Path
                                                         ) -> None:
    """Whoever can reach the proxy chooses the call it prints: a control character in an
    argument (a C1 CSI, legal in XML where ESC is not) is shown as text on the user's
    terminal, never acted on."""
    terminal = Terminal([sys.executable, "-m", "sss_emulator", "record", "--server-url",
                         server.url, "--port", "0", "--out", str(tmp_path / "out"), "--quiet"])
    try:
        banner = terminal.wait_for(rb"at (http://\S+?)/? instead")
        proxy_url = re.search(rb"at (http://\S+?)/? instead", banner)
        assert proxy_url is not None
        _pylib(proxy_url.group(1).decode())
        run_server_side_script("minimal.bash", "evil\x9b2J\u202e")
        terminal.wait_for(rb"sss_0001_minimal.bash.yaml")
    finally:
        shown = terminal.interrupt()
    assert rb"evil\x9b2J\u202e" in shown, shown
    assert raw_controls(shown) == [], shown


@pytest.mark.parametrize("request_head", [
    b"G\x1b[2JET / HTTP/1.1\r\nHost: 127.0.0.1\r\n",
    b"GET /\x1b]0;pwned\x07 HTTP/1.1\r\nHost: 127.0.0.1\r\n",
    b"POST /scripting\x00 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n",
], ids=["method", "target", "scripting-target"])
def test_a_request_http_client_will_not_send_is_answered_400(
        recorder: tuple[ServerHandle, RecordingProxy], request_head: bytes) -> None:
    """A hostile client's control characters in the method or target: 400 and one line, never
    a 500 with a traceback on the user's terminal or a 502 blaming the server. (An ESC in a
    header value is forwarded: http.client sends it, and the server decides.)"""
    import socket

    handle, proxy = recorder
    parts = urllib.parse.urlsplit(handle.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(request_head + b"Connection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    assert body.count(b"\n") == 1 and b"cannot be forwarded" in body, answer
    assert proxy.recorded == []


def test_a_big_curl_upload_is_forwarded_and_kept(
        recorder: tuple[ServerHandle, RecordingProxy], tmp_path: Path) -> None:
    """curl -F with a 3 MiB file (curl sends Expect: 100-continue) reaches the server whole,
    and the recorded upload is the same file."""
    handle, proxy = recorder
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * (3 * 4096))
    jar = tmp_path / "jar"
    subprocess.run(["curl", "-s", "-S", "-c", str(jar), "-d", "username=admin", "-d",
                    f"password={PASSWORD}", handle.url + "/login"], check=True,
                   capture_output=True)
    answer = subprocess.run(["curl", "-s", "-S", "-b", str(jar), "-F", "call=size.sh", "-F",
                             f"-p0=@{big}", handle.url + "/scripting"], check=True,
                            capture_output=True, text=True).stdout
    assert f"<stdout>{big.stat().st_size}\n</stdout>" in answer
    case = load_call_file(proxy.recorded[0])[0]
    assert case.uploads[0][1].read_bytes() == big.read_bytes()
    assert case.expect["stdout_exact"] == f"{big.stat().st_size}\n"


# --- the proxy is transparent --------------------------------------------------------------------


def _echo(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """An upstream that answers with what it got, two cookies and a redirect to itself."""
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)) \
        if not environ.get("wsgi.input_terminated") else environ["wsgi.input"].read()
    document = {
        "method": environ["REQUEST_METHOD"],
        "target": environ.get("REQUEST_URI"),
        "headers": {k[5:]: v for k, v in environ.items() if k.startswith("HTTP_")},
        "size": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    host = environ["HTTP_HOST"]
    start_response("302 Found", [
        ("Content-Type", "application/json"),
        ("Set-Cookie", "SessionToken=abc%22; Path=/root; HttpOnly"),
        ("Set-Cookie", "other=1; Domain=linkahead.example.org; Secure; SameSite=None; Path=/"),
        ("Location", f"http://{host}/root/next?x=1"),
        ("X-Custom", "kept"),
    ])
    return [json.dumps(document).encode()]


@pytest.fixture
def echo_proxy(tmp_path: Path) -> Iterator[tuple[ServerHandle, ServerHandle]]:
    with running_server(_echo) as upstream:
        proxy = RecordingProxy(upstream.url + "/root", CallFileWriter(tmp_path / "rec"))
        with running_server(proxy) as front:
            yield upstream, front


def _raw(url: str, method: str, target: str, body: Any = None, headers: dict[str, str] | None
         = None, chunked: bool = False) -> tuple[http.client.HTTPResponse, dict[str, Any]]:
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.netloc, timeout=30)
    connection.request(method, target, body=body, headers=headers or {},
                       encode_chunked=chunked)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response, (json.loads(data) if data else {})


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH"])
def test_every_method_path_query_and_header_goes_through(echo_proxy, method: str) -> None:
    """Method, target with context root and query, and headers reach the server unchanged."""
    upstream, front = echo_proxy
    response, got = _raw(front.url, method, "/root/Entity/1%262?query=FIND%20x",
                         body=b"<Insert/>" if method != "GET" else None,
                         headers={"X-Trace": "t1", "Cookie": "SessionToken=tok;"})
    assert got["method"] == method
    assert got["target"] == "/root/Entity/1%262?query=FIND%20x"
    assert got["headers"]["X_TRACE"] == "t1" and got["headers"]["COOKIE"] == "SessionToken=tok;"
    assert got["headers"]["HOST"] == urllib.parse.urlsplit(upstream.url).netloc
    assert response.status == 302 and response.getheader("X-Custom") == "kept"


def test_cookies_and_redirects_come_back_for_the_proxy(echo_proxy) -> None:
    """Both Set-Cookie headers come back; only what would break on localhost is changed."""
    _, front = echo_proxy
    response, _ = _raw(front.url, "GET", "/root/login")
    cookies = response.headers.get_all("Set-Cookie")
    assert cookies == ["SessionToken=abc%22; Path=/root; HttpOnly",
                       "other=1; SameSite=Lax; Path=/"]
    assert response.getheader("Location") == f"{front.url}/root/next?x=1"


@pytest.mark.parametrize("chunked", [False, True])
def test_big_and_chunked_bodies_arrive_whole(echo_proxy, chunked: bool) -> None:
    """A 6 MiB body (as a stream of chunks when chunked) arrives byte for byte."""
    _, front = echo_proxy
    data = bytes(range(256)) * (6 * 4096)
    body: Any = iter([data[i:i + 65536] for i in range(0, len(data), 65536)]) if chunked \
        else data
    _, got = _raw(front.url, "PUT", "/root/FileSystem/x", body=body, chunked=chunked)
    assert (got["size"], got["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "cross-site"},  # a form on 127.0.0.2 or the internet
    {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:9999"},  # another local port
    {"Origin": "http://evil.example"},  # a browser without Sec-Fetch-Site
])
def test_another_sites_changes_are_refused_not_forwarded(
        tmp_path: Path, headers: dict[str, str]) -> None:
    """A page of another site posting through the proxy would act on the user's real server
    with their cookie: refused with one line; the server never sees it. Reading goes on, and
    so do the proxy's own pages and clients that are no browser (pylib, curl)."""
    seen: list[str] = []

    def upstream_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        seen.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        return _echo(environ, start_response)

    with running_server(upstream_app) as upstream:
        proxy = RecordingProxy(upstream.url, CallFileWriter(tmp_path / "rec"))
        with running_server(proxy) as front:
            for method, target in (("POST", "/scripting"), ("PUT", "/Entity"),
                                   ("DELETE", "/Entity/1"), ("GET", "/logout")):
                request = urllib.request.Request(
                    front.url + target, method=method, headers={"Cookie": "SessionToken=t;",
                                                                **headers},
                    data=b"call=minimal.bash" if method != "GET" else None)
                with pytest.raises(urllib.error.HTTPError) as caught:
                    urllib.request.urlopen(request, timeout=30)
                assert caught.value.code == 403
                line = caught.value.read().decode()
                assert line.startswith(f"sss-emulate record: Refused a cross-site {method}")
                assert line.count("\n") == 1
            assert seen == []
            read, _ = _raw(front.url, "GET", "/Entity/1", headers=headers)
            own, _ = _raw(front.url, "PUT", "/Entity", body=b"<Request/>",
                          headers={"Sec-Fetch-Site": "same-origin", "Origin": front.url})
            plain, _ = _raw(front.url, "DELETE", "/Entity/1")
    assert (read.status, own.status, plain.status) == (302, 302, 302)
    assert seen == ["GET /Entity/1", "PUT /Entity", "DELETE /Entity/1"]


def test_an_unreachable_server_is_a_502_line(tmp_path: Path) -> None:
    """The proxy answers 502 with one line naming the server instead of failing."""
    proxy = RecordingProxy("http://127.0.0.1:9", CallFileWriter(tmp_path / "rec"))
    with running_server(proxy) as front:
        request = urllib.request.Request(front.url + "/Info")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 502
    assert b"cannot reach http://127.0.0.1:9" in caught.value.read()


def test_a_call_that_cannot_be_recorded_is_still_answered(
        recorder: tuple[ServerHandle, RecordingProxy]) -> None:
    """A body /scripting refuses (no call field) is passed on and answered; nothing breaks."""
    handle, proxy = recorder
    cookie = _browser_login(handle.url, "admin", PASSWORD)
    request = urllib.request.Request(handle.url + "/scripting", data=b"x=1", headers={
        "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 400
    assert b"no 'call' field" in caught.value.read()
    assert proxy.recorded == []  # without a call there is nothing to replay


def test_a_tls_server_is_reached_with_its_certificate(tmp_path: Path, site: Path,
                                                      fidelity_env: dict[str, str]) -> None:
    """record forwards to an https server it trusts through --cacert, and compare logs in
    and compares there too."""
    from sss_emulator.config import load_users
    from sss_emulator.httpd import make_self_signed_cert
    from sss_emulator.invocation import Emulator
    from sss_emulator.serve.app import ServerConfig, make_app

    tls = make_self_signed_cert(tmp_path / "tls")
    users = load_users(site / "users.yaml")
    app = make_app(ServerConfig(Emulator(bin_dirs=[site / "bin"], home=site / "home-server",
                                         users=users, work_root=tmp_path / "w",
                                         shared_root=tmp_path / "s", stand_in=False),
                                users=users, cacert=tls.cert))
    with running_server(app, tls=tls) as upstream:
        assert upstream.url.startswith("https://")
        proxy = RecordingProxy(upstream.url, CallFileWriter(tmp_path / "rec"),
                               cacert=str(tls.cert), timeout=60)
        with running_server(proxy) as front:
            _pylib(front.url)
            assert run_server_side_script("greet.sh", "tls").code == 0
        assert [p.name for p in proxy.recorded] == ["sss_0001_greet.sh.yaml"]
        result = CliRunner().invoke(main, [
            "compare", "--server-url", upstream.url, "--cacert", str(tls.cert), "--user",
            "admin", "--yes", "--bin-dir", str(site / "bin"), "--home",
            str(site / "home-server"), "greet.sh", "-p0", "tls"],
            env={**fidelity_env, "SSS_PASSWORD": PASSWORD}, catch_exceptions=False)
        assert result.exit_code == 0, result.output


#: Prints its token every way a script might, into stdout, stderr and a shared file.
LEAK_PY = r'''#!/usr/bin/env python3
import json, os, sys, urllib.parse
tok = sys.argv[1].split("=", 1)[1]
fields = json.loads(tok)
print(json.dumps(tok))                         # JSON-escaped
print(urllib.parse.quote(tok))                 # URL-quoted
print(urllib.parse.quote(tok, safe=""))
print(json.dumps(fields))                      # spaced
print(fields)                                  # a Python list
print(json.dumps(fields, indent=1))            # over lines
print("salt", fields[7], file=sys.stderr)      # its parts alone
print("checksum", fields[8], file=sys.stderr)
print({"token": tok}, file=sys.stderr)
name = os.path.join(os.environ["SHARED_DIR"], "leak.txt")
with open(name, "w") as out:
    out.write(repr(fields) + "\n" + json.dumps(tok) + "\n")
print(f'<a href="/Shared/{os.path.basename(os.environ["SHARED_DIR"])}/leak.txt">t</a>')
print("arg", sys.argv[2])
'''


def test_a_token_the_script_prints_in_any_form_is_never_written(
        recorder: tuple[ServerHandle, RecordingProxy], site: Path, tmp_path: Path,
        fidelity_env: dict[str, str]) -> None:
    """The script's own token (minted by the server, unknown to the proxy) printed escaped,
    quoted, spaced, as a list or over lines, and a token passed as an argument: none of its
    checksum or salt reaches a call file; the call file still replays."""
    (site / "bin" / "leak.py").write_text(LEAK_PY)
    (site / "bin" / "leak.py").chmod(0o755)
    handle, proxy = recorder
    _pylib(handle.url)
    linkahead.get_connection()._login()  # type: ignore[attr-defined]
    other = linkahead.get_connection()._authenticator.auth_token  # type: ignore[attr-defined]
    passed = str(json.loads(other))  # a token as an argument, as a Python list
    response = run_server_side_script("leak.py", passed)
    assert response.code == 0
    printed = json.loads(re.search(r"^(\[.*?\])$", response.stdout, re.M | re.S).group(1))
    assert printed[8] in response.stdout  # the server did hand it out
    stored = "".join(p.read_text(errors="replace")
                     for p in proxy.recorded[0].parent.rglob("*") if p.is_file())
    assert re.search(r"[0-9a-fA-F]{128}", stored) is None, stored
    for secret in (printed[7], printed[8], json.loads(other)[7]):
        assert secret not in stored
    case = load_call_file(proxy.recorded[0])[0]
    assert "<TOKEN>" in case.expect["stdout_exact"] and "<TOKEN>" in case.expect["stderr_exact"]
    assert case.expect["shared_files"]["leak.txt"] == "<TOKEN>\n\"<TOKEN>\"\n"
    replayed = _replay(proxy.recorded[0], site, "server", fidelity_env)
    assert replayed.exit_code == 0, replayed.output


# --- quiet exposure: where the proxy listens, what it forwards in clear, how much it spools ----


def _start_record(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    """``sss-emulate record`` as a user starts it; its banner lines up to "Press Ctrl+C"."""
    process = subprocess.Popen([sys.executable, "-m", "sss_emulator", "record", "--port", "0",
                                "--quiet", *args], stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    banner: list[str] = []
    for line in process.stderr:
        banner.append(line.rstrip("\n"))
        if line.startswith("Press Ctrl+C"):
            break
    return process, banner


def _stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    return process.communicate(timeout=20)[1]


def test_record_on_every_interface_warns_and_names_where_it_listens(
        server: Server, tmp_path: Path) -> None:
    process, banner = _start_record("--host", "0.0.0.0", "--server-url", server.url,
                                    "--out", str(tmp_path / "out"))
    try:
        port = re.search(r"at http://127\.0\.0\.1:(\d+)/", "\n".join(banner))
        assert port, banner
        warnings = [line for line in banner if line.startswith("Warning:")]
        assert len(warnings) == 1, banner
        assert f"every network interface of this machine (0.0.0.0:{port.group(1)}" \
            in warnings[0]
        assert server.url in warnings[0] and "--host 127.0.0.1" in warnings[0]
    finally:
        _stop(process)


def test_record_warns_that_logins_go_to_a_plain_http_server_in_clear(tmp_path: Path) -> None:
    process, banner = _start_record("--server-url", "http://linkahead.example.org",
                                    "--out", str(tmp_path / "out"))
    _stop(process)
    assert banner[0] == ("sss-emulate record: warning: http://linkahead.example.org is plain "
                         "http: the logins (passwords) and session tokens the proxy forwards "
                         "cross the network unencrypted; use https:// (with --cacert for a "
                         "self-signed certificate).")


def test_a_scripting_body_over_the_limit_is_413_and_reaches_no_server(
        server: Server, tmp_path: Path) -> None:
    """Declared too large, or chunked past the limit: the server's 413 error document, the
    call never reaches the server, nothing is recorded; a call within the limit still is."""
    process, banner = _start_record("--max-body", "0.05", "--server-url", server.url,
                                    "--out", str(tmp_path / "out"))
    try:
        url = re.search(r"at (http://\S+?)/? instead", "\n".join(banner))
        assert url, banner
        cookie = _browser_login(url.group(1), "admin", PASSWORD)
        big = b"call=size.sh&-p0=" + b"x" * (1024 * 1024)
        for chunked in (False, True):
            body: Any = iter([big[i:i + 8192] for i in range(0, len(big), 8192)]) \
                if chunked else big
            headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
            parsed = urllib.parse.urlsplit(url.group(1))
            connection = http.client.HTTPConnection(parsed.netloc, timeout=60)
            try:
                connection.request("POST", "/scripting", body=body, headers=headers,
                                   encode_chunked=chunked)
                response = connection.getresponse()
                answer = response.read().decode()
            finally:
                connection.close()
            assert response.status == 413, answer
            assert '<Error code="' in answer and "larger than this server accepts" in answer
        assert run_script_through(url.group(1)) == 0
    finally:
        err = _stop(process)
    assert "1 call recorded" in err
    assert [p.name for p in (tmp_path / "out").glob("*.yaml")] == ["sss_0001_greet.sh.yaml"]


def run_script_through(url: str) -> int:
    _pylib(url)
    return int(run_server_side_script("greet.sh", "a").code)


@pytest.mark.parametrize("filename", ["../../escaped.txt", "/tmp/sss-record-absolute.txt"],
                         ids=["relative", "absolute"])
def test_an_upload_named_like_a_path_is_kept_inside_the_out_folder(
        recorder: tuple[ServerHandle, RecordingProxy], tmp_path: Path, filename: str) -> None:
    """A multipart file name is the sender's word: ../ or an absolute path never leads the
    recorder to write outside --out (the server refuses the call; it is still recorded)."""
    handle, proxy = recorder
    absolute = Path("/tmp/sss-record-absolute.txt")
    absolute.unlink(missing_ok=True)
    cookie = _browser_login(handle.url, "admin", PASSWORD)
    status, _ = _browser_post_status(handle.url + "/scripting", [
        ("call", "size.sh", None), ("-p0", b"planted by a stranger\n", filename)], cookie)
    assert status == 400
    assert not (tmp_path / "escaped.txt").exists() and not absolute.exists()
    outside = [p for p in tmp_path.rglob("*") if p.is_file()
               and (tmp_path / "recorded") not in p.parents]
    assert outside == []
    stored = [p for p in (tmp_path / "recorded").rglob("*") if p.is_file()
              and p.suffix != ".yaml"]
    assert [p.read_bytes() for p in stored] == [b"planted by a stranger\n"]
    assert "is not a plain file name" in proxy.recorded[0].read_text()


def _browser_post_status(url: str, parts: list[tuple[str, bytes | str, str | None]],
                         cookie: str) -> tuple[int, bytes]:
    try:
        return _browser_post(url, parts, cookie)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()

def test_record_started_in_the_background_of_a_script_stops_on_sigint(
        server: Server, tmp_path: Path) -> None:
    """`sss-emulate record … &` in a non-interactive shell inherits SIGINT as ignored (the
    shell does that to background jobs); SIGINT stops it all the same."""
    script = (f"{sys.executable} -m sss_emulator record --server-url {server.url} --port 0 "
              f"--out {tmp_path / 'out'} --quiet & wait")
    process = subprocess.Popen(["bash", "-c", script], stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        assert process.stderr is not None
        assert process.stderr.readline().startswith("Recording calls to")
        recorder = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True,
                                  text=True, check=True).stdout.split()
        assert len(recorder) == 1
        os.kill(int(recorder[0]), signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert "0 calls recorded" in process.stderr.read()
