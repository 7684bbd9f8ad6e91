"""Who may make ``serve`` wait for a debugger, and how long such a wait lasts.

A waiting debugpy port lets any local process that attaches run code as the developer, so the
``X-SSS-Debug-Wait`` header is the administrator's (or everyone's after ``serve
--allow-debug-wait``, said at start), and a wait ends with its HTTP client or at the run's
timeout. Driven as an attacker would: a real ``sss-emulate serve``, curl as the client.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from lxml import etree
from serve_support import SERVE, banner_url, wait_ready

from sss_emulator.core import processes
from sss_emulator.core.guardian import GUARDIAN_NAME

pytest.importorskip("debugpy")
sys.path.insert(0, str(Path(__file__).parents[1] / "devtools"))
from dap_client import DAPClient

ADMIN_PW = "admin-debug-pw"
ALICE_PW = "alice-debug-pw"
USERS = f"""\
users:
  admin: {{password: {ADMIN_PW}, roles: [administration]}}
  alice: {{password: {ALICE_PW}, roles: [team]}}
roles:
  team: [SCRIPTING:EXECUTE:dbg.py]
  anonymous: [SCRIPTING:EXECUTE:dbg.py]
"""
DBG = "#!/usr/bin/env python3\nimport sys\nprint('ran', sys.argv[-1])\n"
_ATTACH_LINE = re.compile(r"waits for a debugger on ([\d.]+):(\d+)")


@dataclass
class Served:
    """A running ``sss-emulate serve`` and what it said on stderr so far."""

    proc: subprocess.Popen[str]
    url: str
    folder: Path
    lines: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()

    def ports(self, count: int, limit_s: float = 60) -> list[int]:
        """The debugpy ports of the first ``count`` waiting runs, once that many wait."""
        deadline = time.monotonic() + limit_s
        with self.changed:
            while True:
                found = [int(m.group(2)) for m in map(_ATTACH_LINE.search, self.lines) if m]
                if len(found) >= count or time.monotonic() > deadline:
                    break
                self.changed.wait(0.5)
        assert len(found) >= count, "".join(self.lines)
        return found[:count]

    def session(self, user: str, password: str) -> Path:
        jar = self.folder / f"jar-{user}"
        subprocess.run(["curl", "-s", "-c", str(jar), "-d", f"username={user}",
                        "-d", f"password={password}", f"{self.url}/login"],
                       check=True, capture_output=True)
        return jar

    def post(self, jar: Path | None, port: str = "0", *extra: str) -> subprocess.Popen[str]:
        """curl POST /scripting of dbg.py asking for a debugger; the answer on its stdout,
        the status on its last line."""
        cookie = ["-b", str(jar)] if jar is not None else []
        return subprocess.Popen(
            ["curl", "-s", "-w", "\n%{http_code}", *cookie, "-H", f"X-SSS-Debug-Wait: {port}",
             "-F", "call=dbg.py", "-F", "-p0=x", *extra, f"{self.url}/scripting"],
            stdout=subprocess.PIPE, text=True)


def _serve(tmp_path: Path, *extra: str) -> Iterator[Served]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dbg.py").write_text(DBG)
    (bin_dir / "dbg.py").chmod(0o755)
    (tmp_path / "users.yaml").write_text(USERS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    proc = subprocess.Popen(
        [*SERVE, "--bin-dir", str(bin_dir), "--port", "0", "--anonymous", "--quiet",
         "--users", str(tmp_path / "users.yaml"), "--work-root", str(tmp_path / "work"),
         "--shared-root", str(tmp_path / "shared"), *extra],
        stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    banner: list[str] = []
    served = Served(proc, banner_url(proc, banner), tmp_path, banner)
    threading.Thread(target=served.read, daemon=True).start()
    wait_ready(served.url, proc)
    try:
        yield served
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from _serve(tmp_path, "--timeout", "60")


def _answer(client: subprocess.Popen[str]) -> tuple[int, etree._Element]:
    out, _ = client.communicate(timeout=120)
    body, status = out.rsplit("\n", 1)
    return int(status), etree.fromstring(body.encode())


def _waiting(served: Served) -> list[int]:
    """The server's live children but its guardian: a debugged run's waiting wrapper is one."""
    return [pid for pid in processes.children(served.proc.pid)
            if processes.state(pid) not in (None, "Z")
            and processes.command_name(pid) != GUARDIAN_NAME]


def test_anonymous_and_non_admin_callers_are_refused_a_debugger(served: Served) -> None:
    for jar in (None, served.session("alice", ALICE_PW)):
        status, document = _answer(served.post(jar))
        assert status == 403
        description = document.find("Error").get("description")  # type: ignore[union-attr]
        assert "may not ask for a debugger" in description
        assert "--allow-debug-wait" in description
    assert _waiting(served) == []
    assert not any(_ATTACH_LINE.search(line) for line in served.lines)
    # the same callers still run the script without a debugger
    plain = subprocess.run(["curl", "-s", "-F", "call=dbg.py", "-F", "-p0=y",
                            f"{served.url}/scripting"], capture_output=True, text=True)
    assert "<stdout>ran y\n</stdout>" in plain.stdout


def test_the_admin_may_ask_and_the_run_goes_on_once_attached(served: Served) -> None:
    client = served.post(served.session("admin", ADMIN_PW))
    port = served.ports(1)[0]
    debugger = DAPClient("127.0.0.1", port)
    debugger.attach()
    status, document = _answer(client)
    debugger.close()
    assert status == 200
    assert document.findtext("script/stdout") == "ran x\n"


def test_allow_debug_wait_lets_every_caller_ask_and_says_so_at_start(tmp_path: Path) -> None:
    for served in _serve(tmp_path, "--timeout", "60", "--allow-debug-wait"):
        assert any(line.startswith("Warning: --allow-debug-wait") for line in served.lines)
        client = served.post(None)  # anonymous
        port = served.ports(1)[0]
        debugger = DAPClient("127.0.0.1", port)
        debugger.attach()
        status, document = _answer(client)
        debugger.close()
        assert status == 200, etree.tostring(document)


def _gone(served: Served, ports: list[int], limit_s: float = 60) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if not _waiting(served) and all(processes.port_listener(p) is None for p in ports):
            return True
        time.sleep(0.1)
    return False


def test_abandoned_requests_leave_no_waiting_process(served: Served) -> None:
    """Six requests whose clients went away: no debugpy port, no waiting wrapper is left."""
    jar = served.session("admin", ADMIN_PW)
    clients = [served.post(jar) for _ in range(6)]
    ports = served.ports(6)
    assert len(_waiting(served)) == 6
    assert all(processes.port_listener(p) is not None for p in ports)
    for client in clients:
        client.kill()  # the tab is closed, curl is stopped
        client.wait()
    assert _gone(served, ports), f"still waiting: {_waiting(served)}"


def test_a_wait_nobody_attaches_to_ends_at_the_runs_timeout(tmp_path: Path) -> None:
    for served in _serve(tmp_path, "--timeout", "2"):
        client = served.post(served.session("admin", ADMIN_PW))
        ports = served.ports(1)
        status, document = _answer(client)  # the client stays; nobody attaches
        assert status == 500
        description = document.find("Error").get("description")  # type: ignore[union-attr]
        assert description.startswith("No debugger attached within 2 s")
        assert _gone(served, ports)
