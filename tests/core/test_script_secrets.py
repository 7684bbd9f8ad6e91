"""No secret of the developer reaches a script, whichever front end starts it.

The careless user's shell: the real server's password in ``SSS_PASSWORD`` (and in a password
file), ``serve``'s ``SSS_ADMIN_PASSWORD``, ``PYLINKAHEADINI`` pointing at a production ini that
holds a password, and a ``sendmail`` on PATH that would send real mail (here: writes a marker).
A script that dumps its environment is run through every front end as a real process; none of
the secrets may show, and the real ``sendmail`` must never run (mail goes to the stand-in).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree
from serve_support import banner_url, wait_ready

from sss_emulator.core.environment import is_scrubbed, scrubbed_environment

SERVER_PW = "real-server-pw-7f3a"  # SSS_PASSWORD and the password file: the real server's
ADMIN_PW = "serve-admin-pw-7f3a"
PROD_INI_PW = "prod-ini-pw-7f3a"
SECRET_WORDS = (SERVER_PW, ADMIN_PW, PROD_INI_PW, "PYLINKAHEADINI", "SSS_PASSWORD",
                "SSS_ADMIN_PASSWORD", "production.example.org")

#: Dumps its environment (to stdout, and to $DUMP_TO when set: doctor shows no stdout), what
#: pylib would read as its ini, and sends a mail the way scripts do: through ``sendmail``.
DUMPENV = """\
#!/usr/bin/env python3
import os, subprocess, sys
lines = [f"{k}={v}" for k, v in sorted(os.environ.items())]
ini = os.environ.get("PYLINKAHEADINI")
if ini and os.path.isfile(ini):
    lines.append("INI:" + open(ini).read())
lines.append("END-OF-ENV")
text = "\\n".join(lines) + "\\n"
if os.environ.get("DUMP_TO"):
    open(os.environ["DUMP_TO"], "a").write(text)
try:
    subprocess.run(["sendmail", "-t", "-i"], input=b"To: x@example.com\\nSubject: s\\n\\nhi\\n",
                   timeout=30)
except OSError:
    pass
sys.stdout.write(text)
"""


@dataclass
class Careless:
    """A careless developer's shell and the folder of one test."""

    folder: Path
    env: dict[str, str]
    bin_dir: Path
    password_file: Path
    marker: Path  # written by the real (fake) sendmail: must never exist


@pytest.fixture
def careless(tmp_path: Path) -> Careless:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dumpenv.py").write_text(DUMPENV)
    (bin_dir / "dumpenv.py").chmod(0o755)
    prod = tmp_path / "production.ini"
    prod.write_text("[Connection]\nurl = https://production.example.org/\nusername = boss\n"
                    f"password_method = plain\npassword = {PROD_INI_PW}\n")
    password_file = tmp_path / "server-password"
    password_file.write_text(SERVER_PW + "\n")
    password_file.chmod(0o600)
    marker = tmp_path / "real-sendmail-ran"
    fake_bin = tmp_path / "realbin"
    fake_bin.mkdir()
    (fake_bin / "sendmail").write_text(f"#!/bin/sh\ntouch {marker}\ncat > /dev/null\n")
    (fake_bin / "sendmail").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    env.update(
        SSS_PASSWORD=SERVER_PW, SSS_ADMIN_PASSWORD=ADMIN_PW, PYLINKAHEADINI=str(prod),
        PATH=f"{fake_bin}:{env.get('PATH', '')}",
        SSS_WORK_ROOT=str(tmp_path / "roots" / "work"),
        SSS_SHARED_ROOT=str(tmp_path / "roots" / "shared"),
    )
    return Careless(tmp_path, env, bin_dir, password_file, marker)


def assert_no_secret(text: str, careless: Careless) -> None:
    """The dump is there, holds none of the secrets, and the real sendmail never ran."""
    assert "END-OF-ENV" in text, text
    for word in SECRET_WORDS:
        assert word not in text, f"{word!r} reached the script:\n{text}"
    ours = [line for line in text.splitlines()
            if line.startswith("SSS_") and not line.startswith("SSS_EMULATOR_")]
    assert ours == [], ours
    assert not careless.marker.exists(), "the user's real sendmail was run"


def sss(careless: Careless, *args: str, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sss_emulator", *args], cwd=careless.folder,
                          env=env or careless.env, capture_output=True, text=True, timeout=120)


# --- the one list ----------------------------------------------------------------------------

def test_the_scrub_list_names_the_secrets_and_keeps_the_rest() -> None:
    environ = {"SSS_PASSWORD": "x", "SSS_ADMIN_PASSWORD": "x", "SSS_TIMEOUT": "3",
               "PYLINKAHEADINI": "/p.ini", "PYCAOSDBINI": "/p.ini", "SSH_AUTH_SOCK": "/s",
               "NETRC": "/n", "XDG_CONFIG_HOME": "/c", "PATH": "/bin", "LANG": "C.UTF-8",
               "MY_SETTING": "kept"}
    assert scrubbed_environment(environ) == {"PATH": "/bin", "LANG": "C.UTF-8",
                                             "MY_SETTING": "kept"}
    assert is_scrubbed("SSS_ANYTHING") and not is_scrubbed("XSSS_PASSWORD")


