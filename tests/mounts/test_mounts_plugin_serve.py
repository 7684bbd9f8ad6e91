"""The same scripts through the pytest plugin and ``sss-emulate serve``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from lxml import etree


def test_plugin_runs_the_demo_scripts(pytester: pytest.Pytester, profile: Path,
                                      port_10443: int, needs_bwrap: None) -> None:
    """Opt-in in the ini file (mounts) and per test (server_address); in-process runs are
    refused with mounts, since they cannot have a namespace of their own."""
    pytester.makeini(f"[pytest]\nsss_profile = {profile}\nsss_mounts = true\n")
    pytester.makepyfile(test_demo=f'''
        import pytest

        def test_bikes(sss):
            out = sss.run_server_side_script("change_bikes.py")
            assert out.code == 0, out.stderr
            assert "failed bikes: B-18" in out.stdout

        def test_crawl(sss):
            out = sss.run_server_side_script("crawl.py")
            assert out.code == 0, out.stderr
            assert "crawled: sample: S-1; result: 42" in out.stdout
            assert out.changes["inserted"]

        @pytest.mark.sss(server_address="https://127.0.0.1:{port_10443}")
        def test_showcase(sss):
            out = sss.run_server_side_script("showcase.py")
            assert out.code == 0, out.stderr
            assert "records: 0" in out.stdout

        @pytest.mark.sss(mode="inprocess")
        def test_inprocess_is_refused(sss):
            with pytest.raises(sss.errors.ConfigError, match="mode='subprocess'"):
                sss.run_server_side_script("crawl.py")
    ''')
    result = pytester.runpytest_subprocess("-p", "no:hypothesispytest", "-q")
    result.assert_outcomes(passed=4)


def _start_serve(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    environ.update({"SSS_WORK_ROOT": str(tmp_path / "work"),
                    "SSS_SHARED_ROOT": str(tmp_path / "shared"),
                    "SSS_ADMIN_PASSWORD": "pw-of-admin"})
    proc = subprocess.Popen([sys.executable, "-m", "sss_emulator", "serve", "--quiet", *args],
                            cwd=tmp_path, env=environ, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"Try the scripts in a browser: (\S+)/", line)
        if found:
            return proc, found.group(1), "".join(lines)
    proc.kill()
    raise AssertionError("serve did not start:\n" + "".join(lines) + proc.stderr.read())


def _run(session: requests.Session, url: str, call: str, **kwargs: object) -> tuple[int, str]:
    response = session.post(f"{url}/scripting", data={"call": call}, timeout=120, **kwargs)
    assert response.status_code == 200, response.text
    script = etree.fromstring(response.content).find("script")
    assert script is not None
    stdout = script.findtext("stdout") or ""
    stderr = script.findtext("stderr") or ""
    return int(script.get("code", "-1")), stdout + stderr


def test_serve_runs_the_demo_scripts(tmp_path: Path, profile: Path, port_10443: int,
                                     needs_bwrap: None) -> None:
    """serve on its own port, the stand-in also where scripts expect the server."""
    proc, url, banner = _start_serve(
        tmp_path, "--profile", str(profile), "--port", "0", "--mounts",
        "--server-address", f"https://127.0.0.1:{port_10443}")
    try:
        assert f"Scripts find the server at https://127.0.0.1:{port_10443}" in banner
        session = requests.Session()
        login = session.post(f"{url}/login", data={"username": "admin",
                                                   "password": "pw-of-admin"}, timeout=30)
        assert login.status_code == 200
        for call, expected in (("showcase.py", "records: 0"),
                               ("change_bikes.py", "failed bikes: B-18"),
                               ("crawl.py", "crawled: sample: S-1; result: 42"),
                               ("use_ini.py", "url: https://127.0.0.1:10443")):
            code, output = _run(session, url, call)
            assert (code, expected in output) == (0, True), output
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_itself_at_the_address(tmp_path: Path, profile: Path, port_10443: int) -> None:
    """--port equal to the address's: serve itself speaks TLS there, and scripts trust it."""
    proc, url, banner = _start_serve(
        tmp_path, "--profile", str(profile), "--port", str(port_10443),
        "--server-address", f"https://127.0.0.1:{port_10443}")
    try:
        assert url == f"https://127.0.0.1:{port_10443}"
        cert = re.search(r"their ini trusts (\S+)\)", banner)
        assert cert is not None, banner
        session = requests.Session()
        session.trust_env = False  # this machine's REQUESTS_CA_BUNDLE would override verify
        session.verify = cert.group(1)
        session.post(f"{url}/login", data={"username": "admin", "password": "pw-of-admin"},
                     timeout=30).raise_for_status()
        code, output = _run(session, url, "showcase.py")
        assert code == 0 and "records: 0" in output, output
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_sss_server_fixture_takes_the_address_and_mounts(
        pytester: pytest.Pytester, profile: Path, port_10443: int, needs_bwrap: None) -> None:
    pytester.makeconftest(f'''
        import pytest

        @pytest.fixture
        def sss_server_options():
            return {{"profile": {str(profile)!r}, "mounts": True,
                     "server_address": "https://127.0.0.1:{port_10443}"}}
    ''')
    pytester.makepyfile(test_live='''
        from linkahead.utils.server_side_scripting import run_server_side_script

        def test_demo_scripts(sss_server):
            sss_server.configure_pylib()
            assert "records: 0" in run_server_side_script("showcase.py").stdout
            assert "failed bikes: B-18" in run_server_side_script("change_bikes.py").stdout
            crawled = run_server_side_script("crawl.py")
            assert "crawled: sample: S-1; result: 42" in crawled.stdout, crawled.stderr
    ''')
    result = pytester.runpytest_subprocess("-p", "no:hypothesispytest", "-q")
    result.assert_outcomes(passed=1)
