"""Issue 11, item 8, for the stand-in: what a SIGKILLed emulator's stand-in left (its mail
spool, its certificate at ``--server-address``, its file store with ``--mounts``) is removed by
the next start, and a running emulator's never is."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sss_emulator.core import processes, roots

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs Linux /proc")

#: Sends a mail through the stand-in's sendmail (so the stand-in's folder holds its spool),
#: says so, and waits to be killed.
MAILS_AND_WAITS = ("#!/bin/bash\n"
                   "printf 'To: x@example.com\\nSubject: left\\n\\nhi\\n' | sendmail -t -i\n"
                   "echo ready\nexec sleep 300\n")


@pytest.fixture
def tmpdir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """An environment whose TMPDIR holds every private root (work, shared, standin); at the
    end, whatever still runs in it is stopped."""
    import tempfile

    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    env = {k: v for k, v in os.environ.items() if k not in ("SSS_WORK_ROOT", "SSS_SHARED_ROOT")}
    env["TMPDIR"] = str(folder)
    yield env
    for process in processes.running_in(tmp_path):
        with contextlib.suppress(OSError):
            os.kill(process.pid, signal.SIGKILL)


def _start(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[bytes]:
    """``sss-emulate ARGS`` in a session of its own, once its script said ``ready``."""
    proc = subprocess.Popen([sys.executable, "-m", "sss_emulator", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    line = proc.stdout.readline() if ready else b""
    if line != b"ready\n":
        proc.kill()
        _, err = proc.communicate(timeout=30)
        pytest.fail(f"the run did not get ready: {line!r} {err.decode(errors='replace')}")
    return proc


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _owned_by(root: Path, pid: int) -> set[str]:
    return {p.name for p in root.iterdir() if f"-{pid}." in p.name}


def test_after_a_sigkill_the_next_start_sweeps_the_standins_folders(
        tmp_path: Path, make_script: Any, tmpdir_env: dict[str, str]) -> None:
    script = make_script("mails_and_waits.sh", MAILS_AND_WAITS)
    quick = make_script("quick.sh", "#!/bin/sh\necho done\n")
    standin = tmp_path / "tmp" / f"sss-emulator-{os.getuid()}" / "standin"
    live = _start(tmpdir_env, tmp_path, str(script))
    try:
        killed = _start(tmpdir_env, tmp_path, "--server-address",
                        f"https://127.0.0.1:{_free_port()}", str(script))
        os.killpg(killed.pid, signal.SIGKILL)
        killed.communicate(timeout=30)

        left = _owned_by(standin, killed.pid)
        assert {name.split("-")[0] for name in left} == {"standin", "address"}, left
        spool = next(standin.glob(f"standin-{killed.pid}.*/mail"))
        assert len(list(spool.glob("*.json"))) == 1, "the killed run's mail is in its spool"
        running = _owned_by(standin, live.pid)
        assert len(running) == 1

        done = subprocess.run([sys.executable, "-m", "sss_emulator", str(quick)], cwd=tmp_path,
                              env=tmpdir_env, capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert _owned_by(standin, killed.pid) == set(), "the dead emulator's folders are gone"
        assert _owned_by(standin, live.pid) == running, "a running emulator's stays"
        assert (standin / "bin" / "sendmail").is_file(), "the shared sendmail stays"
        assert live.poll() is None
    finally:
        live.send_signal(signal.SIGTERM)  # cleans up as Ctrl+C does
        live.communicate(timeout=30)
    assert _owned_by(standin, live.pid) == set()


def test_owned_folders_carry_their_owner_and_outlive_no_one(
        tmpdir_env: dict[str, str]) -> None:
    """The file store and the certificate folder are named for this process (so a live one is
    never swept), and an unknown kind is refused rather than left to pile up."""
    from sss_emulator.connect.address import AddressListener, parse_address
    from sss_emulator.connect.world import FileRoot

    holder = FileRoot()
    listener = AddressListener(parse_address(f"https://127.0.0.1:{_free_port()}"),
                               lambda: None)
    try:
        root = roots.standin_root()
        assert root is not None
        assert listener.cert is not None
        for folder in (holder.path, listener.cert.parent):
            assert folder.parent == root and f"-{roots.owner_tag()}-" in folder.name
            assert folder.stat().st_mode & 0o077 == 0
        roots._swept.discard(str(root))
        assert roots.sweep_dead_runs(root) == []
    finally:
        holder.close()
        listener.close()
    assert not holder.path.exists()
    with pytest.raises(ValueError):
        roots.owned_dir("scratch")
