"""A server process's memory, read from outside (``/proc/<pid>/status``), for the benches.

Shared by ``bench_server.py`` (a 1 GiB upload) and ``bench_hardening.py`` (a 200 MB stdout, a
400 MiB bad body): the peak is both sampled and read from ``VmHWM`` (reset first), so a spike
between two samples still counts.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def kib(pid: int, key: str) -> int:
    """One ``/proc/<pid>/status`` field in KiB (``VmRSS``, ``VmHWM``); 0 when absent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def peak_growth(pid: int, action: Callable[[], T]) -> tuple[float, float, T, int]:
    """Run ``action``: the process's peak RSS growth in MiB, the seconds taken, the action's
    result, and the RSS before it in KiB."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset VmHWM
    baseline = kib(pid, "VmRSS")
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], kib(pid, "VmRSS"))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        result = action()
    finally:
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join()
    high = max(peak[0], kib(pid, "VmHWM"))
    return (high - baseline) / 1024, elapsed, result, baseline
