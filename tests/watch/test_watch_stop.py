"""Stopping: a change during a run, Ctrl+C, SIGTERM and the keys leave no process behind."""

from __future__ import annotations

import os
import pty
import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from watch_helpers import Watcher, alive, wait_gone, write_script

#: A run that does not end by itself, with a background child in its process group.
LONG = ("#!/bin/bash\nsleep 300 &\necho \"child $!\"\necho \"script $$\"\n"
        "echo \"home $HOME\"\nwait\n")


def _pids(watcher: Watcher, what: str) -> list[int]:
    return [int(line.split()[1]) for line in watcher.matching(rf"^{what} \d+$", stream="out")]


def test_change_during_a_run_stops_its_group_and_starts_again(
    tmp_path: Path, start_watcher: Callable[..., Watcher]
) -> None:
    """Editing while the script runs kills the whole group (children too), then reruns."""
    script = write_script(tmp_path / "bin" / "long.sh", LONG)
    watcher = start_watcher("bin/long.sh", "--watch")
    watcher.wait_for(r"^script \d+$", stream="out")
    first = _pids(watcher, "child") + _pids(watcher, "script")
    script.write_text(LONG + "# edited\n")
    watcher.wait_for(r"run 1 stopped after [\d.]+s \(its process group was killed\)")
    watcher.wait_for(r"^script \d+$", stream="out", count=2)
    assert watcher.run_headers() == ["run 1: start", "run 2: changed bin/long.sh"]
    assert all(wait_gone(pid) for pid in first), watcher.transcript()
    second = _pids(watcher, "child") + _pids(watcher, "script")
    assert len(second) == 4 and all(alive(pid) for pid in second[1::2])
    assert watcher.interrupt() == 0
    assert all(wait_gone(pid) for pid in second)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_signal_quits_cleanly_with_no_orphans(
    tmp_path: Path, start_watcher: Callable[..., Watcher], watch_env: dict[str, str],
    sig: signal.Signals,
) -> None:
    """Ctrl+C (or SIGTERM) during a run: exit 0, script and its child gone, no working dir left."""
    write_script(tmp_path / "bin" / "long.sh", LONG)
    watcher = start_watcher("bin/long.sh", "--watch")
    watcher.wait_for(r"^home ", stream="out")
    home = Path(watcher.matching(r"^home ", stream="out")[0].split(" ", 1)[1])
    assert home.is_dir()
    pids = _pids(watcher, "child") + _pids(watcher, "script")
    watcher.proc.send_signal(sig)
    assert watcher.interrupt() == 0, watcher.transcript()
    assert all(not alive(pid) for pid in pids), watcher.transcript()
    assert not home.exists()
    assert os.listdir(watch_env["SSS_WORK_ROOT"]) == []
    assert watcher.matching(r"watch ended; no run left behind")


def test_enter_reruns_and_q_quits(
    tmp_path: Path, start_watcher: Callable[..., Watcher]
) -> None:
    """On a terminal, Enter reruns at once and q + Enter quits with exit 0."""
    write_script(tmp_path / "bin" / "hello.sh", "#!/bin/bash\necho hello\n")
    controller, terminal = pty.openpty()
    try:
        watcher = start_watcher("bin/hello.sh", "--watch", stdin=terminal)
        watcher.wait_for(r"Enter reruns, q quits")
        watcher.wait_for(r"run 1 done · exit 0")
        os.write(controller, b"\n")
        watcher.wait_for(r"run 2 done · exit 0")
        os.write(controller, b"q\n")
        assert watcher.proc.wait(timeout=30) == 0
    finally:
        os.close(controller)
        os.close(terminal)
    assert [re.sub(r"^run \d+: ", "", h) for h in watcher.run_headers()] == [
        "start", "rerun requested"]
