"""What a run costs beyond the script, without changing what the script sees.

Working directories vanish from the work root when the run ends and are deleted in the
background; from an emulator's second run on, the next run's directories are made in the
background too; the inherited environment is built once and rebuilt when it changes; the script
gets a process group of its own, and a session of its own only while there is a terminal to cut
it off from.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from sss_emulator.core import background
from sss_emulator.core import workspace as workspace_module
from sss_emulator.core.roots import owner_tag
from sss_emulator.core.workspace import wait_for_removals
from sss_emulator.invocation import Emulator


def _ours_in_trash() -> list[str]:
    """What this process's trash buckets hold."""
    trash = workspace_module.default_root("trash")
    return [entry.name for bucket in trash.glob(f"{owner_tag()}-*") for entry in bucket.iterdir()]


def test_workdir_is_deleted_off_the_callers_thread(make_script, roots: dict[str, Path],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The run returns with the work root already empty; the deleting happens in the cleanup
    thread, and close() waits for it."""
    script = make_script("ok.sh", "#!/bin/sh\ntouch file; mkdir -p a/b\n")
    release, deleting = threading.Event(), threading.Event()
    deleted_in: list[str] = []
    real_rmtree = workspace_module.shutil.rmtree

    def slow_rmtree(path: str | Path, ignore_errors: bool = False) -> None:
        if f"/{owner_tag()}-" in str(path):  # ours, not what dead processes left in the trash
            deleting.set()
            release.wait(30)
            deleted_in.append(threading.current_thread().name)
        real_rmtree(path, ignore_errors=ignore_errors)

    monkeypatch.setattr(workspace_module.shutil, "rmtree", slow_rmtree)
    em = Emulator([script.parent], stand_in=False, **roots)
    res = em.run_server_side_script("ok.sh")
    assert res.code == 0
    assert list(roots["work_root"].iterdir()) == []  # gone from the work root at once
    assert not res.workdir.exists()
    assert deleted_in == [] and _ours_in_trash()  # ... but not deleted yet
    assert deleting.wait(30)
    em.run_server_side_script("ok.sh")  # renamed while the first is being deleted ...
    trash = workspace_module.default_root("trash")
    buckets = {p.parent.name for p in trash.glob(f"{owner_tag()}-*/*")}
    assert len(buckets) == 2  # ... into the other bucket, so neither waits for the other
    release.set()
    em.close()
    assert deleted_in == ["sss-cleanup", "sss-cleanup"]
    assert _ours_in_trash() == []


@pytest.mark.parametrize("body", ["touch file", "rm .pylinkahead.ini", "true",
                                  "mkdir -p .upload_files/a; ln -s / .upload_files/b"])
def test_workdir_is_deleted_on_the_spot_when_it_cannot_be_moved(
        make_script, roots: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
        body: str) -> None:
    """A trash on another file system (rename fails): deleted before run() returns, whatever
    the script left (or took away) of what the run made (the stand-in's ini)."""
    script = make_script("ok.sh", f"#!/bin/sh\n{body}\n")

    def no_rename(src: object, dst: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(background.os, "rename", no_rename)
    with Emulator([script.parent], **roots) as em:
        for _ in range(2):
            res = em.run_server_side_script("ok.sh")
            assert res.code == 0
            assert not res.workdir.exists() and list(roots["work_root"].iterdir()) == []


def test_timeout_and_errors_still_remove_the_workdir(make_script, roots: dict[str, Path]) -> None:
    """Every way out of a run hands its directory to the cleanup."""
    slow = make_script("slow.sh", "#!/bin/sh\nsleep 30\n")
    em = Emulator([slow.parent], stand_in=False, timeout=0.3, **roots)
    assert em.run_server_side_script("slow.sh").timed_out
    with pytest.raises(Exception, match="upload"):
        em.run_server_side_script("slow.sh", files={"-p0": slow.parent / "missing.txt"})
    assert list(roots["work_root"].iterdir()) == []
    em.close()
    assert _ours_in_trash() == []


def test_trash_left_by_a_killed_process_is_swept(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries of a process that no longer exists are deleted by the next cleanup thread."""
    monkeypatch.setattr(background, "default_root", lambda kind: tmp_path / kind)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tmp_path / "trash" / f"{dead.pid}-0" / "3-call-orphan"
    (orphan / "sub").mkdir(parents=True)
    made_ahead = tmp_path / "stage" / str(dead.pid) / "tmpabc" / ".upload_files"
    made_ahead.mkdir(parents=True)
    foreign = tmp_path / "trash" / "not-ours"
    foreign.mkdir()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    reused = tmp_path / "trash" / f"{live.pid}.1-0" / "4-call-reused"  # its pid, not its start
    reused.mkdir(parents=True)
    kept = tmp_path / "stage" / owner_tag()  # this process's own, tagged as it tags it now
    kept.mkdir(parents=True)
    remover = background._Remover()
    finished = tmp_path / "call-finished"
    finished.mkdir()
    remover.remove(finished)
    assert remover.wait(30)
    assert not finished.exists()
    remover.at_exit()
    live.kill()
    live.wait()
    assert sorted(p.name for p in (tmp_path / "trash").iterdir()) == ["not-ours"]
    assert [p.name for p in (tmp_path / "stage").iterdir()] == [owner_tag()]


_LOOK = ('#!/bin/sh\nbasename "$PWD"; stat -c %a . .upload_files "$SHARED_DIR"; ls -A\n'
         'basename "$SHARED_DIR"; echo "[$(ls -A "$SHARED_DIR")]"; dirname "$SHARED_DIR"\n')


def _stage_entries() -> list[str]:
    stage = workspace_module.default_root("stage") / owner_tag()
    return sorted(p.name for p in stage.iterdir()) if stage.is_dir() else []


def test_directories_made_ahead_look_as_if_made_by_the_run(
        make_script, roots: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """From the second run on, the next run's directories are made in the background; the
    script sees the same names, modes and contents as in a run that made its own."""
    script = make_script("look.sh", _LOOK)
    em = Emulator([script.parent], stand_in=False, **roots)
    made_by_runs: list[Path] = []
    real_make = workspace_module._make_workdir

    def counting_make(work_root: Path) -> Path:
        made_by_runs.append(work_root)
        return real_make(work_root)

    monkeypatch.setattr(workspace_module, "_make_workdir", counting_make)
    looks = []
    for _ in range(4):
        looks.append(em.run_server_side_script("look.sh").stdout_text.split("\n"))
        wait_for_removals()
    assert len(made_by_runs) == 2, "runs 3 and 4 found their directories made"
    for name, *modes, listing, shared, shared_ls, shared_parent, _ in looks:
        assert re.fullmatch(rf"call-{re.escape(owner_tag())}-[a-z0-9_]{{8}}", name)
        assert modes == ["700", "700", "700"]
        assert listing == ".upload_files"
        assert re.fullmatch(r"[0-9a-f]{32}", shared) and shared_ls == "[]"
        assert shared_parent == str(roots["shared_root"])
    assert len({look[0] for look in looks}) == 4
    assert _stage_entries()  # the fifth run's set, ...
    em.close()
    assert _stage_entries() == []  # ... removed with the emulator
    assert list(roots["work_root"].iterdir()) == []
    assert len(list(roots["shared_root"].iterdir())) == 4


def test_directories_made_ahead_for_other_roots_are_not_used(make_script, tmp_path: Path,
                                                             roots: dict[str, Path]) -> None:
    script = make_script("look.sh", _LOOK)
    em = Emulator([script.parent], stand_in=False, **roots)
    for _ in range(2):
        em.run_server_side_script("look.sh")
    wait_for_removals()
    made_for_the_old_roots = _stage_entries()
    assert made_for_the_old_roots
    em.work_root, em.shared_root = tmp_path / "work2", tmp_path / "shared2"
    look = em.run_server_side_script("look.sh").stdout_text.split("\n")
    assert look[-2] == str(tmp_path / "shared2")
    assert list(roots["work_root"].iterdir()) == []
    assert len(list(roots["shared_root"].iterdir())) == 2
    wait_for_removals()
    assert not set(made_for_the_old_roots) & set(_stage_entries())  # discarded
    em.close()


def test_a_set_made_ahead_that_vanished_is_replaced_by_the_runs_own(
        make_script, roots: dict[str, Path]) -> None:
    script = make_script("look.sh", _LOOK)
    em = Emulator([script.parent], stand_in=False, **roots)
    for _ in range(2):
        em.run_server_side_script("look.sh")
    wait_for_removals()
    stage = workspace_module.default_root("stage") / owner_tag()
    for entry in stage.iterdir():
        shutil.rmtree(entry)
    look = em.run_server_side_script("look.sh").stdout_text.split("\n")
    assert look[1:5] == ["700", "700", "700", ".upload_files"]
    em.close()


def test_environment_changes_between_runs_are_seen(make_script, roots: dict[str, Path],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment is reused between runs, but never a stale one."""
    script = make_script("env.sh", '#!/bin/sh\necho "${COST_A:-unset} ${COST_B:-unset}"\n')
    em = Emulator([script.parent], stand_in=False, **roots)
    assert em.run_server_side_script("env.sh").stdout == "unset unset\n"
    monkeypatch.setenv("COST_A", "a")
    assert em.run_server_side_script("env.sh").stdout == "a unset\n"
    em.env["COST_B"] = "b"
    assert em.run_server_side_script("env.sh").stdout == "a b\n"
    monkeypatch.delenv("COST_A")
    del em.env["COST_B"]
    assert em.run_server_side_script("env.sh").stdout == "unset unset\n"
    wait_for_removals()


_PGRP = "#!/bin/sh\nset -- $(cut -d' ' -f5,6 /proc/$$/stat)\necho \"$$ $1 $2\"\n"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_script_leads_its_own_process_group(make_script, roots: dict[str, Path]) -> None:
    """pgid == pid (what stopping the whole group relies on), never our own group."""
    script = make_script("pgrp.sh", _PGRP)
    out = Emulator([script.parent], stand_in=False, **roots).run_server_side_script("pgrp.sh")
    pid, pgid, _sid = out.stdout_text.split()
    assert pid == pgid
    assert int(pgid) != os.getpgid(0)


_IN_A_TERMINAL = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    os.open(os.ttyname(0), os.O_RDWR)  # a session leader opening a tty: it is our terminal now
    from sss_emulator.core.runner import run_process
    result = run_process([sys.argv[1]], cwd=Path.cwd(), env=os.environ, timeout=20)
    sys.stdout.buffer.write(result.stdout)
""")


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_in_a_terminal_the_script_cannot_reach_it(make_script, tmp_path: Path) -> None:
    """Run from a terminal, the script still has none (as under the server, a daemon)."""
    script = make_script("tty.sh", "#!/bin/sh\nif (exec 3</dev/tty) 2>/dev/null; then echo "
                                   "terminal; else echo none; fi\n")
    leader, follower = os.openpty()
    try:
        done = subprocess.run([sys.executable, "-c", _IN_A_TERMINAL, str(script)],
                              stdin=follower, capture_output=True, start_new_session=True,
                              cwd=tmp_path, timeout=60, check=False)
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b"none\n"


def test_a_large_output_is_captured_whole_through_an_unnamed_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond the in-memory share, output goes to a file with no name (nothing in any folder
    to clean up or to wake a watcher) and comes back byte for byte, stdout and stderr apart."""
    from sss_emulator.core import runner

    monkeypatch.setattr(runner, "CAPTURE_IN_MEMORY", 1000)
    opened: list[object] = []
    real_temporary_file = __import__("tempfile").TemporaryFile

    def counting(*args: object, **kwargs: object) -> object:
        handle = real_temporary_file(*args, **kwargs)
        opened.append(handle)
        return handle

    monkeypatch.setattr("tempfile.TemporaryFile", counting)
    code = ("import sys\nfor i in range(3000):\n    sys.stdout.write(f'{i:05d}\\xe9\\n')\n"
            "sys.stderr.write('e' * 5000)\n")
    before = set(os.listdir(tmp_path))
    result = runner.run_process([sys.executable, "-c", code], cwd=tmp_path, env=dict(os.environ),
                                timeout=60)
    assert result.returncode == 0
    assert result.stdout == "".join(f"{i:05d}\u00e9\n" for i in range(3000)).encode()
    assert result.stderr == b"e" * 5000
    assert len(opened) == 2 and all(handle.closed for handle in opened)  # type: ignore[attr-defined]
    assert set(os.listdir(tmp_path)) == before


def test_a_hook_that_writes_the_ini_by_path_keeps_it_on_every_run(
        make_script, roots: dict[str, Path]) -> None:
    """Files made ahead for the next run must not hide what a hook wrote by path: the stand-in's
    patch of the user's ini was dropped from the fourth run on."""
    from sss_emulator.core.hooks import RunContext

    class WritesByPath:
        def before_run(self, context: RunContext) -> None:
            (context.workspace.home / ".pylinkahead.ini").write_text("[Mine]\nkey = 1\n")

        def after_run(self, context: RunContext, outcome: Any) -> Any:
            return outcome

        def close(self) -> None:
            pass

    make_script("ini.sh", "#!/bin/sh\ncat .pylinkahead.ini\n")
    emulator = Emulator(bin_dirs=[make_script("x.sh", "#!/bin/sh\n").parent],
                        hooks=[WritesByPath()], **roots)
    try:
        for _ in range(6):
            out = emulator.run_server_side_script("ini.sh").stdout
            assert "[Mine]" in out and "[Connection]" in out, out
    finally:
        emulator.close()


def test_a_linked_ini_in_the_skeleton_is_never_written_through(
        make_script, roots: dict[str, Path], tmp_path: Path) -> None:
    """A skeleton may link to the user's own ini (dotfiles); a run's patched copy replaces the
    link in the run's HOME and leaves the user's file as it was."""
    mine = tmp_path / "dotfiles-ini"
    mine.write_text("[Connection]\nurl = https://mine.example\n")
    skeleton = tmp_path / "skeleton"
    skeleton.mkdir()
    (skeleton / ".pylinkahead.ini").symlink_to(mine)
    bin_dir = make_script("ini.sh", "#!/bin/sh\ncat .pylinkahead.ini\n").parent
    emulator = Emulator(bin_dirs=[bin_dir], home=skeleton, **roots)
    try:
        for _ in range(3):
            out = emulator.run_server_side_script("ini.sh").stdout
            assert "127.0.0.1" in out and "mine.example" not in out, out
    finally:
        emulator.close()
    assert mine.read_text() == "[Connection]\nurl = https://mine.example\n"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_runs_and_cleans_up_as_itself(make_script,
                                                     roots: dict[str, Path]) -> None:
    """After a fork (pytest-xdist, multiprocessing), the child's runs carry its own owner tag
    and its cleanup thread starts anew: removals finish instead of queueing forever."""
    from sss_emulator.core import roots as roots_module

    bin_dir = make_script("ok.sh", "#!/bin/sh\npwd\n").parent
    emulator = Emulator(bin_dirs=[bin_dir], stand_in=False, **roots)
    emulator.run_server_side_script("ok.sh")
    emulator.run_server_side_script("ok.sh")  # the cleanup thread is alive now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, never return into pytest
        code = 1
        try:
            child = Emulator(bin_dirs=[bin_dir], stand_in=False, **roots)
            out = child.run_server_side_script("ok.sh").stdout
            tag_ok = f"call-{os.getpid()}." in out and roots_module.owner_tag().startswith(
                f"{os.getpid()}.")
            child.close()
            done = wait_for_removals(10)
            os.write(write, f"{tag_ok} {done}".encode())
            from sss_emulator.core import background

            background._at_exit()  # os._exit skips atexit: leave no trash bucket behind
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    try:
        answer = os.read(read, 100).decode()
    finally:
        os.close(read)
        os.waitpid(pid, 0)
        emulator.close()
    assert answer == "True True"
