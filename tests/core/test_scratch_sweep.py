"""Issue 11, item 8, for the front ends' temporary folders: a call file case's roots, serve's
history spool, ``--coverage`` data, ``record``'s and ``doctor``'s scratch are named for their
owner below the private base, so what a SIGKILLed process left is swept by the next start and a
running one's never is; a root that cannot be private is one note, not a traceback."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sss_emulator.core import processes, roots

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs Linux /proc")

#: Output beyond serve's history spool threshold (64 KiB), so the history writes it to disk.
BIG = "#!/bin/sh\nhead -c 200000 /dev/zero | tr '\\0' x\n"


@pytest.fixture
def tmpdir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """An environment whose TMPDIR holds the private base (here too); at the end, whatever
    still runs in ``tmp_path`` is stopped."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    env["TMPDIR"] = str(folder)
    yield env
    for process in processes.running_in(tmp_path):
        with contextlib.suppress(OSError):
            os.kill(process.pid, signal.SIGKILL)


def _base(tmp_path: Path) -> Path:
    return tmp_path / "tmp" / f"sss-emulator-{os.getuid()}"


def _owned_by(root: Path, pid: int) -> set[str]:
    if not root.is_dir():
        return set()
    return {p.name for p in root.iterdir() if f"-{pid}." in p.name and p.is_dir()}


def _alive(pid: int) -> bool:
    return processes.state(pid) not in (None, "Z")