# --- every front end -------------------------------------------------------------------------

def test_cli_run(careless: Careless) -> None:
    done = sss(careless, "--bin-dir", str(careless.bin_dir), "dumpenv.py")
    assert done.returncode == 0, done.stderr
    assert_no_secret(done.stdout, careless)


def test_cli_run_keeps_what_the_user_passes_with_env(careless: Careless) -> None:
    """--env pairs are the user's own: kept, even with an SSS_ name."""
    done = sss(careless, "--bin-dir", str(careless.bin_dir), "--env", "SSS_MINE=given",
               "--env", "TOKEN_FOR_SCRIPT=t1", "dumpenv.py")
    assert done.returncode == 0, done.stderr
    assert "SSS_MINE=given" in done.stdout.splitlines()
    assert "TOKEN_FOR_SCRIPT=t1" in done.stdout.splitlines()


def test_replay_of_a_call(careless: Careless) -> None:
    done = sss(careless, "replay", "--call", "dumpenv.py", "--bin-dir", str(careless.bin_dir))
    assert done.returncode == 0, done.stderr
    assert_no_secret(done.stdout, careless)


def test_doctors_trial_run_is_a_run_like_any_other(careless: Careless) -> None:
    dump = careless.folder / "doctor-dump.txt"
    done = sss(careless, "doctor", "--bin-dir", str(careless.bin_dir), "--env",
               f"DUMP_TO={dump}", "dumpenv.py", "--format", "json")
    assert json.loads(done.stdout)["status"] == "ok", done.stdout + done.stderr
    assert_no_secret(dump.read_text(), careless)
    assert "SSS_EMULATOR_MAIL_SPOOL=" in dump.read_text(), "mail goes to the stand-in"


def test_watch_mode(careless: Careless) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "sss_emulator", "watch", "--bin-dir",
                             str(careless.bin_dir), "dumpenv.py"], cwd=careless.folder,
                            env=careless.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("END-OF-ENV"):
                break
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=60)
    assert_no_secret("".join(seen), careless)


@pytest.mark.parametrize("mode", ["subprocess", "inprocess"])
def test_pytest_plugin(careless: Careless, pytester: pytest.Pytester,
                       monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    for name, value in careless.env.items():
        monkeypatch.setenv(name, value)
    out = careless.folder / f"plugin-{mode}.txt"
    pytester.makeini(f"[pytest]\nsss_bin_dirs = {careless.bin_dir}\nsss_mode = {mode}\n")
    pytester.makepyfile(test_dump=f'''
        def test_dump(sss):
            res = sss.run_server_side_script("dumpenv.py")
            assert res.code == 0, res.report()
            open({str(out)!r}, "w").write(res.stdout)
    ''')
    result = pytester.runpytest_subprocess("-p", "no:hypothesispytest", "-q")
    result.assert_outcomes(passed=1)
    assert_no_secret(out.read_text(), careless)


# --- serve and compare's local side: a real server ------------------------------------------

@dataclass
class Served:
    url: str
    proc: subprocess.Popen[str]


@pytest.fixture
def served(careless: Careless) -> Iterator[Served]:
    """``sss-emulate serve`` started from the careless shell (its admin: SSS_ADMIN_PASSWORD)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sss_emulator", "serve", "--port", "0", "--quiet", "--bin-dir",
         str(careless.bin_dir)], cwd=careless.folder, env=careless.env,
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    url = banner_url(proc)
    wait_ready(url, proc, 30)
    try:
        yield Served(url, proc)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        proc.stderr.close()


def test_serve_over_http(careless: Careless, served: Served) -> None:
    jar = careless.folder / "jar"
    subprocess.run(["curl", "-s", "-c", str(jar), "-d", "username=admin", "-d",
                    f"password={ADMIN_PW}", f"{served.url}/login"], check=True,
                   capture_output=True)
    answer = subprocess.run(["curl", "-s", "-b", str(jar), "-F", "call=dumpenv.py",
                             f"{served.url}/scripting"], check=True, capture_output=True)
    document = etree.fromstring(answer.stdout)
    assert document.find("script").get("code") == "0", answer.stdout  # type: ignore[union-attr]
    assert_no_secret(document.findtext("script/stdout") or "", careless)


def test_compare_local_side(careless: Careless, served: Served) -> None:
    """The real server's password (from --password-file and SSS_PASSWORD) is in compare's
    process; the script's local run must not see it. The server side is another serve,
    started from the same careless shell."""
    careless.password_file.write_text(ADMIN_PW + "\n")
    env = dict(careless.env, SSS_PASSWORD=ADMIN_PW)
    done = sss(careless, "compare", "--server-url", served.url, "--user", "admin",
               "--password-file", str(careless.password_file), "--yes", "--bin-dir",
               str(careless.bin_dir), "dumpenv.py", "--format", "json", env=env)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert "END-OF-ENV" in done.stdout, report
    assert ADMIN_PW not in done.stdout and "SSS_PASSWORD" not in done.stdout, report
    assert_no_secret(done.stdout, careless)
