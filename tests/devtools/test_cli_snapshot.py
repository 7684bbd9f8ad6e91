"""sss-emulate --snapshot DIR: the same golden files as the plugin's, from a terminal."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


# --- a snapshot folder is the user's folder: an update touches only what it wrote -------------

PROJECT_SCRIPT = """\
#!/usr/bin/env python3
import os, sys
print("hi", sys.argv[-1])
if sys.argv[-1] != "none":
    open(os.path.join(os.environ["SHARED_DIR"], "o.txt"), "w").write(sys.argv[-1] + "\\n")
"""


def _sss_emulate(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A real ``sss-emulate`` process, as the user types it in ``cwd``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    env.update(SSS_WORK_ROOT=str(cwd.parent / "work"), SSS_SHARED_ROOT=str(cwd.parent / "shr"))
    return subprocess.run([sys.executable, "-m", "sss_emulator", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A project folder as a user has it: a git repository, scripts, notes."""
    project = tmp_path / "project"
    (project / ".git" / "refs").mkdir(parents=True)
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (project / "g.py").write_text(PROJECT_SCRIPT)
    (project / "g.py").chmod(0o755)
    (project / "notes.md").write_text("my notes\n")
    return project


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in folder.rglob("*") if p.is_file()}


def test_update_into_the_project_folder_keeps_every_file_of_it(repo: Path) -> None:
    before = _files(repo)
    done = _sss_emulate(repo, "--snapshot", ".", "--update-snapshot", "--no-stand-in",
                        "g.py", "-p0", "x")
    assert done.returncode == 0, done.stderr
    after = _files(repo)
    assert {name: after.get(name) for name in before} == before  # .git, scripts, notes: kept
    assert (repo / "stdout.txt").read_text() == "hi x\n"
    assert (repo / "shared" / "o.txt").read_text() == "x\n"
    # the next update replaces the snapshot's own files and removes the one it no longer makes
    done = _sss_emulate(repo, "--snapshot", ".", "--update-snapshot", "--no-stand-in",
                        "g.py", "-p0", "none")
    assert done.returncode == 0, done.stderr
    assert not (repo / "shared").exists()
    assert (repo / "stdout.txt").read_text() == "hi none\n"
    after = _files(repo)
    assert {name: after.get(name) for name in before} == before
    assert _sss_emulate(repo, "--snapshot", ".", "--no-stand-in", "g.py", "-p0",
                        "none").returncode == 0


def test_a_file_the_snapshot_did_not_write_is_never_overwritten(repo: Path) -> None:
    (repo / "stdout.txt").write_text("the user's own stdout.txt\n")
    before = _files(repo)
    done = _sss_emulate(repo, "--snapshot", ".", "--update-snapshot", "--no-stand-in",
                        "g.py", "-p0", "x")
    assert done.returncode == 1
    refusal = [line for line in done.stderr.splitlines() if "snapshot:" in line]
    assert len(refusal) == 1 and "stdout.txt exists and was not written by this snapshot" \
        in refusal[0], done.stderr
    assert "Traceback" not in done.stderr
    assert _files(repo) == before  # nothing written, nothing removed
    (repo / "stdout.txt").unlink()
    (repo / "shared").write_text("a file of mine named shared\n")  # where shared/o.txt goes
    before = _files(repo)
    done = _sss_emulate(repo, "--snapshot", ".", "--update-snapshot", "--no-stand-in",
                        "g.py", "-p0", "x")
    assert done.returncode == 1 and "is a file where the snapshot needs a folder" \
        in done.stderr, done.stderr
    assert _files(repo) == before


def test_update_keeps_a_file_put_into_the_snapshot_folder(repo: Path) -> None:
    args = ("--snapshot", "snap", "--update-snapshot", "--no-stand-in", "g.py", "-p0")
    assert _sss_emulate(repo, *args, "x").returncode == 0
    (repo / "snap" / "README.md").write_text("why these golden files\n")
    (repo / "snap" / "shared" / "mine.txt").write_text("mine\n")
    done = _sss_emulate(repo, *args, "none")
    assert done.returncode == 0, done.stderr
    assert (repo / "snap" / "README.md").read_text() == "why these golden files\n"
    assert (repo / "snap" / "shared" / "mine.txt").read_text() == "mine\n"
    assert not (repo / "snap" / "shared" / "o.txt").exists()  # the snapshot's own: removed


def test_a_planted_link_is_not_written_through(repo: Path) -> None:
    args = ("--snapshot", "snap", "--update-snapshot", "--no-stand-in", "g.py", "-p0", "x")
    assert _sss_emulate(repo, *args).returncode == 0
    victim = repo / "victim.txt"
    victim.write_text("precious\n")
    (repo / "snap" / "stdout.txt").unlink()
    (repo / "snap" / "stdout.txt").symlink_to(victim)
    (repo / "elsewhere").mkdir()
    shutil.rmtree(repo / "snap" / "shared")
    (repo / "snap" / "shared").symlink_to(repo / "elsewhere")
    done = _sss_emulate(repo, *args)
    assert done.returncode == 1 and "is a symbolic link" in done.stderr, done.stderr
    assert victim.read_text() == "precious\n"
    assert list((repo / "elsewhere").iterdir()) == []


def test_a_shared_link_left_by_the_script_is_not_copied_into_the_snapshot(repo: Path) -> None:
    secret = repo.parent / "id_secret"
    secret.write_text("PRIVATE KEY\n")
    (repo / "l.py").write_text(
        "#!/usr/bin/env python3\nimport os\n"
        f"os.symlink({str(secret)!r}, os.path.join(os.environ['SHARED_DIR'], 'key'))\n")
    (repo / "l.py").chmod(0o755)
    done = _sss_emulate(repo, "--snapshot", "snap", "--update-snapshot", "--no-stand-in",
                        "l.py")
    assert done.returncode == 0, done.stderr
    stored = (repo / "snap" / "shared" / "key")
    assert not stored.is_symlink()
    assert "PRIVATE KEY" not in stored.read_text()


def test_the_token_printed_as_a_list_is_not_stored(repo: Path) -> None:
    (repo / "t.py").write_text(
        "#!/usr/bin/env python3\nimport json, sys\n"
        "tok = sys.argv[1].split('=', 1)[1]\nprint(json.loads(tok))\nprint(json.dumps(tok))\n")
    (repo / "t.py").chmod(0o755)
    args = ("--snapshot", "snap", "--no-stand-in", "t.py")
    done = _sss_emulate(repo, *args, "--update-snapshot")
    assert done.returncode == 0, done.stderr
    assert (repo / "snap" / "stdout.txt").read_text() == '<TOKEN>\n"<TOKEN>"\n'
    assert _sss_emulate(repo, *args).returncode == 0  # a new token next run: still a match
