"""pylib's own ``linkahead_admin.py`` (shipped in the ``linkahead`` package, deployed as a
server-side script by LinkAhead's demo profile) runs unchanged as a server-side script, every
command of it, under the emulator and under ``serve``; and what it changes is the one state the
scripting check and the logins read."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import linkahead
import linkahead.utils.linkahead_admin as shipped
import pytest
from linkahead.exceptions import LoginFailedError
from linkahead.utils.server_side_scripting import run_server_side_script
from server_helpers import USERS

from sss_emulator.httpd import running_server
from sss_emulator.invocation import Emulator
from sss_emulator.passwords import check_password

ADMIN_SCRIPT = Path(shipped.__file__)
PASSWORD = "Secret-1234"
RECORD = "AdminMade"


@pytest.fixture
def admin_bin(bin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped script, copied byte for byte into a bin dir (executable, as a deployment
    makes it), next to a ``showcase.py``; its ``#!/usr/bin/env python`` finds this venv."""
    target = bin_dir / "linkahead_admin.py"
    shutil.copyfile(ADMIN_SCRIPT, target)
    target.chmod(0o755)
    showcase = bin_dir / "showcase.py"
    showcase.write_text("#!/usr/bin/env python3\nprint('shown')\n")
    showcase.chmod(0o755)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    return bin_dir


Run = Callable[..., Any]
"""Runs ``linkahead_admin.py`` with these arguments as admin; returns (code, stdout, stderr)."""


def _every_command(run: Run, access: Callable[[], Any], store: Callable[[], Any],
                   tmp_path: Path) -> None:
    """Each command of linkahead_admin.py once, checking what it changed in the state."""

    def ok(*args: str) -> str:
        code, stdout, stderr = run(*args)
        assert code == 0, stderr
        assert "Error" not in stdout and "Traceback" not in stderr, (args, stdout, stderr)
        return str(stdout)

    ok("create_role", "curator", "keeps the data")
    assert "keeps the data" in ok("retrieve_role", "curator")
    ok("update_role", "curator", "keeps all data")
    assert access().role("curator").description == "keeps all data"
    ok("create_user", "--password", PASSWORD, "carol", "carol@example.com")
    ok("activate_user", "carol")
    assert 'status="ACTIVE"' in ok("retrieve_user", "carol")
    ok("set_user_email", "carol", "c@example.org")
    ok("set_user_password", "carol", "CaosDB", "Other-5678")
    ok("set_user_entity", "carol", "123")
    assert access().user("carol").entity == "123"
    ok("reset_user_entity", "carol")
    carol = access().user("carol")
    assert (carol.email, carol.entity) == ("c@example.org", None)
    assert carol.password is None and check_password("Other-5678", carol.password_hash)
    ok("add_user_roles", "carol", "curator")
    assert "curator" in ok("retrieve_user_roles", "carol")
    ok("remove_user_roles", "carol", "curator")
    assert access().user("carol").roles == ()
    ok("grant_role_permissions", "curator", "SCRIPTING:EXECUTE:showcase.py")
    ok("deny_role_permissions", "curator", "TRANSACTION:DELETE")
    assert "Deny(TRANSACTION:DELETE)" in ok("retrieve_role_permissions", "curator")
    ok("revoke_role_permissions", "curator", "TRANSACTION:DELETE")
    assert "Grant(SCRIPTING:EXECUTE:showcase.py)" in ok("retrieve_role_permissions", "curator")
    (tmp_path / "insert.xml").write_text(
        f'<Insert><Record name="{RECORD}"><Parent name="Manufacturer"/>'
        '<Property name="country">DE</Property></Record></Insert>')
    assert RECORD in ok("insert", str(tmp_path / "insert.xml"))
    (record,) = store().find_by_name(RECORD)
    assert RECORD in ok("retrieve", "-q", f"FIND Manufacturer WITH name={RECORD}")
    (tmp_path / "update.xml").write_text(
        f'<Update><Record id="{record.id}" name="{RECORD}" description="by the admin tool">'
        '<Parent name="Manufacturer"/><Property name="country">DE</Property></Record></Update>')
    ok("update", str(tmp_path / "update.xml"))
    assert store().get(record.id).description == "by the admin tool"
    query = f"FIND Manufacturer WITH name={RECORD}"
    assert "admin" in ok("retrieve_entity_acl", query)
    ok("grant_entity_permissions", query, "curator", "UPDATE:DESCRIPTION", "--priority")
    ok("deny_entity_permissions", query, "curator", "DELETE")
    acl = access().acl_of(record.id, None)
    assert {(e.kind, e.role, e.permissions) for e in acl if e.role} == {
        ("Grant", "curator", ("UPDATE:DESCRIPTION",)), ("Deny", "curator", ("DELETE",))}
    ok("revoke_denial_entity_permissions", query, "curator", "DELETE")
    ok("revoke_grant_entity_permissions", query, "curator", "UPDATE:DESCRIPTION", "--priority")
    assert not [e for e in access().acl_of(record.id, None) if e.role == "curator"]
    ok("delete", str(record.id))
    assert store().get(record.id) is None
    ok("deactivate_user", "carol")
    assert access().user("carol").status == "INACTIVE"
    ok("delete_user", "carol")
    assert access().user("carol") is None
    ok("delete_role", "curator")
    assert access().role("curator") is None


