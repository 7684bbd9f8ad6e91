"""A real terminal for tests: a program's stdout and stderr on a pseudo-terminal.

What a program prints to a terminal differs from what it prints to a pipe (click strips some
escapes only when not on a terminal, and a terminal acts on what is left), so tests of what a
user sees on their screen run the real ``sss-emulate`` with a pty as its stdout and stderr.
"""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

#: How long to wait for a line (generous: the machine is shared; no test asserts a time).
WAIT_S = 60.0


class Terminal:
    """One process whose stdout and stderr are a terminal; everything it shows is kept."""

    def __init__(self, argv: Sequence[str], *, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        controller, terminal = pty.openpty()
        self._controller = controller
        self.proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=terminal,
                                     stderr=terminal, cwd=cwd, env=env, start_new_session=True)
        os.close(terminal)
        self._shown = bytearray()
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._controller, 65536)
            except OSError:  # EIO: every writer closed the terminal
                chunk = b""
            with self._changed:
                if not chunk:
                    self._changed.notify_all()
                    return
                self._shown += chunk
                self._changed.notify_all()

    @property
    def shown(self) -> bytes:
        """Everything the program wrote to the terminal so far."""
        with self._changed:
            return bytes(self._shown)

    def wait_for(self, pattern: bytes, timeout: float = WAIT_S) -> bytes:
        """Wait until ``pattern`` (a regex) appears; return everything shown by then."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not re.search(pattern, self._shown):
                left = deadline - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    raise AssertionError(f"{pattern!r} never shown; shown: {bytes(self._shown)!r}")
                self._changed.wait(min(left, 0.5))
            return bytes(self._shown)

    def finish(self, timeout: float = WAIT_S) -> bytes:
        """Wait for the program to end by itself; return everything it showed."""
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout)
        os.close(self._controller)
        return self.shown

    def interrupt(self, timeout: float = WAIT_S) -> bytes:
        """Ctrl+C (SIGINT to the program), then as :meth:`finish`."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.finish(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.finish(timeout)


def in_terminal(argv: Sequence[str], *, cwd: Path | None = None,
                env: dict[str, str] | None = None) -> bytes:
    """Run a program to its end with a terminal as stdout and stderr; what it showed."""
    return Terminal(argv, cwd=cwd, env=env).finish()


def raw_controls(shown: bytes) -> list[bytes]:
    """The control sequences a terminal would act on: every C0 control byte but newline, CR
    (the terminal's own line ends are CR LF), tab, and the UTF-8 encoded C1 controls."""
    return re.findall(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]", shown)
