"""The page's HTML and JSON endpoints, driven in-process through the real server app."""

from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from webpage_helpers import ADMIN_PASSWORD, SAMPLES, TEAM_PASSWORD, build_server
from werkzeug.test import Client

from sss_emulator.serve.app import ServerApp

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"


class _Controls(HTMLParser):
    """Collects form controls, label targets and ids of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.append(str(attributes["id"]))
        if tag == "label" and attributes.get("for"):
            self.label_for.add(str(attributes["for"]))
        if tag in ("input", "select", "textarea") and attributes.get("type") != "hidden":
            self.controls.append(attributes)


def parse(html: str) -> _Controls:
    parser = _Controls()
    parser.feed(html)
    return parser


def run_multipart(client: Client, fields: dict[str, object]) -> tuple[int, str]:
    """POST /scripting as the page's FormData does; returns status and the response srid."""
    response = client.post("/scripting", data=fields, content_type="multipart/form-data")
    match = re.search(r'srid="([0-9a-f]+)"', response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)
    return response.status_code, match.group(1)


def test_index_lists_scripts_with_their_permission(client: Client) -> None:
    """Every script of both bin dirs is listed with the permission it needs; form configs not."""
    html = client.get("/").get_data(as_text=True)
    for call in ("minimal.bash", "handle_csv.py", "administration/diagnostics.py", "fails.bash"):
        assert f'href="/sss/scripts/{call}"' in html
    assert "<code>SCRIPTING:EXECUTE:administration:diagnostics.py</code>" in html
    assert "handle_csv.py.form.json" not in html
    assert "You run scripts as <strong>admin</strong>" in html


def test_index_tells_a_user_which_scripts_they_may_run(server_app: ServerApp) -> None:
    """tina's role grants only handle_csv.py; the page says so per script."""
    client = Client(server_app)
    client.post("/login", data={"username": "tina", "password": TEAM_PASSWORD})
    scripts = {s["call"]: s for s in client.get("/sss/api/scripts").get_json()["scripts"]}
    assert scripts["handle_csv.py"]["allowed"] is True
    assert scripts["minimal.bash"]["allowed"] is False
    assert scripts["handle_csv.py"]["form"] == "config"
    assert scripts["minimal.bash"]["permission"] == "SCRIPTING:EXECUTE:minimal.bash"
    page = client.get("/sss/scripts/minimal.bash").get_data(as_text=True)
    assert "You lack this permission" in page


def test_anonymous_visitor_gets_a_login_form(server_app: ServerApp) -> None:
    """Without a session the page offers the server's login; a wrong password says why."""
    client = Client(server_app)
    html = client.get("/").get_data(as_text=True)
    assert '<form id="login-form" method="post" action="/login">' in html
    # anonymous access is off here: the header must not claim one runs scripts as anonymous
    assert "Log in to run scripts (anonymous access is off)" in html
    assert "as <strong>anonymous</strong>" not in html
    # anonymous access is off: before login the page and its API show no scripts (issue 11)
    assert client.get("/sss/api/scripts").status_code == 401
    assert "minimal.bash" not in html
    wrong = client.post("/login", data={"username": "admin", "password": "nope"})
    assert wrong.status_code == 401
    client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert "You run scripts as <strong>admin</strong>" in client.get("/").get_data(as_text=True)


def test_anonymous_visitor_with_anonymous_access_runs_as_anonymous(tmp_path: Path,
                                                                  extra_bin: Path) -> None:
    """With anonymous access on, the header says whom a logged-out visitor runs as."""
    app = build_server(tmp_path, extra_bin)
    app.emulator.anonymous_allowed = True
    try:
        html = Client(app).get("/").get_data(as_text=True)
    finally:
        app.close()
    assert "you run scripts as <strong>anonymous</strong>" in html


def test_index_shows_form_titles(client: Client) -> None:
    """A script with a *.form.json shows the form's title under its name."""
    html = client.get("/").get_data(as_text=True)
    assert '<span class="form-title">Summarise a CSV table</span>' in html
    scripts = {s["call"]: s for s in client.get("/sss/api/scripts").get_json()["scripts"]}
    assert scripts["handle_csv.py"]["title"] == "Summarise a CSV table"
    assert scripts["minimal.bash"]["title"] == ""


