"""StandIn: the bundle the CLI, plugin and serve use for one run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from backend_helpers import BACKEND_TOKEN, DATA, backend_authenticate

from sss_emulator.backend import DataFileError, StandIn

SCRIPTS = Path(__file__).parent / "scripts"


def test_stand_in_runs_a_script_and_reports(tmp_path: Path) -> None:
    """Seeded data, the ini, PATH's sendmail and the results all come from one object."""
    home = tmp_path / "home"
    home.mkdir()
    data = [DATA / "model.yml", DATA / "records.yml"]
    with StandIn(
        authenticate=backend_authenticate,
        state_dir=tmp_path / "state",
        data_files=data,
        context_root="/la",
    ) as stand_in:
        assert stand_in.url.endswith("/la")
        (home / ".pylinkahead.ini").write_text(stand_in.ini_text(None), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in ("PYLINKAHEADINI", "PYCAOSDBINI")}
        env.update(HOME=str(home), PATH=f"{stand_in.bin_dir}{os.pathsep}{env.get('PATH', '')}")
        result = subprocess.run(
            [sys.executable, str(SCRIPTS / "mail_and_count.py"), f"--auth-token={BACKEND_TOKEN}"],
            cwd=home,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "3"
        outcome = stand_in.results()
        json.dumps(outcome)  # plain data, ready for --format json
        assert [c["path"] for c in outcome["server_calls"]] == ["/Entity", "/Entity"]
        assert outcome["changes"]["inserted"][0]["name"] == "Mustang"
        assert sorted((m["subject"], m["via"]) for m in outcome["mails"]) == [
            ("count", "smtp"),
            ("count again", "sendmail"),
        ]
        stand_in.reset()
        assert stand_in.results() == {
            "server_calls": [],
            "changes": {"inserted": [], "updated": [], "deleted": []},
            "mails": [],
        }
        assert stand_in.store.find_by_name("Mustang")


def test_bad_data_file_fails_before_anything_starts(tmp_path: Path) -> None:
    """A data file error surfaces as DataFileError with file and line."""
    bad = tmp_path / "bad.yml"
    bad.write_text("- name: x\n  colour: red\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"bad\.yml:1: unknown key\(s\) colour"):
        StandIn(authenticate=backend_authenticate, state_dir=tmp_path, data_files=[bad])


def test_persistent_store_is_seeded_once(tmp_path: Path) -> None:
    """Restarting serve on the same SQLite file does not load the data files a second time."""
    from sss_emulator.backend import EntityStore

    data = [DATA / "model.yml", DATA / "records.yml"]
    db = tmp_path / "store.sqlite"
    first = StandIn(
        authenticate=backend_authenticate,
        state_dir=tmp_path / "a",
        data_files=data,
        store=EntityStore(sqlite_path=db),
    )
    count = len(first.store)
    first.store.close()
    second = StandIn(
        authenticate=backend_authenticate,
        state_dir=tmp_path / "b",
        data_files=data,
        store=EntityStore(sqlite_path=db),
    )
    assert len(second.store) == count
    second.store.close()
