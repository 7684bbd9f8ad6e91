"""Waiting for processes to end, read through the project's one ``/proc`` reader."""

from __future__ import annotations

import time

from sss_emulator.core import processes


def gone(pids: list[int], within_s: float = 10) -> bool:
    """Whether every process is gone (a zombie an init does not reap counts as gone) within
    ``within_s`` seconds."""
    deadline = time.monotonic() + within_s
    while any(processes.state(pid) not in (None, "Z") for pid in pids):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True