def test_pages_pin_the_frame_script_in_their_csp(client: Client) -> None:
    """The one script the stdout frame may run is allowed by hash, and the hash is its own."""
    import base64
    import hashlib
    from html import unescape

    from sss_emulator.serve.page.app import frame_script

    response = client.get("/sss/scripts/minimal.bash")
    csp = response.headers["Content-Security-Policy"]
    text, source = frame_script()
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    assert source == f"'sha256-{digest}'" and source in csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    html = response.get_data(as_text=True)
    attribute = re.search(r'data-frame-script="([^"]*)"', html)
    assert attribute and unescape(attribute.group(1)) == text
    # the frame's own policy (built in page.js) pins the same hash and allows no inline script
    page_js = client.get("/sss/static/page.js").get_data(as_text=True)
    frame_policies = re.findall(r"script-src [^;]*", page_js)
    assert frame_policies == ['script-src " + cfg.frameScriptHash + "']


def test_non_executable_file_is_flagged_not_linked(client: Client, server_app: ServerApp
                                                   ) -> None:
    """A file without the executable bit is shown with the fix, not as a runnable script."""
    extra = server_app.emulator.bin_dirs[1]
    (extra / "notes.sh").write_text("#!/bin/sh\n")
    (extra / "notes.sh").chmod(0o644)
    html = client.get("/").get_data(as_text=True)
    assert "notes.sh <span class=\"warn\">not executable: chmod +x</span>" in html
    assert client.get("/sss/scripts/notes.sh").status_code == 404


@pytest.mark.parametrize("call", ["minimal.bash", "handle_csv.py"])
def test_every_control_has_a_label(client: Client, call: str) -> None:
    """Generic and config-driven forms: each input is labelled and ids are unique."""
    page = parse(client.get(f"/sss/scripts/{call}").get_data(as_text=True))
    assert page.controls
    for control in page.controls:
        assert control.get("id") in page.label_for, control
    assert len(page.ids) == len(set(page.ids))


def test_generic_form_offers_positionals_options_and_files(client: Client) -> None:
    html = client.get("/sss/scripts/minimal.bash").get_data(as_text=True)
    assert 'data-mode="generic" data-call="minimal.bash"' in html
    for ident in ("p0", "p0-file", "p1", "o0-name", "o0-value", "o0-file"):
        assert f'id="{ident}"' in html
    assert 'data-add="positional"' in html and 'data-add="option"' in html


def test_config_form_is_built_from_the_json_beside_the_script(client: Client) -> None:
    """handle_csv.py.form.json: a required text and a required CSV upload with help texts."""
    html = client.get("/sss/scripts/handle_csv.py").get_data(as_text=True)
    assert 'data-mode="config" data-call="handle_csv.py"' in html
    assert ('<input type="text" id="cf-0" name="myparameter" data-kind="text" '
            'aria-describedby="cf-0-help" required>') in html
    assert 'name="csvfile" data-kind="file"' in html and 'accept=".csv"' in html
    assert '<p class="help" id="cf-1-help">Upload a CSV Table</p>' in html
    assert 'data-form-field="-p0" data-form-file="form.json"' in html


def test_broken_config_falls_back_to_the_generic_form(client: Client, server_app: ServerApp
                                                      ) -> None:
    extra = server_app.emulator.bin_dirs[1]
    (extra / "fails.bash.form.json").write_text('{"fields": [{"type": "colour", "name": "c"}]}')
    html = client.get("/sss/scripts/fails.bash").get_data(as_text=True)
    assert "The form config cannot be used" in html
    assert "type &#x27;colour&#x27; is not supported" in html
    assert 'data-mode="generic"' in html


