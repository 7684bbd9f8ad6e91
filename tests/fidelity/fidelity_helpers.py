"""Fixtures of the compare/record/replay tests: a second ``sss-emulate serve`` process plays
"the user's server", with its own home skeleton, users and roots."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from serve_support import banner_url

PASSWORD = "server-pw"
ALICE_PASSWORD = "alice-pw"

#: A script whose output depends on the home skeleton, and which leaves a file for download.
GREET_SH = """#!/bin/bash
# Print the skeleton's greeting and our arguments; leave a linked file in SHARED_DIR.
cat "$HOME/greeting.txt"
echo "args: ${@:2}"
echo "report for ${@: -1}" > "$SHARED_DIR/out.txt"
echo "<a href=\\"/Shared/$(basename "$SHARED_DIR")/out.txt\\">out</a>"
echo "done at $(date -Iseconds)" >&2
"""

#: What the browser page's config forms send: form.json in -p0 plus a file part per file field.
FORM_SH = """#!/bin/bash
# Print the uploaded form.json and the CSV it names (as the web UI's form_elements send them).
cat "$2"
cat .upload_files/table.csv
"""

#: Prints the size of its uploaded file: a big upload without a big answer.
SIZE_SH = """#!/bin/bash
wc -c < "$2"
"""

USERS_YAML = f"""
users:
  admin: {{password: {PASSWORD}, roles: [administration]}}
  alice: {{password: {ALICE_PASSWORD}, roles: [team]}}
roles:
  team: [SCRIPTING:EXECUTE:greet.sh]
"""


@dataclass
class Server:
    """A running ``sss-emulate serve`` process."""

    url: str
    process: subprocess.Popen[str]
    bin_dir: Path
    home: Path


@pytest.fixture
def fidelity_env(tmp_path: Path) -> dict[str, str]:
    """Our environment without SSS_* settings, with private local roots."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    env["SSS_WORK_ROOT"] = str(tmp_path / "local" / "work")
    env["SSS_SHARED_ROOT"] = str(tmp_path / "local" / "shared")
    return env


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bin dir, two home skeletons and a users file, shared by server and local runs."""
    tmp_path = tmp_path_factory.mktemp("site")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("greet.sh", GREET_SH), ("form.sh", FORM_SH), ("size.sh", SIZE_SH)):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    for name in ("server", "local"):
        home = tmp_path / f"home-{name}"
        home.mkdir()
        (home / "greeting.txt").write_text(f"hello from the {name} skeleton\n")
    (tmp_path / "users.yaml").write_text(USERS_YAML)
    return tmp_path


@pytest.fixture(scope="module")
def start_server(site: Path) -> Iterator[Callable[..., Server]]:
    """Start ``sss-emulate serve --port 0`` on the site's bin dir with a chosen home."""
    started: list[subprocess.Popen[str]] = []
    samples = Path(__file__).resolve().parents[2] / "sample_scripts"

    def start(home: str = "server") -> Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
        roots = site / f"server-{len(started)}"
        home_dir = site / f"home-{home}"
        process = subprocess.Popen(
            [sys.executable, "-m", "sss_emulator", "serve", "--port", "0", "--quiet",
             "--bin-dir", str(site / "bin"), "--bin-dir", str(samples),
             "--home", str(home_dir), "--users", str(site / "users.yaml"),
             "--work-root", str(roots / "work"), "--shared-root", str(roots / "shared")],
            env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        started.append(process)
        return Server(banner_url(process), process, site / "bin", home_dir)

    yield start
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture(scope="module")
def server(start_server: Callable[..., Server]) -> Server:
    """One server per test module, with the "server" home skeleton."""
    return start_server("server")
