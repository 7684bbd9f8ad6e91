"""Fixtures for the server's world around a script: its address (127.0.0.1:10443) and mounts.

The fixed port is shared by every process on the machine, so tests that need it take a file
lock first (pytest-xdist workers run them one at a time) and are skipped, saying so, only when
another program holds the port. Every test here checks that the host's /opt is unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sss_emulator.connect.address import port_holder

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "examples" / "extroot_profile"
PORT = 10443


def _opt_snapshot() -> list[tuple[str, int, int]]:
    opt = Path("/opt")
    if not opt.exists():
        return []
    return sorted((e.name, e.stat(follow_symlinks=False).st_mode,
                   e.stat(follow_symlinks=False).st_ino) for e in os.scandir(opt))


@pytest.fixture(autouse=True)
def host_opt_unchanged() -> Iterator[None]:
    """Nothing a run does may create or change anything in the host's /opt."""
    before = _opt_snapshot()
    caosdb_before = os.path.lexists("/opt/caosdb")
    yield
    assert _opt_snapshot() == before, "the host's /opt changed"
    assert os.path.lexists("/opt/caosdb") == caosdb_before


@pytest.fixture
def profile() -> Path:
    """A profile in linkahead-control's demo layout with an extroot (examples/)."""
    return PROFILE


@pytest.fixture
def needs_bwrap() -> None:
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap; .ci/run does)")


@pytest.fixture
def port_10443() -> Iterator[int]:
    """Port 10443, held by no other test of this suite while the test runs."""
    lock_path = Path(tempfile.gettempdir()) / f"sss-emulator-tests-{PORT}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        probe = socket.socket()
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", PORT))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            holder = port_holder(PORT) or "another program"
            pytest.skip(f"port {PORT} on 127.0.0.1 is taken by {holder}; these tests need it "
                        "free (scripts hard-code https://127.0.0.1:10443)")
        finally:
            probe.close()
        yield PORT
        with contextlib.suppress(OSError):
            fcntl.flock(lock, fcntl.LOCK_UN)
