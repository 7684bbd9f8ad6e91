"""Issue 11: the server tried as an attacker and as a careless user would (part A).

Each test names the item of the issue it guards. All of them run in-process (werkzeug's test
client) or on 127.0.0.1 with an ephemeral port.
"""

from __future__ import annotations

import io
import json
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from server_helpers import ADMIN_PW, ALICE_PW, error_of, leftovers, login, multipart, xml
from werkzeug.test import Client, TestResponse

from sss_emulator import decisions, httpd
from sss_emulator.core.call import request_from_form
from sss_emulator.core.tokens import Identity, PurposeEntry
from sss_emulator.errors import ScriptNotFound
from sss_emulator.httpd import running_server
from sss_emulator.serve.app import ServerApp


def cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"SessionToken={quote(token, safe='')}"}


def script(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(0o755)
    return path


def token_printed_by(response: TestResponse) -> str:
    stdout = xml(response).findtext("script/stdout", "")
    return stdout.split("--auth-token=", 1)[1].split(" ")[0].strip()


# --- 1. a grant for one script runs only that script -----------------------------------------

@pytest.mark.parametrize("call", [
    "minimal.bash/../other.sh", "./other.sh", "sub//other.sh", "sub/./other.sh",
    "minimal.bash/..", "other.sh/", "sub/../other.sh",
])
@pytest.mark.parametrize("anonymous", [False, True])
def test_a_call_with_dot_segments_runs_nothing(make_app_for: Callable[..., ServerApp],
                                               bin_dir: Path, call: str,
                                               anonymous: bool) -> None:
    """alice may run minimal.bash; ``minimal.bash/../other.sh`` must not run other.sh."""
    marker = bin_dir / "ran"
    script(bin_dir, "other.sh", f"#!/bin/sh\ntouch {marker}\n")
    script(bin_dir, "sub/other.sh", f"#!/bin/sh\ntouch {marker}\n")
    app = make_app_for(anonymous=anonymous)
    client = Client(app) if anonymous else login(app, "alice", ALICE_PW)
    response = client.post("/scripting", data={"call": call})
    assert response.status_code in (403, 404), response.get_data(as_text=True)
    assert not marker.exists()
    assert "'..'" in error_of(response) or "SCRIPTING:EXECUTE" in error_of(response)


def test_the_python_api_refuses_dot_segments_too(make_app_for: Callable[..., ServerApp],
                                                 bin_dir: Path) -> None:
    script(bin_dir, "other.sh", "#!/bin/sh\necho ran\n")
    app = make_app_for()
    alice = Identity("alice", roles=("team",))
    for call in ("minimal.bash/../other.sh", "./other.sh"):
        with pytest.raises(ScriptNotFound) as caught:
            app.emulator.run(request_from_form([("call", call)]), identity=alice)
        assert caught.value.exit_code == 125 and caught.value.http_status == 404
    with pytest.raises(ScriptNotFound):
        app.emulator.run_server_side_script("minimal.bash/../other.sh")


# --- 2. logout holds for every encoding, and for the scripts' tokens -------------------------

def test_logout_holds_for_every_encoding_of_the_token(app: ServerApp) -> None:
    client = login(app)
    raw = client.get_cookie("SessionToken")
    assert raw is not None
    original = unquote(raw.value)
    respaced = json.dumps(json.loads(original))  # ", " separators
    escaped = json.dumps(json.loads(original), ensure_ascii=True).replace("S", "\\u0053", 1)
    plain = Client(app, use_cookies=False)
    for variant in (original, respaced, escaped):
        assert plain.get("/Info", headers=cookie(variant)).status_code == 200
    assert client.post("/logout").status_code == 200
    for variant in (original, respaced, escaped, " " + respaced + " "):
        assert plain.get("/Info", headers=cookie(variant)).status_code == 401, variant


def test_logout_revokes_the_tokens_handed_to_that_sessions_scripts(app: ServerApp) -> None:
    client = login(app)
    script_token = token_printed_by(client.post("/scripting", data={"call": "minimal.bash"}))
    plain = Client(app, use_cookies=False)
    assert plain.get("/Info", headers=cookie(script_token)).status_code == 200
    client.post("/logout")
    assert plain.get("/Info", headers=cookie(script_token)).status_code == 401
    other = login(app)  # another session of the same user is not affected
    assert other.post("/scripting", data={"call": "minimal.bash"}).status_code == 200


# --- 3. one-time tokens: replays enforced, every field signed ------------------------------

def test_one_time_tokens_are_used_up_and_renewed_as_a_session(
        make_app_for: Callable[..., ServerApp]) -> None:
    entry = PurposeEntry("SCRIPTING:EXECUTE:minimal.bash", roles=("administration",),
                         username="bot", max_replays=1)
    app = make_app_for(purposes=[entry])
    one_time = token_printed_by(login(app).post("/scripting", data={"call": "minimal.bash"}))
    assert json.loads(one_time)[0] == "O"
    plain = Client(app, use_cookies=False)
    first = plain.get("/Info", headers=cookie(one_time))
    assert first.status_code == 200
    assert xml(first).find("UserInfo").get("username") == "bot"
    from linkahead.connection.utils import parse_auth_token

    renewed = parse_auth_token(first.headers["Set-Cookie"])  # what pylib goes on with
    assert renewed is not None and json.loads(renewed)[0] == "S"
    assert plain.get("/Info", headers=cookie(one_time)).status_code == 401  # used up
    for _ in range(3):
        assert plain.get("/Info", headers=cookie(renewed)).status_code == 200


def test_a_one_time_token_with_more_replays_written_in_is_refused(
        make_app_for: Callable[..., ServerApp]) -> None:
    entry = PurposeEntry("SCRIPTING:EXECUTE:minimal.bash", roles=("administration",),
                         max_replays=1)
    app = make_app_for(purposes=[entry])
    fields = json.loads(token_printed_by(
        login(app).post("/scripting", data={"call": "minimal.bash"})))
    fields[9] = 1000  # maxReplays
    forged = json.dumps(fields, separators=(",", ":"))
    assert Client(app, use_cookies=False).get("/Info", headers=cookie(forged)).status_code == 401


def test_pylib_scripts_with_a_one_time_token_make_many_calls(
        make_app_for: Callable[..., ServerApp], bin_dir: Path) -> None:
    """pylib takes the session the stand-in hands out for a used one-time token."""
    script(bin_dir, "calls.py", f"""#!{sys.executable}
import sys
import linkahead as db
token = [a for a in sys.argv if a.startswith("--auth-token=")][0].split("=", 1)[1]
db.configure_connection(auth_token=token, timeout=30)
print([db.execute_query("COUNT RECORD") for _ in range(3)])
""")
    entry = PurposeEntry("SCRIPTING:EXECUTE:calls.py", roles=("administration",),
                         max_replays=1)
    app = make_app_for(purposes=[entry])
    with running_server(app, port=0) as handle:
        app.public_url = handle.url
        response = login(app).post("/scripting", data={"call": "calls.py"})
    assert xml(response).findtext("script/stdout", "").strip() == "[0, 0, 0]", \
        response.get_data(as_text=True)


# --- 4. cross-site requests, Secure cookies, instance-bound tokens -------------------------

@pytest.mark.parametrize("headers", [
    {"Origin": "http://127.0.0.1:9999"},
    {"Origin": "null"},
    {"Origin": "https://localhost"},
    {"Referer": "http://evil.example/page.html"},
    {"Referer": "http://localhost:8080/other"},
])
def test_cross_site_posts_are_refused(app: ServerApp, headers: dict[str, str]) -> None:
    client = login(app)
    response = client.post("/scripting", data={"call": "minimal.bash"}, headers=headers)
    assert response.status_code == 403
    assert "cross-site" in error_of(response)
    assert client.post("/logout", headers=headers).status_code == 403
    assert Client(app).post("/login", data={"username": "admin", "password": ADMIN_PW},
                            headers=headers).status_code == 403
    assert app.history.recent() == []


def test_same_origin_and_clients_without_origin_keep_working(app: ServerApp) -> None:
    client = login(app)
    for headers in ({}, {"Origin": "http://localhost"},
                    {"Referer": "http://localhost/sss/scripts/minimal.bash"}):
        response = client.post("/scripting", data={"call": "minimal.bash"}, headers=headers)
        assert response.status_code == 200, headers


def test_the_cookie_is_secure_under_tls(app: ServerApp) -> None:
    secure = Client(app).post("/login", data={"username": "admin", "password": ADMIN_PW},
                              base_url="https://localhost")
    assert "; Secure" in secure.headers["Set-Cookie"]
    plain = Client(app).post("/login", data={"username": "admin", "password": ADMIN_PW})
    assert "Secure" not in plain.headers["Set-Cookie"]
    assert plain.headers["Set-Cookie"].startswith("SessionToken=")  # the name pylib reads


def test_a_token_of_one_server_is_worthless_to_another(
        make_app_for: Callable[..., ServerApp]) -> None:
    first, second = make_app_for(), make_app_for()
    token = login(first).get_cookie("SessionToken")
    assert token is not None
    headers = {"Cookie": f"SessionToken={token.value}"}
    assert Client(first, use_cookies=False).get("/Info", headers=headers).status_code == 200
    refused = Client(second, use_cookies=False).post("/scripting", headers=headers,
                                                     data={"call": "minimal.bash"})
    assert refused.status_code == 401


# --- 5. shared files cannot act as the user ------------------------------------------------

def test_shared_files_are_sandboxed(app: ServerApp, bin_dir: Path) -> None:
    script(bin_dir, "page.sh", '#!/bin/sh\necho "<script>fetch(\'/scripting\')</script>" '
                               '> "$SHARED_DIR/x.html"\nbasename "$SHARED_DIR"\n')
    client = login(app)
    name = xml(client.post("/scripting", data={"call": "page.sh"})).findtext(
        "script/stdout", "").strip()
    response = client.get(f"/Shared/{name}/x.html")
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert policy.startswith("sandbox") and "allow-scripts" not in policy
    assert "allow-same-origin" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- 6. no emulator secret in scripts; nothing shown before login ------------------------------

def test_scripts_do_not_get_the_admin_password(make_app_for: Callable[..., ServerApp],
                                               bin_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Every SSS_* variable is the emulator's own (core.environment); the rest is kept."""
    monkeypatch.setenv("SSS_ADMIN_PASSWORD", "the-admin-secret")
    monkeypatch.setenv("SSS_HARMLESS", "the-emulators-own")
    monkeypatch.setenv("HARMLESS", "visible")
    script(bin_dir, "env.sh", "#!/bin/sh\nenv\n")
    stdout = xml(login(make_app_for()).post("/scripting", data={"call": "env.sh"})).findtext(
        "script/stdout", "")
    assert "the-admin-secret" not in stdout
    assert "the-emulators-own" not in stdout
    assert "HARMLESS=visible" in stdout.splitlines()


def test_the_page_shows_nothing_before_login_when_anonymous_is_off(
        make_app_for: Callable[..., ServerApp], bin_dir: Path) -> None:
    app = make_app_for()
    stranger = Client(app)
    for path in ("/", "/sss/scripts/minimal.bash", "/sss/api/scripts", "/sss/api/runs"):
        response = stranger.get(path)
        assert response.status_code == 401, path
        body = response.get_data(as_text=True)
        assert str(bin_dir) not in body and "minimal.bash" not in body, path
    assert stranger.get("/sss/static/page.css").status_code == 200
    assert "Log in" in stranger.get("/").get_data(as_text=True)
    assert str(bin_dir) in login(app).get("/").get_data(as_text=True)
    assert Client(make_app_for(anonymous=True)).get("/sss/api/scripts").status_code == 200


def test_a_host_other_than_loopback_is_warned_about() -> None:
    from sss_emulator.cli.serve import exposure_warning

    assert exposure_warning("127.0.0.1", "http://127.0.0.1:10443") is None
    assert exposure_warning("::1", "http://[::1]:10443") is None
    assert exposure_warning("localhost", "http://localhost:10443") is None
    everywhere = exposure_warning("0.0.0.0", "http://127.0.0.1:10443")
    assert everywhere is not None and "0.0.0.0:10443" in everywhere
    assert socket.gethostname() in everywhere and "--host 127.0.0.1" in everywhere
    lan = exposure_warning("192.168.1.5", "http://192.168.1.5:8000")
    assert lan is not None and "192.168.1.5:8000" in lan


# --- 12. bounded memory: body limits everywhere, output spooled --------------------------

def test_the_stand_in_refuses_a_huge_body_without_reading_it(app: ServerApp) -> None:
    client = login(app)
    stream = io.BytesIO(b"<Request>")
    response = client.post("/Entity", input_stream=stream, content_type="text/xml",
                           environ_overrides={"CONTENT_LENGTH": str(400 * 1024**2)})
    assert response.status_code == 413
    assert stream.tell() == 0, "nothing of the body was read"
    assert "larger than the stand-in accepts" in response.get_data(as_text=True)


def test_the_stand_in_cuts_a_streamed_xml_body_at_its_limit(
        app: ServerApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decisions, "MAX_STANDIN_XML_BYTES", 1024)
    client = login(app)

    def chunks() -> Any:
        for _ in range(100):
            yield b"<Request>" + b" " * 1000

    response = client.post("/Entity", input_stream=io.BytesIO(b"".join(chunks())),
                           content_type="text/xml")
    assert response.status_code == 413


def test_large_outputs_are_spooled_and_the_history_is_bounded_in_bytes(
        make_app_for: Callable[..., ServerApp], bin_dir: Path) -> None:
    from sss_emulator.serve.history import SPOOL_THRESHOLD

    script(bin_dir, "big.sh", f"#!/bin/sh\nhead -c {SPOOL_THRESHOLD * 4} /dev/zero | tr '\\0' x\n")
    app = make_app_for(config={"history_size": 50})
    app.history.max_spool_bytes = SPOOL_THRESHOLD * 10
    client = login(app)
    srids = [xml(client.post("/scripting", data={"call": "big.sh"})).get("srid")
             for _ in range(4)]
    newest = app.history[srids[-1]]
    assert newest.stdout.data is None and newest.stdout.path is not None  # not in memory
    assert newest.stdout_text == "x" * SPOOL_THRESHOLD * 4
    assert len(app.history) == 2 and app.history.spooled_bytes <= SPOOL_THRESHOLD * 10
    dropped = srids[0]
    assert dropped not in app.history
    assert not (app.history.spool_dir / f"{dropped}.stdout").exists()
    page = client.get(f"/sss/api/runs/{srids[-1]}").get_json()
    assert page["stdout_bytes"] == SPOOL_THRESHOLD * 4
    app.close()
    assert not app.history.spool_dir.exists()


# --- 13. client errors are 4xx without server paths; slow bodies time out --------------------

def test_a_5000_character_call_is_404(app: ServerApp) -> None:
    response = login(app).post("/scripting", data={"call": "a" * 5000})
    assert response.status_code == 404
    assert str(app.emulator.work_root) not in error_of(response)
    long_names = login(app).post("/scripting", data={"call": "/".join(["b" * 250] * 30)})
    assert long_names.status_code == 404


def test_a_256_character_upload_name_is_400_without_paths(app: ServerApp,
                                                          tmp_path: Path) -> None:
    body, ctype = multipart([("call", "print_file.bash", None), ("-p0", b"x", "n" * 256)])
    response = login(app).post("/scripting", data=body, content_type=ctype)
    assert response.status_code == 400
    description = error_of(response)
    assert "255" in description and str(tmp_path) not in description
    assert leftovers(tmp_path / "work") == []


@pytest.mark.parametrize("value", ["[" * 1000, "[" * 100_000, '"' + "x" * 200_000])
def test_absurd_session_tokens_are_401(app: ServerApp, value: str) -> None:
    plain = Client(app, use_cookies=False)
    for request in (lambda: plain.post("/scripting", data={"call": "minimal.bash"},
                                       headers=cookie(value)),
                    lambda: plain.get("/Info", headers=cookie(value)),
                    lambda: plain.get("/", headers=cookie(value))):
        assert request().status_code == 401


def test_a_deeply_nested_query_is_a_query_error_not_500(app: ServerApp) -> None:
    client = login(app)
    query = "FIND RECORD WITH " + "(" * 1000 + "a=1" + ")" * 1000
    response = client.get("/Entity", query_string={"query": query})
    assert 400 <= response.status_code < 500
    assert "levels deep" in response.get_data(as_text=True)


class _CountingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.consumed = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.consumed += len(chunk)
        return chunk

    def readinto(self, buffer: Any) -> int:
        count = super().readinto(buffer)
        self.consumed += count
        return count

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(size)
        self.consumed += len(line)
        return line


def test_a_forbidden_upload_is_refused_before_its_body_is_stored(app: ServerApp,
                                                                 tmp_path: Path) -> None:
    payload = b"x" * (4 * 1024**2)
    body, ctype = multipart([("call", "administration/diagnostics.py", None),
                             ("-p0", payload, "big.bin")])
    stream = _CountingStream(body)
    response = login(app, "alice", ALICE_PW).post(
        "/scripting", input_stream=stream, content_type=ctype)
    assert response.status_code == 403
    assert stream.consumed < len(payload) // 2
    assert leftovers(tmp_path / "work") == []


def test_a_request_that_never_finishes_sending_times_out(
        app: ServerApp, monkeypatch: pytest.MonkeyPatch) -> None:
    handler, quiet = httpd._handlers()
    assert handler.timeout == quiet.timeout == httpd.READ_TIMEOUT_S <= 300  # on by default
    monkeypatch.setattr(handler, "timeout", 0.5)  # the quiet handler inherits it
    with running_server(app, port=0) as handle, socket.create_connection(
            ("127.0.0.1", handle.port), timeout=30) as sock:
        sock.sendall(b"POST /scripting HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n\r\ncall=mini")
        answer = b""
        while chunk := sock.recv(65536):  # the server answers and closes; no hang
            answer += chunk
    assert answer == b"" or not answer.startswith(b"HTTP/1.1 200")


@settings(max_examples=300, deadline=None)
@given(stdout=st.binary(max_size=40) | st.text(max_size=20).map(str.encode),
       stderr=st.binary(max_size=10), chunk=st.integers(1, 7))
def test_the_streamed_document_is_byte_for_byte_the_usual_one(stdout: bytes, stderr: bytes,
                                                              chunk: int) -> None:
    """Escaping in pieces (split UTF-8, NUL, \\r, <, &, >) gives exactly ``to_xml``."""
    from sss_emulator.core.outcome import RunOutcome
    from sss_emulator.core.render import ResponseMeta
    from sss_emulator.serve.stream_xml import stream_response_xml

    outcome = RunOutcome(call="a.sh <x> & y", code=0, stdout_bytes=stdout + "é€😀\r<&>".encode()
                         + b"\xff\x00\x1b", stderr_bytes=stderr, argv=(), shared_dir=Path("/x"),
                         workdir=Path("/x"), kept=False, duration_s=0.0, timed_out=False,
                         identity=Identity("admin", roles=("administration",)))
    meta = ResponseMeta(identity=outcome.identity)
    assert b"".join(stream_response_xml(outcome, meta, chunk=chunk)) == outcome.to_xml(meta)


def test_a_large_output_is_answered_in_pieces(app: ServerApp, bin_dir: Path) -> None:
    from sss_emulator.serve.stream_xml import STREAM_THRESHOLD

    script(bin_dir, "large.sh", f"#!/bin/sh\nhead -c {STREAM_THRESHOLD * 2} /dev/zero "
                                "| tr '\\0' '<'\necho err >&2\n")
    response = login(app).post("/scripting", data={"call": "large.sh"})
    assert response.status_code == 200 and response.is_streamed
    document = xml(response)
    assert document.findtext("script/stdout") == "<" * STREAM_THRESHOLD * 2
    assert document.findtext("script/stderr") == "err\n"
