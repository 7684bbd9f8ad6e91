"""--debug-wait: the script starts only once a real DAP client attached; the clock starts then."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sss_emulator.cli.devtools import normalise_debug_wait
from sss_emulator.devtools.debug import DebugRunner, parse_debug_wait
from sss_emulator.errors import BadRequestForm, ConfigError

sys.path.insert(0, str(Path(__file__).parent))
from dap_client import DAPClient

pytest.importorskip("debugpy")

STARTS = """\
#!/usr/bin/env python3
import os, sys, time
open(os.path.join(os.environ["SHARED_DIR"], "started"), "w").close()
time.sleep(0.2)
print("ran with", sys.argv[1:][-1], os.path.basename(sys.argv[0]))
"""


def _script(folder: Path, body: str = STARTS, name: str = "waits.py") -> Path:
    path = folder / name
    path.write_text(body)
    path.chmod(0o755)
    return path


def _attach(host: str, port: int, breakpoints: dict[str, list[int]] | None = None) -> DAPClient:
    client = DAPClient(host, port)
    client.attach(breakpoints)
    return client


def test_the_script_waits_for_the_client_and_its_timeout_starts_then(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    script = _script(tmp_path)
    listening = threading.Event()
    address: list[tuple[str, int]] = []

    def on_listening(host: str, port: int) -> None:
        address.append((host, port))
        listening.set()

    runner = DebugRunner(0, on_listening=on_listening)
    results = []
    env = dict(os.environ, SHARED_DIR=str(shared), HOME=str(tmp_path))
    thread = threading.Thread(target=lambda: results.append(runner(
        [str(script), "--auth-token=t", "arg"], cwd=tmp_path, env=env, timeout=4.0)))
    thread.start()
    assert listening.wait(30)
    time.sleep(4.5)  # longer than the timeout: waiting must not count
    assert not (shared / "started").exists(), "the script started before a client attached"
    assert thread.is_alive()
    client = _attach(*address[0])
    thread.join(30)
    client.close()
    result = results[0]
    assert (shared / "started").exists()
    assert not result.timed_out and result.returncode == 0
    assert result.stdout == b"ran with arg waits.py\n"
    assert result.stderr == b""  # no debugpy noise
    assert address[0][0] == "127.0.0.1"


def test_a_breakpoint_in_the_script_is_hit(tmp_path: Path) -> None:
    script = _script(tmp_path, "#!/usr/bin/env python3\nx = 41\nx += 1\nprint(x)\n", "bp.py")
    stopped: list[str] = []

    def on_listening(host: str, port: int) -> None:
        def attach() -> None:
            client = _attach(host, port, {str(script): [3]})
            event = client.wait_for(lambda m: m.get("event") == "stopped")
            stopped.append(event["body"]["reason"])
            client.response(client.send("continue", threadId=event["body"]["threadId"]))
            client.close()
        threading.Thread(target=attach, daemon=True).start()

    result = DebugRunner(0, on_listening=on_listening)(
        [str(script), "--auth-token=t"], cwd=tmp_path, env=dict(os.environ), timeout=30)
    assert stopped == ["breakpoint"]
    assert result.stdout == b"42\n"


def test_cancel_while_waiting_stops_the_wrapper(tmp_path: Path) -> None:
    from sss_emulator.core.runner import RunCancelled

    cancel = threading.Event()
    runner = DebugRunner(0, on_listening=lambda h, p: cancel.set())
    with pytest.raises(RunCancelled):
        runner([str(_script(tmp_path)), "--auth-token=t"], cwd=tmp_path,
               env=dict(os.environ), timeout=None, cancel=cancel)


def test_non_python_scripts_are_refused_in_one_line(tmp_path: Path) -> None:
    script = _script(tmp_path, "#!/bin/bash\necho hi\n", "x.bash")
    with pytest.raises(BadRequestForm, match=r"Python scripts only; x\.bash starts with "
                                          r"'#!/bin/bash'"):
        DebugRunner(0)([str(script)], cwd=tmp_path, env={}, timeout=None)


def test_a_busy_port_is_one_clear_error(tmp_path: Path) -> None:
    import socket

    from sss_emulator.errors import SetupError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SetupError, match=r"cannot listen on 127\.0\.0\.1"):
            DebugRunner(port)([str(_script(tmp_path)), "--auth-token=t"], cwd=tmp_path,
                              env=dict(os.environ), timeout=None)


@pytest.mark.parametrize(("value", "parsed"), [
    (True, (5678, False)), ("default", (5678, False)), ("0", (0, False)),
    ("6000", (6000, False)), ("once", (5678, True)), ("once:7000", (7000, True)),
    ("off", None), (None, None)])
def test_parse_debug_wait(value: object, parsed: tuple[int, bool] | None) -> None:
    assert parse_debug_wait(value) == parsed


def test_parse_debug_wait_refuses_nonsense() -> None:
    with pytest.raises(ConfigError, match="give a port"):
        parse_debug_wait("soon")


def test_the_command_line_takes_an_optional_value() -> None:
    assert normalise_debug_wait(["run", "--debug-wait", "s.py"]) == [
        "run", "--debug-wait=default", "s.py"]
    assert normalise_debug_wait(["--debug-wait", "once", "s.py"]) == ["--debug-wait=once",
                                                                      "s.py"]
    assert normalise_debug_wait(["--debug-wait", "6000", "s.py"]) == ["--debug-wait=6000",
                                                                      "s.py"]
    assert normalise_debug_wait(["s.py", "--", "--debug-wait"]) == ["s.py", "--",
                                                                    "--debug-wait"]


def _sss_emulate() -> str:
    return str(Path(sys.executable).with_name("sss-emulate"))


def _attach_from_stderr(proc: subprocess.Popen[str]) -> tuple[DAPClient, list[str]]:
    """Read sss-emulate's stderr until it names the port, then attach."""
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        found = re.search(r"waits for a debugger on ([\d.]+):(\d+)", line)
        if found:
            return _attach(found.group(1), int(found.group(2))), seen
    raise AssertionError("no attach line: " + "".join(seen))


