"""sss-emulate --snapshot DIR: the same golden files as the plugin's, from a terminal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sss_emulator.cli.commands import run_cli

SCRIPT = """\
#!/usr/bin/env python3
import os, sys
print("hi", sys.argv[-1], os.getcwd())
open(os.path.join(os.environ["SHARED_DIR"], "o.txt"), "w").write(sys.argv[-1] + "\\n")
"""


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    for name in [n for n in os.environ if n.startswith("SSS_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SSS_WORK_ROOT", str(tmp_path / "work"))
    monkeypatch.setenv("SSS_SHARED_ROOT", str(tmp_path / "shared"))
    (tmp_path / "g.py").write_text(SCRIPT)
    (tmp_path / "g.py").chmod(0o755)

    def run(*args: str) -> tuple[int, str]:
        code = run_cli(["g.py", "--no-stand-in", *args])
        return code, capsys.readouterr().err

    return run


def test_write_match_and_differ(cli, tmp_path: Path) -> None:
    code, err = cli("-p0", "a", "--snapshot", "snap")
    assert code == 1 and "no snapshot at" in err and "--update-snapshot" in err
    code, err = cli("-p0", "a", "--snapshot", "snap", "--update-snapshot")
    assert code == 0 and "snapshot: written to" in err
    assert (tmp_path / "snap" / "stdout.txt").read_text() == "hi a <HOME>\n"
    assert (tmp_path / "snap" / "shared" / "o.txt").read_text() == "a\n"
    code, err = cli("-p0", "a", "--snapshot", "snap")
    assert code == 0 and "snapshot: matches" in err
    code, err = cli("-p0", "b", "--snapshot", "snap")
    assert code == 1
    assert "--- snapshot stdout.txt\n+++ this run stdout.txt\n" in err
    assert "-hi a <HOME>\n+hi b <HOME>\n" in err
    assert "-a\n+b\n" in err  # the shared file's diff


def test_update_needs_a_folder(cli) -> None:
    code, err = cli("--update-snapshot")
    assert code == 125 and "--update-snapshot needs --snapshot DIR" in err
