"""Random forms and bodies: a client's mistake is never a 5xx and never leaves files behind."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_helpers import ADMIN_PW, multipart
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