def test_cli_debug_wait_prints_where_to_attach_and_runs_after_attach(tmp_path: Path) -> None:
    script = _script(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    env.update(SSS_WORK_ROOT=str(tmp_path / "w"), SSS_SHARED_ROOT=str(tmp_path / "s"))
    proc = subprocess.Popen([_sss_emulate(), "--debug-wait=0", str(script), "-p0", "x",
                             "--no-stand-in", "--timeout", "20"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        client, seen = _attach_from_stderr(proc)
        assert "docs/debugging.md" in seen[-1]
        out, err = proc.communicate(timeout=60)
        client.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out == "ran with x waits.py\n"


def test_cli_refuses_a_bash_script(tmp_path: Path, samples: Path) -> None:
    result = subprocess.run([_sss_emulate(), "--debug-wait", str(samples / "minimal.bash")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 125
    assert result.stderr.strip().splitlines()[-1].endswith(
        "Run it without --debug-wait.")
    assert "Traceback" not in result.stderr


PLUGIN_TEST = """\
import pytest

@pytest.mark.sss(debug_wait=0)
def test_debugged(sss):
    assert sss.run_server_side_script("waits.py", "y").stdout == "ran with y waits.py\\n"
"""


def test_plugin_marker_waits_for_the_debugger(pytester: pytest.Pytester) -> None:
    _script(pytester.mkdir("scripts"))
    pytester.makeini("[pytest]\nsss_bin_dirs = scripts\nsss_timeout = 20\n")
    pytester.makepyfile(test_dbg=PLUGIN_TEST)
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
                            cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        client, _ = _attach_from_stderr(proc)
        out, _err = proc.communicate(timeout=60)
        client.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "1 passed" in out