@pytest.mark.parametrize("content", ["deep", "huge"])
def test_a_hostile_config_leaves_the_pages_working(server_app: ServerApp, content: str) -> None:
    """A form.json in a cloned script repository, nested 100000 deep or of 64 MiB: the index
    and the script's page still answer (over real HTTP), the script with the generic form and
    a notice naming the file, instead of a 500 for every visitor of the index."""
    import http.cookiejar
    import urllib.parse
    import urllib.request

    from sss_emulator.httpd import running_server

    extra = server_app.emulator.bin_dirs[1]
    config = extra / "fails.bash.form.json"
    if content == "deep":
        config.write_text("[" * 100_000 + "]" * 100_000)
    else:
        with config.open("w") as file:
            file.write('{"fields": [{"type": "text", "name": "a"}], "description": "')
            file.write("x" * (64 * 1024 * 1024))
            file.write('"}')
    with running_server(server_app) as handle:
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        login = urllib.parse.urlencode({"username": "admin", "password": ADMIN_PASSWORD})
        opener.open(handle.url + "/login", data=login.encode(), timeout=60).close()
        with opener.open(handle.url + "/", timeout=60) as index:
            assert index.status == 200 and b"fails.bash" in index.read()
        with opener.open(handle.url + "/sss/scripts/fails.bash", timeout=60) as page:
            html = page.read().decode()
    assert "The form config cannot be used" in html and str(config) in html
    assert ("nested too deeply" if content == "deep" else "larger than 1024 KiB") in html
    assert 'data-mode="generic"' in html


def test_webui_style_submission_runs_handle_csv(client: Client) -> None:
    """form.json in -p0 plus the CSV as a part named csvfile: the script finds both."""
    form = json.dumps({"myparameter": "first try", "csvfile": "table.csv"}).encode()
    status, srid = run_multipart(client, {
        "call": "handle_csv.py",
        "-p0": (io.BytesIO(form), "form.json", "application/json"),
        "csvfile": ((DATA / "table.csv").open("rb"), "table.csv", "text/csv"),
    })
    assert status == 200
    run = client.get(f"/sss/api/runs/{srid}").get_json()
    assert run["code"] == 0, run["stderr"]
    assert run["call"] == "handle_csv.py .upload_files/form.json"
    assert 'class="alert alert-info' in run["stdout"]
    links = {f["name"]: f["link"] for f in run["shared_files"]}
    assert set(links) == {"log.txt", "output.json"}
    summary = json.loads(client.get(links["output.json"]).get_data(as_text=True))
    assert summary["rows"] == 3 and summary["parameter"] == "first try"


def test_run_json_has_what_the_result_view_shows(client: Client) -> None:
    status, srid = run_multipart(client, {"call": "fails.bash", "-Ostep": "one", "-p0": "x"})
    assert status == 200
    run = client.get(f"/sss/api/runs/{srid}").get_json()
    assert run["srid"] == srid and run["script"] == "fails.bash"
    assert run["call"] == "fails.bash --step=one x"
    assert run["code"] == 3 and run["timed_out"] is False
    assert run["stderr"] == "boom: no input file given\n"
    assert run["stdout"] == "step 1 done\n"
    assert run["user"] == {"name": "admin", "roles": ["administration"]}
    assert isinstance(run["duration_s"], float) and run["timestamp"].endswith("+00:00")
    listed = client.get("/sss/api/runs").get_json()["runs"]
    assert listed[0]["srid"] == srid and "stdout" not in listed[0]


def test_history_lists_and_reopens_runs(client: Client) -> None:
    """Newest first on the index; each run has a page that loads it from the JSON endpoint."""
    _, first = run_multipart(client, {"call": "minimal.bash", "-p0": "one"})
    _, second = run_multipart(client, {"call": "fails.bash"})
    html = client.get("/").get_data(as_text=True)
    assert html.index(f"/sss/runs/{second}") < html.index(f"/sss/runs/{first}")
    assert '<span class="badge fail">exit 3</span>' in html
    page = client.get(f"/sss/runs/{first}")
    assert page.status_code == 200
    assert f'data-srid="{first}"' in page.get_data(as_text=True)
    script_page = client.get("/sss/scripts/minimal.bash").get_data(as_text=True)
    assert f"/sss/runs/{first}" in script_page and f"/sss/runs/{second}" not in script_page


def test_unknown_things_answer_404(client: Client) -> None:
    assert client.get("/sss/runs/feedbeef").status_code == 404
    missing = client.get("/sss/api/runs/feedbeef")
    assert missing.status_code == 404 and "feedbeef" in missing.get_json()["error"]
    html = client.get("/sss/scripts/nope.sh")
    assert html.status_code == 404 and "No executable script" in html.get_data(as_text=True)
    assert client.get("/sss/static/..%2Fwebpage.py").status_code == 404
    assert client.get("/sss/static/nope.css").status_code == 404


