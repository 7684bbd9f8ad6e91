"""Fixtures for the browser page: a real server (``server.make_app``) over the sample scripts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.test import Client

from sss_emulator.config import UserEntry, UsersConfig
from sss_emulator.invocation import Emulator
from sss_emulator.serve.app import ServerApp, ServerConfig, make_app

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_scripts"
ADMIN_PASSWORD = "admin-pw"  # a test user's password
TEAM_PASSWORD = "team-pw"

#: A script path too long for a phone's width, with no place to break but anywhere.
LONG_NAME = "reports/quarterly_inventory_reconciliation_for_all_warehouses_and_suppliers.py"

#: Extra scripts next to the samples: one that fails, one that tries to escape its frame, one
#: whose HTML output is much taller than a screen, one with a very long name.
EXTRA_SCRIPTS = {
    "fails.bash": "#!/bin/bash\necho 'step 1 done'\necho \"boom: no input file given\" >&2\n"
                  "exit 3\n",
    "escape.bash": "#!/bin/bash\n"
                   "echo '<div class=\"alert alert-danger\" role=\"alert\">Danger!</div>'\n"
                   "echo '<script>document.body.dataset.ran = \"script\";"
                   " parent.document.title = \"escaped\";</script>'\n"
                   "echo '<img src=\"nowhere.png\" alt=\"\""
                   " onerror=\"document.body.dataset.ran = &quot;onerror&quot;\">'\n"
                   "echo '<a id=\"shared\" href=\"/Shared/x/report.txt\">report</a>'\n",
    "tall.bash": "#!/bin/bash\n"
                 "echo '<div class=\"alert alert-info\"><b>Info:</b> 60 rows follow.</div>'\n"
                 "echo '<table class=\"table table-striped\"><tr><th>Row</th><th>Value</th></tr>'\n"
                 "for i in $(seq 1 60); do echo \"<tr><td>$i</td><td>value $i</td></tr>\"; done\n"
                 "echo '</table>'\n"
                 "echo '<div class=\"alert alert-warning\" id=\"last\">The last line.</div>'\n",
    LONG_NAME: "#!/bin/bash\necho 'reconciled'\n",
}


def write_extra_scripts(folder: Path) -> None:
    """Put :data:`EXTRA_SCRIPTS` into ``folder``, executable."""
    for name, body in EXTRA_SCRIPTS.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
        path.chmod(0o755)


def users_config() -> UsersConfig:
    """``admin`` (administration) and ``tina`` (team: may run handle_csv.py only)."""
    return UsersConfig(
        users={
            "admin": UserEntry("admin", ADMIN_PASSWORD, ("administration",)),
            "tina": UserEntry("tina", TEAM_PASSWORD, ("team",)),
        },
        role_permissions={"team": ("SCRIPTING:EXECUTE:handle_csv.py",)},
    )


@pytest.fixture
def extra_bin(tmp_path: Path) -> Path:
    """A second bin dir with the failing and the frame-escaping script."""
    folder = tmp_path / "extra_bin"
    folder.mkdir()
    write_extra_scripts(folder)
    return folder


def build_server(tmp_path: Path, extra_bin: Path, context_root: str = "",
                 timeout: float = 60) -> ServerApp:
    users = users_config()
    emulator = Emulator(
        [SAMPLES, extra_bin], timeout=timeout, users=users, context_root=context_root,
        work_root=tmp_path / "work", shared_root=tmp_path / "shared",
    )
    return make_app(ServerConfig(emulator, users=users, backend=False))


@pytest.fixture
def server_app(tmp_path: Path, extra_bin: Path) -> Iterator[ServerApp]:
    app = build_server(tmp_path, extra_bin)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def client(server_app: ServerApp) -> Client:
    """A werkzeug client logged in as ``admin``."""
    client = Client(server_app)
    response = client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.get_data(as_text=True)
    return client
