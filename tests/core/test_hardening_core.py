"""Issue 11 in the core: literal calls, token revocation and one-time token replays."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from process_helpers import gone as _gone

from sss_emulator.core.tokens import Identity, PurposeEntry, TokenAuthority


def test_cli_refuses_a_call_that_climbs_out_of_its_grant(tmp_path, monkeypatch, samples,
                                                          examples, roots) -> None:
    """``--user alice ok/../other`` passed alice's grant for ok and ran other (exit 125 now)."""
    from click.testing import CliRunner

    from sss_emulator.cli.commands import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SSS_WORK_ROOT", str(roots["work_root"]))
    monkeypatch.setenv("SSS_SHARED_ROOT", str(roots["shared_root"]))
    result = CliRunner().invoke(main, [
        "--bin-dir", str(samples), "--users", str(examples / "users.yaml"), "--user", "alice",
        "minimal.bash/../administration/diagnostics.py"], catch_exceptions=False)
    assert result.exit_code == 125, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'..'" in lines[0]
    assert "Traceback" not in result.output


def test_revocation_holds_for_every_encoding_and_for_child_tokens() -> None:
    authority = TokenAuthority()
    session = authority.session_token(Identity("alice", roles=("team",)))
    child = authority.session_token(Identity("alice", roles=("team",)), parent=session)
    grandchild = authority.session_token(Identity("alice"), parent=child)
    unrelated = authority.session_token(Identity("alice", roles=("team",)))
    respaced = json.dumps(json.loads(session), indent=1)
    assert authority.verify(respaced) is not None
    assert authority.revoke(respaced)
    for token in (session, respaced, child, grandchild):
        assert authority.verify(token) is None
    assert authority.verify(unrelated) is not None


@pytest.mark.parametrize("field,value", [(9, 100), (10, 10**9), (7, "OTHER-SALT"),
                                         (5, 1.0), (6, True)])
def test_every_field_of_a_one_time_token_is_signed(field: int, value: object) -> None:
    authority = TokenAuthority()
    fields = json.loads(authority.one_time_token(PurposeEntry("p", ("r",))))
    fields[field] = value
    assert authority.verify(json.dumps(fields)) is None


def test_one_time_tokens_enforce_max_replays_and_the_replay_window() -> None:
    now = [1_000_000]
    authority = TokenAuthority(clock_ms=lambda: now[0])
    entry = PurposeEntry("p", ("r",), max_replays=3, replay_timeout_ms=1_000)
    token = authority.one_time_token(entry)
    first = authority.verify(token)
    assert first is not None and first.renewed_token is not None
    renewed = authority.verify(first.renewed_token)
    assert renewed is not None and renewed.kind == "S" and renewed.roles == ("r",)
    now[0] += 500
    assert authority.verify(json.dumps(json.loads(token), indent=2)) is not None  # use 2
    assert authority.verify(token) is not None  # use 3
    assert authority.verify(token) is None  # a fourth use is refused
    late = authority.one_time_token(entry)
    assert authority.verify(late) is not None
    now[0] += 1_001
    assert authority.verify(late) is None  # the second use comes after the replay window
    once = authority.one_time_token(PurposeEntry("p", ("r",)))  # default: maxReplays 1
    assert authority.verify(once) is not None and authority.verify(once) is None


@pytest.mark.parametrize("token", ["[" * 1000, "[" * 100_000, "x" * 100_000, "", "null",
                                   '["S"]', json.dumps(["S"] + [None] * 8)])