def test_every_command_under_the_emulator(admin_bin: Path, tmp_path: Path,
                                          examples: Path) -> None:
    data = examples / "data"
    with Emulator(bin_dirs=[admin_bin], users=USERS, work_root=tmp_path / "w",
                  shared_root=tmp_path / "s", timeout=60,
                  data_files=[data / "model.yml", data / "records.yml"]) as emulator:

        def run(*args: str) -> tuple[int, str, str]:
            outcome = emulator.run_server_side_script("linkahead_admin.py", *args)
            return outcome.code, outcome.stdout or "", outcome.stderr or ""

        hook = next(h for h in emulator.hooks if hasattr(h, "access"))
        _every_command(run, lambda: hook.access, lambda: emulator.stand_in.store, tmp_path)


@pytest.fixture
def served(admin_bin: Path, tmp_path: Path, examples: Path) -> Iterator[Any]:
    """``serve --anonymous`` with a users file in which anonymous may run nothing."""
    from sss_emulator.serve.build import build_app

    users = tmp_path / "users.yaml"
    users.write_text(f"users:\n  admin: {{password: {PASSWORD}, roles: [administration]}}\n")
    data = examples / "data"
    app, _settings = build_app({"bin_dirs": (str(admin_bin),), "anonymous": True,
                                "users": str(users), "db": str(tmp_path / "state.sqlite"),
                                "data": (str(data / "model.yml"), str(data / "records.yml")),
                                "work_root": str(tmp_path / "w"),
                                "shared_root": str(tmp_path / "s")}, cwd=tmp_path)
    with running_server(app) as handle:
        app.url = handle.url
        yield app
    app.close()


def _as_admin(url: str, user: str = "admin", password: str = PASSWORD) -> None:
    linkahead.configure_connection(url=url, username=user, password=password,
                                   password_method="plain", timeout=60)


def test_every_command_under_serve(served: Any, tmp_path: Path) -> None:
    def run(*args: str) -> tuple[int, str, str]:
        _as_admin(served.url)
        response = run_server_side_script("linkahead_admin.py", *args)
        return response.code, response.stdout or "", response.stderr or ""

    _every_command(run, lambda: served.access, lambda: served.store, tmp_path)


def _anonymous_call(url: str, call: str) -> str:
    """The HTTP status of an anonymous ``POST /scripting`` (curl, no cookie)."""
    return subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                           "--max-time", "60", "-F", f"call={call}", f"{url}/scripting"],
                          check=True, capture_output=True, text=True).stdout


def test_a_granted_role_permission_lets_anonymous_run_the_script(served: Any) -> None:
    assert _anonymous_call(served.url, "showcase.py") == "403"
    _as_admin(served.url)
    response = run_server_side_script("linkahead_admin.py", "grant_role_permissions",
                                      "anonymous", "SCRIPTING:EXECUTE:showcase.py")
    assert response.code == 0 and "Error" not in (response.stdout or ""), response.stderr
    assert _anonymous_call(served.url, "showcase.py") == "200"


def test_a_user_created_through_the_api_logs_in_and_survives_a_restart(
        served: Any, tmp_path: Path) -> None:
    from sss_emulator.serve.build import build_app

    users_file = tmp_path / "users.yaml"
    before = users_file.read_bytes()
    _as_admin(served.url)
    response = run_server_side_script("linkahead_admin.py", "create_user", "--activate-user",
                                      "--password", "Dave-pw-123", "dave")
    assert response.code == 0 and "Error" not in (response.stdout or ""), response.stderr
    _as_admin(served.url, "dave", "Dave-pw-123")
    assert linkahead.Info().user_info.name == "dave"
    served.close()
    again, _settings = build_app({"bin_dirs": (str(tmp_path / "bin"),), "users": str(users_file),
                                  "db": str(tmp_path / "state.sqlite"),
                                  "work_root": str(tmp_path / "w"),
                                  "shared_root": str(tmp_path / "s")}, cwd=tmp_path)
    with running_server(again) as handle:
        _as_admin(handle.url, "dave", "Dave-pw-123")
        assert linkahead.Info().user_info.name == "dave"
        _as_admin(handle.url)
        response = run_server_side_script("linkahead_admin.py", "deactivate_user", "dave")
        assert response.code == 0, response.stderr
        _as_admin(handle.url, "dave", "Dave-pw-123")
        with pytest.raises(LoginFailedError):  # an inactive user may not log in
            linkahead.Info()
    again.close()
    assert users_file.read_bytes() == before  # the users file is never written


def test_a_command_from_the_command_line(admin_bin: Path, tmp_path: Path) -> None:
    """``sss-emulate linkahead_admin.py …`` (the CLI, default caller admin): the command
    reaches the stand-in and its answer, not a 501, comes back."""
    result = subprocess.run(
        [sys.executable, "-m", "sss_emulator", "--bin-dir", str(admin_bin),
         "--work-root", str(tmp_path / "w"), "--shared-root", str(tmp_path / "s"),
         "linkahead_admin.py", "-p0", "retrieve_role_permissions", "-p1", "administration"],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "set()" in result.stdout and "Error" not in result.stdout
