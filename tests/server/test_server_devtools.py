"""serve's tools: the page's "wait for a debugger" field (POST /scripting with X-SSS-Debug-Wait
waits for a real DAP client; other scripts are refused in one line) and serve --coverage."""

from __future__ import annotations

import os
import re
import sys
import threading
from pathlib import Path

import pytest
from server_helpers import ADMIN_PW, ALICE_PW, login
from werkzeug.test import Client

from sss_emulator.serve import app as server_module
from sss_emulator.serve.app import ServerApp

pytest.importorskip("debugpy")
sys.path.insert(0, str(Path(__file__).parents[1] / "devtools"))
from dap_client import DAPClient


def _login(app: ServerApp) -> Client:
    client = Client(app)
    client.post("/login", data={"username": "admin", "password": ADMIN_PW})
    return client


def test_a_page_run_waits_for_the_debugger(app: ServerApp, bin_dir: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    script = bin_dir / "dbg.py"
    script.write_text("#!/usr/bin/env python3\nimport sys\nprint('ran', sys.argv[-1])\n")
    script.chmod(0o755)
    said: list[str] = []
    listening = threading.Event()

    def say(stream: object, line: str) -> None:
        said.append(line)
        listening.set()

    monkeypatch.setattr(server_module, "say", say)
    responses = []
    thread = threading.Thread(target=lambda: responses.append(_login(app).post(
        "/scripting", data={"call": "dbg.py", "-p0": "x"}, headers={"X-SSS-Debug-Wait": "0"})))
    thread.start()
    assert listening.wait(30)
    thread.join(1.0)
    assert thread.is_alive(), "the run ended without a debugger attached"
    host, port = re.search(r"on ([\d.]+):(\d+)", said[0]).groups()  # type: ignore[union-attr]
    client = DAPClient(host, int(port))
    client.attach()
    thread.join(60)
    client.close()
    response = responses[0]
    assert response.status_code == 200
    assert "<stdout>ran x\n</stdout>" in response.get_data(as_text=True)


def test_a_bash_script_is_refused_in_one_line(app: ServerApp) -> None:
    response = _login(app).post("/scripting", data={"call": "minimal.bash"},
                                headers={"X-SSS-Debug-Wait": "5678"})
    assert response.status_code == 400
    assert "works for Python scripts only" in response.get_data(as_text=True)
    response = _login(app).post("/scripting", data={"call": "minimal.bash"},
                                headers={"X-SSS-Debug-Wait": "soon"})
    assert response.status_code == 400
    assert "give a port" in response.get_data(as_text=True)


def test_the_page_offers_the_field(app: ServerApp) -> None:
    page = _login(app).get("/sss/scripts/minimal.bash").get_data(as_text=True)
    assert 'id="debug-wait"' in page and 'id="debug-port"' in page


def test_the_page_hides_the_field_from_those_who_may_not_ask(app: ServerApp) -> None:
    """alice may run minimal.bash but not ask for a debugger: no field she could not use."""
    page = login(app, "alice", ALICE_PW).get("/sss/scripts/minimal.bash").get_data(as_text=True)
    assert "Run script" in page
    assert 'id="debug-wait"' not in page


def test_serve_coverage_adds_each_run(tmp_path: Path, bin_dir: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """serve --coverage: a run from a client lands in the project's .coverage."""
    coverage = pytest.importorskip("coverage")
    from sss_emulator.serve.build import build_app

    for name in [n for n in os.environ if n.startswith("SSS_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    script = bin_dir / "cov.py"
    script.write_text("#!/usr/bin/env python3\nimport sys\nif sys.argv[-1] == 'x':\n"
                      "    print('x')\nelse:\n    print('other')\n")
    script.chmod(0o755)
    app, _ = build_app({"bin_dirs": (str(bin_dir),), "coverage": True,
                        "work_root": str(tmp_path / "w"), "shared_root": str(tmp_path / "s")},
                       cwd=tmp_path)
    try:
        client = Client(app)
        client.post("/login", data={"username": "admin", "password": app.generated_password})
        response = client.post("/scripting", data={"call": "cov.py", "-p0": "x"})
        assert response.status_code == 200, response.get_data(as_text=True)
    finally:
        app.close()
    data = coverage.CoverageData(str(tmp_path / ".coverage"))
    data.read()
    assert sorted(data.lines(str(script)) or []) == [2, 3, 4]
