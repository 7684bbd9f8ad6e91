"""Tools for the script author's inner loop: coverage of scripts, a debugger that waits.

Each is a :class:`~sss_emulator.core.hooks.ProcessRunner` wrapper, so the core runs a script
the same way whether or not it is measured or debugged; both need optional extras
(``sss-emulator[coverage]``, ``sss-emulator[debug]``) and say so in one line when missing.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ("is_python_script", "shebang")


def shebang(path: Path) -> bytes:
    """The script's ``#!`` line (empty when there is none or it cannot be read)."""
    try:
        with path.open("rb") as handle:
            first = handle.readline(256)
    except OSError:
        return b""
    return first.rstrip(b"\r\n") if first.startswith(b"#!") else b""


def is_python_script(path: Path) -> bool:
    """Whether the server would exec ``path`` with a Python interpreter (its shebang says so)."""
    return b"python" in shebang(path)
