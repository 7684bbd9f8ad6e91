"""``sss-emulate serve`` as a user starts it: a real process, a real port, Ctrl+C."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from serve_support import SERVE, wait_ready
from server_helpers import multipart

from sss_emulator.errors import ConfigError


def test_serve_on_an_ephemeral_port_then_ctrl_c(samples: Path, tmp_path: Path) -> None:
    """Port 0 prints the chosen URL; the server answers; SIGINT stops it and cleans up."""
    work = tmp_path / "work"
    env = {**os.environ, "SSS_ADMIN_PASSWORD": "s3cret"}
    proc = subprocess.Popen(
        [*SERVE, "--bin-dir", str(samples), "--port", "0", "--work-root", str(work),
         "--shared-root", str(tmp_path / "shared"), "--quiet"],
        stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        match = re.search(r"on (http://127\.0\.0\.1:(\d+)) \(users: admin/\$SSS_ADMIN_PASSWORD; "
                          r"anonymous: off\)", banner)
        assert match, banner
        url = match.group(1)
        assert int(match.group(2)) > 0
        wait_ready(url, proc)
        login = subprocess.run(
            ["curl", "-s", "-c", str(tmp_path / "jar"), "-d", "username=admin",
             "-d", "password=s3cret", f"{url}/login"], capture_output=True, text=True, check=True)
        assert "UserInfo" in login.stdout
        answer = subprocess.run(
            ["curl", "-s", "-b", str(tmp_path / "jar"), "-F", "call=minimal.bash",
             "-F", "-p0=hello", f"{url}/scripting"], capture_output=True, text=True, check=True)
        assert '<script code="0">' in answer.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    rest = proc.stderr.read()
    assert code == 0, rest
    assert "Traceback" not in rest
    assert list(work.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_ctrl_c_stops_a_running_script_and_removes_its_directory(
        tmp_path: Path, sig: signal.Signals) -> None:
    """A script still running at Ctrl+C (or TERM, or HUP) is stopped with its process group;
    nothing is left."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = f"sss-ctrl-c-{os.getpid()}-{sig.name}"
    (bin_dir / "slow.sh").write_text(f"#!/bin/bash\nexec -a {marker} sleep 120\n")
    (bin_dir / "slow.sh").chmod(0o755)
    (tmp_path / "users.yaml").write_text("roles:\n  anonymous: [SCRIPTING:EXECUTE]\n")
    work = tmp_path / "work"
    proc = subprocess.Popen(
        [*SERVE, "--bin-dir", str(bin_dir), "--port", "0", "--anonymous", "--quiet",
         "--users", str(tmp_path / "users.yaml"), "--work-root", str(work),
         "--shared-root", str(tmp_path / "shared")], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    url = re.search(r"on (http://\S+:\d+)", proc.stderr.readline()).group(1)  # type: ignore[union-attr]
    wait_ready(url, proc)
    client = subprocess.Popen(["curl", "-s", "-F", "call=slow.sh", f"{url}/scripting"],
                              stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not _running(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _running(marker), "the script never started"
    assert any(work.iterdir())
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == 0
    client.wait(timeout=30)
    assert list(work.iterdir()) == []
    assert not _running(marker)


def _running(marker: str) -> bool:
    return subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 0


def test_port_in_use_is_one_clear_line(samples: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run([*SERVE, "--bin-dir", str(samples), "--port", str(port)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"Port {port} on 127.0.0.1 is in use" in lines[0] and "--port" in lines[0]


def test_no_bin_dir_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run([*SERVE, "--port", "0"], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60,
                            env={k: v for k, v in os.environ.items() if not k.startswith("SSS_")})
    assert result.returncode == 125
    assert "No bin dir configured" in result.stderr
    assert "Traceback" not in result.stderr


def test_sss_server_fixture_from_pytest_plugins(pytester: pytest.Pytester,
                                                samples: Path) -> None:
    """Listed in pytest_plugins, the fixture serves the real client on an ephemeral port."""
    header = 'pytest_plugins = ["pytest_sss_emulator.server_fixtures"]\n'
    pytester.makeconftest(header + f"""
import pytest

from sss_emulator.errors import ConfigError

@pytest.fixture
def sss_server_options():
    return {{"bin_dirs": ({str(samples)!r},)}}
""")
    pytester.makepyfile("""
from linkahead.utils.server_side_scripting import run_server_side_script

def test_runs(sss_server):
    sss_server.configure_pylib()
    response = run_server_side_script("minimal.bash", "x", opt="v")
    assert response.code == 0 and response.call == "minimal.bash --opt=v x"
    assert len(sss_server.history) == 1
    assert sss_server.url.startswith("http://127.0.0.1:")
""")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_serve_settings_come_from_the_one_engine(tmp_path: Path, samples: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """host, port, context root and db: option > SSS_* > [tool.sss-emulator], like all settings."""
    from sss_emulator.serve.build import serve_settings

    (tmp_path / "pyproject.toml").write_text(
        f'[tool.sss-emulator]\nbin-dirs = ["{samples}"]\nport = 0\ncontext-root = "/toml"\n'
        'db = "state.db"\n')
    defaults = {"host": "127.0.0.1", "port": 10443}
    values = serve_settings({}, cwd=tmp_path, defaults=defaults).values
    assert (values["host"], values["port"], values["context_root"], values["db"]) == \
        ("127.0.0.1", 0, "/toml", tmp_path / "state.db")
    monkeypatch.setenv("SSS_PORT", "8080")
    monkeypatch.setenv("SSS_HOST", "0.0.0.0")
    monkeypatch.setenv("SSS_DB", "~/other.db")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    settings = serve_settings({"port": "9090"}, cwd=tmp_path, defaults=defaults)
    assert (settings.values["host"], settings.values["port"], settings.values["db"]) == \
        ("0.0.0.0", 9090, tmp_path / "home" / "other.db")
    assert "SSS_PORT ignored: --port takes precedence" in settings.notes
    monkeypatch.setenv("SSS_PORT", "http")
    with pytest.raises(ConfigError, match="SSS_PORT: 'http' is not a whole number"):
        serve_settings({}, cwd=tmp_path, defaults=defaults)


def test_port_from_pyproject_and_a_bad_port_option(tmp_path: Path, samples: Path) -> None:
    """``port = 0`` in pyproject.toml serves on a free port; ``--port 70000`` is a usage error."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.sss-emulator]\nbin-dirs = ["{samples}"]\nport = 0\nwork-root = "work"\n'
        'shared-root = "shared"\n')
    bad = subprocess.run([*SERVE, "--port", "70000"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=60, env=env)
    assert bad.returncode == 125
    assert "Invalid value for '--port': 70000 is out of range" in bad.stderr
    proc = subprocess.Popen([*SERVE, "--quiet"], stderr=subprocess.PIPE, text=True, env=env,
                            cwd=tmp_path)
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        match = re.search(r"on (http://127\.0\.0\.1:(\d+))", banner)
        assert match and int(match.group(2)) > 0, banner
        wait_ready(match.group(1), proc)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def _ignore_sigint() -> None:
    """What a non-interactive shell does to a job it starts with ``&``: SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_serve_started_in_the_background_of_a_script_stops_on_sigint(
        samples: Path, tmp_path: Path) -> None:
    """`sss-emulate serve … &` in a CI script inherits SIGINT as ignored; it stops anyway."""
    proc = subprocess.Popen(
        [*SERVE, "--bin-dir", str(samples), "--port", "0", "--quiet",
         "--work-root", str(tmp_path / "work"), "--shared-root", str(tmp_path / "shared")],
        stderr=subprocess.PIPE, text=True, cwd=tmp_path, preexec_fn=_ignore_sigint)
    try:
        assert proc.stderr is not None
        url = re.search(r"on (http://\S+:\d+)", proc.stderr.readline())
        assert url, "no banner"
        wait_ready(url.group(1), proc)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0
    assert "stopping" in proc.stderr.read()


def test_two_thousand_small_files_name_the_part_limit(samples: Path, tmp_path: Path) -> None:
    """2,000 tiny files (~224 kB) hit the 1,000-part limit: the 413 names that limit and its
    option, not the 4 GiB body limit."""
    proc = subprocess.Popen(
        [*SERVE, "--bin-dir", str(samples), "--port", "0", "--quiet",
         "--work-root", str(tmp_path / "work"), "--shared-root", str(tmp_path / "shared")],
        stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env={**os.environ, "SSS_ADMIN_PASSWORD": "s3cret"})
    try:
        assert proc.stderr is not None
        url = re.search(r"on (http://\S+:\d+)", proc.stderr.readline())
        assert url, "no banner"
        wait_ready(url.group(1), proc)
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        opener.open(f"{url.group(1)}/login", data=b"username=admin&password=s3cret",
                    timeout=30)
        parts: list[tuple[str, str | bytes, str | None]] = [("call", "minimal.bash", None)]
        parts += [("file", b"x" * 10, f"f{i}.txt") for i in range(2000)]
        body, ctype = multipart(parts)
        request = urllib.request.Request(f"{url.group(1)}/scripting", data=body,
                                         headers={"Content-Type": ctype})
        with pytest.raises(urllib.error.HTTPError) as answer:
            opener.open(request, timeout=60)
        text = answer.value.read().decode()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert answer.value.code == 413
    assert "more than 1000 parts" in text and "--max-form-parts" in text
    assert "--max-body" not in text and "4294967296" not in text