def test_malformed_tokens_decode_to_none(token: str) -> None:
    assert TokenAuthority().verify(token) is None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_clean_up_like_ctrl_c(tmp_path: Path, make_script,
                                                 roots: dict[str, Path],
                                                 sig: signal.Signals) -> None:
    """Editors, ``timeout`` and CI send TERM or HUP: script group stopped, dirs removed."""
    script = make_script("long.sh", "#!/bin/bash\nsleep 300 &\necho $! > \"$SHARED_DIR/pid\"\n"
                         "echo ready\nwait\n")
    upload = tmp_path / "data.txt"
    upload.write_text("upload")
    env = dict(os.environ, SSS_WORK_ROOT=str(roots["work_root"]),
               SSS_SHARED_ROOT=str(roots["shared_root"]))
    proc = subprocess.Popen([sys.executable, "-m", "sss_emulator", str(script), "-p0",
                             f"@{upload}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig, err
    assert f"stopped by {sig.name}".encode() in err
    assert list(roots["work_root"].iterdir()) == []
    child = int((next(roots["shared_root"].iterdir()) / "pid").read_text())
    assert _gone([child])


# --- 7. private roots: owner and mode checked, planted links refused ------------------------

@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TMPDIR for the default roots: ``<it>/sss-emulator-<uid>`` is the private base."""
    import tempfile

    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder / f"sss-emulator-{os.getuid()}"


def _default_emulator(make_script: Any) -> Any:
    from sss_emulator.invocation import Emulator

    script = make_script("hello.sh", "#!/bin/sh\necho hi > \"$SHARED_DIR/x\"\necho hi\n")
    return Emulator(bin_dirs=[script.parent], stand_in=False)


@pytest.mark.parametrize("plant", ["base-link", "base-world-writable", "shared-link",
                                   "work-link", "other-owner"])
def test_a_private_root_another_user_prepared_is_refused(private_tmp: Path, tmp_path: Path,
                                                         make_script: Any, plant: str) -> None:
    from sss_emulator.errors import SetupError

    victim = tmp_path / "victim-home"
    victim.mkdir()
    if plant == "base-link":
        private_tmp.symlink_to(victim)
    else:
        private_tmp.mkdir(mode=0o700)
        if plant == "base-world-writable":
            private_tmp.chmod(0o777)
        elif plant == "shared-link":
            (private_tmp / "shared").symlink_to(victim)
        elif plant == "work-link":
            (private_tmp / "work").symlink_to(victim)
        else:
            if os.getuid() != 0:
                pytest.skip("only root can make a folder of another user here")
            os.chown(private_tmp, 4242, 4242)
    emulator = _default_emulator(make_script)
    with pytest.raises(SetupError) as caught:
        emulator.run_server_side_script("hello.sh")
    assert str(private_tmp) in caught.value.message and "another" in caught.value.message
    assert list(victim.iterdir()) == [], "nothing was written through the planted link"


@pytest.mark.parametrize("plant", ["world-writable", "other-owner"])
@pytest.mark.parametrize("root", ["--work-root", "--shared-root"])
def test_a_chosen_root_another_user_may_change_is_refused(tmp_path: Path, make_script: Any,
                                                          plant: str, root: str) -> None:
    """``--work-root /tmp/work`` that another local user made first (or anyone may write in):
    they could rename a run's folder away and put a link in its place, so that the run's ini
    (its token) and shared files land where they choose. Refused before anything is written,
    and the folder keeps its mode (a root the user chose is never chmodded)."""
    script = make_script("hello.sh", "#!/bin/sh\necho hi > \"$SHARED_DIR/x\"\necho hi\n")
    planted = tmp_path / "planted"
    planted.mkdir()
    planted.chmod(0o777)
    if plant == "other-owner":
        if os.getuid() != 0:
            pytest.skip("only root can make a folder of another user here")
        planted.chmod(0o755)
        os.chown(planted, 4242, 4242)
    roots = {"--work-root": tmp_path / "work", "--shared-root": tmp_path / "shared", root: planted}
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    result = subprocess.run(
        [sys.executable, "-m", "sss_emulator", "--bin-dir", str(script.parent),
         "--work-root", str(roots["--work-root"]), "--shared-root", str(roots["--shared-root"]),
         "hello.sh"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and result.stdout == "", result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and str(planted) in lines[0] and "other user" in lines[0], lines
    assert list(planted.iterdir()) == []
    assert stat.S_IMODE(planted.stat().st_mode) == (0o755 if plant == "other-owner" else 0o777)


@pytest.mark.parametrize("sticky", [False, True])
def test_a_chosen_root_below_a_folder_others_may_write_is_refused(
        tmp_path: Path, make_script: Any, sticky: bool) -> None:
    """A private root in a folder anyone may write (not sticky): they can rename the root away
    and put their own in its place. Below a sticky folder, as /tmp is, nobody can."""
    script = make_script("hello.sh", "#!/bin/sh\necho hi\n")
    shared_parent = tmp_path / "open"
    shared_parent.mkdir()
    shared_parent.chmod(0o1777 if sticky else 0o777)
    root = shared_parent / "mine"
    root.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    result = subprocess.run(
        [sys.executable, "-m", "sss_emulator", "--bin-dir", str(script.parent),
         "--work-root", str(root), "--shared-root", str(tmp_path / "shared"), "hello.sh"],
        env=env, capture_output=True, text=True, timeout=120)
    if sticky:
        assert result.returncode == 0 and result.stdout == "hi\n", result
        return
    assert result.returncode == 125 and result.stdout == "", result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and f"lies in {shared_parent}, which other users may write" in (
        lines[0]), lines


def test_a_chosen_root_of_our_own_group_is_used(tmp_path: Path, make_script: Any) -> None:
    """umask 002 with a group per user makes folders 0775: the user's own group may write."""
    script = make_script("hello.sh", "#!/bin/sh\necho hi\n")
    work = tmp_path / "work"
    work.mkdir()
    work.chmod(0o775)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    result = subprocess.run(
        [sys.executable, "-m", "sss_emulator", "--bin-dir", str(script.parent),
         "--work-root", str(work), "--shared-root", str(tmp_path / "shared"), "hello.sh"],
        env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout == "hi\n", result


def test_a_0755_private_base_of_our_own_is_closed_and_used(private_tmp: Path,
                                                           make_script: Any) -> None:
    private_tmp.mkdir(mode=0o755)
    private_tmp.chmod(0o755)
    assert _default_emulator(make_script).run_server_side_script("hello.sh").code == 0
    assert private_tmp.stat().st_mode & 0o777 == 0o700


def test_serve_does_not_serve_a_planted_shared_root(private_tmp: Path, tmp_path: Path,
                                                    make_script: Any) -> None:
    from werkzeug.test import Client

    from sss_emulator.serve.app import ServerConfig, make_app

    victim = tmp_path / "victim-home"
    (victim / "secret").mkdir(parents=True)
    (victim / "secret" / "key.txt").write_text("private")
    private_tmp.mkdir(mode=0o700)
    (private_tmp / "shared").symlink_to(victim)
    app = make_app(ServerConfig(_default_emulator(make_script)))
    response = Client(app).get("/Shared/secret/key.txt")
    assert b"private" not in response.get_data() and response.status_code >= 400


# --- 8. what SIGKILLed runs left is swept on the next start, never a live run's -----------

def test_the_sweep_removes_only_dead_owners_directories(tmp_path: Path) -> None:
    from sss_emulator.core import processes, roots

    dead = subprocess.Popen(["true"])
    dead.wait()
    live = subprocess.Popen(["sleep", "30"])
    try:
        live_start = processes.start_time(live.pid)
        work = tmp_path / "work"
        work.mkdir()
        names = {
            "dead": f"call-{dead.pid}.12345-abc",
            "dead_upload": f"upload-{dead.pid}.12345-def",
            "dead_history": f"history-{dead.pid}.12345-0a",
            "reused_pid": f"call-{live.pid}.1-xyz",
            "live": f"call-{live.pid}.{live_start}-ghi",
            "ours": f"call-{roots.owner_tag()}-jkl",
            "kept": f"call-{dead.pid}.12345-kept",
            "unrelated": "my-notes",
        }
        for name in names.values():
            (work / name).mkdir()
            (work / name / "file").write_text("x")
        (work / (names["kept"] + ".kept")).touch()
        removed = {p.name for p in roots.sweep_dead_runs(work)}
        assert removed == {names["dead"], names["dead_upload"], names["dead_history"],
                           names["reused_pid"]}
        left = {p.name for p in work.iterdir()}
        assert {names["live"], names["ours"], names["kept"], names["unrelated"]} <= left
    finally:
        live.kill()
        live.wait()


def test_after_a_sigkill_the_next_run_sweeps_the_dead_runs_files(
        tmp_path: Path, make_script: Any, roots: dict[str, Path]) -> None:
    script = make_script("long.sh", "#!/bin/bash\necho ready\nsleep 300\n")
    env = dict(os.environ, SSS_WORK_ROOT=str(roots["work_root"]),
               SSS_SHARED_ROOT=str(roots["shared_root"]))
    proc = subprocess.Popen([sys.executable, "-m", "sss_emulator", str(script)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    proc.kill()
    proc.wait()
    left = [p for p in roots["work_root"].iterdir() if p.name.startswith("call-")]
    assert len(left) == 1, "a SIGKILLed run leaves its working directory"
    quick = make_script("quick.sh", "#!/bin/sh\necho done\n")
    done = subprocess.run([sys.executable, "-m", "sss_emulator", str(quick)], env=env,
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not left[0].exists()
    assert list(roots["work_root"].iterdir()) == []


# --- 9. setsid daemons do not escape ------------------------------------------------------

DAEMON = ("#!/bin/bash\nsetsid sleep 300 &\necho $! > \"$SHARED_DIR/pid\"\n"
          "setsid bash -c 'sleep 301 & echo $! > \"$SHARED_DIR/grandchild\"; wait' &\n"
          "sleep 0.3\necho started\n")


def test_setsid_daemons_do_not_outlive_a_cli_run(tmp_path: Path, make_script: Any,
                                                 roots: dict[str, Path]) -> None:
    script = make_script("daemon.sh", DAEMON)
    env = dict(os.environ, SSS_WORK_ROOT=str(roots["work_root"]),
               SSS_SHARED_ROOT=str(roots["shared_root"]))
    done = subprocess.run([sys.executable, "-m", "sss_emulator", str(script)], env=env,
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    shared = next(roots["shared_root"].iterdir())
    pids = [int((shared / name).read_text()) for name in ("pid", "grandchild")]
    assert _gone(pids), "a setsid daemon outlived the run"


def test_setsid_daemons_do_not_outlive_a_run_of_serve(tmp_path: Path, make_script: Any,
                                                      roots: dict[str, Path]) -> None:
    """serve: the daemon dies with its run, while the server goes on (nothing else killed)."""
    import re
    import urllib.request

    script = make_script("daemon.sh", DAEMON)
    (tmp_path / "users.yaml").write_text("roles:\n  anonymous: [SCRIPTING:EXECUTE]\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sss_emulator", "serve", "--bin-dir", str(script.parent),
         "--port", "0", "--anonymous", "--quiet", "--users", str(tmp_path / "users.yaml"),
         "--work-root", str(roots["work_root"]), "--shared-root", str(roots["shared_root"])],
        stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        match = re.search(r"on (http://\S+:\d+)", proc.stderr.readline())
        assert match is not None
        request = urllib.request.Request(f"{match.group(1)}/scripting",
                                         data=b"call=daemon.sh", method="POST")
        with urllib.request.urlopen(request, timeout=60) as answer:
            assert b"started" in answer.read()
        shared = next(roots["shared_root"].iterdir())
        pids = [int((shared / name).read_text()) for name in ("pid", "grandchild")]
        assert _gone(pids), "a setsid daemon outlived its run"
        assert proc.poll() is None
        zombies = [line for line in subprocess.run(
            ["ps", "-o", "stat=", "--ppid", str(proc.pid)], capture_output=True,
            text=True).stdout.split() if line.startswith("Z")]
        assert zombies == [], "adopted orphans are reaped"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_every_level_below_the_private_base_is_made_private_and_checked(
        private_tmp: Path, tmp_path: Path) -> None:
    """``trash/<pid>-0`` made its ``trash`` 0755 unchecked: a link planted there was followed."""
    from sss_emulator.core.roots import private_dir
    from sss_emulator.errors import SetupError

    made = private_dir(private_tmp / "trash" / "1-0")
    assert [stat.S_IMODE(p.stat().st_mode) for p in (private_tmp, made.parent, made)] == [
        0o700] * 3
    victim = tmp_path / "victim"
    victim.mkdir()
    (private_tmp / "standin").symlink_to(victim)
    with pytest.raises(SetupError, match="symbolic link"):
        private_dir(private_tmp / "standin" / "x")
    assert list(victim.iterdir()) == []


@pytest.mark.parametrize("plant", ["work-link", "shared-link", "base-link", "removed"])
def test_a_root_changed_after_the_first_run_is_checked_again(
        private_tmp: Path, tmp_path: Path, make_script: Any, plant: str) -> None:
    """Roots are checked in full once per process; a root replaced afterwards (its lstat
    differs) is checked in full again, so a planted link is still refused."""
    import shutil

    from sss_emulator.errors import SetupError

    emulator = _default_emulator(make_script)
    assert emulator.run_server_side_script("hello.sh").code == 0
    victim = tmp_path / "victim-home"
    victim.mkdir()
    if plant == "removed":
        shutil.rmtree(private_tmp / "work")
        assert emulator.run_server_side_script("hello.sh").code == 0  # made again
        return
    if plant == "base-link":
        private_tmp.rename(tmp_path / "moved-away")
        private_tmp.symlink_to(victim)
    else:
        root = private_tmp / plant.split("-")[0]
        shutil.rmtree(root)
        root.symlink_to(victim)
    with pytest.raises(SetupError):
        emulator.run_server_side_script("hello.sh")
    assert list(victim.iterdir()) == [], "nothing was written through the planted link"
