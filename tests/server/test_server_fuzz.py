"""Random forms and bodies: a client's mistake is never a 5xx and never leaves files behind."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from server_helpers import ADMIN_PW, multipart
from werkzeug.datastructures import MultiDict
from werkzeug.test import Client

from sss_emulator.serve.app import ServerApp
from sss_emulator.serve.form import FormLimits

CLIENT_STATUSES = {200, 400, 401, 403, 404, 405, 413, 415}

names = st.one_of(
    st.sampled_from(["call", "-p0", "-p1", "-p3", "-p", "-O", "-Oopt", "-Ofile", "other", ""]),
    st.text(min_size=0, max_size=12),
)
calls = st.sampled_from(["minimal.bash", "print_file.bash", "nope.sh", "../minimal.bash",
                         "/etc/passwd", "administration/diagnostics.py", ""])
filenames = st.one_of(
    st.sampled_from(["data.json", "../x", "a/b", "..", ".", "", "a\\b", "n\x00ul", "ü.txt"]),
    # utf-8: a file name the client can send (a lone surrogate cannot be encoded at all)
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters='"\r\n'), max_size=10),
)
parts = st.lists(
    st.one_of(
        st.tuples(st.just("call"), calls, st.none()),
        st.tuples(names, st.text(max_size=20), st.none()),
        st.tuples(names, st.binary(max_size=200), filenames),
    ),
    max_size=6,
)
content_types = st.sampled_from([
    "application/x-www-form-urlencoded", "multipart/form-data", "multipart/form-data; boundary=",
    "multipart/form-data; boundary=B", "text/plain", "", "application/json",
])


def _app(make_app_for) -> ServerApp:
    return make_app_for(anonymous=True, config={"limits": FormLimits(max_body=4096,
                                                                     max_parts=8)})


def _check(app: ServerApp, tmp_path: Path, status: int) -> None:
    assert status in CLIENT_STATUSES
    work = tmp_path / "work"
    assert not work.exists() or list(work.iterdir()) == []
    assert {p.name for p in tmp_path.iterdir()} <= {"bin", "work", "shared"}


FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(form=parts, boundary=st.sampled_from(["B", "xYz0123456789", "----weird boundary"]))
def test_random_multipart_forms(make_app_for, tmp_path: Path, form: list,
                                boundary: str) -> None:
    app = _app(make_app_for)
    client = Client(app)
    client.post("/login", data={"username": "admin", "password": ADMIN_PW})
    body, ctype = multipart(form, boundary=boundary)
    response = client.post("/scripting", data=body, content_type=ctype)
    _check(app, tmp_path, response.status_code)
    assert response.headers["Content-Type"] == "text/xml; charset=UTF-8"


@FUZZ
@given(body=st.binary(max_size=600), ctype=content_types, chunked=st.booleans())
def test_random_bodies(make_app_for, tmp_path: Path, body: bytes, ctype: str,
                       chunked: bool) -> None:
    app = _app(make_app_for)
    client = Client(app)
    if chunked:  # no Content-Length: the server must stop reading at the limit itself
        import io
        response = client.post("/scripting", input_stream=io.BytesIO(body * 10),
                               content_type=ctype,
                               environ_overrides={"wsgi.input_terminated": True})
    else:
        response = client.post("/scripting", data=body, content_type=ctype)
    _check(app, tmp_path, response.status_code)


@FUZZ
@given(path=st.text(max_size=30), method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]))
def test_random_paths_never_fail_internally(make_app_for, tmp_path: Path, path: str,
                                            method: str) -> None:
    app = _app(make_app_for)
    response = Client(app).open("/" + path.lstrip("/"), method=method)
    assert response.status_code < 500
    _check(app, tmp_path, 200)


# --- issue 20: odd bytes in every path segment and form field ------------------------------------

#: Text with what broke the server before: NUL and other controls, CR LF, non-characters.
odd_text = st.text(alphabet=st.one_of(st.sampled_from("\x00\x01\r\n\t\x1f\x7f\ufffe\uffff%/&?#"),
                                      st.characters(codec="utf-8")), max_size=12)
ROUTES = ["/Entity/{}", "/Entity/1&{}", "/Entity/?query=FIND {}", "/User/{}/admin",
          "/User/PAM/{}", "/UserRoles/{}", "/FileSystem/{}", "/Shared/{}/x", "/Shared/x/{}",
          "/sss/scripts/{}", "/sss/runs/{}", "/sss/api/runs/{}", "/sss/static/{}",
          "/webinterface/html/{}", "/{}", "/Info?{}=1", "/logout/{}", "/scripting/{}"]


def _logged_in(app: ServerApp) -> Client:
    client = Client(app)
    client.post("/login", data={"username": "admin", "password": ADMIN_PW})
    return client


@FUZZ
@given(route=st.sampled_from(ROUTES), odd=odd_text,
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]))
# digits Python's isdigit() accepts and int() refuses (a 500 once), every time, not by chance
@example(route="/Entity/{}", odd="\u00b2", method="GET")
@example(route="/Entity/{}", odd="\u00b2", method="DELETE")
@example(route="/Entity/1&{}", odd="-\u00b2", method="GET")
@example(route="/Entity/{}", odd="\u0663\u00b2", method="DELETE")
@example(route="/Entity/?query=FIND {}", odd="\u00b2", method="GET")
def test_odd_bytes_in_every_path_segment(make_app_for, tmp_path: Path, route: str, odd: str,
                                         method: str) -> None:
    """serve's own routes, the page's and the mounted stand-in's: never a 5xx, and nothing of
    the path ends up as a header of its own."""
    app = _app(make_app_for)
    response = _logged_in(app).open(route.format(quote(odd, safe="")), method=method)
    # 501: an administration resource the stand-in does not emulate, as it says
    assert response.status_code < 500 or response.status_code == 501, \
        (route, odd, response.get_data(as_text=True))
    assert all("\n" not in value and "\r" not in value for _, value in response.headers)
    _check(app, tmp_path, 200)


@FUZZ
@given(fields=st.lists(st.tuples(st.one_of(st.sampled_from(["-p0", "-p1", "-Oopt", "call"]),
                                           odd_text.map(lambda t: "-O" + t)), odd_text),
                       max_size=4),
       login=st.tuples(odd_text, odd_text))
def test_odd_bytes_in_every_form_field(make_app_for, tmp_path: Path, bin_dir: Path,
                                       fields: list[tuple[str, str]],
                                       login: tuple[str, str]) -> None:
    """A script's arguments and option names, the login's user name and password."""
    script = bin_dir / "echo.sh"
    script.write_text('#!/bin/sh\necho "$@"\n')
    script.chmod(0o755)
    app = _app(make_app_for)
    client = _logged_in(app)
    response = client.post("/scripting", data=MultiDict([("call", "echo.sh"), *fields]))
    assert response.status_code in CLIENT_STATUSES, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "text/xml; charset=UTF-8"
    answer = Client(app).post("/login", data={"username": login[0], "password": login[1]})
    assert answer.status_code in CLIENT_STATUSES
    _check(app, tmp_path, response.status_code)
