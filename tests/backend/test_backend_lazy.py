"""The stand-in costs nothing until a script calls back, and a script that does sees no difference.

``start()`` binds the sockets (their ports go into the ini); the app, the store and the SMTP
sink are built by the first client, on that same socket.
"""

from __future__ import annotations

import contextlib
import http.client
import smtplib
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from backend_helpers import backend_authenticate

from sss_emulator.backend import StandIn
from sss_emulator.backend.lifecycle import OnFirstConnection
from sss_emulator.httpd import bind

REPO = Path(__file__).resolve().parents[2]
HEAVY = {"werkzeug", "aiosmtpd", "asyncio", "lxml"}


def _get(url: str, path: str) -> int:
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", path)
    status = connection.getresponse().status
    connection.close()
    return status


def test_a_run_that_never_calls_back_builds_and_imports_nothing(tmp_path: Path) -> None:
    """minimal.bash through the public Emulator: no server, store, werkzeug or asyncio."""
    code = f"""
import sys
from sss_emulator import Emulator
with Emulator([{str(REPO / "sample_scripts")!r}], work_root={str(tmp_path / "w")!r},
              shared_root={str(tmp_path / "s")!r}) as em:
    assert em.run_server_side_script("minimal.bash", "x").code == 0
    hook = em.hooks[0]
    assert hook._stand_in._app is None and hook._stand_in._store is None
print(" ".join(sorted({{m.split(".")[0] for m in sys.modules}})))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout
    assert set(out.split()) & HEAVY == set()


def test_the_first_request_builds_the_app_on_the_bound_port(tmp_path: Path) -> None:
    """The URL handed out before any client is the one that answers; so is the SMTP port."""
    with StandIn(authenticate=backend_authenticate, state_dir=tmp_path) as stand_in:
        url = stand_in.url
        assert stand_in._app is None and stand_in._server is None
        assert _get(url, "/Entity/1") == 401  # no SessionToken: the app itself answers
        assert stand_in._app is not None and stand_in.url == url
        assert [c["status"] for c in stand_in.results()["server_calls"]] == [401]
        host, port = stand_in.smtp
        with smtplib.SMTP(host, port, timeout=10) as smtp:
            smtp.sendmail("a@example.com", ["b@example.com"],
                          "Subject: hello\r\n\r\nbody\r\n")
        assert [m["subject"] for m in stand_in.results()["mails"]] == ["hello"]


def test_results_of_a_stand_in_nobody_reached_are_empty(tmp_path: Path) -> None:
    """results() and reset() build nothing: no calls, no changes, no mails."""
    with StandIn(authenticate=backend_authenticate, state_dir=tmp_path) as stand_in:
        stand_in.reset()
        assert stand_in.results() == {
            "server_calls": [],
            "changes": {"inserted": [], "updated": [], "deleted": []},
            "mails": [],
        }
        assert stand_in._store is None and stand_in._recorder is None


def test_stop_releases_the_ports_it_never_served(tmp_path: Path) -> None:
    """After stop() the bound ports refuse connections."""
    with StandIn(authenticate=backend_authenticate, state_dir=tmp_path) as stand_in:
        port = int(stand_in.url.rsplit(":", 1)[1])
        smtp_port = stand_in.smtp[1]
    for number in (port, smtp_port):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", number), timeout=5).close()


def test_a_server_that_cannot_start_refuses_its_clients() -> None:
    """serve() raising closes the socket: the client is refused, it does not hang."""
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]

    def broken(_: socket.socket) -> None:
        raise RuntimeError("cannot build")

    waiter = OnFirstConnection({sock: broken}, "test-waiter").start()
    try:
        # the listening socket closes under the knocking client: depending on how far its
        # handshake got, it is reset, refused, or sees the connection end without a byte
        with contextlib.suppress(ConnectionResetError, ConnectionRefusedError):
            client = socket.create_connection(("127.0.0.1", port), timeout=5)
            client.settimeout(5)
            try:
                assert client.recv(1) == b""
            finally:
                client.close()
    finally:
        waiter.stop()
    assert waiter.served == set()


def test_shared_sendmail_spools_into_each_runs_own_folder(make_script,
                                                          roots: dict[str, Path]) -> None:
    """Mail piped to sendmail (on PATH, as in the ini) is captured per run; a run that sends
    none leaves no spool folder, and close() removes the stand-in's folder."""
    from sss_emulator import Emulator

    script = make_script("mail.sh", "#!/bin/sh\nprintf 'To: x@example.com\\nSubject: s\\n\\nhi\\n'"
                         " | sendmail -t -i -f me@example.com\n")
    quiet = make_script("quiet.sh", "#!/bin/sh\nexit 0\n")
    with Emulator([script.parent], **roots) as em:
        stand_in = em.stand_in
        assert stand_in is not None
        assert em.run_server_side_script(quiet.name).mails == ()
        assert not stand_in.collector.spool_dir.exists()
        res = em.run_server_side_script(script.name)
        assert res.code == 0, res.report()
        assert [(m["subject"], m["via"]) for m in res.mails] == [("s", "sendmail")]
        assert em.run_server_side_script(quiet.name).mails == ()
        state_dir = stand_in.state_dir
    assert not state_dir.exists()


def test_stopping_at_once_after_starting_is_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """stop() right after start() (a run that fails before its script starts) races with the
    waiter thread setting up; neither side may raise or print."""
    import sys

    problems: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", problems.append)
    monkeypatch.setattr(sys, "excepthook", lambda *args: problems.append(args))
    for _ in range(200):
        sock = bind("127.0.0.1", 0)
        waiter = OnFirstConnection({sock: lambda _: None}, "test-waiter").start()
        waiter.stop()
    import time

    time.sleep(0.2)  # let the last waiters end
    assert problems == []
