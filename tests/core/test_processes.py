"""The one /proc scanner: live group members and processes working inside a directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sss_emulator.core.processes import group_alive, processes, running_in

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs Linux /proc")


def _wait(condition, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def test_processes_lists_this_one_with_its_group() -> None:
    """The scan sees the test process itself, with the group the kernel reports."""
    me = next(p for p in processes() if p.pid == os.getpid())
    assert me.pgid == os.getpgid(0) and not me.zombie


def test_group_alive_until_the_group_is_gone(tmp_path: Path) -> None:
    """A group with a sleeping member is alive; after SIGKILL and reaping it is not."""
    proc = subprocess.Popen(["sleep", "30"], cwd=tmp_path, start_new_session=True)
    try:
        assert group_alive(proc.pid)
        assert [p.pid for p in running_in(tmp_path)] == [proc.pid]
        assert running_in(tmp_path / "elsewhere") == []
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert _wait(lambda: not group_alive(proc.pid))
    assert running_in(tmp_path) == []


def test_a_zombie_is_not_alive(tmp_path: Path) -> None:
    """An unreaped dead member (a zombie) does not keep the group alive, though killpg(0) would
    say so."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    assert _wait(lambda: any(p.pid == proc.pid and p.zombie for p in processes()))
    os.killpg(proc.pid, 0)  # the kernel still knows the group...
    assert not group_alive(proc.pid)  # ...but nothing in it runs
    proc.wait()
