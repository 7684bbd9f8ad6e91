"""What ``serve`` keeps of its users, and whose roles a session acts with.

Two defects of the stand-in's users and roles (issue 21), driven as the careless user and the
attacker would meet them: a real ``sss-emulate serve`` on an ephemeral port, curl as the
logged-in client, the real pylib for the administrator's API calls.

- ``serve --db FILE`` wrote every password as given into a world-readable file: the admin's
  ``SSS_ADMIN_PASSWORD`` and each password set through the API. Now the file is 0600 when
  ``serve`` creates it, and holds only salted hashes of the API's passwords, which still log in
  after a restart.
- A session acted with the roles its token named at login: a user whose ``administration`` role
  was taken away, or who was deactivated or deleted, went on running scripts as administrator.
  Now each request reads the user's roles as they are now.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import linkahead
from linkahead.common import administration as admin
from lxml import etree
from serve_support import SERVE, wait_ready

ADMIN_PW = "TopSecret-Admin-1"
BOB_PW = "Bob-Pass-12345!"
ADMIN_ONLY = "#!/usr/bin/env python3\nprint('ran as an administrator')\n"


@contextmanager
def _serve(tmp_path: Path, *args: str) -> Iterator[str]:
    """``sss-emulate serve --port 0 …`` with ``SSS_ADMIN_PASSWORD`` set; yields its URL, pylib
    logged in to it as admin."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "admin_only.py").write_text(ADMIN_ONLY)
    (bin_dir / "admin_only.py").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    env["SSS_ADMIN_PASSWORD"] = ADMIN_PW
    log = tmp_path / f"serve-{time.monotonic_ns()}.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [*SERVE, "--bin-dir", str(bin_dir), "--port", "0", "--quiet",
             "--work-root", str(tmp_path / "work"), "--shared-root", str(tmp_path / "shared"),
             *args], stderr=err, text=True, env=env, cwd=tmp_path)
    try:
        found = None
        while found is None and proc.poll() is None:
            found = re.search(r"on (http://127\.0\.0\.1:\d+)", log.read_text())
            time.sleep(0.05)
        assert found, log.read_text()
        url = found.group(1)
        wait_ready(url, proc, 60)
        linkahead.configure_connection(url=url, username="admin", password=ADMIN_PW,
                                       password_method="plain", timeout=60)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)


def _curl(*args: str) -> tuple[int, str]:
    """curl's answer: (HTTP status, body)."""
    out = subprocess.run(["curl", "-s", "--max-time", "60", "-w", "\n%{http_code}", *args],
                         check=True, capture_output=True, text=True).stdout
    body, status = out.rsplit("\n", 1)
    return int(status), body


def _login(url: str, jar: Path, user: str, password: str) -> int:
    return _curl("-c", str(jar), "-d", f"username={user}", "--data-urlencode",
                 f"password={password}", f"{url}/login")[0]


def _db_files(db: Path) -> list[Path]:
    return [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-journal")) if p.exists()]


def _assert_no_password_in(db: Path) -> None:
    files = _db_files(db)
    assert db in files
    for path in files:
        data = path.read_bytes()
        assert ADMIN_PW.encode() not in data, path
        assert BOB_PW.encode() not in data, path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path, oct(path.stat().st_mode))