def _wait_gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def _wait_for_file(path: Path, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate(timeout=30)
            pytest.fail(f"{path.name} never appeared: {out!r} {err!r}")
        time.sleep(0.05)


# --- the sweep's kinds ----------------------------------------------------------------------

def test_every_kind_is_swept_where_it_is_made_and_a_live_owners_never(
        tmpdir_env: dict[str, str], tmp_path: Path) -> None:
    """Each kind :func:`owned_dir` makes lands in its owned root, named for this process,
    0700; the one sweep removes a dead owner's folder of every kind (work root kinds too), and
    keeps a live owner's, ours, a kept one and what is not the emulator's."""
    dead = subprocess.Popen(["true"])
    dead.wait(timeout=30)
    live = subprocess.Popen(["sleep", "30"])
    try:
        live_tag = f"{live.pid}.{processes.start_time(live.pid)}"
        base = _base(tmp_path)
        for name, kinds in roots.OWNED_ROOTS.items():
            for kind in kinds:
                made = roots.owned_dir(kind)
                assert made.parent == base / name and made.name.startswith(
                    f"{kind}-{roots.owner_tag()}-"), made
                assert stat.S_IMODE(made.stat().st_mode) == 0o700
                assert stat.S_IMODE(made.parent.stat().st_mode) == 0o700
        assert set(roots.OWNED_ROOTS) == {"standin", "scratch"}
        every = [("work", kind) for kind in roots.WORK_KINDS] + [
            (name, kind) for name, kinds in roots.OWNED_ROOTS.items() for kind in kinds]
        expected: dict[str, set[str]] = {}
        for name, kind in every:
            root = base / name
            root.mkdir(mode=0o700, exist_ok=True)
            for owner, goes in ((f"{dead.pid}.12345", True), (live_tag, False),
                                (f"{live.pid}.1", True),  # the pid was reused
                                (roots.owner_tag(), False), (f"{dead.pid}.999", False)):
                folder = root / f"{kind}-{owner}-x{len(expected.get(name, ()))}"
                folder.mkdir()
                (folder / "file").write_text("x")
                if owner == f"{dead.pid}.999":
                    (root / f"{folder.name}.kept").touch()  # --keep / --sss-keep
                elif goes:
                    expected.setdefault(name, set()).add(folder.name)
            (root / "my-notes").mkdir(exist_ok=True)
        for name in {name for name, _ in every}:
            root = base / name
            roots._swept.discard(str(root))
            before = {p.name for p in root.iterdir()}
            removed = {p.name for p in roots.sweep_dead_runs(root)}
            assert removed == expected[name], name
            assert {p.name for p in root.iterdir()} == before - removed
    finally:
        live.kill()
        live.wait(timeout=30)
    with pytest.raises(ValueError):
        roots.owned_dir("scratchpad")
    with pytest.raises(ValueError):
        roots.owned_root("tmp")


def test_owned_scratch_is_removed_at_the_end_of_its_block(tmpdir_env: dict[str, str]) -> None:
    with pytest.raises(RuntimeError), roots.owned_scratch("doctor") as folder:
        (folder / "x").write_text("x")
        raise RuntimeError
    assert not folder.exists()


def test_a_root_that_cannot_be_private_is_a_one_line_note(
        tmpdir_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A planted ``scratch`` link is not followed: the folder is a plain 0700 temporary one,
    and the user reads why once."""
    monkeypatch.setattr(roots, "_noted", set())
    victim = tmp_path / "victim"
    victim.mkdir()
    base = _base(tmp_path)
    base.mkdir(mode=0o700)
    (base / "scratch").symlink_to(victim)
    with caplog.at_level(logging.WARNING, logger="sss_emulator.core.roots"):
        first = roots.owned_dir("coverage")
        second = roots.owned_dir("coverage")
    for folder in (first, second):
        assert folder.parent == tmp_path / "tmp" and folder.name.startswith("sss-coverage-")
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert list(victim.iterdir()) == []
    assert len(caplog.records) == 1
    note = caplog.records[0].getMessage()
    assert "\n" not in note and "symbolic link" in note and "--coverage data" in note
    assert all(f"sss-{kind}-" in roots.FALLBACK_PREFIXES for kind in roots._WHAT)


def test_doctor_with_a_planted_scratch_root_notes_it_and_checks(
        tmpdir_env: dict[str, str], tmp_path: Path, make_script: Any) -> None:
    quick = make_script("quick.sh", "#!/bin/sh\necho done\n")
    victim = tmp_path / "victim"
    victim.mkdir()
    base = _base(tmp_path)
    base.mkdir(mode=0o700)
    (base / "scratch").symlink_to(victim)
    done = subprocess.run([sys.executable, "-m", "sss_emulator", "doctor", "--bin-dir",
                           str(quick.parent), "quick.sh"], cwd=tmp_path, env=tmpdir_env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "note:" in lines[0] and "doctor's trial folders" in lines[0]
    assert list(victim.iterdir()) == []
    assert not list((tmp_path / "tmp").glob("sss-doctor-*")), "the trial's folder was removed"


def test_a_run_whose_standin_root_cannot_be_private_notes_it_once(
        tmpdir_env: dict[str, str], tmp_path: Path, make_script: Any) -> None:
    """The stand-in's own fallback (``backend.standin``, below the core): one line, the run
    goes on, nothing is written through the planted link."""
    script = make_script("mails.sh", "#!/bin/bash\nprintf 'To: x@example.com\\nSubject: s"
                                     "\\n\\nhi\\n' | sendmail -t -i\necho sent\n")
    victim = tmp_path / "victim"
    victim.mkdir()
    base = _base(tmp_path)
    base.mkdir(mode=0o700)
    (base / "standin").symlink_to(victim)
    env = dict(tmpdir_env, SSS_WORK_ROOT=str(tmp_path / "work"),
               SSS_SHARED_ROOT=str(tmp_path / "shared"))
    done = subprocess.run([sys.executable, "-m", "sss_emulator", str(script)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "sent\n", done.stdout + done.stderr
    notes = [line for line in done.stderr.splitlines() if "note:" in line]
    assert len(notes) == 1 and "mail spools" in notes[0], done.stderr
    assert "Traceback" not in done.stderr
    assert list(victim.iterdir()) == []
    assert not list((tmp_path / "tmp").glob("sss-standin-*")), "removed when the run ended"


# --- doctor: TERM and HUP clean up like Ctrl+C ---------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_doctor_stopped_by_term_or_hup_stops_its_trial_and_removes_its_folder(
        tmpdir_env: dict[str, str], tmp_path: Path, make_script: Any,
        sig: signal.Signals) -> None:
    started = tmp_path / "started"
    script = make_script("waits.sh", f"#!/bin/bash\necho $$ > {started}.tmp\n"
                                     f"mv {started}.tmp {started}\nexec sleep 300\n")
    proc = subprocess.Popen([sys.executable, "-m", "sss_emulator", "doctor", "--bin-dir",
                             str(script.parent), "waits.sh"], cwd=tmp_path, env=tmpdir_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_file(started, proc)
    trial = int(started.read_text())
    scratch = _base(tmp_path) / "scratch"
    assert _owned_by(scratch, proc.pid), "the trial runs in an owned folder"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig, err
    assert f"stopped by {sig.name}".encode() in err and b"Traceback" not in err
    assert _owned_by(scratch, proc.pid) == set()
    assert _wait_gone(trial), "the trial run was stopped"


# --- record: its scratch goes with the proxy ------------------------------------------------

def test_the_recording_proxys_scratch_is_owned_and_goes_with_close(
        tmpdir_env: dict[str, str], tmp_path: Path) -> None:
    from sss_emulator.fidelity.record import RecordingProxy
    from sss_emulator.fidelity.recording import CallFileWriter

    proxy = RecordingProxy("http://127.0.0.1:9", CallFileWriter(tmp_path / "out",
                                                                upstream="http://x"))
    call = proxy._call_scratch()
    assert call.parent.parent == _base(tmp_path) / "scratch"
    assert call.parent.name.startswith(f"record-{roots.owner_tag()}-")
    proxy.close()
    assert not call.parent.exists()


# --- serve's history: SIGKILLed, then swept by the next start --------------------------------

def _start_serve(env: dict[str, str], tmp_path: Path, bin_dir: Path) -> tuple[
        subprocess.Popen[bytes], str]:
    """``sss-emulate serve`` in a session of its own, once it listens; returns its URL."""
    users = tmp_path / "users.yaml"
    users.write_text("roles:\n  anonymous: [SCRIPTING:EXECUTE]\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sss_emulator", "serve", "--bin-dir", str(bin_dir), "--port",
         "0", "--anonymous", "--quiet", "--users", str(users)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    seen = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], max(0.0, deadline - time.monotonic()))
        line = proc.stderr.readline() if ready else b""
        seen += line
        match = re.search(rb"on (http://\S+:\d+)", line)
        if match:
            return proc, match.group(1).decode()
        if not line:
            break
    proc.kill()
    proc.communicate(timeout=30)
    pytest.fail(f"serve did not start: {seen!r}")


def _call_big(url: str) -> None:
    request = urllib.request.Request(f"{url}/scripting", data=b"call=big.sh", method="POST")
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert b"xxxx" in answer.read()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # cleans up as Ctrl+C does
    proc.communicate(timeout=30)


def test_after_a_sigkill_the_next_serve_sweeps_the_history_spool(
        tmpdir_env: dict[str, str], tmp_path: Path, make_script: Any) -> None:
    bin_dir = make_script("big.sh", BIG).parent
    work = _base(tmp_path) / "work"
    live, live_url = _start_serve(tmpdir_env, tmp_path, bin_dir)
    started: list[subprocess.Popen[bytes]] = [live]
    try:
        _call_big(live_url)
        killed, killed_url = _start_serve(tmpdir_env, tmp_path, bin_dir)
        started.append(killed)
        _call_big(killed_url)
        os.killpg(killed.pid, signal.SIGKILL)
        killed.communicate(timeout=30)

        left = _owned_by(work, killed.pid)
        assert len(left) == 1 and left.pop().startswith("history-"), _owned_by(work, killed.pid)
        spool = next(work.glob(f"history-{killed.pid}.*"))
        assert stat.S_IMODE(spool.stat().st_mode) == 0o700
        assert [p.stat().st_size for p in spool.iterdir()] == [200000], "stdout spooled"
        running = _owned_by(work, live.pid)
        assert len(running) == 1

        again, _ = _start_serve(tmpdir_env, tmp_path, bin_dir)  # no run: the start sweeps
        started.append(again)
        assert _owned_by(work, killed.pid) == set(), "the killed server's history is gone"
        assert _owned_by(work, live.pid) == running, "a running server's stays"
        assert live.poll() is None
    finally:
        for proc in started:
            _stop(proc)
    assert _owned_by(work, live.pid) == set()


# --- the pytest plugin's call file cases: SIGKILLed session, swept by the next -----------------

def test_after_a_sigkill_the_next_session_sweeps_the_call_file_cases_folders(
        tmpdir_env: dict[str, str], tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "bin").mkdir(parents=True)
    started = tmp_path / "started"
    waits = project / "bin" / "waits.sh"
    waits.write_text(f"#!/bin/bash\necho $$ > {started}.tmp\nmv {started}.tmp {started}\n"
                     "exec sleep 300\n")
    quick = project / "bin" / "quick.sh"
    quick.write_text("#!/bin/sh\necho done\n")
    for script in (waits, quick):
        script.chmod(0o755)
    for name in ("waits", "quick"):
        (project / f"sss_{name}.yaml").write_text(
            f"bin_dirs: [bin]\ntests:\n  - name: {name}\n    call: {name}.sh\n"
            "    expect: {code: 0}\n")
    env = dict(tmpdir_env, PYTEST_ADDOPTS="-p no:hypothesispytest -p no:benchmark "
                                          "-p no:cacheprovider")
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "--rootdir", str(project)]
    session = subprocess.Popen([*pytest_cmd, "sss_waits.yaml"], cwd=project, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        _wait_for_file(started, session)
        script_pid = int(started.read_text())
        scratch = _base(tmp_path) / "scratch"
        left = _owned_by(scratch, session.pid)
        assert len(left) == 1 and left.pop().startswith("callfile-")
        os.killpg(session.pid, signal.SIGKILL)
        session.communicate(timeout=30)
        assert _owned_by(scratch, session.pid), "a SIGKILLed session leaves its case's folder"
        assert _wait_gone(script_pid), "its script was stopped by the session's guardian"

        done = subprocess.run([*pytest_cmd, "sss_quick.yaml"], cwd=project, env=env,
                              capture_output=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert _owned_by(scratch, session.pid) == set(), "the next session swept it"
        assert [p.name for p in scratch.iterdir()] == [], "the quick case's folder went too"
    finally:
        if session.poll() is None:
            os.killpg(session.pid, signal.SIGKILL)
            session.communicate(timeout=30)


def test_a_call_file_case_kept_with_sss_keep_is_never_swept(
        tmpdir_env: dict[str, str], tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "bin").mkdir(parents=True)
    fails = project / "bin" / "fails.sh"
    fails.write_text("#!/bin/sh\necho no\nexit 3\n")
    fails.chmod(0o755)
    (project / "sss_fails.yaml").write_text(
        "bin_dirs: [bin]\ntests:\n  - name: fails\n    call: fails.sh\n    expect: {code: 0}\n")
    env = dict(tmpdir_env, PYTEST_ADDOPTS="-p no:hypothesispytest -p no:benchmark "
                                          "-p no:cacheprovider")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "--rootdir", str(project),
                           "--sss-keep", "sss_fails.yaml"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    scratch = _base(tmp_path) / "scratch"
    kept = [p for p in scratch.iterdir() if p.is_dir()]
    assert len(kept) == 1 and kept[0].name.startswith("callfile-")
    assert (scratch / f"{kept[0].name}.kept").is_file()
    assert str(kept[0]) in done.stdout, "the report names the kept run's folder"
    roots._swept.discard(str(scratch))
    assert roots.sweep_dead_runs(scratch) == [], "its owner is gone, but it was kept"
    assert kept[0].is_dir()
