"""The server on a real socket, driven by the real ``linkahead`` client and by curl."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import linkahead
import pytest
from linkahead.exceptions import HTTPForbiddenError, HTTPResourceNotFoundError, LoginFailedError
from linkahead.utils.server_side_scripting import run_server_side_script
from lxml import etree
from server_helpers import ADMIN_PW, ALICE_PW

from sss_emulator.httpd import ServerHandle, TlsFiles, make_self_signed_cert, running_server
from sss_emulator.serve.app import ServerApp


@pytest.fixture
def live(app: ServerApp) -> Iterator[ServerHandle]:
    with running_server(app) as handle:
        yield handle


def use_pylib(url: str, user: str = "admin", password: str = ADMIN_PW, **kwargs: object) -> None:
    linkahead.configure_connection(url=url, username=user, password=password,
                                   password_method="plain", timeout=30, **kwargs)


def curl(*args: str) -> str:
    return subprocess.run(["curl", "-s", "-S", "--max-time", "30", *args], check=True,
                          capture_output=True, text=True).stdout


def test_pylib_call_with_positionals_options_and_files(live: ServerHandle,
                                                       tmp_path: Path) -> None:
    """The seed tutorial's pylib example, unchanged, against the local server."""
    use_pylib(live.url)
    test_file = tmp_path / "test_file.txt"
    test_file.write_text("this is a test")
    response = run_server_side_script("minimal.bash", "pos0", "pos1", option1="val1",
                                      option2="val2", files={"-Ofile": str(test_file)})
    assert response.stderr is None
    assert response.code == 0
    assert response.call == ("minimal.bash --option1=val1 --option2=val2 "
                             "--file=.upload_files/test_file.txt pos0 pos1")
    printed = run_server_side_script("print_file.bash", files={"-p0": str(test_file)})
    assert printed.stdout == "this is a test"


def test_pylib_errors_map_to_its_exceptions(live: ServerHandle) -> None:
    use_pylib(live.url)
    with pytest.raises(HTTPResourceNotFoundError):
        run_server_side_script("no_such_script.py")
    use_pylib(live.url, "alice", ALICE_PW)
    with pytest.raises(HTTPForbiddenError):
        run_server_side_script("administration/diagnostics.py")
    assert run_server_side_script("minimal.bash").code == 0
    use_pylib(live.url, "admin", "wrong password")
    with pytest.raises(LoginFailedError):
        run_server_side_script("minimal.bash")


def _token(live: ServerHandle) -> str:
    output = subprocess.run(
        ["curl", "-s", "-i", "-d", "username=admin", "-d", f"password={ADMIN_PW}",
         f"{live.url}/login"], check=True, capture_output=True, text=True).stdout
    header = next(line for line in output.splitlines() if line.lower().startswith("set-cookie"))
    return header.split("SessionToken=", 1)[1].split(";", 1)[0]  # still url-quoted


def test_curl_commands_of_the_tutorial(live: ServerHandle, examples: Path) -> None:
    """The curl lines of the seed's deep dive, with a token from POST /login."""
    cookie = f"Cookie: SessionToken={_token(live)}"
    data = examples / "data" / "data.json"
    plain = etree.fromstring(curl("-F", "call=minimal.bash", f"{live.url}/scripting",
                                  "-H", cookie).encode())
    assert plain.find("script").get("code") == "0"
    upload = etree.fromstring(curl("-F", "call=minimal.bash", "-F", f"-Omy-file=@{data}",
                                   f"{live.url}/scripting", "-H", cookie).encode())
    assert upload.findtext("script/call") == "minimal.bash --my-file=.upload_files/data.json"
    printed = etree.fromstring(curl("-F", "call=print_file.bash", "-F", f"-p0=@{data}",
                                    f"{live.url}/scripting", "-H", cookie).encode())
    assert printed.findtext("script/stdout") == data.read_text()
    refused = curl("-o", "/dev/null", "-w", "%{http_code}", "-F", "call=minimal.bash",
                   f"{live.url}/scripting")
    assert refused == "401"


def test_server_as_a_client_of_itself(live: ServerHandle) -> None:
    """user_info.bash calls back with and without its token: 401, then 200."""
    use_pylib(live.url)
    response = run_server_side_script("user_info.bash")
    assert response.code == 0, response.stderr
    assert response.stdout == "No SessionToken: 401\nWith SessionToken: 200\n"


