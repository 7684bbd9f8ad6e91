"""The one /proc scanner: live group members and processes working inside a directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sss_emulator.core.processes import (
    children,
    environ_value,
    exists,
    group_alive,
    port_listener,
    processes,
    running_in,
    start_time,
    state,
)

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


def test_start_time_names_one_process_and_none_when_gone() -> None:
    """A live process has a start time that stays the same; a reaped one has none."""
    proc = subprocess.Popen(["sleep", "30"])
    try:
        first = start_time(proc.pid)
        assert first is not None and first.isdigit()
        assert start_time(proc.pid) == first
        assert start_time(os.getpid()) not in (None, first)
        assert state(proc.pid) in {"R", "S"} and exists(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    assert start_time(proc.pid) is None and state(proc.pid) is None
    assert not exists(proc.pid)


def test_children_and_their_environment() -> None:
    """This process's children are listed, and a variable of a child's environment is read."""
    proc = subprocess.Popen(["sleep", "30"], env={**os.environ, "SSS_TEST_MARK": "a=b"})
    try:
        assert proc.pid in children(os.getpid())
        assert environ_value(proc.pid, "SSS_TEST_MARK") == "a=b"
        assert environ_value(proc.pid, "SSS_TEST_MARK_NOT_SET") is None
    finally:
        proc.kill()
        proc.wait()
    assert proc.pid not in children(os.getpid())
    assert environ_value(proc.pid, "SSS_TEST_MARK") is None


def test_port_listener_finds_who_listens() -> None:
    """A port this process listens on names this process; a closed one names nobody."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        found = port_listener(port)
        assert found is not None and found[0] == os.getpid()
    assert port_listener(port) is None
