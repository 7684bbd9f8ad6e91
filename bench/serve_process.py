"""An ``sss-emulate serve`` process for the benches: started, logged in to, and its memory read
from outside (``/proc/<pid>/status``).

Shared by ``bench_server.py`` (a 1 GiB upload) and ``bench_hardening.py`` (a 200 MB stdout, a
400 MiB bad body): the peak is both sampled and read from ``VmHWM`` (reset first), so a spike
between two samples still counts.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
#: The admin password of every bench server (SSS_ADMIN_PASSWORD).
PASSWORD = "bench-password"


def start_serve(root: Path, bin_dirs: Sequence[Path],
                extra: Sequence[str] = ()) -> tuple[subprocess.Popen[str], str]:
    """``sss-emulate serve`` on a free port with its roots below ``root``: the process and URL."""
    env = {**os.environ, "SSS_ADMIN_PASSWORD": PASSWORD}
    args = [sys.executable, "-m", "sss_emulator", "serve", "--port", "0", "--quiet",
            "--work-root", str(root / "srv-work"), "--shared-root", str(root / "srv-shared"),
            "--timeout", "600", *extra]
    for folder in bin_dirs:
        args += ["--bin-dir", str(folder)]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    banner = proc.stderr.readline()
    match = re.search(r"on (http://[\d.]+:\d+)", banner)
    if match is None:
        proc.kill()
        raise SystemExit(f"server did not start: {banner}{proc.stderr.read()}")
    return proc, match.group(1)


def login(url: str) -> str:
    """The ``SessionToken`` cookie (``name=value``) of admin on ``url``."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    body = urllib.parse.urlencode({"username": "admin", "password": PASSWORD}).encode()
    conn.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"})
    response = conn.getresponse()
    response.read()
    return (response.getheader("Set-Cookie") or "").split(";", 1)[0]


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