def test_tls_with_the_generated_certificate(app: ServerApp, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """pylib and curl trust the printed certificate; scripts' ini gets it as cacert."""
    # requests lets REQUESTS_CA_BUNDLE override the verify= pylib passes for cacert
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    tls: TlsFiles = make_self_signed_cert(tmp_path / "tls")
    app.cacert = tls.cert
    with running_server(app, tls=tls) as handle:
        assert handle.url.startswith("https://")
        use_pylib(handle.url, cacert=str(tls.cert))
        assert run_server_side_script("minimal.bash", "x").code == 0
        assert run_server_side_script("user_info.bash").stdout == (
            "No SessionToken: 401\nWith SessionToken: 200\n")
        status = curl("--cacert", str(tls.cert), "-o", "/dev/null", "-w", "%{http_code}",
                      f"{handle.url}/Info")
        assert status == "401"


def test_requests_run_concurrently(live: ServerHandle, bin_dir: Path, tmp_path: Path) -> None:
    """Two scripts that each wait for the other can only both finish if they run together."""
    for me, other in (("a", "b"), ("b", "a")):
        script = bin_dir / f"{me}.sh"
        script.write_text(f'#!/bin/sh\ntouch "$2/{me}"\nfor i in $(seq 200); do\n'
                          f'  [ -e "$2/{other}" ] && exit 0\n  sleep 0.05\ndone\nexit 1\n')
        script.chmod(0o755)
    rendezvous = tmp_path / "rdv"
    rendezvous.mkdir()
    token = quote(live.url and _token(live), safe="%")
    codes: dict[str, str] = {}

    def call(name: str) -> Callable[[], None]:
        def run() -> None:
            out = curl("-F", f"call={name}.sh", "-F", f"-p0={rendezvous}",
                       f"{live.url}/scripting", "-H", f"Cookie: SessionToken={token}")
            codes[name] = etree.fromstring(out.encode()).find("script").get("code")
        return run

    threads = [threading.Thread(target=call(n)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert codes == {"a": "0", "b": "0"}


def test_served_script_queries_data_seeded_with_data_option(tmp_path: Path, bin_dir: Path,
                                                            samples: Path) -> None:
    """``--data`` seeds the mounted stand-in; a script's pylib query reaches it via the ini."""
    from sss_emulator.serve.build import build_app

    records = tmp_path / "records.yml"
    records.write_text("- name: Strat\n  parents: [Guitar]\n- name: Tele\n  parents: [Guitar]\n")
    script = bin_dir / "count.py"
    script.write_text(
        "#!/usr/bin/env python3\nimport sys\nimport linkahead as la\n"
        "la.configure_connection(auth_token=sys.argv[1].split('=', 1)[1])\n"
        "print(sorted(e.name for e in la.execute_query('FIND Guitar')))\n")
    script.chmod(0o755)
    app, _settings = build_app({"bin_dirs": (str(bin_dir), str(samples)),
                                "data": (str(records),), "work_root": str(tmp_path / "w"),
                                "shared_root": str(tmp_path / "s")}, cwd=tmp_path)
    with running_server(app) as handle:
        use_pylib(handle.url, password=app.generated_password)
        response = run_server_side_script("count.py")
    assert response.code == 0, response.stderr
    assert response.stdout == "['Strat', 'Tele']\n"


def test_certificate_is_kept_across_restarts(tmp_path: Path) -> None:
    """A still-valid certificate is reused, so a client's cacert path keeps working."""
    first = make_self_signed_cert(tmp_path / "tls").cert.read_bytes()
    assert make_self_signed_cert(tmp_path / "tls").cert.read_bytes() == first
    assert make_self_signed_cert(tmp_path / "tls", "build-host").cert.read_bytes() != first


def test_served_script_mail_is_captured_and_recorded(tmp_path: Path, samples: Path,
                                                     examples: Path) -> None:
    """A served script's send_email reaches the capture, not the world; the run lists it."""
    from sss_emulator.serve.build import build_app

    data = examples / "data"
    app, _settings = build_app({"bin_dirs": (str(samples),),
                                "data": (str(data / "model.yml"), str(data / "records.yml")),
                                "work_root": str(tmp_path / "w"),
                                "shared_root": str(tmp_path / "s")}, cwd=tmp_path)
    with running_server(app) as handle:
        use_pylib(handle.url, password=app.generated_password)
        response = run_server_side_script("register_guitar.py",
                                          files={"-p0": str(data / "guitar_form.json")})
    assert response.code == 0, response.stderr
    (record,) = app.history.values()
    assert record.script == "register_guitar.py"
    assert [(m["to"], m["subject"]) for m in record.mails] == [
        (["shop@example.com"], "New guitar: Telecaster")]


def test_request_lines_in_a_log_file_carry_no_terminal_escapes(
        caplog: pytest.LogCaptureFixture) -> None:
    """werkzeug coloured ``POST /scripting`` with ANSI escapes even when stderr was a file."""
    import logging
    import urllib.error
    import urllib.request

    def refuse(environ: Any, start_response: Any) -> list[bytes]:
        start_response("403 Forbidden", [("Content-Length", "0")])
        return []

    with caplog.at_level(logging.INFO, logger="werkzeug"), running_server(
            refuse, quiet=False) as handle, pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"{handle.url}/scripting", data=b"call=x", timeout=30)
    lines = [r.getMessage() for r in caplog.records if "/scripting" in r.getMessage()]
    assert lines and all("\x1b" not in line for line in lines), lines
    assert '"POST /scripting HTTP/1.1" 403' in lines[0]
