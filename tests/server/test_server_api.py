"""The scripting API driven in-process with werkzeug's test client."""

from __future__ import annotations

import io
import json
from pathlib import Path
from urllib.parse import quote

import pytest
from lxml import etree
from server_helpers import ADMIN_PW, ALICE_PW, leftovers, login, multipart, xml
from server_helpers import error_of as helpers_error_of
from werkzeug.test import Client, TestResponse

from sss_emulator import decisions
from sss_emulator.backend import patch_pylinkahead_ini
from sss_emulator.serve.app import XML_CONTENT_TYPE, ServerApp
from sss_emulator.serve.form import FormLimits


def error_of(response: TestResponse) -> str:
    """The one ``Error``'s description; its code is the HTTP status here."""
    description = helpers_error_of(response)
    code = xml(response).findall("Error")[0].get("code")
    assert code == str(response.status_code)
    return description


def test_urlencoded_call_answers_with_the_contract_document(app: ServerApp) -> None:
    """A form post runs the script and answers 200 with <script code><call/><stdout/><stderr/>."""
    response = login(app).post("/scripting", data={"call": "minimal.bash", "-Ooption1": "",
                                                    "-Ooption2": "some-value",
                                                    "-p0": "Positional0", "-p1": "Positional1"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == XML_CONTENT_TYPE
    script = xml(response).find("script")
    assert script is not None and script.get("code") == "0"
    assert script.findtext("call") == ("minimal.bash --option1= --option2=some-value "
                                       "Positional0 Positional1")
    assert "--auth-token=" not in script.findtext("call", "")
    assert script.findtext("stdout", "").rstrip().endswith("--option1= --option2=some-value "
                                                            "Positional0 Positional1")
    assert xml(response).find("UserInfo").get("username") == "admin"


def test_misnamed_fields_are_dropped_as_the_server_does_and_recorded(app: ServerApp) -> None:
    """--option2 instead of -Ooption2: the answer is the server's (no trace of the field), the
    run in the history and on the page's API names it as ignored."""
    client = login(app)
    response = client.post("/scripting", data={"call": "minimal.bash", "--option2": "x"})
    assert response.status_code == 200
    assert xml(response).find("script").findtext("call") == "minimal.bash"
    assert b"option2" not in response.get_data()
    srid = xml(response).get("srid")
    assert app.history[srid].ignored_fields == ("--option2",)
    run = client.get(f"/sss/api/runs/{srid}").get_json()
    assert run["ignored_fields"] == ["--option2"]
    assert "-Ooption2" in run["notes"][0]


def test_multipart_keeps_the_order_of_fields_and_files(app: ServerApp, tmp_path: Path) -> None:
    """Options keep request order even when a file part sits between two text parts."""
    body, ctype = multipart([("call", "minimal.bash", None), ("-Oa", "x", None),
                             ("-Ofile", b"payload", "f.txt"), ("-Ob", "y", None),
                             ("-p0", b"{}", "data.json")])
    response = login(app).post("/scripting", data=body, content_type=ctype)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert xml(response).findtext("script/call") == (
        "minimal.bash --a=x --file=.upload_files/f.txt --b=y .upload_files/data.json")
    assert leftovers(tmp_path / "work") == []


def test_uploaded_file_reaches_the_script(app: ServerApp) -> None:
    """print_file.bash prints the uploaded file, as the seed tutorial shows."""
    response = login(app).post("/scripting", data={
        "call": "print_file.bash", "-p0": (io.BytesIO(b'{ "my_key": "my value" }'), "data.json")})
    assert response.status_code == 200
    assert xml(response).findtext("script/stdout") == '{ "my_key": "my value" }'


def test_non_zero_exit_is_still_200(app: ServerApp, bin_dir: Path) -> None:
    """The server answers 200 whenever the script ran, whatever its exit code."""
    (bin_dir / "fail.sh").write_text("#!/bin/sh\necho oops >&2\nexit 3\n")
    (bin_dir / "fail.sh").chmod(0o755)
    response = login(app).post("/scripting", data={"call": "fail.sh"})
    assert response.status_code == 200
    assert xml(response).find("script").get("code") == "3"
    assert xml(response).findtext("script/stderr") == "oops\n"


@pytest.mark.parametrize(
    ("parts", "needle"),
    [
        ([("-p0", "x", None)], "no 'call'"),
        ([("call", "minimal.bash", None), ("-p1", "x", None)], "-p0 is missing"),
        ([("call", "minimal.bash", None), ("-p0", b"x", "../evil")], "not a plain file name"),
        ([("call", "minimal.bash", None), ("-p0", b"x", "a/b.txt")], "not a plain file name"),
        ([("call", "minimal.bash", None), ("-p0", b"x", "a\x00b")], "NUL"),
        ([("call", "minimal.bash", None), ("-p0", b"x", "")], "empty filename"),
        ([("call", "minimal.bash", None), ("-p0", b"x", "d.txt"), ("-p1", b"y", "d.txt")],
         "Two uploads"),
    ],
)
def test_bad_forms_are_400_and_leave_nothing(app: ServerApp, tmp_path: Path, parts: list,
                                             needle: str) -> None:
    """Each client mistake in the form answers 400 naming the problem; nothing stays on disk."""
    body, ctype = multipart(parts)
    response = login(app).post("/scripting", data=body, content_type=ctype)
    assert response.status_code == 400
    assert needle in error_of(response)
    assert leftovers(tmp_path / "work") == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "work"]


@pytest.mark.parametrize(
    "body",
    [b"no boundary at all", b"--B\r\nContent-Disposition: form-data; name=\"call\"\r\n\r\nmin",
     b"--B\r\nX-Nothing: 1\r\n\r\nvalue\r\n--B--\r\n"],
    ids=["garbage", "truncated", "no-disposition"],
)
def test_malformed_multipart_is_400(app: ServerApp, tmp_path: Path, body: bytes) -> None:
    """A multipart body werkzeug cannot parse is the client's mistake: 400, not 500."""
    response = login(app).post("/scripting", data=body,
                               content_type="multipart/form-data; boundary=B")
    assert response.status_code == 400
    assert "multipart" in error_of(response)
    assert leftovers(tmp_path / "work") == []


def test_multipart_without_boundary_is_400(app: ServerApp) -> None:
    response = login(app).post("/scripting", data=b"x", content_type="multipart/form-data")
    assert response.status_code == 400
    assert "boundary" in error_of(response)


@pytest.mark.parametrize("ctype", ["text/plain", "application/json", None])
def test_other_content_types_are_415(app: ServerApp, ctype: str | None) -> None:
    client = login(app)
    response = client.post("/scripting", data=b"call=minimal.bash", content_type=ctype)
    assert response.status_code == 415
    assert "urlencoded" in error_of(response)


def test_body_over_the_limit_is_413_and_nothing_is_left(make_app_for, tmp_path: Path) -> None:
    """A declared Content-Length over the limit is refused before anything is written."""
    app = make_app_for(config={"limits": FormLimits(max_body=1000)})
    body, ctype = multipart([("call", "minimal.bash", None), ("-p0", b"x" * 5000, "big.bin")])
    response = login(app).post("/scripting", data=body, content_type=ctype)
    assert response.status_code == 413
    assert "1000 bytes" in error_of(response)
    assert leftovers(tmp_path / "work") == []


def test_streamed_body_over_the_limit_is_413_and_the_partial_upload_removed(
        make_app_for, tmp_path: Path) -> None:
    """A chunked upload (no Content-Length) is cut at the limit and its partial file removed."""
    app = make_app_for(config={"limits": FormLimits(max_body=100_000)})
    body, ctype = multipart([("call", "minimal.bash", None), ("-p0", b"x" * 300_000, "b.bin")])
    client = login(app)
    response = client.post("/scripting", input_stream=io.BytesIO(body), content_type=ctype,
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413
    assert leftovers(tmp_path / "work") == []


def test_too_many_parts_is_413(make_app_for) -> None:
    app = make_app_for(config={"limits": FormLimits(max_parts=5)})
    parts = [("call", "minimal.bash", None)] + [(f"-Ox{i}", "v", None) for i in range(10)]
    body, ctype = multipart(parts)
    response = login(app).post("/scripting", data=body, content_type=ctype)
    assert response.status_code == 413
    assert "more than 5 parts" in error_of(response)


@pytest.mark.parametrize("urlencoded", [False, True], ids=["multipart", "urlencoded"])
def test_a_text_field_over_the_limit_names_that_limit(make_app_for, urlencoded: bool) -> None:
    """A long text value is refused naming the text limit and the fix (send it as a file),
    not the body limit it is far below."""
    app = make_app_for(config={"limits": FormLimits(max_field=100)})
    client = login(app)
    if urlencoded:
        response = client.post("/scripting", data={"call": "minimal.bash", "-p0": "x" * 200})
    else:
        body, ctype = multipart([("call", "minimal.bash", None), ("-p0", "x" * 200, None)])
        response = client.post("/scripting", data=body, content_type=ctype)
    assert response.status_code == 413
    message = error_of(response)
    assert "(100 bytes)" in message and "file part" in message and "--max-body" not in message


def test_unknown_script_is_404_and_missing_permission_403(app: ServerApp) -> None:
    admin = login(app)
    assert admin.post("/scripting", data={"call": "nope.sh"}).status_code == 404
    alice = login(app, "alice", ALICE_PW)
    response = alice.post("/scripting", data={"call": "administration/diagnostics.py"})
    assert response.status_code == 403
    assert "SCRIPTING:EXECUTE:administration:diagnostics.py" in error_of(response)
    assert alice.post("/scripting", data={"call": "minimal.bash"}).status_code == 200


def test_anonymous_is_401_unless_allowed(make_app_for) -> None:
    closed = Client(make_app_for())
    response = closed.post("/scripting", data={"call": "minimal.bash"})
    assert response.status_code == 401
    assert "--anonymous" in error_of(response)
    open_ = Client(make_app_for(anonymous=True))
    response = open_.post("/scripting", data={"call": "minimal.bash", "-p0": "x"})
    assert response.status_code == 200
    assert "--auth-token" not in xml(response).findtext("script/stdout", "")
    assert open_.post("/scripting", data={"call": "print_file.bash"}).status_code == 403


@pytest.mark.parametrize("cookie", [
    "SessionToken=not-a-token",
    "SessionToken=" + quote(json.dumps(["S", "PAM", "admin", ["administration"], [], 1, 10**13,
                                        "SALT", "0" * 128])),
])
def test_forged_tokens_are_401_even_with_anonymous_on(make_app_for, cookie: str) -> None:
    """A token we did not issue is refused, never downgraded to anonymous."""
    client = Client(make_app_for(anonymous=True), use_cookies=False)
    response = client.post("/scripting", data={"call": "minimal.bash"},
                           headers={"Cookie": cookie})
    assert response.status_code == 401
    assert "SessionToken" in error_of(response)


def test_login_sets_a_cookie_pylib_can_parse(app: ServerApp) -> None:
    """pylib reads ``^SessionToken=([^;]*);`` and url-unquotes the value."""
    from linkahead.connection.utils import parse_auth_token

    response = Client(app).post("/login", data={"username": "admin", "password": ADMIN_PW})
    token = parse_auth_token(response.headers["Set-Cookie"])
    assert token is not None and app.sessions.verify(token).name == "admin"
    assert xml(response).find("UserInfo").get("username") == "admin"


def test_wrong_password_is_401(app: ServerApp) -> None:
    response = Client(app).post("/login", data={"username": "admin", "password": "nope"})
    assert response.status_code == 401
    assert "Wrong user name or password" in error_of(response)
    assert "Set-Cookie" not in response.headers
    unknown = Client(app).post("/login", data={"username": "mallory", "password": "x"})
    assert unknown.status_code == 401


def test_logout_ends_the_session(app: ServerApp) -> None:
    client = login(app)
    cookie = client.get_cookie("SessionToken")
    assert cookie is not None
    assert client.get("/logout").status_code == 200
    replay = Client(app, use_cookies=False).post("/scripting", data={"call": "minimal.bash"},
                              headers={"Cookie": f"SessionToken={cookie.value}"})
    assert replay.status_code == 401


def test_the_token_given_to_a_script_is_a_valid_session(app: ServerApp) -> None:
    """What a script gets as --auth-token works as a SessionToken cookie; a changed one not."""
    stdout = xml(login(app).post("/scripting", data={"call": "minimal.bash"})).findtext(
        "script/stdout", "")
    token = stdout.split("--auth-token=", 1)[1].split(" ")[0].strip()
    raw = Client(app, use_cookies=False)
    ok = raw.get("/Info", headers={"Cookie": f"SessionToken={quote(token, safe='')};"})
    assert ok.status_code == 200
    assert xml(ok).find("UserInfo").get("username") == "admin"
    tampered = token.replace('"admin"', '"root"')
    bad = raw.get("/Info", headers={"Cookie": f"SessionToken={quote(tampered)};"})
    assert bad.status_code == 401
    assert Client(app).get("/Info").status_code == 401


def test_shared_files_are_served_and_traversal_refused(app: ServerApp, bin_dir: Path,
                                                       tmp_path: Path) -> None:
    (bin_dir / "share.sh").write_text('#!/bin/sh\necho hello > "$SHARED_DIR/out.txt"\n'
                                      'ln -s /etc/passwd "$SHARED_DIR/leak"\n'
                                      'basename "$SHARED_DIR"\n')
    (bin_dir / "share.sh").chmod(0o755)
    client = login(app)
    response = client.post("/scripting", data={"call": "share.sh"})
    random_name = xml(response).findtext("script/stdout", "").strip()
    assert client.get(f"/Shared/{random_name}/out.txt").get_data() == b"hello\n"
    record = app.history[xml(response).get("srid")]
    assert ("out.txt", f"/Shared/{random_name}/out.txt") in record.shared_files
    for path in (f"/Shared/{random_name}/leak", f"/Shared/{random_name}/../../bin/share.sh",
                 "/Shared/..%2F..%2Fbin/share.sh", f"/Shared/{random_name}",
                 f"/Shared/{random_name}/missing.txt", "/Shared/"):
        assert client.get(path).status_code == 404, path


def test_seed_html_form_posted_as_a_browser_would(make_app_for, examples: Path) -> None:
    """The profile's static form is served, and its urlencoded submission runs the script."""
    server_dir = examples / "profile" / "custom" / "caosdb-server"
    app = make_app_for(config={"static_dir": server_dir / "caosdb-webui" / "src" / "ext" /
                               "html"})
    client = login(app)
    page = client.get("/webinterface/html/minimal.html")
    assert page.status_code == 200
    form = etree.HTML(page.get_data()).find(".//form")
    fields = {i.get("name"): i.get("value") for i in form.iter("input") if i.get("name")}
    for select in form.iter("select"):
        fields[select.get("name")] = select.find("option").text
    response = client.post(form.get("action"), data=fields)  # urlencoded, like a browser
    assert response.status_code == 200
    assert xml(response).findtext("script/call") == "minimal.bash --algorithm=fast analyze"
    assert client.get("/webinterface/html/../../conf/ext/authtoken.yaml").status_code == 404
    assert client.get("/webinterface/html/nope.html").status_code == 404


def test_timeout_is_500_with_the_server_description(make_app_for, bin_dir: Path) -> None:
    (bin_dir / "slow.sh").write_text("#!/bin/sh\nsleep 30\n")
    (bin_dir / "slow.sh").chmod(0o755)
    app = make_app_for(timeout=0.3)
    response = login(app).post("/scripting", data={"call": "slow.sh"})
    assert response.status_code == 500
    assert error_of(response) == decisions.TIMEOUT_DESCRIPTION
    assert app.history.recent()[0].timed_out


def test_history_keeps_the_latest_runs(make_app_for) -> None:
    app = make_app_for(config={"history_size": 2})
    client = login(app)
    srids = [xml(client.post("/scripting", data={"call": "minimal.bash", "-p0": str(i)})).get(
        "srid") for i in range(3)]
    assert list(app.history) == srids[1:]
    newest = app.history.recent()[0]
    assert newest.call == "minimal.bash 2" and newest.user == "admin" and newest.code == 0
    assert newest.stdout_text.endswith(" 2\n")


def test_context_root_prefixes_every_resource(make_app_for) -> None:
    app = make_app_for(context_root="linkahead")
    client = Client(app)
    assert client.post("/login", data={"username": "admin", "password": ADMIN_PW}
                       ).status_code == 404
    assert client.post("/linkahead/login", data={"username": "admin", "password": ADMIN_PW}
                       ).status_code == 200
    response = client.post("/linkahead/scripting", data={"call": "minimal.bash"})
    assert response.status_code == 200
    assert xml(response).get("baseuri") == "http://localhost/linkahead"


def test_scripts_get_a_pylinkahead_ini_pointing_here(make_app_for, bin_dir: Path,
                                                     tmp_path: Path) -> None:
    """The HOME copy's ini gets [Connection] url of this server; other sections are kept."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".pylinkahead.ini").write_text("[Connection]\nurl = https://elsewhere:10443\n"
                                           "ssl_insecure = True\n[Extra]\nkeep = me\n")
    (bin_dir / "ini.sh").write_text('#!/bin/sh\ncat "$HOME/.pylinkahead.ini"\n')
    (bin_dir / "ini.sh").chmod(0o755)
    app = make_app_for(home=home)
    app.public_url = "http://127.0.0.1:4711"
    text = xml(login(app).post("/scripting", data={"call": "ini.sh"})).findtext("script/stdout")
    assert "url = http://127.0.0.1:4711" in text
    assert "[Extra]\nkeep = me" in text
    assert "ssl_insecure" not in text and "elsewhere" not in text
    assert "https://elsewhere" in (home / ".pylinkahead.ini").read_text()  # skeleton untouched


def test_patch_ini_sets_cacert_for_https() -> None:
    text = patch_pylinkahead_ini("[Connection]\nurl=x\nssl_insecure=True\n",
                                 "https://127.0.0.1:1", cacert="/tmp/cert.pem")
    assert "cacert = /tmp/cert.pem" in text and "ssl_insecure" not in text


def test_wrong_methods_and_unknown_paths(app: ServerApp) -> None:
    client = login(app)
    response = client.get("/scripting")
    assert response.status_code == 405 and response.headers["Allow"] == "POST"
    assert client.get("/login").status_code == 405
    assert client.get("/no/such/thing").status_code in (401, 404)


def test_expired_session_is_401(make_app_for) -> None:
    """A session older than its validity is refused like a forged one."""
    from sss_emulator.core.tokens import TokenAuthority

    now = [1_000_000_000_000]
    app = make_app_for(authority=TokenAuthority(clock_ms=lambda: now[0]))
    client = login(app)
    assert client.post("/scripting", data={"call": "minimal.bash"}).status_code == 200
    now[0] += decisions.SESSION_VALIDITY_MS + 1
    response = client.post("/scripting", data={"call": "minimal.bash"})
    assert response.status_code == 401
    assert "expired" in error_of(response)