def test_page_answers_only_get(client: Client) -> None:
    response = client.post("/sss/scripts/minimal.bash")
    assert response.status_code == 405 and response.headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize(("name", "mimetype"), [("page.js", "text/javascript"),
                                                ("page.css", "text/css"),
                                                ("frame.css", "text/css")])
def test_assets_ship_in_the_package(client: Client, name: str, mimetype: str) -> None:
    response = client.get(f"/sss/static/{name}")
    assert response.status_code == 200 and response.mimetype == mimetype
    assert response.get_data()


def test_frame_css_styles_bootstrap_alerts(client: Client) -> None:
    css = client.get("/sss/static/frame.css").get_data(as_text=True)
    for kind in ("info", "warning", "danger", "success"):
        assert f".alert-{kind} {{" in css


def test_context_root_prefixes_every_url(tmp_path: Path, extra_bin: Path) -> None:
    """Under CONTEXT_ROOT the page lives below it and posts to <root>/scripting."""
    app = build_server(tmp_path, extra_bin, context_root="caosdb")
    try:
        client = Client(app)
        client.post("/caosdb/login", data={"username": "admin", "password": ADMIN_PASSWORD})
        html = client.get("/caosdb/").get_data(as_text=True)
        assert 'data-scripting="/caosdb/scripting"' in html
        assert 'href="/caosdb/sss/scripts/minimal.bash"' in html
        assert 'href="/caosdb/sss/static/page.css"' in html
        assert client.get("/caosdb/sss/static/page.js").status_code == 200
        assert client.get("/caosdb/sss/scripts/handle_csv.py").status_code == 200
    finally:
        app.close()


def test_sample_form_config_parses() -> None:
    from sss_emulator.serve.page.forms import load_form_config

    config = load_form_config(SAMPLES / "handle_csv.py", "handle_csv.py")
    assert config is not None
    assert [(f.type, f.name, f.required) for f in config.fields] == [
        ("text", "myparameter", True), ("file", "csvfile", True)]


def test_runs_are_private_to_their_user(server_app: ServerApp, client: Client) -> None:
    """A run's output may hold the caller's token: only they (and administrators) see it."""
    _, admins = run_multipart(client, {"call": "minimal.bash"})
    tina = Client(server_app)
    tina.post("/login", data={"username": "tina", "password": TEAM_PASSWORD})
    form = json.dumps({"myparameter": "x", "csvfile": "table.csv"}).encode()
    _, tinas = run_multipart(tina, {
        "call": "handle_csv.py",
        "-p0": (io.BytesIO(form), "form.json", "application/json"),
        "csvfile": ((DATA / "table.csv").open("rb"), "table.csv", "text/csv"),
    })
    assert tina.get(f"/sss/api/runs/{admins}").status_code == 404
    assert tina.get(f"/sss/runs/{admins}").status_code == 404
    assert [r["srid"] for r in tina.get("/sss/api/runs").get_json()["runs"]] == [tinas]
    assert tina.get(f"/sss/api/runs/{tinas}").get_json()["user"]["name"] == "tina"
    assert client.get(f"/sss/api/runs/{tinas}").status_code == 200
    anonymous = Client(server_app)
    assert anonymous.get("/sss/api/runs").status_code == 401  # anonymous access is off
    assert f"/sss/runs/{admins}" not in anonymous.get("/").get_data(as_text=True)


def test_a_timed_out_run_is_in_the_history(tmp_path: Path, extra_bin: Path) -> None:
    """/scripting answers 500 for a timeout, but the page can still show the run."""
    sleeper = extra_bin / "sleeps.bash"
    sleeper.write_text("#!/bin/bash\necho started\nexec sleep 30\n")
    sleeper.chmod(0o755)
    app = build_server(tmp_path, extra_bin, timeout=0.5)
    try:
        client = Client(app)
        client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD})
        status, srid = run_multipart(client, {"call": "sleeps.bash"})
        assert status == 500
        run = client.get(f"/sss/api/runs/{srid}").get_json()
        assert run["timed_out"] is True and run["code"] is None
        assert run["stdout"] == "started\n"
        assert '<span class="badge fail">timed out</span>' in client.get("/").get_data(
            as_text=True)
    finally:
        app.close()
