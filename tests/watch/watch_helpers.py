"""A watcher started as a real ``python -m sss_emulator`` process, read line by line.

Tests wait for lines (generously), never for fixed times: a slow machine makes them slower, not
red.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

WAIT_S = 30.0


class Watcher:
    """``sss-emulate … --watch`` in a subprocess; collects stdout and stderr lines as they come."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str],
                 stdin: int | IO[bytes] | None = subprocess.DEVNULL) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sss_emulator", *args], cwd=cwd, env=env, stdin=stdin,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: IO[bytes], into: list[str]) -> None:
        for raw in stream:
            with self._changed:
                into.append(raw.decode(errors="replace").rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, *, count: int = 1, stream: str = "err",
                 timeout: float = WAIT_S) -> list[str]:
        """Block until ``count`` lines of ``stream`` match ``pattern``; return the matches."""
        lines = self.err if stream == "err" else self.out
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [line for line in lines if regex.search(line)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._alive_readers()):
                    raise AssertionError(
                        f"no {count} line(s) matching {pattern!r} on std{stream}; "
                        f"exit={self.proc.poll()}\n{self.transcript()}")
                self._changed.wait(min(left, 0.2))

    def _alive_readers(self) -> bool:
        return any(reader.is_alive() for reader in self._readers)

    def matching(self, pattern: str, stream: str = "err") -> list[str]:
        regex = re.compile(pattern)
        with self._changed:
            return [line for line in (self.err if stream == "err" else self.out)
                    if regex.search(line)]

    def run_headers(self) -> list[str]:
        """``run N: reason`` of every run so far, without the timestamp."""
        return [re.sub(r"^sss-emulate: \[[\d:]+\] ", "", line)
                for line in self.matching(r"^sss-emulate: \[[\d:]+\] run \d+: ")]

    def transcript(self) -> str:
        return ("--- stdout\n" + "\n".join(self.out) + "\n--- stderr\n" + "\n".join(self.err))

    def interrupt(self, timeout: float = WAIT_S) -> int:
        """Ctrl+C (SIGINT to the watcher only) and wait for it to end."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def alive(pid: int) -> bool:
    """Running (a zombie that nobody reaps yet counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return False


def wait_gone(pid: int, timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def write_script(path: Path, body: str, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(mode)
    return path


def replace_atomically(path: Path, body: str, mode: int = 0o755) -> None:
    """Save the way many editors do: write a temp file next to it, then rename over it."""
    temp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    temp.write_text(body)
    temp.chmod(mode)
    os.replace(temp, path)
