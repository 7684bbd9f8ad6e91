"""Scripts that call back: the run's ini points at the stand-in (or a real server's URL)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from client_helpers import make_venv
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from sss_emulator import Emulator
from sss_emulator.cli.commands import main
from sss_emulator.connect.real_server import login_to_server
from sss_emulator.core import background
from sss_emulator.core import workspace as workspace_module
from sss_emulator.core.workspace import wait_for_removals
from sss_emulator.errors import ConfigError


@pytest.fixture
def em(samples: Path, examples: Path, roots: dict[str, Path]) -> Iterator[Emulator]:
    data = examples / "data"
    with Emulator([samples], timeout=60, data_files=[data / "model.yml", data / "records.yml"],
                  **roots) as emulator:
        yield emulator


def test_server_as_a_client_of_itself(em: Emulator) -> None:
    """user_info.bash: 401 without the token, 200 with it (the tutorial's pattern)."""
    res = em.run_server_side_script("user_info.bash")
    assert res.code == 0, res.report()
    assert res.stdout == "No SessionToken: 401\nWith SessionToken: 200\n"
    assert [c["status"] for c in res.server_calls] == [401, 200]


def test_info_and_query_with_the_token_the_script_got(em: Emulator) -> None:
    """Info names the caller; the seeded records are there."""
    em.identity = type(em.identity)("alice", "PAM", ("administration",))
    res = em.run_server_side_script("who_am_i.py")
    assert res.code == 0, res.report()
    assert res.stdout == "user: alice (realm PAM, roles administration)\nrecords: 4\n"


def test_insert_mail_and_download_link_are_reported(em: Emulator, examples: Path) -> None:
    """register_guitar.py inserts, mails through SMTP, and links a receipt."""
    res = em.run_server_side_script(
        "register_guitar.py", files={"-p0": examples / "data" / "guitar_form.json"})
    assert res.code == 0, res.report()
    inserted = res.changes["inserted"]
    assert [(e["name"], e["parents"]) for e in inserted] == [("Telecaster", ["Guitar"])]
    receipt = json.loads(res.shared_files["receipt.json"].read_text())
    assert receipt["id"] == inserted[0]["id"]
    assert [m["subject"] for m in res.mails] == ["New guitar: Telecaster"]
    assert res.mails[0]["to"] == ["shop@example.com"]
    assert res.shared_link("receipt.json") in res.stdout_text
    again = em.run_server_side_script("who_am_i.py")
    assert again.stdout_text.endswith("records: 5\n"), "data persists between runs"
    assert again.changes["inserted"] == [] and again.mails == ()


def test_users_own_ini_sections_are_kept_and_proxies_dropped(
        tmp_path: Path, make_script, roots: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy's [Connection] url changes; the user's skeleton file does not."""
    home = tmp_path / "home"
    home.mkdir()
    original = "[Connection]\nurl = https://real.example:10443\ntimeout = 200\n"
    (home / ".pylinkahead.ini").write_text(original)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    script = make_script("ini.sh", "#!/bin/sh\ncat \"$HOME/.pylinkahead.ini\"\n"
                         "echo \"proxy=${HTTPS_PROXY:-none}\"\n")
    with Emulator([script.parent], home, **roots) as em:
        out = em.run_server_side_script("ini.sh").stdout_text
    assert "url = http://127.0.0.1:" in out
    assert "timeout = 200" in out
    assert "proxy=none" in out
    assert (home / ".pylinkahead.ini").read_text() == original


def test_no_stand_in_leaves_home_alone(make_script, roots: dict[str, Path]) -> None:
    """stand_in=False: no ini is written, PATH is the caller's."""
    script = make_script("ls.sh", "#!/bin/sh\nls -A\n")
    res = Emulator([script.parent], stand_in=False, **roots).run_server_side_script("ls.sh")
    assert res.stdout == ".upload_files\n"


_HOME_LOOK = ('#!/bin/sh\nls -A; stat -c "%a %s" .pylinkahead.ini 2>/dev/null; '
              'cat .pylinkahead.ini 2>/dev/null\n')


def _looks(em: Emulator, times: int) -> list[str]:
    looks = []
    for _ in range(times):
        looks.append(em.run_server_side_script("home.sh").stdout_text)
        wait_for_removals()  # the next run's directories and ini are made meanwhile
    return looks


def test_an_ini_made_ahead_is_the_one_the_run_would_write(
        make_script, roots: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """From the third run on the ini is made with the directories, in the background; the
    script sees the same file (mode, size, text), and the run writes it no more."""
    script = make_script("home.sh", _HOME_LOOK)
    written_by_runs: list[str] = []
    real_write = background.write_file

    def counting_write(path: Path, data: bytes) -> None:
        if threading.current_thread() is threading.main_thread():
            written_by_runs.append(path.name)
        real_write(path, data)

    monkeypatch.setattr(workspace_module, "write_file", counting_write)
    with Emulator([script.parent], **roots) as em:
        looks = _looks(em, 4)
    assert written_by_runs == [".pylinkahead.ini", ".pylinkahead.ini"]
    assert looks[0].startswith(".pylinkahead.ini\n.upload_files\n")
    assert "url = http://127.0.0.1:" in looks[0]
    assert looks == [looks[0]] * 4


def test_an_ini_made_ahead_goes_when_no_hook_places_it(make_script,
                                                       roots: dict[str, Path]) -> None:
    script = make_script("home.sh", _HOME_LOOK)
    with Emulator([script.parent], **roots) as em:
        _looks(em, 3)
        em.hooks.clear()  # the stand-in's hook no more: nothing writes an ini
        assert _looks(em, 1) == [".upload_files\n"]


def test_a_skeleton_set_later_wins_over_an_ini_made_ahead(
        tmp_path: Path, make_script, roots: dict[str, Path]) -> None:
    script = make_script("home.sh", _HOME_LOOK)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".pylinkahead.ini").write_text("[Connection]\ntimeout = 200\n")
    with Emulator([script.parent], **roots) as em:
        _looks(em, 3)
        em.home = home
        look = _looks(em, 1)[0]
    assert "timeout = 200" in look and "url = http://127.0.0.1:" in look


def test_bad_data_file_is_a_config_error(samples: Path, tmp_path: Path,
                                         roots: dict[str, Path]) -> None:
    """A data file that does not parse names file and line."""
    bad = tmp_path / "records.yml"
    bad.write_text("- {name: x, parents: [A\n")
    with Emulator([samples], data_files=[bad], **roots) as em, \
            pytest.raises(ConfigError, match=r"records\.yml"):
        em.run_server_side_script("minimal.bash")


@pytest.fixture
def fake_server() -> Iterator[str]:
    """A real-server look-alike for --server-url: /login sets a SessionToken cookie."""

    @Request.application
    def app(request: Request) -> Response:
        if request.path == "/login" and request.form.get("password") == "pw":
            response = Response("ok")
            response.headers["Set-Cookie"] = "SessionToken=%5B%22S%22%2C%22real%22%5D; Path=/"
            return response
        return Response("no", status=401)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_login_to_a_real_server(fake_server: str) -> None:
    """The session token comes from the Set-Cookie; a wrong password is a clear error."""
    assert login_to_server(fake_server, "me", "pw") == '["S","real"]'
    with pytest.raises(ConfigError, match="refused the login"):
        login_to_server(fake_server, "me", "wrong")
    with pytest.raises(ConfigError, match="Cannot reach"):
        login_to_server("http://127.0.0.1:9", "me", "pw", timeout=5)


def test_cli_server_url_hands_the_script_that_token_and_url(
        fake_server: str, make_script, roots: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """--server-url: the script gets the real server's token and URL."""
    script = make_script("real.sh", "#!/bin/sh\necho \"$1\"\n"
                         "sed -n 's/^url = //p' \"$HOME/.pylinkahead.ini\"\n"
                         "echo \"${REQUESTS_CA_BUNDLE:-no bundle}\"\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/elsewhere/ca.pem")
    monkeypatch.setenv("SSS_PASSWORD", "pw")
    monkeypatch.setenv("SSS_WORK_ROOT", str(roots["work_root"]))
    result = CliRunner().invoke(main, [str(script), "--server-url", fake_server,
                                       "--username", "me"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ['--auth-token=["S","real"]', fake_server, "no bundle"]
    monkeypatch.setenv("SSS_PASSWORD", "wrong")
    refused = CliRunner().invoke(main, [str(script), "--server-url", fake_server,
                                        "--username", "me"])
    assert refused.exit_code == 125
    assert "refused the login" in refused.stderr


def test_outcome_says_what_the_run_ini_was_changed_to(em: Emulator) -> None:
    """--keep / JSON show the ini change: the kept copy points at the stand-in, notes say so."""
    from sss_emulator.core.call import CallRequest

    res = em.run(CallRequest("minimal.bash"), keep=True)
    url = em.stand_in.url
    assert f"url = {url}" in (res.workdir / ".pylinkahead.ini").read_text()
    assert any(url in note and "skeleton is unchanged" in note for note in res.notes)
    assert any(url in note for note in json.loads(res.to_json())["notes"])


def _python_with(tmp_path: Path, clients: dict[str, str] | None) -> Path:
    """A folder whose ``python3`` has these clients installed (None: a ``python3`` that fails)."""
    if clients is not None:
        return make_venv(tmp_path / "venv", **clients).parent
    fake_bin = tmp_path / "fake-python"
    fake_bin.mkdir()
    (fake_bin / "python3").write_text("#!/bin/sh\nexit 1\n")
    (fake_bin / "python3").chmod(0o755)
    return fake_bin


def _ini_for_client(tmp_path: Path, make_script, roots: dict[str, Path],
                    monkeypatch: pytest.MonkeyPatch,
                    clients: dict[str, str] | None) -> tuple[str, Path, str]:
    monkeypatch.setenv("PATH", f"{_python_with(tmp_path, clients)}:/usr/bin:/bin")
    home = tmp_path / "home"
    home.mkdir()
    script = make_script("ini.sh", "#!/bin/sh\ncat \"$HOME/.pylinkahead.ini\"\n"
                         "echo ---\ncat \"$HOME/.pycaosdb.ini\" 2>/dev/null\n")
    with Emulator([script.parent], home, **roots) as em:
        res = em.run_server_side_script("ini.sh")
    pylinkahead, _sep, pycaosdb = res.stdout_text.partition("---\n")
    return pylinkahead, home, pycaosdb + "\n" + "\n".join(res.notes)


@pytest.mark.parametrize(("clients", "email"), [
    ({"linkahead": "0.21.0"}, True),
    ({"linkahead": "1.2.0rc1"}, True),
    ({"linkahead": "0.20.0"}, False),
    ({"linkahead": "0.13.0", "caosdb": "0.99.99"}, False),
    ({}, False),  # no client at all
    (None, False),  # no answer: an old client would refuse [Email], so leave it out
])
def test_email_section_only_for_clients_whose_schema_has_it(
        tmp_path: Path, make_script, roots: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
        clients: dict[str, str] | None, email: bool) -> None:
    """linkahead < 0.21 and caosdb refuse an ini with [Email]; mail still goes to sendmail."""
    ini, _home, rest = _ini_for_client(tmp_path, make_script, roots, monkeypatch, clients)
    assert ("[Email]" in ini) is email
    assert "[Misc]\nsendmail = " in ini
    assert ("[Email] at a local SMTP capture" in rest) is email


def test_old_caosdb_client_gets_its_own_ini(
        tmp_path: Path, make_script, roots: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The caosdb package (no linkahead) reads ~/.pycaosdb.ini: it points at the stand-in too."""
    _ini, _home, pycaosdb = _ini_for_client(
        tmp_path, make_script, roots, monkeypatch, {"caosdb": "0.11.2"})
    assert "url = http://127.0.0.1:" in pycaosdb
    assert "[Email]" not in pycaosdb.split("the run's")[0]


def test_ca_bundle_variables_do_not_reach_the_script(
        tmp_path: Path, make_script, roots: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """requests would let them override the ini's cacert and ssl_insecure."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/elsewhere/ca.pem")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/elsewhere/curl.pem")
    monkeypatch.setenv("SSL_CERT_DIR", "/kept")
    script = make_script("env.sh", "#!/bin/sh\necho \"${REQUESTS_CA_BUNDLE:-none} "
                         "${CURL_CA_BUNDLE:-none} ${SSL_CERT_DIR:-none}\"\n")
    with Emulator([script.parent], **roots) as em:
        assert em.run_server_side_script("env.sh").stdout_text == "none none /kept\n"


def test_script_finds_the_callers_email_from_the_users_file(
        make_script, roots: dict[str, Path]) -> None:
    """Scripts mail the caller at the address the server knows: GET User/<realm>/<name>."""
    import sys

    from sss_emulator.core.permissions import UserEntry, UsersConfig
    from sss_emulator.core.tokens import Identity

    script = make_script("whoami_mail.py", f"#!{sys.executable}\n" + (
        "import sys, linkahead\n"
        "from lxml import etree\n"
        "from linkahead.common import administration as admin\n"
        "linkahead.configure_connection(auth_token=sys.argv[1].split('=', 1)[1])\n"
        "me = linkahead.Info().user_info\n"
        "user = etree.fromstring(admin._retrieve_user(realm=me.realm, name=me.name))\n"
        "print(user.find('User').get('email'))\n"))
    users = UsersConfig(users={"alice": UserEntry("alice", None, ("team",), "PAM",
                                                  "alice@example.com")},
                        role_permissions={"team": ("SCRIPTING:EXECUTE:*",)})
    with Emulator([script.parent], users=users, **roots) as em:
        em.identity = Identity("alice", "PAM", ("team",))
        res = em.run_server_side_script("whoami_mail.py")
    assert res.code == 0, res.report()
    assert res.stdout_text == "alice@example.com\n"


def test_the_access_model_is_made_when_a_script_first_calls_back(
        make_script, samples: Path, roots: dict[str, Path], tmp_path: Path) -> None:
    """Until then the scripting check reads the users file (what the model starts from); a kept
    state (``sqlite_path``) is read when the stand-in starts, since it may differ from it."""
    from sss_emulator.connect.standin import StandInHook
    from sss_emulator.core.permissions import UsersConfig
    from sss_emulator.core.tokens import Identity
    from sss_emulator.errors import PermissionDenied

    make_script("quiet.bash", "#!/bin/bash\necho quiet\n")
    for name in ("minimal.bash", "user_info.bash"):
        make_script(name, (samples / name).read_text())
    users = UsersConfig(role_permissions={"team": ("SCRIPTING:EXECUTE:quiet.bash",
                                                   "SCRIPTING:EXECUTE:user_info.bash")})
    with Emulator([tmp_path / "bin"], users=users, **roots) as em:
        em.identity = Identity("bob", "PAM", ("team",))
        hook = next(h for h in em.hooks if isinstance(h, StandInHook))
        assert em.run_server_side_script("quiet.bash").stdout_text == "quiet\n"
        assert hook.access is None  # the stand-in listens, but nobody asked it anything
        with pytest.raises(PermissionDenied):  # the users file answered the check
            em.run_server_side_script("minimal.bash")
        res = em.run_server_side_script("user_info.bash")
        assert res.code == 0, res.report()
        assert hook.access is not None  # made by the script's request
        with pytest.raises(PermissionDenied):  # now the model answers, as the file did
            em.run_server_side_script("minimal.bash")
        assert em.run_server_side_script("quiet.bash").code == 0

    kept = StandInHook(em.authority, sqlite_path=tmp_path / "state.sqlite", users=users)
    try:
        kept.stand_in  # noqa: B018 - starting it is the point
        assert kept.access is not None
    finally:
        kept.close()