def test_the_db_file_is_private_and_keeps_no_password(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    jar = tmp_path / "cj"
    with _serve(tmp_path, "--db", str(db)) as url:
        assert _login(url, jar, "admin", ADMIN_PW) == 200
        status, body = _curl("-b", str(jar), "-X", "POST", "-d", "username=bob",
                             "--data-urlencode", f"password={BOB_PW}", "-d", "status=ACTIVE",
                             f"{url}/User")
        assert status == 200, body
        _assert_no_password_in(db)  # while serving (a -wal or -journal included)
    _assert_no_password_in(db)
    with _serve(tmp_path, "--db", str(db)) as url:
        assert _login(url, tmp_path / "bob", "bob", BOB_PW) == 200  # the hash still logs in
        assert _login(url, tmp_path / "bad", "bob", BOB_PW + "x") == 401
        assert _login(url, tmp_path / "adm", "admin", ADMIN_PW) == 200
    _assert_no_password_in(db)


def test_a_db_file_the_user_made_keeps_its_mode_and_is_named_in_a_warning(
        tmp_path: Path) -> None:
    db = tmp_path / "mine.db"
    db.touch(mode=0o644)
    db.chmod(0o644)
    with _serve(tmp_path, "--db", str(db)) as url:
        assert _login(url, tmp_path / "cj", "admin", ADMIN_PW) == 200
    assert stat.S_IMODE(db.stat().st_mode) == 0o644
    logs = "".join(p.read_text() for p in tmp_path.glob("serve-*.log"))
    assert "may be read by other users" in logs and "chmod 600" in logs, logs


def _run(url: str, jar: Path, call: str = "admin_only.py") -> tuple[int, etree._Element]:
    status, body = _curl("-b", str(jar), "-F", f"call={call}", f"{url}/scripting")
    return status, etree.fromstring(body.encode())


def _roles_shown(answer: etree._Element) -> set[str]:
    return {str(r.text) for r in answer.iterfind("UserInfo/Roles/Role")}


def _administrators(url: str, tmp_path: Path, *names: str) -> dict[str, Path]:
    """Users made administrators through the API, each logged in (curl's cookie jars), each
    having run the script only administrators may run."""
    jars = {}
    for name in names:
        admin._insert_user(name, password=BOB_PW, status="ACTIVE")
        admin._set_roles(name, ["administration"])
        jars[name] = tmp_path / f"jar-{name}"
        assert _login(url, jars[name], name, BOB_PW) == 200
        status, answer = _run(url, jars[name])
        assert status == 200 and "administration" in _roles_shown(answer)
    return jars


def test_a_removed_role_counts_at_the_sessions_next_request(tmp_path: Path) -> None:
    with _serve(tmp_path) as url:
        jars = _administrators(url, tmp_path, "erin")
        admin._set_roles("erin", [])
        status, answer = _run(url, jars["erin"])
        assert status == 403, etree.tostring(answer)
        assert "administration" not in _roles_shown(answer)
        assert b"ran as an administrator" not in etree.tostring(answer)
        # the debugger gate reads the same roles: no debug port for her
        status, body = _curl("-b", str(jars["erin"]), "-H", "X-SSS-Debug-Wait: 0",
                             "-F", "call=admin_only.py", f"{url}/scripting")
        assert status == 403, body


def test_the_session_of_a_deactivated_or_deleted_user_is_refused(tmp_path: Path) -> None:
    with _serve(tmp_path) as url:
        jars = _administrators(url, tmp_path, "dave", "frank")
        admin._update_user("dave", status="INACTIVE")
        admin._delete_user("frank")
        for name in ("dave", "frank"):
            assert _run(url, jars[name])[0] == 401
            assert _curl("-b", str(jars[name]), f"{url}/Info")[0] == 401  # the stand-in too
        # a live administrator is unaffected
        assert _login(url, tmp_path / "adm", "admin", ADMIN_PW) == 200
        assert _run(url, tmp_path / "adm")[0] == 200


def test_an_administration_write_that_cannot_be_stored_changes_nothing(tmp_path: Path) -> None:
    """The --db file removed under a running serve: creating a user or a role fails with the
    server's error document, and neither may then exist (retrieve, log in)."""
    db = tmp_path / "state.db"
    jar = tmp_path / "cj"
    with _serve(tmp_path, "--db", str(db)) as url:
        assert _login(url, jar, "admin", ADMIN_PW) == 200
        for path in _db_files(db):
            path.unlink()
        status, body = _curl("-b", str(jar), "-X", "POST", "-d", "username=newu",
                             "--data-urlencode", f"password={BOB_PW}", "-d", "status=ACTIVE",
                             f"{url}/User")
        assert status == 500 and "nothing of it was stored" in body, body
        assert _curl("-b", str(jar), f"{url}/User/CaosDB/newu")[0] == 404
        assert _login(url, tmp_path / "newu", "newu", BOB_PW) == 401
        status, body = _curl("-b", str(jar), "-X", "POST", "-d", "role_name=ghosts",
                             "-d", "role_description=x", f"{url}/Role")
        assert status == 500, body
        assert _curl("-b", str(jar), f"{url}/Role/ghosts")[0] == 404
